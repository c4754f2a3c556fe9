// A one-replica cluster in this process, for test/unit/server/descriptors.test.ts, which starts it
// under a low descriptor limit. It takes a snapshot at every op, so that every write opens files
// (the snapshot's temporary file, its directory) soon after it is acknowledged; a storage failure
// exits with status 1. Over IPC it reports its client port and directory once it serves, and answers a `probe` with how many
// of PROBE_FILES more files it could open at once: what storage would find free.

import { closeSync, mkdtempSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatLocalCluster, localConfig } from '../../../lib/cluster/local.js';
import { ReplicaServer } from '../../../lib/server/replica-server.js';
import { freePorts } from '../../integration/harness.js';

const PROBE_FILES = 8;

function probe(dir: string): number {
  const opened: number[] = [];
  try {
    while (opened.length < PROBE_FILES) opened.push(openSync(join(dir, `probe-${opened.length}`), 'w'));
  } catch {
    // EMFILE: what was opened so far is the answer
  }
  opened.forEach((fd) => closeSync(fd));
  return opened.length;
}

const dir = mkdtempSync(join(tmpdir(), 'chatplus-fd-'));
const [clientPort, peerPort] = await freePorts(2);
const config = localConfig(dir, [clientPort!], [peerPort!], 'fd');
await formatLocalCluster(config);
// A one-replica cluster is normal once its first view record is on disk; a register before that
// is refused VIEW_CHANGE. On a busy machine that fsync can outlast the test's connections, so the
// port is reported only once the replica serves.
let serving!: () => void;
const normal = new Promise<void>((resolve) => (serving = resolve));
const server: ReplicaServer = new ReplicaServer({
  config,
  id: 0,
  replicaOptions: { snapshotEveryOps: 1, snapshotStateRatio: 0 },
  writeLog: (line) => process.stderr.write(line + '\n'),
  onFatal: () => process.exit(1),
  onRoleChange: () => {
    if (server.status().status === 'normal') serving();
  },
});
await server.start();
await normal;
process.send!({ port: Number(config.replicas[0]!.client.split(':')[1]), dir });
process.on('message', () => process.send!({ opened: probe(dir), of: PROBE_FILES }));
process.on('disconnect', () => process.exit(0));
