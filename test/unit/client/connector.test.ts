// The connector against a fake cluster on real sockets: finding the primary, exactly-once
// retries, login, session resume, pushes, and giving up. Scenario names follow the fault.

import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { hashToken } from '../../../lib/auth/tokens.js';
import type { Connector } from '../../../lib/client/connector.js';
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

test('finding the primary: hints without an address send the connector round the list', scenario, async (t) => {
  const cluster = await startCluster(t, 3);
  cluster.primary = 2;
  cluster.view = 5;
  cluster.hintAddresses = false;
  const connector = makeConnector(t, cluster.addresses);
  await connector.connect();
  assert.equal(connector.status().replica, 2);
  assert.deepEqual(cluster.received.filter((r) => r.frame.type === 'hello').map((r) => r.replica), [0, 1, 2]);
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
  const log = new EventEmitter();
  const options = { giveUpMs: 60_000, backoffBaseMs: 20_000, backoffMaxMs: 20_000, log: (line: string) => log.emit('line', line) };
  const connector = makeConnector(t, [await closedPort()], options);
  const retrying = waitFor(log, 'line', 'the first retry', (line: string) => line.startsWith('retrying'));
  const call = connector.call({ kind: 'list', pattern: '*', page: 1 });
  await retrying;
  const closed = connector.close();
  await rejectsWith(call, 'CLOSED');
  await closed;
  await rejectsWith(connector.call({ kind: 'list', pattern: '*', page: 1 }), 'CLOSED');
});

test('finding the primary after it died: backups naming the dead primary are not followed there, and are asked again at the short pace', scenario, async (t) => {
  const cluster = await startCluster(t, 3);
  const lines: string[] = [];
  // A dead connection doubles the wait up to 1 s; an answer from a live replica waits 5–10 ms.
  const connector = makeConnector(t, cluster.addresses, { backoffBaseMs: 5, backoffMaxMs: 1_000, log: (line: string) => lines.push(line) });
  await connector.connect();
  const dead = cluster.addresses[0]!;
  await cluster.replicas[0]!.close();
  // The backups still name replica 0 (their view change has not finished) for a while.
  const call = connector.createAccount('carol', 'carol-password');
  const retries = () => lines.filter((line) => line.startsWith('retrying'));
  for (let i = 0; i < 500 && retries().filter((line) => line.includes('is a backup')).length < 6; i++) await new Promise((resolve) => setTimeout(resolve, 5));
  cluster.primary = 1;
  cluster.view = 1;
  const reply = await call;
  assert.ok(reply.ok, `the call succeeds on the new primary: ${JSON.stringify(reply)}`);
  assert.equal(connector.status().replica, 1);
  const all = retries();
  const lastNamingDead = all.map((line) => line.includes('the primary is replica 0')).lastIndexOf(true);
  const whileDead = all.slice(0, lastNamingDead + 1);
  assert.ok(whileDead.filter((line) => line.includes('is a backup')).length >= 6, whileDead.join('\n'));
  for (const line of whileDead.filter((l) => l.includes('is a backup'))) {
    assert.doesNotMatch(line, /at once/, `a hint naming the dead primary ${dead} is not followed: ${line}`);
    const delay = Number(/in (\d+) ms/.exec(line)?.[1]);
    assert.ok(delay <= 10, `a live backup's answer is retried at the short pace: ${line}`);
  }
  // The dead address is still tried in its turn round the list, at the doubling pace.
  const refused = whileDead.filter((line) => line.includes(`${dead}:`));
  assert.ok(refused.length >= 1 && refused.length <= Math.ceil(whileDead.length / 2), `the dead replica is dialled once per round, not after every hint:\n${whileDead.join('\n')}`);
});

test('finding the primary after it died: an idle client reconnecting for its pushes keeps the doubling pace', scenario, async (t) => {
  const cluster = await startCluster(t, 3);
  const lines: string[] = [];
  const alice = await loggedIn(t, cluster, 'alice', { backoffBaseMs: 5, backoffMaxMs: 1_000, log: (line: string) => lines.push(line) });
  await cluster.replicas[0]!.close();
  // No call waits: after a failover every idle client reconnects at once, and at the short pace
  // hundreds of them would flood replicas that are busy changing views.
  const backupAnswers = () => lines.filter((line) => line.startsWith('retrying') && line.includes('is a backup'));
  for (let i = 0; i < 1000 && backupAnswers().length < 5; i++) await new Promise((resolve) => setTimeout(resolve, 5));
  const delays = backupAnswers().map((line) => Number(/in (\d+) ms/.exec(line)?.[1] ?? 0));
  assert.ok(delays.length >= 5 && Math.max(...delays) > 10, `backups' answers are retried at the doubling pace: ${delays.join(', ')} ms`);
  cluster.primary = 1;
  cluster.view = 1;
  const resumedOn1 = (r: Received) => r.frame.type === 'resume' && r.replica === 1;
  if (!cluster.received.some(resumedOn1)) await waitFor<[Received]>(cluster, 'received', 'the session resumed on replica 1', resumedOn1);
  assert.equal(alice.status().replica, 1);
});

test('resume: idle clients that lose their primary together spread their reconnects; a call meanwhile reconnects at once', scenario, async (t) => {
  const cluster = await startCluster(t, 3);
  const lines: string[] = [];
  // random() = 0.99 of backoffMaxMs = 20 s: the idle reconnect is due ~19.8 s after the loss.
  const alice = await loggedIn(t, cluster, 'alice', { backoffBaseMs: 5, backoffMaxMs: 20_000, random: () => 0.99, log: (line: string) => lines.push(line) });
  const hellosBefore = cluster.frames('hello').length;
  await cluster.replicas[0]!.close();
  cluster.primary = 1;
  cluster.view = 1;
  for (let i = 0; i < 400 && !lines.some((line) => line.startsWith('lost')); i++) await new Promise((resolve) => setTimeout(resolve, 5));
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(cluster.frames('hello').length, hellosBefore, 'no replica was dialled yet: the idle reconnect waits its turn');
  const reply = await alice.call({ kind: 'list', pattern: '*', page: 1 });
  assert.ok(reply.ok, `a call reconnects at once: ${JSON.stringify(reply)}`);
  assert.equal(alice.status().replica, 1);
  assert.equal(cluster.frames('resume', 1).length, 1, 'resumed once, by the call');
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
  const staleHint = after.find((line) => line.includes('replica 2 is a backup; the primary is replica 0'));
  assert.ok(staleHint !== undefined && !staleHint.includes('at once'), `the stale hint is not followed:\n${after.join('\n')}`);
  assert.ok(!after.some((line) => line.startsWith('connected to replica 0')), `a primary of view 3 is not adopted:\n${after.join('\n')}`);
});
