// bin/client.ts as a process: flags, exit codes, and a script run against the fake cluster.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { test, type TestContext } from 'node:test';
import { startCluster, TEST_TIMEOUT_MS, WAIT_MS } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const options = { timeout: TEST_TIMEOUT_MS };

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the client with `args`, writes `input` to its stdin (then ends it unless told not to),
 *  and resolves when it exits. A client still running after the wait is killed: a failure. */
async function runClient(t: TestContext, args: string[], input = '', endInput = true): Promise<Run> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bin/client.ts', ...args], { cwd: ROOT, stdio: 'pipe' });
  t.after(() => void (child.exitCode === null && child.kill()));
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  if (endInput) child.stdin.end(input);
  else child.stdin.write(input);
  const signal = AbortSignal.timeout(WAIT_MS * 2);
  try {
    const [code] = (await once(child, 'exit', { signal })) as [number | null];
    return { code, stdout, stderr };
  } catch (error) {
    if (!signal.aborted) throw error;
    throw new Error(`the client did not exit; stdout so far: ${JSON.stringify(stdout)}, stderr: ${JSON.stringify(stderr)}`);
  }
}

test('--help prints the usage and exits 0', options, async (t) => {
  const run = await runClient(t, ['--help']);
  assert.equal(run.code, 0);
  assert.match(run.stdout, /^usage: client \[--server host:port/);
});

test('an unknown flag, a stray argument or a bad address is an error naming it, exit 2', options, async (t) => {
  const runs = await Promise.all([runClient(t, ['--bogus']), runClient(t, ['stray']), runClient(t, ['--server', '127.0.0.1:7001,nope'])]);
  assert.deepEqual(runs.map((run) => run.code), [2, 2, 2]);
  assert.match(runs[0]!.stderr, /^client: Unknown option '--bogus'/);
  assert.match(runs[1]!.stderr, /^client: Unexpected argument 'stray'/);
  assert.match(runs[2]!.stderr, /^client: bad server address 'nope'/);
  assert.ok(runs.every((run) => run.stdout === ''));
});

test('script mode: every command succeeds, exit 0', options, async (t) => {
  const cluster = await startCluster(t, 3);
  cluster.primary = 2;
  cluster.view = 2;
  const run = await runClient(t, ['--server', cluster.addresses[0]!], 'create alice\npw\nlogin alice\npw\nsend alice hi me\nlist\n');
  assert.equal(run.code, 0, run.stdout + run.stderr);
  const lines = run.stdout.trimEnd().split('\n');
  assert.equal(lines[0], `connected to replica 2 (view 2) at ${cluster.addresses[2]}`);
  assert.deepEqual(lines.filter((line) => !line.startsWith('[#')).slice(1), ['created account alice', 'logged in as alice (0 unread)', 'sent #1 to alice', 'alice (page 1 of 1, 1 account)']);
});

test('script mode: one failed command makes the exit code 1', options, async (t) => {
  const cluster = await startCluster(t, 1);
  const run = await runClient(t, ['--server', cluster.addresses[0]!], 'send bob hi\nlist\n');
  assert.equal(run.code, 1);
  assert.match(run.stdout, /^error: NOT_LOGGED_IN: log in first$/m);
});

test('script mode: quit ends the process even while the input stays open', options, async (t) => {
  const cluster = await startCluster(t, 1);
  const run = await runClient(t, ['-s', cluster.addresses[0]!], 'create alice\npw\nquit\n', false);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /created account alice\n$/);
});

test('--verbose logs the connector\'s reconnects and retries to stderr', options, async (t) => {
  const cluster = await startCluster(t, 2);
  cluster.primary = 1;
  // Given replica 0 alone, so that the backup is greeted first (the first dial is random).
  const run = await runClient(t, ['--verbose', '--server', cluster.addresses[0]!], 'status\n');
  assert.equal(run.code, 0);
  assert.match(run.stderr, /\[client\] leaving .*: replica 0 is a backup; the primary of view 0 is replica 1/);
  assert.match(run.stderr, /\[client\] connected to replica 1/);
});
