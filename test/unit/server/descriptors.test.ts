// Descriptors for storage: a replica whose clients take every connection it allows still has
// descriptors for its journal and snapshots. The replica runs in a child process under a low
// `ulimit -n` (test/unit/server/low-descriptor-replica.ts), this test opens connections to it
// until it refuses one, then drives a write that opens files.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { newToken } from '../../../lib/auth/tokens.js';
import { CLIENT_FRAME_BYTES_MAX, PROTOCOL_VERSION, SERVER_FRAME_BYTES_MAX } from '../../../lib/protocol/messages.js';
import { DESCRIPTORS_RESERVED } from '../../../lib/server/client-gateway.js';
import { FramedConnection } from '../../../lib/transport/connection.js';

const DESCRIPTOR_LIMIT = DESCRIPTORS_RESERVED + 64;
const CHILD = join(import.meta.dirname, 'low-descriptor-replica.ts');

type Frame = { id: number; ok: boolean; error?: { code: string } };

/** The next frame from the replica, or null if the connection closes (or is reset) first. */
function nextFrame(connection: FramedConnection): Promise<Frame | null> {
  return Promise.race([once(connection, 'frame').then(([value]) => value as Frame, () => null), once(connection, 'close').then(() => null)]);
}

/** Opens a connection and sends `frame`; resolves with the replica's answer, or null. */
async function ask(port: number, frame: Record<string, unknown>): Promise<{ connection: FramedConnection; answer: Frame | null }> {
  const connection = new FramedConnection(connect(port, '127.0.0.1'), { maxFrameBytes: SERVER_FRAME_BYTES_MAX, maxSendFrameBytes: CLIENT_FRAME_BYTES_MAX });
  connection.on('error', () => {});
  connection.send(frame);
  return { connection, answer: await nextFrame(connection) };
}

test('with every client connection it allows taken, a replica refuses more and its storage still opens files', { timeout: 60_000 }, async (t) => {
  const child = spawn('bash', ['-c', `ulimit -n ${DESCRIPTOR_LIMIT} && exec "$0" --import tsx "$1"`, process.execPath, CHILD], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let log = '';
  child.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
  const exited = once(child, 'exit');
  t.after(() => child.kill());
  const [{ port, dir }] = (await once(child, 'message')) as [{ port: number; dir: string }];
  t.after(async () => {
    await exited;
    rmSync(dir, { recursive: true, force: true });
  });

  const hello = { type: 'hello', id: 1, version: PROTOCOL_VERSION };
  const worker = await ask(port, hello);
  assert.equal(worker.answer?.ok, true);
  const held: FramedConnection[] = [worker.connection];
  t.after(() => held.forEach((connection) => connection.destroy()));
  let refusal: Frame | null = null;
  while (held.length <= DESCRIPTOR_LIMIT) {
    const { connection, answer } = await ask(port, hello);
    if (answer?.ok !== true) {
      refusal = answer;
      break;
    }
    held.push(connection);
  }

  // A register is an op, and every op here takes a snapshot, which opens and writes files.
  for (let n = 2; n <= 4; n++) {
    const registered = nextFrame(worker.connection);
    worker.connection.send({ type: 'register', id: n, clientId: String(n).repeat(32), clientSecret: newToken() });
    const outcome = await Promise.race([registered, exited.then(([code]) => ({ exited: code }))]);
    assert.deepEqual(outcome, { type: 'reply', id: n, ok: true, result: {} }, `the replica's storage failed:\n${log}`);
  }
  child.send('probe');
  const [probe] = (await Promise.race([once(child, 'message'), exited.then(([code]) => [{ exited: code }])])) as [unknown];
  assert.deepEqual(probe, { opened: 8, of: 8 }, `descriptors left for storage:\n${log}`);
  assert.equal(refusal?.error?.code, 'TOO_MANY_CONNECTIONS', `after ${held.length} connections: ${JSON.stringify(refusal)}`);
  assert.equal(held.length, DESCRIPTOR_LIMIT - DESCRIPTORS_RESERVED);
});
