// The connector against a fake cluster on real sockets: finding the primary, exactly-once
// retries, login, session resume, pushes, and giving up. Scenario names follow the fault.

import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { hashToken } from '../../../lib/auth/tokens.js';
import type { Connector } from '../../../lib/client/connector.js';
import type { SearchProgress } from '../../../lib/client/primary-channel.js';
import { ClientError } from '../../../lib/client/errors.js';
import type { StoredMessage } from '../../../lib/chat/types.js';
import { CLIENT_FRAME_BYTES_MAX, PROTOCOL_VERSION, type ClientFrame } from '../../../lib/protocol/messages.js';
import type { FakeCluster, Interception, Received } from './fake-cluster.js';
import { makeConnector, startCluster, TEST_TIMEOUT_MS, waitFor, waitForFrame } from './helpers.js';

/** Every test is bounded, so that a connector that never gives up fails instead of hanging. */
const scenario = { timeout: TEST_TIMEOUT_MS };

const isCall = (kind: string) => (frame: ClientFrame) => frame.type === 'call' && frame.command.kind === kind;

/** Intercepts the first frame that matches, once; everything else is handled normally. */
function interceptOnce(cluster: FakeCluster, matches: (received: Received) => boolean, interception: Interception | ((r: Received) => Interception)): void {
  let done = false;
  cluster.intercept = (received) => {
    if (done || !matches(received)) return undefined;
    done = true;
    return typeof interception === 'function' ? interception(received) : interception;
  };
}

/** The replicas that received a hello, in order. */
function hellos(cluster: FakeCluster): number[] {
  return cluster.received.filter((r) => r.frame.type === 'hello').map((r) => r.replica);
}

async function loggedIn(t: TestContext, cluster: FakeCluster, name: string, options = {}): Promise<Connector> {
  const connector = makeConnector(t, cluster.addresses, options);
  assert.equal((await connector.createAccount(name, `${name}-password`)).ok, true);
  const reply = await connector.login(name, `${name}-password`);
  assert.equal(reply.ok, true, `login of ${name}`);
  return connector;
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<ClientError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ClientError, `expected a ClientError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected a rejection with ${code}`);
}

async function closedPort(): Promise<string> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return `127.0.0.1:${port}`;
}

test('finding the primary: a backup greeted first is left for the address in its hint', scenario, async (t) => {
  const cluster = await startCluster(t, 3);
  cluster.primary = 2;
  cluster.view = 2;
  const connector = makeConnector(t, [cluster.addresses[0]!]);
  await connector.connect();
  assert.deepEqual(connector.status(), { ...connector.status(), replica: 2, view: 2, address: cluster.addresses[2] });
  assert.equal(cluster.frames('hello', 0).length, 1);
  assert.equal(cluster.frames('register', 0).length, 0, 'nothing but hello goes to a backup');
  assert.equal(cluster.frames('register', 2).length, 1);
});

test('finding the primary: a NOT_PRIMARY answer is followed, with the same request number', scenario, async (t) => {
  const cluster = await startCluster(t, 2);
  const connector = makeConnector(t, cluster.addresses);
  await connector.connect();
  const failovers: unknown[] = [];
  connector.on('failover', (primary) => failovers.push(primary));
  cluster.primary = 1;
  cluster.view = 1;
  const reply = await connector.call({ kind: 'list', pattern: '*', page: 1 });
  assert.equal(reply.ok, false, 'not logged in, but answered by the new primary');
  const calls = cluster.frames('call');
  assert.deepEqual(cluster.received.filter((r) => r.frame.type === 'call').map((r) => r.replica), [0, 1]);
  assert.equal(calls[0]!.requestNumber, calls[1]!.requestNumber);
  assert.equal(calls[0]!.clientId, calls[1]!.clientId);
  assert.deepEqual(failovers, [{ replica: 1, view: 1, address: cluster.addresses[1] }]);
});

test('finding the primary: a replica in a view change (a hint without an address) is parked at, and its announcement followed', scenario, async (t) => {
  const cluster = await startCluster(t, 3);
  cluster.replicas[0]!.viewChanging = true;
  const connector = makeConnector(t, [cluster.addresses[0]!]);
  const parked = waitFor<[SearchProgress]>(connector, 'searching', 'the park at replica 0', (progress) => progress.parkedAt === cluster.addresses[0]);
  const connecting = connector.connect();
  await parked;
  cluster.replicas[0]!.viewChanging = false;
  cluster.primary = 2;
  cluster.view = 2;
  cluster.replicas[0]!.announce();
  await connecting;
  assert.equal(connector.status().replica, 2);
  assert.deepEqual(hellos(cluster), [0, 2], 'one hello at the replica parked at, one at the primary it announced');
});

test('finding the primary: an announcement that arrives with the hello reply is not missed', scenario, async (t) => {
  const cluster = await startCluster(t, 3);
  cluster.primary = 2;
  cluster.view = 1;
  cluster.replicas[0]!.viewChanging = true;
  const lines: string[] = [];
  const connector = makeConnector(t, [cluster.addresses[0]!], { log: (line: string) => lines.push(line) });
  // Replica 0 reaches status normal as the hello arrives: its announcement goes out just before
  // the answer, in the same write, and the connector reads both at once.
  cluster.intercept = ({ replica, frame }) => {
    if (replica === 0 && frame.type === 'hello') cluster.replicas[0]!.announce();
    return undefined;
  };
  await connector.connect();
  assert.equal(connector.status().replica, 2);
  assert.ok(!lines.some((line) => line.includes('no announcement within')), `followed at once, not after the park ran out:\n${lines.join('\n')}`);
});

test('finding the primary: a park that brings no announcement ends after requestTimeoutMs, and the search goes on', scenario, async (t) => {
  const cluster = await startCluster(t, 3);
  cluster.primary = 2;
  cluster.replicas[1]!.viewChanging = true; // and stays there
  const lines: string[] = [];
  const connector = makeConnector(t, [cluster.addresses[1]!], { requestTimeoutMs: 200, log: (line: string) => lines.push(line) });
  await connector.connect();
  assert.equal(connector.status().replica, 2);
  assert.ok(lines.some((line) => line === `leaving ${cluster.addresses[1]}: no announcement within 200 ms`), lines.join('\n'));
});

test('finding the primary: a client given one address learns the others from hello and survives the death of that replica', scenario, async (t) => {
  const cluster = await startCluster(t, 3);
  const connector = makeConnector(t, [cluster.addresses[0]!]);
  await connector.connect();
  assert.deepEqual(connector.status().members, cluster.addresses);
  await cluster.replicas[0]!.close();
  cluster.primary = 1; // the view change is over: the backups name replica 1
  cluster.view = 1;
  const reply = await connector.call({ kind: 'list', pattern: '*', page: 1 });
  assert.equal(reply.ok, false, 'answered (not logged in) by the new primary');
  assert.equal(connector.status().replica, 1);
  assert.deepEqual(connector.status().unreachable, [cluster.addresses[0]]);
});

test('finding the primary: a primary that answers VIEW_CHANGE has stepped down; its connection is dropped and the call goes elsewhere', scenario, async (t) => {
  const cluster = await startCluster(t, 3);
  const connector = makeConnector(t, cluster.addresses);
  await connector.connect();
  const hellosBefore = cluster.frames('hello', 0).length;
  interceptOnce(cluster, (r) => isCall('list')(r.frame), ({ frame }) => {
    cluster.primary = 1;
    cluster.view = 1;
    return { action: 'reply', frame: { type: 'reply', id: frame.id, ok: false, error: { code: 'VIEW_CHANGE', message: 'stepped down' } } };
  });
  await connector.call({ kind: 'list', pattern: '*', page: 1 });
  assert.deepEqual(cluster.received.filter((r) => r.frame.type === 'call').map((r) => r.replica), [0, 1]);
  assert.equal(cluster.frames('hello', 0).length, hellosBefore, 'the replica that stepped down is not asked again');
  assert.equal(connector.status().replica, 1);
});

test('exactly once: a call whose connection dies after it ran is retried with the same numbers and not run again', scenario, async (t) => {
  const cluster = await startCluster(t, 1);
  const alice = await loggedIn(t, cluster, 'alice');
  cluster.accounts.set('bob', cluster.accounts.get('alice')!);
  interceptOnce(cluster, (r) => isCall('send')(r.frame), { action: 'drop-after' });
  const reply = await alice.call({ kind: 'send', to: 'bob', text: 'hello' });
  assert.ok(reply.ok);
  const sends = cluster.frames('call').filter((f) => f.command.kind === 'send');
  assert.equal(sends.length, 2, 'sent, connection lost, sent again');
  assert.equal(sends[1]!.clientId, sends[0]!.clientId);
  assert.equal(sends[1]!.requestNumber, sends[0]!.requestNumber);
  assert.equal(cluster.executions.get(`${sends[0]!.clientId}#${sends[0]!.requestNumber}`), 1);
  assert.equal(cluster.unread('bob').length, 1);
  assert.equal(reply.result.id, cluster.unread('bob')[0]!.id);
});

test('exactly once: after a failover the retry reaches the new primary, resumes the session and gets the saved reply', scenario, async (t) => {
  const cluster = await startCluster(t, 2);
  const alice = await loggedIn(t, cluster, 'alice');
  cluster.accounts.set('bob', cluster.accounts.get('alice')!);
  const failover = waitFor(alice, 'failover', 'the failover event');
  interceptOnce(cluster, (r) => isCall('send')(r.frame), () => {
    // The primary commits the send and dies before answering; replica 1 takes over.
    cluster.primary = 1;
    cluster.view = 1;
    return { action: 'drop-after' };
  });
  const reply = await alice.call({ kind: 'send', to: 'bob', text: 'across a failover' });
  assert.ok(reply.ok);
  assert.deepEqual(await failover, [{ replica: 1, view: 1, address: cluster.addresses[1] }]);
  const resumes = cluster.frames('resume', 1);
  assert.equal(resumes.length, 1);
  assert.equal(cluster.sessions.get(hashToken(resumes[0]!.token)), 'alice', 'resumed with the token of the login');
  assert.equal(cluster.unread('bob').length, 1, 'the message is there exactly once');
  assert.equal(alice.status().replica, 1);
});

test('exactly once: calls are numbered 1, 2, 3 and queued one at a time', scenario, async (t) => {
  const cluster = await startCluster(t, 1);
  const connector = makeConnector(t, cluster.addresses);
  const replies = await Promise.all([1, 2, 3].map((page) => connector.call({ kind: 'list', pattern: '*', page })));
  assert.equal(replies.length, 3);
  assert.deepEqual(cluster.frames('call').map((f) => [f.requestNumber, (f.command as { page: number }).page]), [[1, 1], [2, 2], [3, 3]]);
});

test('exactly once: VIEW_CHANGE and BUSY are retried after a pause with the same numbers', scenario, async (t) => {
  const cluster = await startCluster(t, 1);
  const connector = makeConnector(t, cluster.addresses);
  await connector.connect();
  let refusals = 0;
  cluster.intercept = ({ frame }) => {
    if (frame.type !== 'call' || refusals >= 2) return undefined;
    const code = refusals++ === 0 ? 'VIEW_CHANGE' : 'BUSY';
    return { action: 'reply', frame: { type: 'reply', id: frame.id, ok: false, error: { code, message: 'not now' } } };
  };
  await connector.call({ kind: 'list', pattern: '*', page: 1 });
  const calls = cluster.frames('call');
  assert.equal(calls.length, 3);
  assert.ok(calls.every((f) => f.requestNumber === 1 && f.clientId === calls[0]!.clientId));
});

test('session expired: a first send the cluster refused is sent again under a new client id', scenario, async (t) => {
  const cluster = await startCluster(t, 1);
  const connector = makeConnector(t, cluster.addresses);
  await connector.connect();
  const first = connector.status().clientId;
  cluster.clientTable.clear(); // evicted (or the register was lost in a failover)
  const reply = await connector.call({ kind: 'list', pattern: '*', page: 1 });
  assert.equal(reply.ok, false);
  const registers = cluster.frames('register');
  assert.deepEqual(registers.map((f) => f.clientId), [first, connector.status().clientId]);
  assert.notEqual(registers[0]!.clientId, registers[1]!.clientId);
  const calls = cluster.frames('call');
  assert.deepEqual(calls.map((f) => [f.clientId, f.requestNumber]), [[first, 1], [registers[1]!.clientId, 1]]);
});

test('session expired: when an earlier send may have run, the outcome is reported unknown, not retried', scenario, async (t) => {
  const cluster = await startCluster(t, 1);
  const alice = await loggedIn(t, cluster, 'alice');
  cluster.accounts.set('bob', cluster.accounts.get('alice')!);
  interceptOnce(cluster, (r) => isCall('send')(r.frame), () => {
    cluster.clientTable.clear();
    return { action: 'drop-before' };
  });
  const error = await rejectsWith(alice.call({ kind: 'send', to: 'bob', text: 'maybe' }), 'SESSION_EXPIRED');
  assert.match(error.message, /outcome of this request is unknown/);
  assert.equal(cluster.frames('call').filter((f) => f.command.kind === 'send').length, 2, 'not sent a third time');
  // The connector has registered again and carries on.
  const reply = await alice.call({ kind: 'send', to: 'bob', text: 'again' });
  assert.ok(reply.ok);
  assert.equal(cluster.frames('register').length, 2);
});

test('ownership: register and every call carry the secret drawn with the client id, and a new id comes with a new secret', scenario, async (t) => {
  const cluster = await startCluster(t, 1);
  const connector = makeConnector(t, cluster.addresses);
  await connector.call({ kind: 'list', pattern: '*', page: 1 });
  await connector.call({ kind: 'list', pattern: '*', page: 1 });
  cluster.clientTable.clear();
  await connector.call({ kind: 'list', pattern: '*', page: 1 });
  const frames = [...cluster.frames('register'), ...cluster.frames('call')];
  const secretOf = new Map<string, Set<string>>();
  for (const frame of frames) {
    assert.match(frame.clientSecret, /^[0-9a-f]{64}$/);
    secretOf.set(frame.clientId, (secretOf.get(frame.clientId) ?? new Set()).add(frame.clientSecret));
  }
  assert.deepEqual([...secretOf.values()].map((secrets) => secrets.size), [1, 1], 'two ids, one secret each');
  const [first, second] = [...secretOf.values()].map((secrets) => [...secrets][0]);
  assert.notEqual(first, second);
  assert.ok(!JSON.stringify(connector.status()).includes(second!), 'status shows the id, never the secret');
});

test('ownership: NOT_OWNER to a first send means the id is someone else\'s; the call goes again under a new id', scenario, async (t) => {
  const cluster = await startCluster(t, 1);
  const connector = makeConnector(t, cluster.addresses);
  await connector.connect();
  const taken = connector.status().clientId;
  cluster.clientTable.set(taken, { secret: 'f'.repeat(64), requestNumber: 0, reply: null }); // Evicted, and registered by another.
  const reply = await connector.call({ kind: 'list', pattern: '*', page: 1 });
  assert.equal(reply.ok, false, 'answered (not logged in) under the new id');
  assert.deepEqual(cluster.frames('call').map((f) => [f.clientId === taken, f.requestNumber]), [[true, 1], [false, 1]]);
  assert.equal(cluster.frames('register').length, 2);
  assert.equal(cluster.executions.get(`${taken}#1`), undefined, 'nothing ran under the taken id');
});

test('ownership: NOT_OWNER after an earlier send may have run reports the outcome unknown, and the client carries on under a new id', scenario, async (t) => {
  const cluster = await startCluster(t, 1);
  const alice = await loggedIn(t, cluster, 'alice');
  cluster.accounts.set('bob', cluster.accounts.get('alice')!);
  const taken = alice.status().clientId;
  interceptOnce(cluster, (r) => isCall('send')(r.frame), () => {
    cluster.clientTable.set(taken, { secret: 'f'.repeat(64), requestNumber: 0, reply: null });
    return { action: 'drop-before' };
  });
  const error = await rejectsWith(alice.call({ kind: 'send', to: 'bob', text: 'maybe' }), 'NOT_OWNER');
  assert.match(error.message, /outcome of this request is unknown/);
  assert.equal(cluster.frames('call').filter((f) => f.command.kind === 'send').length, 2, 'not sent a third time');
  assert.ok((await alice.call({ kind: 'send', to: 'bob', text: 'again' })).ok);
  assert.notEqual(alice.status().clientId, taken);
});

test('ownership: a register refused NOT_OWNER draws a new id; CLIENT_TABLE_FULL fails the call with that code', scenario, async (t) => {
  const cluster = await startCluster(t, 1);
  let refusals = 0;
  cluster.intercept = ({ frame }) => {
    if (frame.type !== 'register' || refusals++ > 0) return undefined;
    return { action: 'reply', frame: { type: 'reply', id: frame.id, ok: false, error: { code: 'NOT_OWNER', message: 'taken' } } };
  };
  const connector = makeConnector(t, cluster.addresses);
  await connector.connect();
  const registers = cluster.frames('register');
  assert.equal(registers.length, 2);
  assert.notEqual(registers[0]!.clientId, registers[1]!.clientId);
  assert.notEqual(registers[0]!.clientSecret, registers[1]!.clientSecret);
  assert.equal(connector.status().clientId, registers[1]!.clientId);

  cluster.tableFull = true;
  const crowded = makeConnector(t, cluster.addresses);
  const error = await rejectsWith(crowded.call({ kind: 'list', pattern: '*', page: 1 }), 'CLIENT_TABLE_FULL');
  assert.match(error.message, /register refused/);
  assert.equal(cluster.frames('call').length, 0, 'no call without a registered client');
});

test('login: the proof checks out against the verifier and the name is folded', scenario, async (t) => {
  const cluster = await startCluster(t, 1);
  const connector = makeConnector(t, cluster.addresses);
  assert.deepEqual(await connector.createAccount('alice', 'secret'), { ok: true, result: { name: 'alice' } });
  const wrong = await connector.login('alice', 'not the secret');
  assert.deepEqual(wrong.ok ? null : wrong.error.code, 'AUTH_FAILED');
  const reply = await connector.login('Alice', 'secret');
  assert.ok(reply.ok);
  assert.equal(reply.result.name, 'alice');
  assert.equal(connector.status().name, 'alice');
  const login = cluster.frames('call').map((f) => f.command).filter((c) => c.kind === 'login').at(-1)!;
  assert.equal(cluster.sessions.get(login.kind === 'login' ? login.tokenHash : ''), 'alice');
  assert.ok(cluster.received.every((r) => !JSON.stringify(r.frame).includes('secret')), 'the password never crosses the wire');
});

test('login: a name the service would refuse is refused without a round trip', scenario, async (t) => {
  const cluster = await startCluster(t, 1);
  const connector = makeConnector(t, cluster.addresses);
  const reply = await connector.login('\u212Aelvin', 'pw'); // KELVIN SIGN: not folded to "k"
  assert.equal(reply.ok ? null : reply.error.code, 'BAD_NAME');
  assert.equal(cluster.received.length, 0);
});

test('login: a server signature that does not match is refused as an impostor', scenario, async (t) => {
  const cluster = await startCluster(t, 1);
  const connector = makeConnector(t, cluster.addresses);
  await connector.createAccount('alice', 'secret');
  interceptOnce(cluster, (r) => isCall('login')(r.frame), ({ frame }) => ({
    action: 'reply',
    frame: { type: 'reply', id: frame.id, ok: true, result: { name: 'alice', unread: 0, serverSignature: Buffer.alloc(32).toString('base64') } },
  }));
  await rejectsWith(connector.login('alice', 'secret'), 'BAD_SERVER_SIGNATURE');
  assert.equal(connector.status().name, null);
});

test('login: a challenge that does not extend our nonce is refused', scenario, async (t) => {
  const cluster = await startCluster(t, 1);
  const connector = makeConnector(t, cluster.addresses);
  interceptOnce(cluster, (r) => r.frame.type === 'login-start', ({ frame }) => ({
    action: 'reply',
    frame: { type: 'reply', id: frame.id, ok: true, result: { salt: 'c2FsdA==', iterations: 4096, nonce: 'someone-elses-nonce' } },
  }));
  await rejectsWith(connector.login('alice', 'secret'), 'BAD_CHALLENGE');
  assert.equal(cluster.frames('call').length, 0, 'no proof was sent');
});

/** Logs alice in while the connection drops at her first login call, before or after the call
 *  is executed; the login must succeed all the same. */
async function interruptedLogin(t: TestContext, action: 'drop-before' | 'drop-after'): Promise<{ cluster: FakeCluster; connector: Connector }> {
  const cluster = await startCluster(t, 1);
  const connector = makeConnector(t, cluster.addresses);
  await connector.createAccount('alice', 'secret');
  interceptOnce(cluster, (r) => isCall('login')(r.frame), { action });
  const reply = await connector.login('alice', 'secret');
  assert.ok(reply.ok, 'logged in after all');
  return { cluster, connector };
}

test('login: interrupted by a lost connection, it starts again once with a new challenge', scenario, async (t) => {
  const { cluster, connector } = await interruptedLogin(t, 'drop-before');
  assert.equal(cluster.frames('login-start').length, 2);
  assert.equal(connector.status().name, 'alice');
});

test('login: its attempt committed but the reply was lost; it starts again with the same token, so one session', scenario, async (t) => {
  const { cluster, connector } = await interruptedLogin(t, 'drop-after');
  const logins = cluster.frames('call').flatMap((f) => (f.command.kind === 'login' ? [f.command] : []));
  assert.equal(logins.length, 3, 'the attempt, its resend (refused: a new connection has no challenge), the new attempt');
  assert.equal(new Set(logins.map((login) => login.tokenHash)).size, 1, 'one token throughout');
  assert.deepEqual([...cluster.sessions.values()], ['alice'], 'no orphaned session');
  assert.equal(connector.status().name, 'alice');
});

test('login: a failover after its attempt committed starts it again on the new primary with the same token, so one session', scenario, async (t) => {
  const cluster = await startCluster(t, 2);
  const connector = makeConnector(t, cluster.addresses);
  await connector.createAccount('alice', 'secret');
  interceptOnce(cluster, (r) => isCall('login')(r.frame), () => {
    // The primary commits the login and dies before answering; replica 1 takes over.
    cluster.primary = 1;
    cluster.view = 1;
    return { action: 'drop-after' };
  });
  const reply = await connector.login('alice', 'secret');
  assert.ok(reply.ok, 'logged in after all');
  const logins = cluster.received.flatMap((r) => (r.frame.type === 'call' && r.frame.command.kind === 'login' ? [{ replica: r.replica, tokenHash: r.frame.command.tokenHash }] : []));
  assert.deepEqual(logins.map((login) => login.replica), [0, 1, 1], 'the attempt, its resend (no challenge on the new primary), the new attempt');
  assert.equal(new Set(logins.map((login) => login.tokenHash)).size, 1, 'one token throughout');
  assert.deepEqual([...cluster.sessions.values()], ['alice'], 'no orphaned session');
  assert.deepEqual(connector.status(), { ...connector.status(), replica: 1, name: 'alice' });
});

test('createAccount makes a verifier with the iterations it was given', scenario, async (t) => {
  const cluster = await startCluster(t, 1);
  const connector = makeConnector(t, cluster.addresses, { verifierIterations: 5000 });
  await connector.createAccount('alice', 'secret');
  assert.equal(cluster.accounts.get('alice')?.iterations, 5000);
});

test('pushes: a message pushed twice is shown once, and acked', scenario, async (t) => {
  const cluster = await startCluster(t, 1);
  const bob = await loggedIn(t, cluster, 'bob');
  const shown: StoredMessage[] = [];
  bob.on('push', (message) => shown.push(message));
  const message = cluster.deliver('alice', 'bob', 'hi');
  cluster.replicas[0]!.sendToAll({ type: 'push', message });
  await waitForFrame(cluster, 'an ack of the message', (f) => f.type === 'call' && f.command.kind === 'ack' && f.command.ids.includes(message.id));
  const second = cluster.deliver('alice', 'bob', 'and again');
  await waitFor(bob, 'push', 'the second message', (m: StoredMessage) => m.id === second.id);
  assert.deepEqual(shown.map((m) => m.text), ['hi', 'and again']);
  await waitForFrame(cluster, 'an ack of the second message', (f) => f.type === 'call' && f.command.kind === 'ack' && f.command.ids.includes(second.id));
  assert.equal(cluster.unread('bob').length, 0, 'everything acked is no longer unread');
});

test('pushes: a message already shown by a push is not shown again by a read that raced its ack', scenario, async (t) => {
  const cluster = await startCluster(t, 1);
  const bob = await loggedIn(t, cluster, 'bob');
  const message = cluster.deliver('alice', 'bob', 'once only');
  await waitFor(bob, 'push', 'the push', (m: StoredMessage) => m.id === message.id);
  await waitForFrame(cluster, 'the ack', (f) => f.type === 'call' && f.command.kind === 'ack' && f.command.ids.includes(message.id));
  // As after a failover: the read executes before the ack has committed, so it still sees the
  // message unread and returns it.
  cluster.mailbox('bob')[0]!.read = false;
  const reply = await bob.call({ kind: 'read', count: 10 });
  assert.ok(reply.ok);
  assert.deepEqual(reply.result.messages, [], 'the pushed message is not shown twice');
});

test('pushes: a burst is acked in batches, each id once', scenario, async (t) => {
  const cluster = await startCluster(t, 1);
  const bob = await loggedIn(t, cluster, 'bob');
  const ids = [1, 2, 3, 4, 5].map((n) => cluster.deliver('alice', 'bob', `message ${n}`).id);
  await waitFor(bob, 'push', 'the last message of the burst', (m: StoredMessage) => m.id === ids.at(-1));
  const ackedIds = (): number[] => cluster.frames('call').flatMap((f) => (f.command.kind === 'ack' ? f.command.ids : []));
  if (!ids.every((id) => ackedIds().includes(id))) {
    await waitFor(cluster, 'received', 'acks of every message in the burst', () => ids.every((id) => ackedIds().includes(id)));
  }
  assert.deepEqual(ackedIds().sort((x, y) => x - y), ids, 'each id acked once');
});

test('resume: after the connection drops while idle, the session resumes and what arrived meanwhile is pushed', scenario, async (t) => {
  const cluster = await startCluster(t, 1);
  const bob = await loggedIn(t, cluster, 'bob');
  const before = cluster.deliver('alice', 'bob', 'before');
  await waitForFrame(cluster, 'the ack of the first message', (f) => f.type === 'call' && f.command.kind === 'ack');
  cluster.replicas[0]!.dropConnections();
  const meanwhile = cluster.deliver('alice', 'bob', 'meanwhile');
  const [pushed] = await waitFor(bob, 'push', 'the message that arrived while disconnected', (m: StoredMessage) => m.id === meanwhile.id);
  assert.equal(pushed.text, 'meanwhile');
  const resumes = cluster.frames('resume');
  assert.equal(resumes.length, 1);
  assert.equal(resumes[0]!.lastSeen, before.id, 'lastSeen is the highest id shown');
});

test('resume: a session ended elsewhere is reported as lost', scenario, async (t) => {
  const cluster = await startCluster(t, 1);
  const bob = await loggedIn(t, cluster, 'bob');
  const lost = waitFor(bob, 'session-lost', 'the session-lost event');
  cluster.sessions.clear(); // logged out from another client
  cluster.replicas[0]!.dropConnections();
  const [reason] = await lost;
  assert.match(String(reason), /BAD_TOKEN/);
  assert.equal(bob.status().name, null);
});

test('bad frames: a reply to a request never sent ends that connection, and the request is retried', scenario, async (t) => {
  const cluster = await startCluster(t, 1);
  const connector = makeConnector(t, cluster.addresses);
  await connector.connect();
  interceptOnce(cluster, (r) => r.frame.type === 'call', { action: 'reply', frame: { type: 'reply', id: 9999, ok: true, result: {} } });
  await connector.call({ kind: 'list', pattern: '*', page: 1 });
  assert.equal(cluster.frames('hello').length, 2, 'a second connection');
  assert.equal(cluster.frames('call').length, 2);
});

test('bad frames: a result of the wrong shape is an error, not a value', scenario, async (t) => {
  const cluster = await startCluster(t, 1);
  const connector = makeConnector(t, cluster.addresses);
  await connector.connect();
  interceptOnce(cluster, (r) => r.frame.type === 'call', ({ frame }) => ({
    action: 'reply',
    frame: { type: 'reply', id: frame.id, ok: true, result: { names: 'alice', page: 1, pages: 1, total: 1 } },
  }));
  await rejectsWith(connector.call({ kind: 'list', pattern: '*', page: 1 }), 'BAD_FRAME');
});

test('limits: a call too big for a frame is refused without being sent, and the connection carries on', scenario, async (t) => {
  const cluster = await startCluster(t, 1);
  const connector = makeConnector(t, cluster.addresses);
  await rejectsWith(connector.call({ kind: 'send', to: 'bob', text: 'x'.repeat(70_000) }), 'BAD_REQUEST');
  await connector.call({ kind: 'list', pattern: '*', page: 1 });
  assert.equal(cluster.frames('call').length, 1, 'only the list was sent');
  assert.equal(cluster.frames('hello').length, 1, 'on the same connection');
});

test('limits: a read reply larger than any request frame is received whole', scenario, async (t) => {
  const cluster = await startCluster(t, 1);
  // Sent while bob is offline, so they wait for a read rather than arrive as pushes.
  for (let n = 0; n < 30; n++) cluster.deliver('alice', 'bob', 'x'.repeat(4_000));
  const bob = await loggedIn(t, cluster, 'bob');
  const reply = await bob.call({ kind: 'read', count: 30 });
  assert.ok(reply.ok);
  assert.equal(reply.result.messages.length, 30);
  assert.ok(JSON.stringify(reply.result).length > CLIENT_FRAME_BYTES_MAX, 'the reply is bigger than a request may be');
});

test('giving up: nothing listening means UNAVAILABLE after giveUpMs', scenario, async (t) => {
  const connector = makeConnector(t, [await closedPort(), await closedPort()], { giveUpMs: 300 });
  const error = await rejectsWith(connector.connect(), 'UNAVAILABLE');
  assert.match(error.message, /ECONNREFUSED/);
});

test('giving up: a replica that never answers times out each request, then UNAVAILABLE', scenario, async (t) => {
  const cluster = await startCluster(t, 1);
  cluster.intercept = () => ({ action: 'ignore' });
  const connector = makeConnector(t, cluster.addresses, { requestTimeoutMs: 200, giveUpMs: 1_000 });
  const error = await rejectsWith(connector.call({ kind: 'list', pattern: '*', page: 1 }), 'UNAVAILABLE');
  assert.match(error.message, /no reply to hello within/);
  assert.ok(cluster.frames('hello').length >= 2, 'it kept trying until it gave up');
});

test('closing: a call sleeping in a backoff fails with CLOSED at once, and later calls too', { timeout: 5_000 }, async (t) => {
  // Backoff far longer than the test's timeout: only close() waking the sleep can pass it.
  const options = { giveUpMs: 60_000, backoffBaseMs: 20_000, backoffMaxMs: 20_000 };
  const connector = makeConnector(t, [await closedPort()], options);
  const retrying = waitFor(connector, 'searching', 'the first pause');
  const call = connector.call({ kind: 'list', pattern: '*', page: 1 });
  await retrying;
  const closed = connector.close();
  await rejectsWith(call, 'CLOSED');
  await closed;
  await rejectsWith(connector.call({ kind: 'list', pattern: '*', page: 1 }), 'CLOSED');
});

test('closing: a connector parked at a replica, or about to park, stops at once with CLOSED', { timeout: 5_000 }, async (t) => {
  const cluster = await startCluster(t, 1);
  cluster.replicas[0]!.viewChanging = true; // it parks, for longer than the test may last
  const parked = makeConnector(t, cluster.addresses, { requestTimeoutMs: 20_000 });
  const waiting = waitFor(parked, 'searching', 'the park');
  const connecting = parked.connect();
  await waiting;
  const closed = parked.close();
  await rejectsWith(connecting, 'CLOSED');
  await closed;
  // Closed while its hello is on the wire: the park it would begin ends before it starts.
  const early = makeConnector(t, cluster.addresses, { requestTimeoutMs: 20_000 });
  let closing: Promise<void> | null = null;
  cluster.intercept = ({ frame }) => {
    if (frame.type === 'hello' && closing === null) closing = early.close();
    return undefined;
  };
  await rejectsWith(early.connect(), 'CLOSED');
  await closing;
});

test('finding the primary after it died: backups naming the dead primary are not followed there; a call parks at one and follows its announcement', scenario, async (t) => {
  const cluster = await startCluster(t, 3);
  const lines: string[] = [];
  const connector = makeConnector(t, cluster.addresses, { log: (line: string) => lines.push(line) });
  await connector.connect();
  const dead = cluster.addresses[0]!;
  await cluster.replicas[0]!.close();
  const connected = lines.length;
  // The backups still name replica 0: their view change has not finished.
  const parked = waitFor<[SearchProgress]>(connector, 'searching', 'a park', (progress) => progress.parkedAt !== null);
  const call = connector.createAccount('carol', 'carol-password');
  const [progress] = await parked;
  const at = cluster.addresses.indexOf(progress.parkedAt!);
  assert.deepEqual(progress, { known: 3, unreachable: 1, parkedAt: progress.parkedAt });
  assert.ok(at === 1 || at === 2, `parked at a backup: ${progress.parkedAt}`);
  const accepted = cluster.replicas.map((replica) => replica.accepted);
  cluster.primary = 3 - at; // the other backup
  cluster.view = 1;
  cluster.replicas[at]!.announce();
  const reply = await call;
  assert.ok(reply.ok, `the call succeeds on the new primary: ${JSON.stringify(reply)}`);
  assert.equal(connector.status().replica, cluster.primary);
  assert.deepEqual(cluster.replicas.map((replica) => replica.accepted), accepted.map((n, i) => (i === cluster.primary ? n + 1 : n)), 'one connection more: to the primary announced');
  assert.ok(!lines.slice(connected).some((line) => line.startsWith(`dialling ${dead}`)), `the dead primary is not dialled again:\n${lines.join('\n')}`);
  assert.ok(lines.some((line) => line.startsWith(`dialling ${cluster.addresses[cluster.primary]} at once`)), 'a call follows the announcement at once');
  assert.deepEqual(connector.status().unreachable, [dead]);
});

test('finding the primary after it died: an idle client reconnects at once, parks at a backup, and follows its announcement with the patient spread', scenario, async (t) => {
  const cluster = await startCluster(t, 3);
  const lines: string[] = [];
  const alice = await loggedIn(t, cluster, 'alice', { log: (line: string) => lines.push(line) });
  const parked = waitFor<[SearchProgress]>(alice, 'searching', 'the idle client parked', (progress) => progress.parkedAt !== null);
  await cluster.replicas[0]!.close();
  const [{ parkedAt }] = await parked;
  const at = cluster.addresses.indexOf(parkedAt!);
  const accepted = cluster.replicas.map((replica) => replica.accepted);
  cluster.primary = 3 - at;
  cluster.view = 1;
  cluster.replicas[at]!.announce();
  await waitForFrame(cluster, 'the session resumed on the new primary', (frame) => frame.type === 'resume' && cluster.frames('resume', cluster.primary).length > 0);
  assert.equal(alice.status().replica, cluster.primary);
  assert.deepEqual(cluster.replicas.map((replica) => replica.accepted), accepted.map((n, i) => (i === cluster.primary ? n + 1 : n)));
  // random() = 0.5 of 4 × backoffBaseMs (5 ms): a thousand idle clients would not all come at once.
  assert.ok(lines.some((line) => line.startsWith(`dialling ${cluster.addresses[cluster.primary]} in 10 ms`)), lines.join('\n'));
});

test('finding the primary after it died: idle clients spread over the backups, and the one parked at the new primary keeps its connection', scenario, async (t) => {
  const cluster = await startCluster(t, 5);
  // Each client's random() picks one of the four backups left: floor(draw × 4).
  const draws = [0.1, 0.3, 0.6, 0.9];
  const clients = await Promise.all(draws.map((draw, i) => loggedIn(t, cluster, `user${i}`, { random: () => draw })));
  const parks = clients.map((client) => waitFor<[SearchProgress]>(client, 'searching', 'a park', (progress) => progress.parkedAt !== null));
  await cluster.replicas[0]!.close();
  const parkedAt = (await Promise.all(parks)).map(([progress]) => cluster.addresses.indexOf(progress.parkedAt!));
  assert.deepEqual(parkedAt, [1, 2, 3, 4], 'one client at each backup');
  const hellosBefore = cluster.frames('hello', 1).length;
  cluster.primary = 1;
  cluster.view = 1;
  for (const replica of cluster.replicas.slice(1)) replica.announce();
  for (const name of ['user0', 'user1', 'user2', 'user3']) {
    const resumedOn1 = (r: Received): boolean => r.replica === 1 && r.frame.type === 'resume' && cluster.sessions.get(hashToken(r.frame.token)) === name;
    if (!cluster.received.some(resumedOn1)) await waitFor<[Received]>(cluster, 'received', `${name} resumed on replica 1`, resumedOn1);
  }
  assert.equal(cluster.frames('hello', 1).length, hellosBefore + 3, 'the client parked at replica 1 adopted that connection; the three others came');
});

test('announcements: while parked, one from a view older than one known is ignored; a fresh one is followed', scenario, async (t) => {
  const cluster = await startCluster(t, 3);
  cluster.view = 3; // replica 0 is primary of view 3
  const log = new EventEmitter();
  const connector = makeConnector(t, cluster.addresses, { log: (line: string) => log.emit('line', line) });
  await connector.connect();
  await cluster.replicas[0]!.close();
  const parked = waitFor<[SearchProgress]>(connector, 'searching', 'a park', (progress) => progress.parkedAt !== null);
  const call = connector.call({ kind: 'list', pattern: '*', page: 1 });
  const at = cluster.addresses.indexOf((await parked)[0].parkedAt!);
  // Late news from a replica that has fallen behind: it names the replica parked at, in view 2.
  const ignored = waitFor(log, 'line', 'the stale announcement ignored', (line: string) => line.endsWith('ignored an announcement of view 2, but view 3 has begun'));
  cluster.replicas[at]!.announce({ replica: at, view: 2, address: cluster.addresses[at]! });
  await ignored;
  cluster.primary = 3 - at;
  cluster.view = 4;
  cluster.replicas[at]!.announce();
  await call;
  assert.equal(connector.status().replica, cluster.primary);
  assert.equal(cluster.frames('call', at).length, 0, 'the stale announcement did not make the replica parked at the primary');
});

test('announcements on the primary\'s connection: a newer view of the same primary is a failover in place; another primary is followed', scenario, async (t) => {
  const cluster = await startCluster(t, 3);
  const alice = await loggedIn(t, cluster, 'alice');
  const failover = waitFor(alice, 'failover', 'the failover to view 3');
  cluster.view = 3; // replica 0 again
  cluster.replicas[0]!.announce();
  assert.deepEqual(await failover, [{ replica: 0, view: 3, address: cluster.addresses[0] }]);
  assert.equal(cluster.replicas[0]!.accepted, 1, 'on the same connection');
  cluster.replicas[0]!.announce({ replica: 2, view: 1, address: cluster.addresses[2]! }); // stale
  cluster.primary = 1;
  cluster.view = 4;
  cluster.replicas[0]!.announce(); // replica 0 is a backup of view 4 now
  await waitForFrame(cluster, 'the session resumed on replica 1', (frame) => frame.type === 'resume' && cluster.frames('resume', 1).length > 0);
  assert.equal(alice.status().replica, 1);
  assert.equal(cluster.replicas[2]!.accepted, 0, 'the stale announcement was not followed');
});

test('finding the primary: hints and primaries from a view older than one already seen are stale and not followed', scenario, async (t) => {
  const cluster = await startCluster(t, 4);
  cluster.primary = 1;
  cluster.view = 5;
  const lines: string[] = [];
  const connector = makeConnector(t, cluster.addresses, { log: (line: string) => lines.push(line) });
  await connector.connect(); // replica 0 points at 1: view 5 is known.
  assert.equal(connector.status().view, 5);
  // The connection to 1 drops; the next in the round is replica 2, which has not heard of view 5
  // (it was cut off) and names replica 0 as the primary of view 3. Replica 3 knows better.
  const stale = { replica: 0, view: 3, address: cluster.addresses[0] };
  let dropped = false;
  cluster.intercept = ({ replica, frame }) => {
    if (frame.type === 'call' && !dropped) {
      dropped = true;
      return { action: 'drop-before' };
    }
    if (replica === 2 && frame.type === 'hello') return { action: 'reply', frame: { type: 'reply', id: frame.id, ok: true, result: { version: PROTOCOL_VERSION, replica: 2, view: 3, primary: stale, members: cluster.addresses } } };
    if (replica === 0 && frame.type === 'hello') return { action: 'reply', frame: { type: 'reply', id: frame.id, ok: true, result: { version: PROTOCOL_VERSION, replica: 0, view: 3, primary: stale, members: cluster.addresses } } };
    return undefined;
  };
  const before = lines.length;
  const reply = await connector.createAccount('dave', 'dave-password');
  assert.equal(reply.ok, true, JSON.stringify(reply));
  assert.equal(connector.status().replica, 1, 'back on the primary of view 5');
  const after = lines.slice(before);
  const staleHint = after.findIndex((line) => line.includes('replica 2 names the primary of view 3, but view 5 has begun'));
  assert.ok(staleHint >= 0, `replica 2's hint is judged stale:\n${after.join('\n')}`);
  assert.ok(!after[staleHint + 1]!.startsWith(`dialling ${cluster.addresses[0]} at once`), `the stale hint is not followed:\n${after.join('\n')}`);
  assert.ok(!after.some((line) => line.startsWith('connected to replica 0')), `a primary of view 3 is not adopted:\n${after.join('\n')}`);
});

test('losing the connection to a primary that is alive costs one park: the backup asked again still names it, and the client goes back', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const cluster = await startCluster(t, 5);
  const lines: string[] = [];
  const connector = makeConnector(t, cluster.addresses, { log: (line) => lines.push(line) });
  await connector.connect();
  assert.equal(connector.status().replica, 0);
  assert.equal((await connector.createAccount('ann', 'pw-ann-123')).ok, true);
  let found = 0;
  connector.on('found', () => found++);
  cluster.replicas[0]!.dropConnections(); // a network blip, say: replica 0 is still primary
  const before = lines.length;
  assert.equal((await connector.createAccount('bob', 'pw-bob-123')).ok, true);
  assert.equal(found, 1, "'found' tells the REPL the search is over, though the primary is the same");
  const after = lines.slice(before);
  assert.equal(after.filter((line) => line.startsWith('parked at')).length, 1, `one park, not one per backup:\n${after.join('\n')}`);
  assert.equal(connector.status().replica, 0, 'back on the same primary');
  assert.ok(after.some((line) => line.startsWith('connected to replica 0')), after.join('\n'));
});
