// A local cluster on disk: what the launcher writes is owner-only, like the replicas' data.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readdir } from 'node:fs/promises';
import * as path from 'node:path';
import { test } from 'node:test';
import { ClusterLauncher } from '../../../lib/cluster/launcher.js';
import { writeLocalConfig } from '../../../lib/cluster/local.js';
import { notOwnerOnly, tempDir, withoutUmask } from '../storage/helpers.js';

test('a new local cluster is owner-only: its folder, cluster.json (the secret), the replica data, the replica logs', async (t) => {
  withoutUmask(t); // the child inherits it too
  const dataDir = path.join(await tempDir(t), 'data');
  const { configPath } = writeLocalConfig(dataDir, [7001], [7101]); // --format listens on neither
  // The replica formats its directory and exits; the launcher has opened its log by then.
  const launcher = new ClusterLauncher(configPath, dataDir, 1, ['--format']);
  const exited = once(launcher, 'exit');
  launcher.start(0);
  assert.deepEqual(await exited, [0, 'exited with code 0']);
  await launcher.stopAll();
  assert.deepEqual((await readdir(dataDir)).sort(), ['cluster.json', 'replica-0', 'replica-0.log']);
  assert.deepEqual(await notOwnerOnly(dataDir), []);
});
