// View change (VRR §4.2, with §5.3's fetch of the chosen log) and restart (disk rules D2–D5,
// docs/architecture.md), driven by hand.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DoViewChange, GetLog } from '../../../lib/replication/messages.js';
import type { ReplicaOptions } from '../../../lib/replication/replica.js';
import { chooseLog } from '../../../lib/replication/view-change.js';
import { Cluster, type Command, type Envelope, type Message, registration, req } from './harness.js';

const others = (n: number, ...not: number[]) => Array.from({ length: n }, (_, id) => id).filter((id) => !not.includes(id));

test('§4.2 a fresh cluster: replica 0 cannot tell "new" from "crashed before its first fsync" (D4), so view 1 starts at once', () => {
  const cluster = new Cluster(3);
  assert.equal(cluster.replica(0).statusReport().status, 'view-change');
  assert.equal(cluster.replica(0).statusReport().view, 1);
  assert.equal(cluster.settle(), 1);
});

test('§4.2 after primary silence the backups move to the next view; committed ops and the client table survive', () => {
  const cluster = new Cluster(3);
  const primary = cluster.settle();
  cluster.register('c');
  cluster.request(primary, req('c', 1, 'kept'));
  cluster.deliverAll();
  cluster.crash(primary);
  const next = cluster.settle();
  assert.equal(next, (primary + 1) % 3, 'the primary of view v is v mod N');
  assert.deepEqual(cluster.items(next), ['kept']);
  // The client retries after failover: answered from the table, not applied again.
  const retry = cluster.request(next, req('c', 1, 'kept'));
  assert.ok(retry.some((e) => e.type === 'reply' && e.reply === 1));
  cluster.request(next, req('c', 2, 'more'));
  cluster.deliverAll();
  assert.deepEqual(cluster.items(next), ['kept', 'more']);
});

test('§4.2 step 3: the new primary executes ops committed in the old view and answers their clients', () => {
  const cluster = new Cluster(3);
  const primary = cluster.settle();
  cluster.register('c');
  cluster.request(primary, req('c', 1, 'x'));
  // The PREPARE-OKs are lost: the op is on every disk but committed nowhere yet.
  cluster.deliverAll((e) => e.message.type !== 'prepare-ok');
  assert.equal(cluster.replica(primary).statusReport().commit, 1);
  cluster.crash(primary);
  const next = cluster.settle();
  cluster.tick(5);
  assert.deepEqual(cluster.items(next), ['x'], 'kept: a majority held it (§4.2 step 3: ops after k commit in the new view)');
  assert.ok(cluster.ofType(next, 'reply').some((r) => r.clientId === 'c' && r.requestNumber === 1));
});

test('§4.2 step 3: a new primary reports its reads current only once it has executed the log its view began with', () => {
  const cluster = new Cluster(3);
  const primary = cluster.settle();
  cluster.register('c');
  cluster.request(primary, req('c', 1, 'x'));
  cluster.deliverAll((e) => e.message.type !== 'prepare-ok'); // on every disk, committed nowhere
  assert.equal(cluster.replica(primary).statusReport().readsCurrent, true);
  cluster.crash(primary);
  // The view change completes, but the PREPARE-OKs to the new primary's START-VIEW are held back.
  const newPrimary = () => cluster.replicas.findIndex((r) => r?.statusReport().isPrimary === true);
  for (let t = 0; newPrimary() < 0; t++) {
    assert.ok(t < 500, 'a new primary within 500 ticks');
    cluster.tick(1, undefined, false);
    cluster.deliverAll((e) => e.message.type !== 'prepare-ok');
  }
  const next = newPrimary();
  const report = cluster.replica(next).statusReport();
  assert.equal(report.status, 'normal');
  assert.ok(report.executed < report.op, 'the op it inherited is not committed in its view yet');
  assert.equal(report.readsCurrent, false, 'its state lacks an op a client may have been told committed');
  assert.equal(cluster.replica((next + 1) % 3 === primary ? (next + 2) % 3 : (next + 1) % 3).statusReport().readsCurrent, false, 'a backup never');
  cluster.tickUntil('the new primary to execute its inherited log', () => cluster.replica(next).statusReport().readsCurrent);
  assert.deepEqual(cluster.items(next), ['x']);
});

test('§4.2 the next primary dead too: the view change times out and moves on to the view after', () => {
  const cluster = new Cluster(5);
  const primary = cluster.settle();
  cluster.register('c');
  cluster.request(primary, req('c', 1, 'kept'));
  cluster.deliverAll();
  const view = cluster.replica(primary).statusReport().view;
  cluster.crash(primary);
  cluster.crash((view + 1) % 5);
  const next = cluster.settle();
  assert.equal(cluster.replica(next).statusReport().view, view + 2);
  assert.deepEqual(cluster.items(next), ['kept']);
});

test('§4.2 no split brain: a deposed primary cut off from the majority commits nothing, and rejoins the new view', () => {
  const cluster = new Cluster(3);
  const old = cluster.settle();
  cluster.register('c');
  cluster.isolated.add(old);
  cluster.tick(40, others(3, old));
  const next = cluster.primary();
  assert.notEqual(next, old);
  const [reply] = cluster.request(old, req('c', 1, 'orphan')).filter((e) => e.type === 'reply');
  cluster.tick(30, [old]);
  assert.equal(reply, undefined);
  assert.equal(cluster.ofType(old, 'reply').filter((r) => r.requestNumber === 1).length, 0, 'the old primary never answers');
  cluster.request(next, req('c', 1, 'real'));
  cluster.deliverAll();
  cluster.isolated.delete(old);
  cluster.settle();
  cluster.tick(5);
  for (let id = 0; id < 3; id++) assert.deepEqual(cluster.items(id), ['real'], `replica ${id}: the orphan op was discarded`);
});

test('§4.2 step 3: the log of the newest view wins over a longer log from an older view', () => {
  const cluster = new Cluster(3);
  const p1 = cluster.settle(); // view 1
  cluster.register('c');
  cluster.register('d');
  // p1 prepares an op that reaches no one else: a longer log, in the old view.
  const [a, b] = others(3, p1);
  cluster.isolated.add(p1);
  cluster.request(p1, req('d', 1, 'uncommitted'));
  cluster.tick(40, [a!, b!]);
  const p2 = cluster.primary();
  cluster.request(p2, req('c', 1, 'committed in the new view'));
  cluster.deliverAll();
  // Now the new primary dies and the old one returns: its log is longer but older.
  cluster.crash(p2);
  cluster.isolated.delete(p1);
  const p3 = cluster.settle();
  cluster.tick(5);
  for (const id of others(3, p2)) assert.deepEqual(cluster.items(id), ['committed in the new view'], `replica ${id} (primary ${p3})`);
});

test('chooseLog: highest log view first, then highest op (§4.2 step 3)', () => {
  const dvc = (from: number, logView: number, op: number): DoViewChange<Command> => ({ type: 'do-view-change', view: 9, from, logView, op, commit: 0, entries: [] });
  assert.equal(chooseLog([dvc(0, 3, 10), dvc(1, 4, 5), dvc(2, 2, 50)]).from, 1);
  assert.equal(chooseLog([dvc(0, 4, 5), dvc(1, 4, 7), dvc(2, 4, 6)]).from, 1);
  assert.equal(chooseLog([dvc(2, 4, 7), dvc(1, 4, 7)]).from, 1, 'ties go to the lowest id');
});

test('D2: START-VIEW-CHANGE waits until the view record is durable', () => {
  const cluster = new Cluster(3);
  const primary = cluster.settle();
  const backup = (primary + 1) % 3;
  cluster.autoPersist[backup] = false;
  cluster.crash(primary);
  cluster.tickUntil('backup starts a view change', () => cluster.replica(backup).statusReport().status === 'view-change');
  assert.ok(!cluster.queue.some((e) => e.from === backup && e.message.type === 'start-view-change'));
  const last = cluster.disks[backup]!.records.at(-1)!.record;
  assert.equal(last.kind, 'view');
  cluster.persisted(backup);
  assert.ok(cluster.queue.some((e) => e.from === backup && e.message.type === 'start-view-change'));
});

test('D3: the new primary persists the chosen log, then the view record, and only then sends START-VIEW', () => {
  const cluster = new Cluster(3);
  const old = cluster.settle();
  cluster.register('c');
  const next = (old + 1) % 3;
  // The next primary misses an op that the third replica has: it must adopt the third's log.
  cluster.isolated.add(next);
  cluster.request(old, req('c', 1, 'x'));
  cluster.deliverAll();
  cluster.isolated.delete(next);
  cluster.crash(old);
  cluster.autoPersist[next] = false;
  const before = cluster.disks[next]!.records.length;
  const written = () => cluster.disks[next]!.records.slice(before).map((r) => r.record);
  cluster.tickUntil('the next primary starts a view change', () => written().length > 0);
  cluster.persisted(next); // Its view-change record: now it may vote.
  cluster.tickUntil('the next primary chooses a log', () => written().some((r) => r.kind === 'replace'));
  const records = written();
  const replace = records.findIndex((r) => r.kind === 'replace');
  assert.ok(records.slice(replace + 1).some((r) => r.kind === 'view' && r.logView === r.view), 'the view record follows the log');
  assert.ok(!cluster.queue.some((e) => e.message.type === 'start-view'), 'no START-VIEW before both are durable');
  cluster.persisted(next);
  assert.ok(cluster.queue.some((e) => e.message.type === 'start-view'));
  cluster.autoPersist[next] = true;
  cluster.settle();
  assert.deepEqual(cluster.items(next), ['x']);
});

test('D3: a backup taking START-VIEW persists the log it carries before the view record that makes it its log view', () => {
  const cluster = new Cluster(3);
  const old = cluster.settle();
  cluster.register('c');
  cluster.request(old, req('c', 1, 'x'));
  cluster.deliverAll();
  const backup = (old + 2) % 3; // not the next primary: it takes the new view's log from START-VIEW
  const before = cluster.disks[backup]!.records.length;
  cluster.crash(old);
  cluster.settle();
  const { view } = cluster.replica(backup).statusReport();
  const records = cluster.disks[backup]!.records.slice(before).map((r) => r.record);
  const claims = records.findIndex((r) => r.kind === 'view' && r.view === view && r.logView === view);
  const log = records.findIndex((r) => r.kind === 'replace');
  assert.ok(claims >= 0 && log >= 0, 'START-VIEW wrote a log and a view record');
  assert.ok(log < claims, 'the log first, then the view record that claims it (a crash between leaves the old log under the old log view)');
});

test('D4: a restarted primary with logView = view does not resume as primary; it starts a view change', () => {
  const cluster = new Cluster(3);
  const primary = cluster.settle();
  cluster.register('c');
  const view = cluster.replica(primary).statusReport().view;
  cluster.crash(primary);
  cluster.restart(primary);
  const report = cluster.replica(primary).statusReport();
  assert.equal(report.status, 'view-change');
  assert.equal(report.view, view + 1);
  const next = cluster.settle();
  assert.notEqual(next, primary);
  cluster.request(next, req('c', 1, 'after'));
  cluster.deliverAll();
  cluster.tick(5);
  assert.deepEqual(cluster.items(primary), ['after']);
});

test('D4/D5: a restarted backup resumes as backup and executes only up to the commit number it learns', () => {
  const cluster = new Cluster(3);
  const primary = cluster.settle();
  cluster.register('c');
  cluster.request(primary, req('c', 1, 'a'));
  cluster.deliverAll();
  const backup = (primary + 1) % 3;
  cluster.crash(backup);
  cluster.restart(backup);
  const report = cluster.replica(backup).statusReport();
  assert.deepEqual([report.status, report.commit, report.executed], ['normal', 0, 0], 'nothing is trusted as committed yet');
  assert.equal(report.op, 2, 'but the log is back');
  cluster.tick(5); // The primary's COMMIT carries the commit number.
  assert.deepEqual(cluster.items(backup), ['a']);
});

test('D4: a replica that restarts with logView < view rejoins the view change for that view', () => {
  const cluster = new Cluster(3);
  const primary = cluster.settle();
  const backup = (primary + 1) % 3;
  cluster.crash(primary);
  cluster.autoPersist[(primary + 2) % 3] = false; // Keep the view change from completing.
  cluster.tickUntil('backup in view-change', () => cluster.replica(backup).statusReport().status === 'view-change');
  const view = cluster.replica(backup).statusReport().view;
  cluster.crash(backup);
  cluster.restart(backup);
  const report = cluster.replica(backup).statusReport();
  assert.deepEqual([report.status, report.view], ['view-change', view]);
  cluster.autoPersist[(primary + 2) % 3] = true;
  cluster.persisted((primary + 2) % 3);
  cluster.settle();
});

test('a whole-cluster restart keeps every committed op (D1–D5)', () => {
  const cluster = new Cluster(3);
  const primary = cluster.settle();
  cluster.register('c');
  for (let n = 1; n <= 5; n++) {
    cluster.request(primary, req('c', n, `m${n}`));
    cluster.deliverAll();
  }
  for (let id = 0; id < 3; id++) cluster.crash(id);
  for (let id = 0; id < 3; id++) cluster.restart(id);
  const next = cluster.settle();
  cluster.tick(5);
  for (let id = 0; id < 3; id++) assert.deepEqual(cluster.items(id), ['m1', 'm2', 'm3', 'm4', 'm5'], `replica ${id} (primary ${next})`);
});

test('§4.2 step 4: a lost PREPARE-OK after START-VIEW is sent again when the heartbeat shows it missing (sim seed 5369)', () => {
  const cluster = new Cluster(3);
  const old = cluster.settle();
  cluster.register('c');
  cluster.request(old, req('c', 1, 'x'));
  cluster.deliverAll((e) => e.message.type !== 'prepare-ok'); // op 2 everywhere, committed nowhere
  cluster.crash(old);
  let dropped = 0;
  const dropFirstAck = (e: { message: { type: string } }) => !(e.message.type === 'prepare-ok' && dropped++ === 0);
  for (let t = 0; t < 60 && dropped === 0; t++) {
    cluster.tick(1, undefined, false);
    cluster.deliverAll(dropFirstAck);
  }
  assert.equal(dropped, 1, 'the backup\'s PREPARE-OK for the new view was dropped');
  const next = cluster.primary();
  cluster.tickUntil('the new primary commits op 2', () => cluster.replica(next).statusReport().commit === 2, 100);
  assert.deepEqual(cluster.items(next), ['x']);
});

// ---- §5.3: the new primary fetches the chosen log when its DO-VIEW-CHANGE tail does not reach ----

/** Registers `clients` clients and commits `count` requests spread over them, in batches (one
 *  flush per round), at the primary. */
function commitBatches(cluster: Cluster, primary: number, clients: number, count: number): void {
  for (let c = 0; c < clients; c++) cluster.replica(primary).onRequest(registration(`c${c}`));
  cluster.handle(primary, cluster.replica(primary).flush());
  cluster.deliverAll();
  for (let n = 1, sent = 0; sent < count; n++) {
    for (let c = 0; c < clients && sent < count; c++, sent++) cluster.handle(primary, cluster.replica(primary).onRequest(req(`c${c}`, n, `m${c}.${n}`)));
    cluster.handle(primary, cluster.replica(primary).flush());
    cluster.deliverAll();
  }
}

/** A 5-replica cluster whose next primary missed `count` committed ops: it was cut off while the
 *  primary committed them with the other backups; then the primary crashes and it returns. */
function nextPrimaryFarBehind(count: number, options: Partial<ReplicaOptions> = {}) {
  const cluster = new Cluster(5, { messageEntriesMax: 500, ...options });
  const old = cluster.settle();
  const view = cluster.replica(old).statusReport().view;
  const next = (old + 1) % 5;
  cluster.isolated.add(next);
  commitBatches(cluster, old, 100, count);
  const op = cluster.replica(old).statusReport().commit;
  cluster.crash(old);
  cluster.isolated.delete(next);
  return { cluster, old, next, view: view + 1, op };
}

/** Runs the cluster one message at a time until the new primary's GET-LOG is queued; returns it. */
function untilGetLog(cluster: Cluster): Envelope & { message: GetLog } {
  for (let steps = 0; steps < 10_000; steps++) {
    const ask = cluster.queue.find((e) => e.message.type === 'get-log');
    if (ask !== undefined) return ask as Envelope & { message: GetLog };
    if (cluster.queue.length === 0) cluster.tick(1, undefined, false);
    else cluster.deliverOne();
  }
  return assert.fail('no get-log');
}

const logged = (cluster: Cluster, id: number, event: string) => cluster.ofType(id, 'log').filter((e) => e.event === event);

test('§5.3 view change: a new primary 5,000 ops behind the chosen log fetches it and leads the same view', () => {
  const { cluster, next, view, op } = nextPrimaryFarBehind(5000);
  assert.ok(cluster.replica(next).statusReport().op < op - 5000, 'the next primary is far behind');
  const primary = cluster.settle();
  assert.equal(primary, next);
  assert.equal(cluster.replica(next).statusReport().view, view, 'no view was skipped');
  // (More than one fetch if a better-placed DO-VIEW-CHANGE came in after the quorum: race 3.)
  assert.ok(logged(cluster, next, 'view change: fetching the chosen log').length >= 1);
  const pieces = logged(cluster, next, 'view change: fetched part of the chosen log');
  assert.ok(pieces.length >= 10, `fetched in bounded pieces (${pieces.length})`);
  assert.ok(!cluster.ofType(next, 'log').some((e) => e.level === 'warn'), 'it never declined');
  const report = cluster.replica(next).statusReport();
  assert.deepEqual([report.op, report.commit], [op, op]);
  assert.equal(cluster.items(next).length, 5000);
  // It leads: a new request commits in this view.
  cluster.request(next, req('c0', 1000, 'after'));
  cluster.deliverAll();
  assert.equal(cluster.items(next).at(-1), 'after');
});

test('§5.3 view change: a lost LOG-SUFFIX is asked for again on the resend tick, in the same view', () => {
  const { cluster, next, view, op } = nextPrimaryFarBehind(2000);
  let dropped = 0;
  const dropSecondPiece = (e: { message: { type: string } }) => !(e.message.type === 'log-suffix' && ++dropped === 2);
  for (let t = 0; t < 200 && !cluster.replica(next).statusReport().isPrimary; t++) {
    cluster.tick(1, undefined, false);
    cluster.deliverAll(dropSecondPiece);
  }
  assert.ok(dropped > 2, 'a piece was dropped and the fetch went on');
  const report = cluster.replica(next).statusReport();
  assert.deepEqual([report.status, report.view, report.isPrimary, report.commit], ['normal', view, true, op]);
  assert.equal(cluster.items(next).length, 2000);
});

test('§5.3 view change: a LOG-SUFFIX from another view is ignored (the fetch belongs to this view)', () => {
  const { cluster, next, view, op } = nextPrimaryFarBehind(2000);
  const ask = untilGetLog(cluster);
  const forged = (v: number): Message => ({
    type: 'log-suffix', view: v, from: ask.to, logView: Math.min(ask.message.logView, v - 1), op: ask.message.op, after: ask.message.after, snapshot: null,
    entries: [{ op: ask.message.after + 1, view: 1, clientId: 'forged', owner: 'forged', requestNumber: 1, at: 0, command: 'forged' }],
  });
  for (const v of [view - 1, view + 1]) cluster.handle(next, cluster.replica(next).onMessage(forged(v)));
  const ignored = logged(cluster, next, 'ignoring log-suffix').map((e) => e.fields?.reason);
  assert.deepEqual(ignored, ['older view', 'newer view']);
  cluster.settle();
  const report = cluster.replica(next).statusReport();
  assert.deepEqual([report.view, report.isPrimary, report.commit], [view, true, op]);
  assert.ok(!cluster.items(next).includes('forged'));
});

test('§5.3 view change: the chosen replica refuses GET-LOG once its log is not the one its DO-VIEW-CHANGE reported', () => {
  const { cluster, next, view } = nextPrimaryFarBehind(2000);
  const ask = untilGetLog(cluster);
  const responder = ask.to;
  const sent = cluster.queue.length;
  const changed = [
    { ...ask.message, op: ask.message.op - 1 },
    { ...ask.message, logView: ask.message.logView - 1 },
  ];
  for (const m of changed) cluster.handle(responder, cluster.replica(responder).onMessage(m));
  assert.equal(cluster.queue.length, sent, 'no LOG-SUFFIX for a log it does not hold');
  assert.deepEqual(logged(cluster, responder, 'ignoring get-log').map((e) => e.fields?.reason), [
    'our log is not the one our do-view-change reported',
    'our log is not the one our do-view-change reported',
  ]);
  // Once it has left view-change (the view started), it refuses too: its log may have changed.
  cluster.settle();
  assert.equal(cluster.replica(responder).statusReport().status, 'normal');
  cluster.handle(responder, cluster.replica(responder).onMessage(ask.message));
  assert.equal(logged(cluster, responder, 'ignoring get-log').at(-1)?.fields?.reason, 'no longer in view-change: our log may have changed');
  assert.equal(cluster.replica(next).statusReport().view, view);
});

test('§5.3/§5.2 view change: when the chosen replica compacted what the new primary lacks, it sends its snapshot and the log after it', () => {
  const { cluster, next, view, op } = nextPrimaryFarBehind(2000, { snapshotEveryOps: 300 });
  const primary = cluster.settle();
  assert.equal(primary, next);
  assert.equal(cluster.replica(next).statusReport().view, view, 'no view was skipped');
  const pieces = logged(cluster, next, 'view change: fetched part of the chosen log');
  assert.ok(pieces.some((e) => typeof e.fields?.snapshot === 'number'), 'a snapshot came');
  assert.equal(logged(cluster, next, 'state transfer: installed snapshot').length, 1);
  assert.ok(!cluster.ofType(next, 'log').some((e) => e.level === 'warn'), 'it never declined');
  cluster.tick(10);
  for (let id = 0; id < 5; id++) {
    if (!cluster.replicas[id]) continue;
    assert.equal(cluster.replica(id).statusReport().commit, op, `replica ${id}`);
    assert.deepEqual(cluster.items(id), cluster.items(next), `replica ${id}`);
  }
  assert.equal(cluster.items(next).length, 2000);
  // The snapshot and the log after it survive a restart of the new primary (D3).
  cluster.crash(next);
  cluster.restart(next);
  const after = cluster.settle();
  cluster.tick(10);
  assert.equal(cluster.replica(after).statusReport().commit, op);
  assert.equal(cluster.items(next).length, 2000);
});

test('§4.2 step 8 backoff: each view change that times out doubles the next one\'s timeout; reaching normal resets it', () => {
  // N = 7 (f = 3): with the primaries of views v, v + 1 and v + 2 dead, the four others climb
  // through two failed view changes before v + 3 completes.
  const cluster = new Cluster(7);
  const primary = cluster.settle();
  const view = cluster.replica(primary).statusReport().view;
  for (let k = 0; k < 3; k++) cluster.crash((view + k) % 7);
  const reached = (target: number): number => {
    let ticks = 0;
    cluster.tickUntil(`a live replica in view ${target}`, () => {
      ticks++;
      return cluster.replicas.some((r) => r !== null && r.statusReport().view >= target);
    }, 2000);
    return ticks - 1;
  };
  reached(view + 1);
  const firstAttempt = reached(view + 2);
  const secondAttempt = reached(view + 3);
  // The view change to v + 1 had the base timeout (20 ticks + id); the one to v + 2 came after
  // one failure and gets twice that. Without backoff both take the same time.
  assert.ok(firstAttempt >= 20 && firstAttempt < 40, `first failed view change after ${firstAttempt} ticks`);
  assert.ok(secondAttempt >= 2 * 20, `second after ${secondAttempt} ticks: twice the timeout (${firstAttempt}) of the first`);
  const next = cluster.settle();
  assert.equal(cluster.replica(next).statusReport().view, view + 3);
  // Normal again: the next failure starts from the base timeout.
  for (let k = 0; k < 3; k++) cluster.restart((view + k) % 7);
  cluster.settle();
  const newView = cluster.replica(next).statusReport().view;
  cluster.crash(next);
  cluster.crash((newView + 1) % 7);
  reached(newView + 1);
  const afterReset = reached(newView + 2);
  assert.ok(afterReset < 40, `after a completed view change the timeout is the base one again (${afterReset} ticks)`);
});
