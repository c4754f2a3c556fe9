// A damaged replica (lib/replication/state-transfer.ts, "A damaged replica"; docs/storage.md):
// storage found its log damaged and cut it, so the log may lack ops it acknowledged. It votes in
// nothing — no PREPARE-OK, DO-VIEW-CHANGE or START-VIEW, no view change started, joined or led —
// until a primary's log holding everything it can have acknowledged has replaced its own.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { emptyDurableState } from '../../../lib/replication/journal.js';
import { Replica } from '../../../lib/replication/replica.js';
import { Cluster, commitMany, type Envelope, type Message, req, toyMachine } from './harness.js';

/** What `id` sent while its disk said its log was damaged. */
const sentWhileDamaged = (cluster: Cluster, id: number): Message[] => cluster.sent[id]!.filter((sent) => sent.damaged).map((sent) => sent.message);

/** What `id` sent while damaged that is not an ask to be repaired, nor ALIVE (check-quorum: "I am
 *  in your view, catching up", which carries no log): a vote. */
const votesWhileDamaged = (cluster: Cluster, id: number): Message[] =>
  sentWhileDamaged(cluster, id).filter((m) => m.type !== 'start-view-change' && m.type !== 'get-state' && m.type !== 'alive');

/** A cluster of `replicas` in which `count` requests committed, then the replica `pick` names
 *  restarted with its log damaged: every op above `keptOp` lost. */
function withDamagedReplica(replicas: number, count: number, pick: (primary: number) => number, keptOp = 1) {
  const cluster = new Cluster(replicas);
  const primary = cluster.settle();
  cluster.register('c');
  commitMany(cluster, primary, 1, count);
  const damaged = pick(primary);
  const view = cluster.replica(damaged).statusReport().view;
  cluster.crash(damaged);
  cluster.restartDamaged(damaged, keptOp);
  return { cluster, primary, damaged, view };
}

const logged = (cluster: Cluster, id: number, event: string) => cluster.ofType(id, 'log').filter((e) => e.event === event);

/** Ticks every live replica once, then delivers every queued message that `drop` lets through. */
function tickDropping(cluster: Cluster, drop: (envelope: Envelope) => boolean): void {
  cluster.tick(1, undefined, false);
  cluster.deliverAll((envelope) => !drop(envelope));
}

test('a damaged replica votes in nothing, whatever it receives, and asks for repair by START-VIEW-CHANGE for its own view', () => {
  // The primary of the next view: it is asked to lead it.
  const { cluster, primary, damaged, view } = withDamagedReplica(5, 3, (p) => (p + 1) % 5);
  const statuses = new Set<string>();
  const watch = () => {
    const report = cluster.replica(damaged).statusReport();
    if (report.damaged) statuses.add(`${report.status} in view ${report.view}`);
  };
  watch();
  // Its primary never hears it (so does not repair it) while sending it PREPAREs and COMMITs.
  const toPrimary = (e: Envelope) => e.from === damaged && e.to === primary;
  cluster.queue = cluster.queue.filter((e) => !toPrimary(e));
  cluster.request(primary, req('c', 4, 'm4'));
  for (let t = 0; t < 50; t++) {
    tickDropping(cluster, toPrimary);
    watch();
  }
  // The primary dies: the others ask for view change after view change, send it DO-VIEW-CHANGE
  // for the view it would lead, and time out on it; it hears its own primary no more.
  cluster.crash(primary);
  for (let t = 0; t < 300 && cluster.replica(damaged).statusReport().damaged; t++) {
    tickDropping(cluster, toPrimary);
    watch();
  }

  assert.deepEqual([...statuses], [`recovering in view ${view}`], 'it never left status recovering in its view while damaged');
  assert.deepEqual(votesWhileDamaged(cluster, damaged), [], 'no PREPARE-OK, DO-VIEW-CHANGE or START-VIEW while damaged');
  const asks = sentWhileDamaged(cluster, damaged).filter((m) => m.type === 'start-view-change');
  assert.ok(asks.length >= 2, `asked at start-up and again on its primary's silence (${asks.length} times)`);
  assert.ok(asks.every((m) => m.view === view), 'for its own view only');
  const ignored = cluster.ofType(damaged, 'log').map((e) => `${e.event}: ${String(e.fields?.reason)}`);
  for (const heard of [
    'ignoring prepare: catching up by state transfer first',
    'ignoring commit: catching up by state transfer first',
    'ignoring start-view-change: damaged: votes in no view change',
    'ignoring do-view-change: damaged: cannot lead',
  ]) {
    assert.ok(ignored.includes(heard), `it heard and refused: ${heard}`);
  }
  // The view the others completed without it repairs it (START-VIEW of a newer view).
  const next = cluster.settle();
  assert.deepEqual(logged(cluster, damaged, 'state transfer: received'), [], 'by START-VIEW, not by catch-up');
  const report = cluster.replica(damaged).statusReport();
  assert.deepEqual([report.status, report.damaged, report.view], ['normal', false, cluster.replica(next).statusReport().view]);
  assert.equal(logged(cluster, damaged, `storage repair: log repaired from replica ${next}`).length, 1);
  cluster.tick(5);
  assert.deepEqual(cluster.items(damaged), ['m1', 'm2', 'm3', 'm4']);
});

test('same view: the primary answers its START-VIEW-CHANGE with START-VIEW; the log record, then the view record with damaged: false, and only then PREPARE-OK', () => {
  const { cluster, primary, damaged, view } = withDamagedReplica(3, 3, (p) => (p + 1) % 3);
  const { status, logView } = cluster.replica(damaged).statusReport();
  assert.deepEqual([status, logView], ['recovering', view], 'recovering even in the view whose log it holds');
  cluster.autoPersist[damaged] = false;
  const before = cluster.disks[damaged]!.records.length;
  cluster.deliverAll();
  const written = cluster.disks[damaged]!.records.slice(before);
  assert.deepEqual(
    written.map(({ record }) => (record.kind === 'view' ? `view ${record.view}/${record.logView} damaged: ${record.damaged}` : record.kind)),
    ['replace', `view ${view}/${view} damaged: false`],
    'D3: the log, then the view record saying it is whole',
  );
  assert.ok(logged(cluster, damaged, `storage repair: log repaired from replica ${primary}`).some((e) => e.fields?.through === 4));
  const prepareOks = () => cluster.queue.filter((e) => e.from === damaged && e.message.type === 'prepare-ok');
  cluster.persisted(damaged, written[0]!.seq);
  assert.deepEqual(prepareOks(), [], 'its log is durable, but a restart would still find it damaged: no PREPARE-OK yet');
  assert.equal(cluster.replica(damaged).statusReport().damaged, true, 'and it still reports itself damaged');
  cluster.persisted(damaged);
  assert.equal(prepareOks().length, 1, 'whole on disk: it acknowledges again');
  assert.equal(cluster.replica(damaged).statusReport().damaged, false);
  cluster.autoPersist[damaged] = true;
  cluster.settle();
  assert.deepEqual(cluster.items(damaged), ['m1', 'm2', 'm3']);
});

test('same view by catch-up: not repaired at the view\'s start op while the primary\'s op is beyond it', () => {
  const cluster = new Cluster(3, { messageEntriesMax: 2 });
  const first = cluster.settle();
  cluster.register('c');
  commitMany(cluster, first, 1, 2);
  cluster.crash(first);
  cluster.restart(first); // D4: a new view, which starts at op 3.
  const primary = cluster.settle();
  commitMany(cluster, primary, 3, 4); // ops 4..7, acknowledged by both backups
  const damaged = (primary + 1) % 3;
  assert.equal(cluster.replica(damaged).statusReport().op, 7);
  cluster.crash(damaged);
  cluster.restartDamaged(damaged, 2);
  // START-VIEW answers are lost: the repair comes by NEW-STATE, two entries at a time.
  let repairedAt: number | null = null;
  for (let t = 0; t < 100 && repairedAt === null; t++) {
    cluster.tick(1, undefined, false);
    while (cluster.queue.length > 0 && repairedAt === null) {
      if (cluster.queue[0]!.message.type === 'start-view') cluster.queue.shift();
      else cluster.deliverOne();
      const report = cluster.replica(damaged).statusReport();
      if (!report.damaged) repairedAt = report.op;
    }
  }
  const pieces = logged(cluster, damaged, 'state transfer: received').map((e) => e.fields?.through);
  assert.ok(pieces.includes(4), 'a piece reached the start op (3) before the repair');
  assert.equal(repairedAt, 7, 'repaired only with every op it had acknowledged');
  cluster.settle();
  assert.deepEqual(cluster.items(damaged), ['m1', 'm2', 'm3', 'm4', 'm5', 'm6']);
});

test('newer view by catch-up: a COMMIT of the view that started while it was down takes it there, and NEW-STATE repairs it', () => {
  const cluster = new Cluster(5);
  const primary = cluster.settle();
  cluster.register('c');
  commitMany(cluster, primary, 1, 3);
  const damaged = (primary + 2) % 5;
  cluster.crash(damaged);
  cluster.crash(primary);
  const next = cluster.settle();
  commitMany(cluster, next, 4, 1);
  cluster.restartDamaged(damaged, 2);
  cluster.settle();
  const report = cluster.replica(damaged).statusReport();
  assert.deepEqual([report.status, report.damaged, report.view], ['normal', false, cluster.replica(next).statusReport().view]);
  assert.ok(logged(cluster, damaged, 'state transfer: received').length > 0, 'by catch-up');
  assert.equal(logged(cluster, damaged, `storage repair: log repaired from replica ${next}`).length, 1);
  assert.deepEqual(votesWhileDamaged(cluster, damaged), []);
  assert.deepEqual(cluster.items(damaged), ['m1', 'm2', 'm3', 'm4']);
});

test('a damaged former primary asks no one for state, waits for the others\' view change without it, and is repaired by its START-VIEW', () => {
  const { cluster, primary, view } = withDamagedReplica(3, 2, (p) => p);
  assert.deepEqual(
    [cluster.replica(primary).statusReport().status, cluster.replica(primary).statusReport().view],
    ['recovering', view],
    'not a view change to the next view (D4): it votes in nothing',
  );
  const next = cluster.settle();
  assert.notEqual(next, primary);
  const sent = sentWhileDamaged(cluster, primary).map((m) => `${m.type} ${m.view}`);
  const onlyAsks = sent.length > 0 && sent.every((m) => m === `start-view-change ${view}`);
  assert.ok(onlyAsks, `only START-VIEW-CHANGE for its own view — no GET-STATE to itself, no vote: ${sent.join(', ')}`);
  assert.equal(cluster.replica(primary).statusReport().damaged, false);
  cluster.tick(5);
  assert.deepEqual(cluster.items(primary), ['m1', 'm2']);
});

test('three replicas: one restarts damaged below ops it acknowledged and the other that acknowledged them crashes — nothing committed is lost', () => {
  const cluster = new Cluster(3);
  const primary = cluster.settle();
  cluster.register('c');
  const damaged = (primary + 1) % 3;
  const behind = (primary + 2) % 3;
  cluster.isolated.add(behind);
  commitMany(cluster, primary, 1, 2); // Committed by the primary and `damaged` alone.
  const answered = cluster.ofType(primary, 'reply').map((r) => r.requestNumber);
  assert.ok(answered.includes(1) && answered.includes(2), 'the client was told both are done');
  cluster.crash(damaged);
  cluster.restartDamaged(damaged, 1); // It has lost both.
  cluster.crash(primary); // The only whole replica that holds them.
  cluster.isolated.delete(behind);
  let viewStarted = false;
  for (let t = 0; t < 300; t++) {
    cluster.tick(1);
    viewStarted ||= [damaged, behind].some((id) => cluster.replica(id).statusReport().isPrimary);
  }
  cluster.restart(primary);
  cluster.settle();
  cluster.tick(5);
  for (const id of [primary, damaged, behind]) assert.deepEqual(cluster.items(id), ['m1', 'm2'], `replica ${id} holds every committed op`);
  assert.equal(viewStarted, false, 'the two without them could not start a view: one whole replica is no quorum');
  assert.equal(cluster.replica(damaged).statusReport().damaged, false);
});

test('a cluster of one cannot repair a damaged log: the replica refuses to start', () => {
  const durable = { ...emptyDurableState<string, number>(), damaged: true };
  assert.throws(() => new Replica({ replica: 0, replicaCount: 1 }, durable, toyMachine), {
    message: "replica 0's log is damaged and a cluster of one has no peer to repair it from",
  });
});
