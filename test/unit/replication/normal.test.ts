// Normal operation (VRR §4.1) and batching (§6.2), driven by hand on 1, 3 and 5 replicas.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientRequest } from '../../../lib/replication/types.js';
import { Cluster, type Command, type CoreEffect, registration, req } from './harness.js';

test('§4.1 N=1: a request commits on the primary\'s own fsync and is answered once', () => {
  const cluster = new Cluster(1);
  const primary = cluster.settle();
  assert.equal(primary, 0);
  cluster.register('c');
  const effects = cluster.request(0, req('c', 1, 'hello'));
  assert.deepEqual(effects.filter((e) => e.type === 'reply').map((e) => e.type === 'reply' && e.reply), [1]);
  assert.deepEqual(cluster.items(0), ['hello']);
});

test('§4.1 N=1: nothing commits before onPersisted covers the op (D1)', () => {
  const cluster = new Cluster(1);
  cluster.settle();
  cluster.register('c');
  cluster.autoPersist[0] = false;
  cluster.request(0, req('c', 1, 'x'));
  assert.equal(cluster.replica(0).statusReport().commit, 1, 'only the register is committed');
  cluster.persisted(0);
  assert.equal(cluster.replica(0).statusReport().commit, 2);
  assert.equal(cluster.ofType(0, 'reply').at(-1)?.requestNumber, 1);
});

for (const n of [3, 5]) {
  test(`§4.1 N=${n}: request → prepare → prepare-ok → commit → reply, and backups execute on commit`, () => {
    const cluster = new Cluster(n);
    const primary = cluster.settle();
    cluster.register('c');
    cluster.request(primary, req('c', 1, 'a'));
    cluster.deliverAll();
    const replies = cluster.ofType(primary, 'reply');
    assert.deepEqual(replies.map((r) => [r.requestNumber, r.reply]), [[0, null], [1, 1]]);
    // Backups learn the commit number from the next PREPARE or COMMIT (§4.1 step 5).
    cluster.tick(5);
    for (let id = 0; id < n; id++) {
      assert.deepEqual(cluster.items(id), ['a'], `replica ${id}`);
      assert.equal(cluster.ofType(id, 'applied').length, 2, `replica ${id} applied register + a`);
      if (id !== primary) assert.equal(cluster.ofType(id, 'reply').length, 0, 'only the primary replies');
    }
  });
}

test('§4.1 the primary does not commit with fewer than f+1 durable copies', () => {
  const cluster = new Cluster(5);
  const primary = cluster.settle();
  cluster.register('c');
  const backups = [0, 1, 2, 3, 4].filter((id) => id !== primary);
  for (const id of backups) cluster.isolated.add(id);
  cluster.isolated.delete(backups[0]!);
  cluster.request(primary, req('c', 1, 'a'));
  cluster.deliverAll();
  assert.equal(cluster.replica(primary).statusReport().commit, 1, 'primary + one backup is not a majority of 5');
  cluster.isolated.delete(backups[1]!);
  // A backup whose acknowledgement has not moved for a whole heartbeat gets the entries again.
  cluster.tick(10);
  assert.equal(cluster.replica(primary).statusReport().commit, 2, 'the resent PREPARE reaches a third replica');
});

test('§4.1 step 3 / D1: a backup sends PREPARE-OK only after onPersisted covers the op', () => {
  const cluster = new Cluster(3);
  const primary = cluster.settle();
  cluster.register('c');
  const backup = (primary + 1) % 3;
  cluster.autoPersist[backup] = false;
  cluster.request(primary, req('c', 1, 'a'));
  const prepare = cluster.queue.find((e) => e.to === backup && e.message.type === 'prepare');
  assert.ok(prepare);
  cluster.deliverAll((e) => e.to === backup);
  assert.ok(!cluster.queue.some((e) => e.from === backup && e.message.type === 'prepare-ok'), 'no ack before the fsync');
  cluster.persisted(backup);
  const ok = cluster.queue.find((e) => e.from === backup && e.message.type === 'prepare-ok');
  assert.ok(ok && ok.message.type === 'prepare-ok' && ok.message.op === 2);
});

test('§6.2 batching: requests admitted in one burst leave as one PREPARE and one persist record', () => {
  const cluster = new Cluster(3, { batchEntriesMax: 3 });
  const primary = cluster.settle();
  for (const c of ['a', 'b', 'c', 'd', 'e']) cluster.register(c);
  const recordsBefore = cluster.disks[primary]!.records.length;
  const replica = cluster.replica(primary);
  for (const c of ['a', 'b', 'c', 'd', 'e']) cluster.handle(primary, replica.onRequest(req(c, 1, c)));
  assert.equal(cluster.queue.length, 0, 'nothing is sent before flush()');
  cluster.handle(primary, replica.flush());
  const prepares = cluster.queue.filter((e) => e.message.type === 'prepare' && e.to === (primary + 1) % 3);
  assert.deepEqual(prepares.map((e) => (e.message.type === 'prepare' ? e.message.entries.length : 0)), [3, 2], 'batchEntriesMax per PREPARE');
  const records = cluster.disks[primary]!.records.slice(recordsBefore).filter((r) => r.record.kind === 'entries');
  assert.equal(records.length, 2);
  cluster.deliverAll();
  assert.equal(cluster.ofType(primary, 'reply').filter((r) => r.requestNumber === 1).length, 5);
});

test('a PREPARE and the heartbeat COMMIT leave as one broadcast effect each; a backup resent entries gets its own PREPARE', () => {
  const cluster = new Cluster(5);
  const primary = cluster.settle();
  cluster.register('c');
  const backups = [0, 1, 2, 3, 4].filter((id) => id !== primary);
  const lagging = backups[0]!;
  cluster.isolated.add(lagging);
  const replica = cluster.replica(primary);
  cluster.handle(primary, replica.onRequest(req('c', 1, 'a')));
  const flushed = replica.flush();
  assert.deepEqual(peerSends(flushed), [['broadcast', backups, 'prepare']]);
  cluster.handle(primary, flushed);
  cluster.deliverAll();
  // The lagging backup's acknowledgement stays at the register: by the second heartbeat it has
  // not moved for a whole one, and it alone is resent the entry.
  let heartbeat: CoreEffect[] = [];
  for (let t = 0; t < 20 && !heartbeat.some((e) => e.type === 'send'); t++) {
    heartbeat = replica.tick();
    cluster.handle(primary, heartbeat);
    cluster.deliverAll();
  }
  assert.deepEqual(peerSends(heartbeat), [['send', lagging, 'prepare'], ['broadcast', backups.slice(1), 'commit']]);
});

/** The peer traffic among `effects`: [effect type, to, message type]. */
function peerSends(effects: CoreEffect[]): Array<[string, unknown, string]> {
  return effects.flatMap((e): Array<[string, unknown, string]> => (e.type === 'send' || e.type === 'broadcast' ? [[e.type, e.to, e.message.type]] : []));
}

test('§4.1 step 3: a backup with a gap before a PREPARE fetches the missing ops first (§5.2), on that PREPARE, and never skips one', () => {
  const cluster = new Cluster(3);
  const primary = cluster.settle();
  cluster.register('c');
  const backup = (primary + 1) % 3;
  cluster.isolated.add(backup);
  cluster.request(primary, req('c', 1, 'lost')); // op 2
  cluster.deliverAll();
  cluster.isolated.delete(backup);
  cluster.request(primary, req('c', 2, 'seen')); // op 3, while the backup holds op 1: a gap of one op
  cluster.deliverAll();
  // No tick yet: no heartbeat resends op 2, so only the backup's own GET-STATE can have brought it.
  assert.ok(cluster.ofType(primary, 'log').some((e) => e.event === 'state transfer: sending' && e.fields?.to === backup), 'the backup asked for op 2');
  assert.equal(cluster.replica(backup).statusReport().op, 3, 'and holds ops 2 and 3 before any heartbeat');
  cluster.tick(5);
  assert.deepEqual(cluster.items(backup), ['lost', 'seen']);
});

test('§4.1 step 5: an idle primary sends COMMIT heartbeats that keep backups from starting a view change', () => {
  const cluster = new Cluster(3);
  const primary = cluster.settle();
  const view = cluster.replica(primary).statusReport().view;
  cluster.tick(200);
  assert.equal(cluster.replica(primary).statusReport().view, view);
  assert.equal(cluster.primary(), primary);
});

test("part of a message arriving from the primary is word from it; from anyone else it is not", () => {
  const silentPrimary = (receivingFrom: (primary: number, other: number) => number | null) => {
    const cluster = new Cluster(3);
    const primary = cluster.settle();
    const backup = (primary + 1) % 3;
    const other = (primary + 2) % 3;
    const view = cluster.replica(backup).statusReport().view;
    // The primary is busy sending something large: its heartbeats do not get through.
    for (let t = 0; t < 60; t++) {
      const from = receivingFrom(primary, other);
      if (from !== null) cluster.handle(backup, cluster.replica(backup).onReceiving(from));
      cluster.tick(1, [backup], false);
    }
    return cluster.replica(backup).statusReport().view !== view;
  };
  assert.equal(silentPrimary(() => null), true, 'without it the backup gives the view up');
  assert.equal(silentPrimary((primary) => primary), false, 'bytes from the primary keep it waiting');
  assert.equal(silentPrimary((_primary, other) => other), true, 'bytes from another backup do not');
});

test('§4.1 step 1: a request whose number and command disagree is ignored, never admitted: request 0 with a command, or 1 without one', () => {
  const cluster = new Cluster(3);
  const primary = cluster.settle();
  cluster.register('c');
  const before = cluster.replica(primary).statusReport().op;
  // The type forbids the second, but the core checks whatever a driver hands it.
  const malformed = [{ ...registration('new'), command: 'x' }, { ...req('c', 1, 'x'), command: null } as unknown as ClientRequest<Command>];
  for (const request of malformed) {
    const effects = cluster.request(primary, request);
    assert.deepEqual(effects.map((e) => e.type === 'log' && [e.level, e.event, e.fields?.reason]), [['warn', 'ignoring request', 'malformed request']], JSON.stringify(request));
  }
  assert.equal(cluster.queue.length, 0, 'nothing was prepared');
  assert.equal(cluster.replica(primary).statusReport().op, before, 'nothing entered the log');
  // The client loses nothing: its well-formed request 1 is admitted as usual.
  cluster.request(primary, req('c', 1, 'y'));
  cluster.deliverAll();
  assert.deepEqual(cluster.items(primary), ['y']);
});

test('requests to a backup are rejected with NOT_PRIMARY naming the primary', () => {
  const cluster = new Cluster(3);
  const primary = cluster.settle();
  const backup = (primary + 1) % 3;
  const [reject] = cluster.request(backup, req('c', 1, 'x'));
  assert.ok(reject?.type === 'reject');
  assert.equal(reject.code, 'NOT_PRIMARY');
  assert.equal(reject.primary, primary);
});

test('BUSY when the pipeline of uncommitted ops is full', () => {
  const cluster = new Cluster(3, { pipelineOpsMax: 2 });
  const primary = cluster.settle();
  for (const c of ['a', 'b', 'c']) cluster.register(c);
  cluster.request(primary, req('a', 1, 'a'));
  cluster.request(primary, req('b', 1, 'b'));
  const [reject] = cluster.request(primary, req('c', 1, 'c'));
  assert.ok(reject?.type === 'reject' && reject.code === 'BUSY');
  cluster.deliverAll();
  const [reply] = cluster.request(primary, req('c', 1, 'c')).filter((e) => e.type !== 'log');
  assert.equal(reply, undefined, 'admitted now; answered when it commits');
  cluster.deliverAll();
  assert.deepEqual(cluster.items(primary), ['a', 'b', 'c']);
});

test('§4.1 step 5: a backup the primary never heard from in this view gets lost PREPAREs again on the heartbeat (sim seed 7792)', () => {
  // A fresh view: neither backup has acknowledged anything yet. One backup is down, so the
  // other's acknowledgement is needed to commit — and the PREPARE to it is lost.
  const cluster = new Cluster(3);
  const primary = cluster.settle();
  const backup = (primary + 1) % 3;
  cluster.crash((primary + 2) % 3);
  cluster.request(primary, registration('c'));
  cluster.deliverAll((e) => e.message.type !== 'prepare');
  assert.equal(cluster.replica(backup).statusReport().op, 0, 'the PREPARE was lost');
  cluster.tickUntil('the op commits once the heartbeat resends it', () => cluster.replica(primary).statusReport().commit === 1, 100);
  assert.equal(cluster.replica(backup).statusReport().op, 1);
});

test('§4.1 step 5: a backup whose last acknowledgement the primary has compacted away still gets lost PREPAREs again on the heartbeat (test/sim/FINDINGS.md F11)', () => {
  const cluster = new Cluster(3, { snapshotEveryOps: 4 });
  const primary = cluster.settle();
  const backup = (primary + 1) % 3;
  const other = (primary + 2) % 3;
  cluster.register('c'); // op 1, acknowledged by both backups
  // The backup holds every op but its PREPARE-OKs are lost: ops commit with the other backup's.
  for (let n = 1; n <= 10; n++) {
    cluster.request(primary, req('c', n, `m${n}`));
    cluster.deliverAll((e) => !(e.message.type === 'prepare-ok' && e.message.from === backup));
  }
  cluster.tick(1, [primary]); // the primary's deferred snapshot: its log now starts above op 1
  assert.equal(cluster.replica(backup).statusReport().op, 11);
  cluster.crash(other);
  cluster.request(primary, req('c', 11, 'm11'));
  cluster.deliverAll((e) => e.message.type !== 'prepare'); // op 12's PREPARE to the backup is lost
  assert.equal(cluster.replica(backup).statusReport().op, 11, 'the PREPARE was lost');
  // Its COMMITs say 11, all the backup holds and acknowledged: only the primary can heal this.
  cluster.tickUntil('op 12 commits once the heartbeat resends it', () => cluster.replica(primary).statusReport().commit === 12, 200);
});

test('§4.1 step 5: a COMMIT below what a backup acknowledged makes it send PREPARE-OK again on that COMMIT (test/sim/FINDINGS.md F4)', () => {
  const cluster = new Cluster(3);
  const primary = cluster.settle();
  cluster.register('c');
  cluster.request(primary, req('c', 1, 'x'));
  cluster.deliverAll((e) => e.message.type !== 'prepare-ok'); // op 2 on every replica, committed on none
  // The primary's next heartbeat: COMMIT(1) to both backups — their acknowledgements moved since
  // the last heartbeat, so it resends no entries. Only the backups can heal the loss now.
  for (let t = 0; t < 20 && cluster.queue.length === 0; t++) cluster.tick(1, [primary], false);
  assert.deepEqual(cluster.queue.map((e) => e.message.type === 'commit' && e.message.commit), [1, 1]);
  cluster.deliverAll();
  assert.equal(cluster.replica(primary).statusReport().commit, 2, 'the backups acknowledged op 2 again on that COMMIT');
});

test('§4.1 step 4: a primary counts PREPARE-OKs of its own view only: one left over from an older view commits nothing', () => {
  const cluster = new Cluster(3);
  const first = cluster.settle();
  // A view change, so that there is an older view a PREPARE-OK can be left over from.
  cluster.isolated.add(first);
  const primary = cluster.settle();
  cluster.isolated.delete(first);
  cluster.register('c');
  const { view, commit } = cluster.replica(primary).statusReport();
  assert.ok(view > 0 && primary !== first);
  // The backups hear nothing: the new op waits on the primary's own copy alone.
  const backups = [0, 1, 2].filter((id) => id !== primary);
  for (const id of backups) cluster.isolated.add(id);
  cluster.request(primary, req('c', 1, 'a'));
  const op = cluster.replica(primary).statusReport().op;
  assert.equal(cluster.replica(primary).statusReport().commit, commit, 'one copy of three is not a majority');
  // A PREPARE-OK of an older view arrives late (held by the network across the view change): it
  // speaks of that view's log, whose suffix the view change may have replaced.
  cluster.handle(primary, cluster.replica(primary).onMessage({ type: 'prepare-ok', view: view - 1, from: backups[0]!, op }));
  assert.equal(cluster.replica(primary).statusReport().commit, commit, 'an acknowledgement from an older view commits nothing');
  assert.ok(cluster.ofType(primary, 'log').some((e) => e.event === 'ignoring prepare-ok' && e.fields?.reason === 'older view'), 'and is logged as ignored');
});
