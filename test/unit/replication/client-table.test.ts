// The client table (VRR §4, §4.5): exactly-once answers to retries, session expiry, ownership
// of client ids, eviction.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { admit, ClientTable } from '../../../lib/replication/client-table.js';
import { Cluster, type Message, ownerFor, registration, req } from './harness.js';

/** Sends a request, lets the cluster settle, and returns what the primary answered it. */
function answer(cluster: Cluster, primary: number, request: ReturnType<typeof req>) {
  const before = cluster.effects[primary]!.length;
  cluster.request(primary, request);
  cluster.deliverAll();
  const answers = cluster.effects[primary]!.slice(before).filter(
    (e) => (e.type === 'reply' || e.type === 'reject') && e.clientId === request.clientId && e.requestNumber === request.requestNumber && e.owner === request.owner,
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
  const again = cluster.request(primary, registration('c'));
  assert.deepEqual(again.filter((e) => e.type === 'reply').map((e) => e.type === 'reply' && [e.requestNumber, e.op, e.reply]), [[0, 1, null]]);
  assert.equal(cluster.replica(primary).statusReport().op, opBefore);
  // Once the client has moved on, a duplicate of its register is stale, not answered again.
  cluster.request(primary, req('c', 1, 'x'));
  cluster.deliverAll();
  const [stale] = cluster.request(primary, registration('c'));
  assert.ok(stale?.type === 'reject' && stale.code === 'STALE_REQUEST');
});

test('eviction at execution: a register evicts a client that never used its row, whose next request is SESSION_EXPIRED', () => {
  const cluster = new Cluster(3, { clientTableMax: 2 });
  const primary = cluster.settle();
  cluster.register('old');
  cluster.register('mid');
  cluster.request(primary, req('old', 1, 'o'));
  cluster.deliverAll();
  cluster.register('new'); // Table full: 'mid' has executed nothing since its register — 'old' has.
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

/** A primary cut off from the replicas (still reachable by clients) while the others move to a
 *  new view, where client 'late' registers: the old primary's table does not know it. */
function deposedPrimary() {
  const cluster = new Cluster(3);
  const old = cluster.settle();
  cluster.isolated.add(old);
  cluster.tick(40, [0, 1, 2].filter((id) => id !== old));
  const next = cluster.primary();
  cluster.register('late');
  return { cluster, old, next };
}

test('a deposed primary with a stale client table cannot tell a client it is unknown (sim seed 2326)', () => {
  const { cluster, old, next } = deposedPrimary();
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
  cluster.handle(0, cluster.replica(0).onRequest(registration('b')));
  cluster.handle(0, cluster.replica(0).onRequest(req('a', 1, 'x')));
  cluster.handle(0, cluster.replica(0).flush());
  const verdict = cluster.ofType(0, 'reject').find((e) => e.clientId === 'a' && e.requestNumber === 1);
  assert.equal(verdict?.code, 'SESSION_EXPIRED');
  assert.deepEqual(cluster.items(0), [], 'not applied');
});

test('admit() decides from the executed row and the request in flight', () => {
  const row = { owner: 'o', requestNumber: 4, reply: 'r4', op: 10, at: 0 };
  const mine = (requestNumber: number) => ({ owner: 'o', requestNumber });
  assert.deepEqual(admit(row, undefined, mine(5)), { action: 'append' });
  assert.deepEqual(admit(row, undefined, mine(4)), { action: 'reply', op: 10, reply: 'r4' });
  assert.deepEqual(admit(row, undefined, mine(3)), { action: 'reject', code: 'STALE_REQUEST' });
  assert.deepEqual(admit(row, mine(5), mine(5)), { action: 'drop', reason: 'request in flight' });
  assert.deepEqual(admit(row, mine(5), mine(6)), { action: 'reject', code: 'BUSY' });
  assert.deepEqual(admit(row, mine(5), mine(4)), { action: 'reject', code: 'STALE_REQUEST' });
  assert.deepEqual(admit(undefined, mine(0), mine(1)), { action: 'reject', code: 'BUSY' });
  assert.deepEqual(admit(undefined, undefined, mine(1)), { action: 'append' }, 'unknown: decided when it executes');
  assert.deepEqual(admit(undefined, undefined, mine(0)), { action: 'append' });
  assert.deepEqual(admit(undefined, mine(0), mine(0)), { action: 'drop', reason: 'request in flight' });
  assert.deepEqual(admit({ ...row, requestNumber: 0, reply: null, op: 7 }, undefined, mine(0)), { action: 'reply', op: 7, reply: null });
  assert.deepEqual(admit(row, undefined, mine(0)), { action: 'reject', code: 'STALE_REQUEST' }, 'an old duplicate register (sim seed 5898)');
});

test('admit(): a request of another owner is NOT_OWNER before anything else when the row says so, and dropped while only a request in flight does', () => {
  const row = { owner: 'o', requestNumber: 4, reply: 'r4', op: 10, at: 0 };
  const thief = (requestNumber: number) => ({ owner: 'thief', requestNumber });
  const notOwner = { action: 'reject', code: 'NOT_OWNER' };
  for (const requestNumber of [0, 3, 4, 5]) {
    assert.deepEqual(admit(row, undefined, thief(requestNumber)), notOwner, `row only, #${requestNumber}`);
    assert.deepEqual(admit(row, { owner: 'o', requestNumber: 5 }, thief(requestNumber)), notOwner, `row and in flight, #${requestNumber}`);
    assert.deepEqual(admit(undefined, { owner: 'o', requestNumber: 0 }, thief(requestNumber)), { action: 'drop', reason: "another owner's request in flight" }, `register in flight, #${requestNumber}`);
  }
});

test('a deposed primary that let in another owner\'s register for an id it does not know never tells the owner NOT_OWNER (sim seed 968, F6)', () => {
  const { cluster, old, next } = deposedPrimary();
  cluster.request(old, registration('late', { owner: 'thief' })); // Its stale table lets a thief's register in.
  const mine = cluster.request(old, req('late', 1, 'x'));
  assert.deepEqual(mine.filter((e) => e.type === 'reply' || e.type === 'reject'), [], 'dropped: no NOT_OWNER, no answer at all');
  assert.equal(cluster.replica(old).statusReport().op, 1, 'only the thief\'s register is in its log');
  const answered = answer(cluster, next, req('late', 1, 'x'));
  assert.ok(answered.type === 'reply', 'the owner\'s id is intact where it counts');
});

test('while a register is in flight, another owner\'s request under its id is dropped, and gets NOT_OWNER once the register has executed', () => {
  const cluster = new Cluster(1);
  cluster.settle();
  cluster.handle(0, cluster.replica(0).onRequest(registration('c')));
  const early = cluster.replica(0).onRequest(req('c', 1, 'stolen', { owner: 'thief' }));
  assert.deepEqual(early.filter((e) => e.type === 'reply' || e.type === 'reject'), []);
  cluster.handle(0, cluster.replica(0).flush());
  const late = answer(cluster, 0, req('c', 1, 'stolen', { owner: 'thief' }));
  assert.ok(late.type === 'reject' && late.code === 'NOT_OWNER');
  assert.deepEqual(cluster.items(0), []);
});

test('§4 a client id is its owner\'s: another owner gets NOT_OWNER for every number, and nothing is appended', () => {
  const { cluster, primary } = setup();
  cluster.request(primary, req('c', 1, 'mine'));
  cluster.deliverAll();
  const opBefore = cluster.replica(primary).statusReport().op;
  const stolen = { owner: 'thief' };
  // The saved reply (#1), a stale number (#0: a register), the next number (#2).
  for (const request of [req('c', 1, 'mine', stolen), registration('c', stolen), req('c', 2, 'stolen', stolen)]) {
    const answers = cluster.request(primary, request).filter((e) => e.type === 'reply' || e.type === 'reject');
    assert.deepEqual(answers.map((e) => [e.type, e.type === 'reject' && e.code, e.owner]), [['reject', 'NOT_OWNER', 'thief']], `#${request.requestNumber}`);
  }
  // The owner's own request in flight is no more anyone else's.
  cluster.request(primary, req('c', 2, 'again'));
  const inFlight = cluster.request(primary, req('c', 2, 'stolen', stolen));
  assert.deepEqual(inFlight.filter((e) => e.type === 'reject').map((e) => e.type === 'reject' && e.code), ['NOT_OWNER']);
  cluster.deliverAll();
  assert.equal(cluster.replica(primary).statusReport().op, opBefore + 1, 'only the owner\'s #2 was appended');
  assert.deepEqual(cluster.items(primary), ['mine', 'again']);
  const owner = ownerFor('c');
  assert.deepEqual(cluster.ofType(primary, 'reply').filter((e) => e.clientId === 'c').map((e) => [e.requestNumber, e.owner]), [[0, owner], [1, owner], [2, owner]]);
});

test('§4 a register of an id another owner holds is NOT_OWNER; once the id is evicted, whoever registers it next owns it', () => {
  const cluster = new Cluster(1, { clientTableMax: 1 });
  cluster.settle();
  cluster.register('a');
  const taken = answer(cluster, 0, registration('a', { owner: 'other' }));
  assert.ok(taken.type === 'reject' && taken.code === 'NOT_OWNER');
  cluster.register('b'); // Evicts 'a', which never used its row.
  const registered = answer(cluster, 0, registration('a', { owner: 'other' }));
  assert.ok(registered.type === 'reply' && registered.owner === 'other');
  const before = answer(cluster, 0, req('a', 1, 'x'));
  assert.ok(before.type === 'reject' && before.code === 'NOT_OWNER', 'the first owner lost the id with its row');
});

test('§4 execution re-checks the owner in log order: an entry of another owner is skipped on every replica, and the primary answers NOT_OWNER', () => {
  const cluster = new Cluster(3);
  const old = cluster.settle();
  cluster.register('c');
  cluster.tick(5);
  const { view, op, commit } = cluster.replica(old).statusReport();
  // An entry the owner check at admission would have kept out — as a primary with a stale table
  // could have let it in: its backups hold it, then the primary dies before committing it.
  const forged: Message = { type: 'prepare', view, from: old, commit, entries: [{ op: op + 1, view, clientId: 'c', owner: 'thief', requestNumber: 1, at: 0, command: 'stolen' }] };
  const backups = [0, 1, 2].filter((id) => id !== old);
  for (const id of backups) cluster.handle(id, cluster.replica(id).onMessage(structuredClone(forged)));
  cluster.crash(old);
  const next = cluster.settle();
  cluster.tick(5);
  const verdicts = cluster.ofType(next, 'reject').filter((e) => e.clientId === 'c');
  assert.deepEqual(verdicts.map((e) => [e.requestNumber, e.code, e.owner]), [[1, 'NOT_OWNER', 'thief']]);
  for (const id of backups) {
    assert.equal(cluster.replica(id).statusReport().executed, op + 1, `replica ${id} executed the entry's op`);
    assert.deepEqual(cluster.items(id), [], `replica ${id} applied nothing`);
  }
  // The owner's row is untouched: its own request #1 is new, and runs.
  const mine = answer(cluster, next, req('c', 1, 'mine'));
  assert.ok(mine.type === 'reply' && mine.reply === 1);
});

/** A table of two rows, evicting rows idle for 1000 ms. */
const smallTable = () => new ClientTable<string>({ clientTableMax: 2, clientIdleEvictMs: 1000 }, null);

test('eviction, step 1: the oldest row that executed nothing since its register goes first, however idle the others', () => {
  const table = smallTable();
  table.register('used', 'o', 1, 0);
  table.recordExecuted('used', 1, 'r', 2, 0);
  table.register('unused', 'o', 3, 0);
  // 'used' has been idle for 10 s, but 'unused' never executed a request: it goes.
  assert.deepEqual(table.register('new', 'o', 4, 10_000), { registered: true, evicted: 'unused' });
  assert.equal(table.register('newer', 'o', 5, 10_000).registered, true);
  assert.equal(table.row('new'), undefined, 'then the next oldest unused row, before any used one');
  assert.ok(table.row('used'));
});

test('eviction, steps 2 and 3: the row executed longest ago goes if idle long enough by the register\'s time; else the register is refused', () => {
  const table = smallTable();
  for (const [clientId, op, at] of [['a', 1, 0], ['b', 3, 500]] as const) {
    table.register(clientId, 'o', op, at);
    table.recordExecuted(clientId, 1, 'r', op + 1, at);
  }
  assert.deepEqual(table.register('c', 'o', 5, 999), { registered: false }, "'a' idle 999 ms: nobody may go");
  assert.equal(table.size, 2);
  assert.equal(table.row('c'), undefined, 'a refused register creates no row');
  assert.deepEqual(table.register('c', 'o', 6, 1000), { registered: true, evicted: 'a' });
  assert.deepEqual(table.register('d', 'o', 7, 1500), { registered: true, evicted: 'c' }, "'c' is unused: it goes before 'b', idle as long");
});

test('a register with no room is CLIENT_TABLE_FULL, decided in log order by entry times on every replica', () => {
  const cluster = new Cluster(3, { clientTableMax: 2, clientIdleEvictMs: 1000 });
  const primary = cluster.settle();
  for (const c of ['a', 'b']) {
    cluster.register(c, { at: 0 });
    answer(cluster, primary, req(c, 1, c, { at: 0 }));
  }
  const full = answer(cluster, primary, registration('c', { at: 999 }));
  assert.ok(full.type === 'reject' && full.code === 'CLIENT_TABLE_FULL');
  const unknown = answer(cluster, primary, req('c', 1, 'x', { at: 999 }));
  assert.ok(unknown.type === 'reject' && unknown.code === 'SESSION_EXPIRED', 'the refused register made no row');
  const retried = answer(cluster, primary, registration('c', { at: 1000 }));
  assert.ok(retried.type === 'reply', 'a retry once a row has been idle long enough is registered');
  // The backups decided alike: after a failover the new primary's table is the same.
  cluster.tick(5);
  cluster.crash(primary);
  const next = cluster.settle();
  const gone = answer(cluster, next, req('a', 2, 'x'));
  assert.ok(gone.type === 'reject' && gone.code === 'SESSION_EXPIRED', "'a' was evicted everywhere");
  const kept = answer(cluster, next, req('c', 1, 'c'));
  assert.ok(kept.type === 'reply', "'c' registered everywhere");
});

test('entry times never go back along the log: the primary stamps at least the time of the entry before it', () => {
  const cluster = new Cluster(1);
  cluster.settle();
  cluster.register('a', { at: 5000 });
  cluster.request(0, req('a', 1, 'x', { at: 1000 })); // A clock stepped back, or a new primary's behind.
  cluster.request(0, registration('b', { at: 7000 }));
  const stamped = cluster.disks[0]!.records.flatMap(({ record }) => (record.kind === 'entries' ? record.entries.map((e) => e.at) : []));
  assert.deepEqual(stamped, [5000, 5000, 7000]);
});

test('owners and entry times survive a snapshot and a restart', () => {
  const cluster = new Cluster(1, { snapshotEveryOps: 2 });
  cluster.settle();
  cluster.register('c', { at: 1000 });
  answer(cluster, 0, req('c', 1, 'mine', { at: 2000 })); // Op 2: a snapshot comes due.
  const snapshot = cluster.disks[0]!.loaded().snapshot;
  assert.deepEqual(snapshot?.clientTable.c, { owner: ownerFor('c'), requestNumber: 1, reply: 1, op: 2, at: 2000 });
  cluster.crash(0);
  cluster.restart(0);
  cluster.settle();
  const stolen = answer(cluster, 0, req('c', 1, 'mine', { owner: 'thief' }));
  assert.ok(stolen.type === 'reject' && stolen.code === 'NOT_OWNER');
  const retried = answer(cluster, 0, req('c', 1, 'mine'));
  assert.ok(retried.type === 'reply' && retried.reply === 1, 'the saved reply, from the snapshot');
  cluster.request(0, registration('d', { at: 0 }));
  const stamped = cluster.disks[0]!.records.flatMap(({ record }) => (record.kind === 'entries' ? record.entries : [])).at(-1);
  assert.equal(stamped?.at, 2000, 'no entry time below the newest row, though the log above the snapshot is empty');
});

test('ClientTable survives a snapshot round trip with its owners and eviction order', () => {
  const table = new ClientTable<string>({ clientTableMax: 2, clientIdleEvictMs: 0 }, null);
  table.register('x', 'ox', 1, 10);
  table.register('y', 'oy', 2, 20);
  table.recordExecuted('x', 1, 'r', 3, 30);
  const restored = new ClientTable<string>({ clientTableMax: 2, clientIdleEvictMs: 0 }, JSON.parse(JSON.stringify(table.toSnapshot())));
  assert.equal(restored.newestAt, 30);
  assert.deepEqual(restored.register('z', 'oz', 4, 40), { registered: true, evicted: 'y' });
  assert.equal(restored.row('x')?.owner, 'ox');
  assert.throws(() => restored.recordExecuted('x', 1, 'again', 5, 50), /executed twice/);
  assert.throws(() => restored.register('z', 'oz', 6, 60), /registered twice/);
});
