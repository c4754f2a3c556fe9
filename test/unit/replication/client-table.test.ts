// The client table (VRR §4, §4.5): exactly-once answers to retries, session expiry, eviction.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { admit, ClientTable } from '../../../lib/replication/client-table.js';
import { Cluster, req } from './harness.js';

/** Sends a request, lets the cluster settle, and returns what the primary answered it. */
function answer(cluster: Cluster, primary: number, request: ReturnType<typeof req>) {
  cluster.request(primary, request);
  cluster.deliverAll();
  const answers = cluster.effects[primary]!.filter(
    (e) => (e.type === 'reply' || e.type === 'reject') && e.clientId === request.clientId && e.requestNumber === request.requestNumber,
  );
  assert.equal(answers.length, 1, `one answer to ${request.clientId}#${request.requestNumber}`);
  return answers[0]!;
}

function setup() {
  const cluster = new Cluster(3);
  const primary = cluster.settle();
  cluster.register('c');
  return { cluster, primary };
}

test('§4.1 step 2: a retry of an executed request gets the saved reply and is not applied again', () => {
  const { cluster, primary } = setup();
  cluster.request(primary, req('c', 1, 'once'));
  cluster.deliverAll();
  const retry = cluster.request(primary, req('c', 1, 'once'));
  assert.deepEqual(retry.filter((e) => e.type === 'reply').map((e) => e.type === 'reply' && [e.requestNumber, e.op, e.reply]), [[1, 2, 1]]);
  cluster.deliverAll();
  assert.deepEqual(cluster.items(primary), ['once']);
});

test('§4.1 step 2: a retry of a request still in the log is dropped and answered once when it commits', () => {
  const { cluster, primary } = setup();
  cluster.request(primary, req('c', 1, 'x'));
  const retry = cluster.request(primary, req('c', 1, 'x'));
  assert.equal(retry.filter((e) => e.type !== 'log').length, 0, 'no reply, no reject, no second entry');
  cluster.deliverAll();
  assert.equal(cluster.ofType(primary, 'reply').filter((r) => r.requestNumber === 1).length, 1);
  assert.deepEqual(cluster.items(primary), ['x']);
});

test('SESSION_EXPIRED for an unregistered client — decided in log order — and STALE_REQUEST below the latest', () => {
  const { cluster, primary } = setup();
  assert.equal(cluster.request(primary, req('stranger', 1, 'x')).filter((e) => e.type === 'reject').length, 0, 'not before it commits');
  cluster.deliverAll();
  const expired = cluster.ofType(primary, 'reject').find((e) => e.clientId === 'stranger');
  assert.ok(expired?.code === 'SESSION_EXPIRED');
  assert.deepEqual(cluster.items(primary), [], 'nothing applied');
  cluster.request(primary, req('c', 2, 'x'));
  cluster.deliverAll();
  const [stale] = cluster.request(primary, req('c', 1, 'y'));
  assert.ok(stale?.type === 'reject' && stale.code === 'STALE_REQUEST');
});

test('§4 one outstanding request per client: a newer request while one is in flight is BUSY', () => {
  const { cluster, primary } = setup();
  cluster.request(primary, req('c', 1, 'x'));
  const [busy] = cluster.request(primary, req('c', 2, 'y'));
  assert.ok(busy?.type === 'reject' && busy.code === 'BUSY');
});

test('registering again is idempotent: the retry is answered (null, at the register\'s op) without a new log entry', () => {
  const { cluster, primary } = setup();
  const opBefore = cluster.replica(primary).statusReport().op;
  const again = cluster.request(primary, { clientId: 'c', requestNumber: 0, command: null });
  assert.deepEqual(again.filter((e) => e.type === 'reply').map((e) => e.type === 'reply' && [e.requestNumber, e.op, e.reply]), [[0, 1, null]]);
  assert.equal(cluster.replica(primary).statusReport().op, opBefore);
  // Once the client has moved on, a duplicate of its register is stale, not answered again.
  cluster.request(primary, req('c', 1, 'x'));
  cluster.deliverAll();
  const [stale] = cluster.request(primary, { clientId: 'c', requestNumber: 0, command: null });
  assert.ok(stale?.type === 'reject' && stale.code === 'STALE_REQUEST');
});

test('eviction at execution: the client executed longest ago goes, and its retry is SESSION_EXPIRED', () => {
  const cluster = new Cluster(3, { clientTableMax: 2 });
  const primary = cluster.settle();
  cluster.register('old');
  cluster.register('mid');
  cluster.request(primary, req('old', 1, 'o'));
  cluster.deliverAll();
  cluster.register('new'); // Table full: 'mid' executed longest ago (op 2) — not 'old' (op 3).
  const midRetry = answer(cluster, primary, req('mid', 1, 'm'));
  assert.ok(midRetry.type === 'reject' && midRetry.code === 'SESSION_EXPIRED');
  const oldRetry = cluster.request(primary, req('old', 1, 'o'));
  assert.ok(oldRetry.some((e) => e.type === 'reply' && e.reply === 1), 'old is still known and answered from the table');
});

test('the client table is replicated state: every replica evicts the same rows', () => {
  const cluster = new Cluster(3, { clientTableMax: 2 });
  const primary = cluster.settle();
  for (const c of ['a', 'b', 'c']) cluster.register(c);
  cluster.tick(5);
  const tables = [0, 1, 2].map((id) => cluster.ofType(id, 'applied').length);
  assert.deepEqual(tables, [3, 3, 3]);
  // After failover the new primary answers from its own table: 'a' was evicted everywhere.
  cluster.crash(primary);
  const next = cluster.settle();
  const expired = answer(cluster, next, req('a', 1, 'x'));
  assert.ok(expired.type === 'reject' && expired.code === 'SESSION_EXPIRED');
});

test('a deposed primary with a stale client table cannot tell a client it is unknown (sim seed 2326)', () => {
  const cluster = new Cluster(3);
  const old = cluster.settle();
  cluster.isolated.add(old); // Cut off from the replicas, still reachable by clients.
  cluster.tick(40, [0, 1, 2].filter((id) => id !== old));
  const next = cluster.primary();
  cluster.register('late'); // Registered in the new view, unknown to the old primary.
  cluster.request(old, req('late', 1, 'x'));
  cluster.tick(10, [old]);
  assert.equal(cluster.ofType(old, 'reject').filter((e) => e.clientId === 'late').length, 0, 'no SESSION_EXPIRED from a stale table');
  const answered = answer(cluster, next, req('late', 1, 'x'));
  assert.ok(answered.type === 'reply');
});

test('a request admitted before its client was evicted is refused with SESSION_EXPIRED when it executes', () => {
  const cluster = new Cluster(1, { clientTableMax: 1 });
  cluster.settle();
  cluster.register('a');
  // One batch: b's register executes first and evicts 'a'; then a#1, admitted while 'a' was known.
  cluster.handle(0, cluster.replica(0).onRequest({ clientId: 'b', requestNumber: 0, command: null }));
  cluster.handle(0, cluster.replica(0).onRequest(req('a', 1, 'x')));
  cluster.handle(0, cluster.replica(0).flush());
  const verdict = cluster.ofType(0, 'reject').find((e) => e.clientId === 'a' && e.requestNumber === 1);
  assert.equal(verdict?.code, 'SESSION_EXPIRED');
  assert.deepEqual(cluster.items(0), [], 'not applied');
});

test('admit() decides from the executed row and the request in flight', () => {
  const row = { requestNumber: 4, reply: 'r4', op: 10 };
  assert.deepEqual(admit(row, undefined, 5), { action: 'append' });
  assert.deepEqual(admit(row, undefined, 4), { action: 'reply', op: 10, reply: 'r4' });
  assert.deepEqual(admit(row, undefined, 3), { action: 'reject', code: 'STALE_REQUEST' });
  assert.deepEqual(admit(row, 5, 5), { action: 'drop', reason: 'request in flight' });
  assert.deepEqual(admit(row, 5, 6), { action: 'reject', code: 'BUSY' });
  assert.deepEqual(admit(row, 5, 4), { action: 'reject', code: 'STALE_REQUEST' });
  assert.deepEqual(admit(undefined, 0, 1), { action: 'reject', code: 'BUSY' });
  assert.deepEqual(admit(undefined, undefined, 1), { action: 'append' }, 'unknown: decided when it executes');
  assert.deepEqual(admit(undefined, undefined, 0), { action: 'append' });
  assert.deepEqual(admit(undefined, 0, 0), { action: 'drop', reason: 'request in flight' });
  assert.deepEqual(admit({ requestNumber: 0, reply: null, op: 7 }, undefined, 0), { action: 'reply', op: 7, reply: null });
  assert.deepEqual(admit(row, undefined, 0), { action: 'reject', code: 'STALE_REQUEST' }, 'an old duplicate register (sim seed 5898)');
});

test('ClientTable survives a snapshot round trip with its eviction order', () => {
  const table = new ClientTable<string>(2, null);
  table.recordExecuted('x', 0, null, 1);
  table.recordExecuted('y', 0, null, 2);
  table.recordExecuted('x', 1, 'r', 3);
  const restored = new ClientTable<string>(2, JSON.parse(JSON.stringify(table.toSnapshot())));
  assert.equal(restored.recordExecuted('z', 0, null, 4), 'y');
  assert.throws(() => restored.recordExecuted('x', 1, 'again', 5), /executed twice/);
});
