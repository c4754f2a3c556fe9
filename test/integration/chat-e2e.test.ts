// End to end with real processes: one replica (bin/server), REPL clients (bin/client) in script
// mode, kill -9 and restart, and clients that misbehave on the wire.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { TestCluster, runClientScript, spawnClient, waitFor } from './harness.js';
import { encodeJsonFrame } from '../../lib/transport/frame.js';
import { PROTOCOL_VERSION } from '../../lib/protocol/messages.js';

let cluster: TestCluster;

before(async () => {
  cluster = await TestCluster.start(1);
});

after(async () => {
  await cluster?.stop();
});

const script = (...lines: string[]) => lines.join('\n') + '\n';

test('accounts are created, and a taken name is refused with a clear error', async () => {
  const ok = await runClientScript(cluster.addresses, script('create alice', 'alice-pw', 'create bob', 'bob-pw'));
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /created account alice/);
  assert.match(ok.stdout, /created account bob/);
  const taken = await runClientScript(cluster.addresses, script('create Alice', 'whatever'));
  assert.notEqual(taken.code, 0);
  assert.match(taken.stdout + taken.stderr, /NAME_TAKEN/);
});

test('bob is offline: alice sends two, bob is told 2 unread and reads them one at a time', async () => {
  const sent = await runClientScript(cluster.addresses, script('login alice', 'alice-pw', 'send bob first message', 'send bob second message'));
  assert.equal(sent.code, 0, sent.stdout + sent.stderr);
  assert.match(sent.stdout, /sent #\d+ to bob/);
  const read = await runClientScript(cluster.addresses, script('login bob', 'bob-pw', 'read 1', 'read 1', 'read 1'));
  assert.equal(read.code, 0, read.stdout + read.stderr);
  assert.match(read.stdout, /logged in as bob \(2 unread\)/);
  const first = read.stdout.indexOf('first message');
  const second = read.stdout.indexOf('second message');
  assert.ok(first > 0 && second > first, `messages in order, once each:\n${read.stdout}`);
  assert.equal(read.stdout.split('first message').length, 2, 'first message shown exactly once');
  assert.match(read.stdout, /from alice/);
});

test('a wrong password is refused without saying whether the account exists', async () => {
  const wrong = await runClientScript(cluster.addresses, script('login bob', 'not-bobs'));
  const ghost = await runClientScript(cluster.addresses, script('login ghost', 'anything'));
  assert.notEqual(wrong.code, 0);
  assert.notEqual(ghost.code, 0);
  assert.match(wrong.stdout + wrong.stderr, /AUTH_FAILED/);
  assert.match(ghost.stdout + ghost.stderr, /AUTH_FAILED/);
});

test('both online: a message is pushed to bob at once', async () => {
  const bob = spawnClient(cluster.addresses);
  let output = '';
  bob.stdout.on('data', (chunk: Buffer) => (output += chunk));
  bob.stderr.on('data', (chunk: Buffer) => (output += chunk));
  try {
    bob.stdin.write(script('login bob', 'bob-pw'));
    await waitFor('bob to log in', () => (/logged in as bob/.test(output) ? true : undefined), 20_000, () => output);
    const sent = await runClientScript(cluster.addresses, script('login alice', 'alice-pw', 'send bob are you there?'));
    assert.equal(sent.code, 0, sent.stdout + sent.stderr);
    await waitFor('the push to reach bob', () => (/from alice.*are you there\?/.test(output) ? true : undefined), 20_000, () => output);
  } finally {
    bob.stdin.end();
    bob.kill('SIGKILL');
  }
});

test('kill -9 and restart: every account and unread message is still there', async () => {
  const sent = await runClientScript(cluster.addresses, script('login alice', 'alice-pw', 'send bob before the crash 1', 'send bob before the crash 2'));
  assert.equal(sent.code, 0, sent.stdout + sent.stderr);
  await cluster.kill(0);
  await cluster.restart(0);
  await cluster.waitForPrimary();
  const after = await runClientScript(cluster.addresses, script('login bob', 'bob-pw', 'list', 'read 10'));
  assert.equal(after.code, 0, after.stdout + after.stderr);
  assert.match(after.stdout, /alice, bob/);
  assert.match(after.stdout, /before the crash 1/);
  assert.match(after.stdout, /before the crash 2/);
});

async function rawClient(): Promise<{ socket: Socket; closed: Promise<void> }> {
  const [host, port] = cluster.addresses[0]!.split(':');
  const socket = connect({ host: host!, port: Number(port) });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, closed };
}

test('a client sending garbage or an oversize frame is cut off while another keeps chatting', async () => {
  const garbage = await rawClient();
  garbage.socket.write(Buffer.from([0, 0, 0, 5, 0xff, 0xfe, 0x00, 0x01, 0x02]));
  const oversize = await rawClient();
  oversize.socket.write(Buffer.from([0x7f, 0xff, 0xff, 0xff]));
  await Promise.race([
    Promise.all([garbage.closed, oversize.closed]),
    new Promise((_, reject) => setTimeout(() => reject(new Error('server did not close the misbehaving connections')), 10_000)),
  ]);
  const valid = await rawClient();
  valid.socket.write(encodeJsonFrame({ type: 'hello', id: 1, version: PROTOCOL_VERSION }));
  valid.socket.write(encodeJsonFrame({ type: 'teleport', id: 2 }));
  let received = '';
  valid.socket.on('data', (chunk: Buffer) => (received += chunk.toString('utf8')));
  await waitFor('an error reply for the unknown request type', () => (/UNKNOWN_TYPE/.test(received) ? true : undefined), 10_000, () => received);
  valid.socket.destroy();
  const still = await runClientScript(cluster.addresses, script('login alice', 'alice-pw', 'send bob still here'));
  assert.equal(still.code, 0, still.stdout + still.stderr);
  assert.match(still.stdout, /sent #\d+ to bob/);
});

test('every REPL command in one scripted session against the real server', async () => {
  const sent = await runClientScript(cluster.addresses, script('create carol', 'carol-pw', 'login carol', 'carol-pw', 'status', 'help', 'list a*', 'list * 1', 'send bob from carol', 'logout', 'quit'));
  assert.equal(sent.code, 0, sent.stdout + sent.stderr);
  assert.match(sent.stdout, /logged in as carol/);
  assert.match(sent.stdout, /replica/i, 'status names the replica');
  assert.match(sent.stdout, /delete-account/, 'help lists the commands');
  assert.match(sent.stdout, /alice \(page 1 of 1, 1 account\)/);
  assert.match(sent.stdout, /logged out/);
  const id = Number(/sent #(\d+) to bob/.exec(sent.stdout)?.[1]);
  assert.ok(id > 0, sent.stdout);
  const bob = await runClientScript(cluster.addresses, script('login bob', 'bob-pw', 'read 100', `delete ${id}`, `delete ${id}`));
  assert.notEqual(bob.code, 0, 'the second delete of the same id fails');
  assert.match(bob.stdout, /from carol/);
  assert.match(bob.stdout, /deleted 1 message/);
  assert.match(bob.stdout + bob.stderr, /NOT_FOUND/);
  const gone = await runClientScript(cluster.addresses, script('login carol', 'carol-pw', 'delete-account'));
  assert.equal(gone.code, 0, gone.stdout + gone.stderr);
  assert.match(gone.stdout, /deleted account carol/);
  const after = await runClientScript(cluster.addresses, script('login carol', 'carol-pw'));
  assert.match(after.stdout + after.stderr, /AUTH_FAILED/);
  const reuse = await runClientScript(cluster.addresses, script('create carol', 'again'));
  assert.match(reuse.stdout + reuse.stderr, /NAME_TAKEN/, 'a deleted account\'s name stays reserved');
});
