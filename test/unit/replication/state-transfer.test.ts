// State transfer (VRR §5.2) with the fix for the state transfer defect, in bounded pieces, and
// with snapshots (a replica behind the primary's snapshot gets the snapshot and the log after it).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, commitMany, req } from './harness.js';

/** A 3-replica cluster in which `lagging` was cut off while the primary restarted and a new view
 *  (led by `next`) started without it. It is still cut off. */
function viewStartedWithout(): { cluster: Cluster; next: number; lagging: number } {
  const cluster = new Cluster(3);
  const old = cluster.settle();
  cluster.register('c');
  const lagging = (old + 2) % 3;
  cluster.isolated.add(lagging);
  cluster.crash(old);
  cluster.restart(old); // D4: it moves to the next view; with the third replica that view starts.
  return { cluster, next: cluster.settle(), lagging };
}

test('§5.2 a replica that missed a view change catches up from the new primary, keeping its old log until the answer', () => {
  const { cluster, next, lagging } = viewStartedWithout();
  commitMany(cluster, next, 1, 3);
  cluster.isolated.delete(lagging);
  const before = cluster.replica(lagging).statusReport();
  // The next COMMIT tells the lagging replica of the newer view: it asks for state, and acts on
  // nothing until the answer is in — its log and log view are untouched meanwhile.
  cluster.handle(next, cluster.replica(next).tick());
  for (let t = 0; t < 10 && !cluster.queue.some((e) => e.from === next && e.to === lagging); t++) cluster.handle(next, cluster.replica(next).tick());
  cluster.deliverAll((e) => e.message.type !== 'new-state');
  const waiting = cluster.replica(lagging).statusReport();
  assert.equal(waiting.status, 'recovering');
  assert.deepEqual([waiting.logView, waiting.op], [before.logView, before.op], 'old log and log view kept (the TLA+ fix)');
  cluster.tick(10);
  const after = cluster.replica(lagging).statusReport();
  assert.deepEqual([after.status, after.view, after.logView], ['normal', cluster.replica(next).statusReport().view, cluster.replica(next).statusReport().view]);
  assert.deepEqual(cluster.items(lagging), ['m1', 'm2', 'm3']);
});

test('check-quorum: a catch-up lasting several view-change timeouts while the third replica is dead keeps the primary in its view — the ALIVEs of the replica catching up count', () => {
  const { cluster, next, lagging } = viewStartedWithout();
  commitMany(cluster, next, 1, 3);
  const view = cluster.replica(next).statusReport().view;
  cluster.crash([0, 1, 2].find((id) => id !== next && id !== lagging)!);
  cluster.isolated.delete(lagging);
  // The pieces of state are slow to come (a snapshot that takes seconds): none arrives for five
  // view-change timeouts, and the primary hears no PREPARE-OK from anyone meanwhile.
  for (let t = 0; t < 5 * 25; t++) {
    cluster.tick(1, undefined, false);
    cluster.deliverAll((e) => e.message.type !== 'new-state');
  }
  assert.equal(cluster.replica(lagging).statusReport().status, 'recovering');
  const alive = cluster.sent[lagging]!.filter(({ message }) => message.type === 'alive' && message.view === view);
  assert.ok(alive.length >= 20, `it told the primary of view ${view} it is there, every heartbeat (${alive.length} times)`);
  const primary = cluster.replica(next).statusReport();
  assert.deepEqual([primary.status, primary.view, primary.isPrimary], ['normal', view, true], 'stepping down would throw the transfer away, again and again');
  // The next GET-STATE (they are resent ever more slowly meanwhile) is answered in full.
  cluster.tickUntil('the catch-up completes', () => cluster.replica(lagging).statusReport().status === 'normal');
  assert.deepEqual(cluster.items(lagging), ['m1', 'm2', 'm3']);
  assert.equal(cluster.replica(next).statusReport().view, view);
});

test('a replica catching up hears its primary through part of a large NEW-STATE arriving', () => {
  const catchingUp = (receiving: boolean) => {
    const { cluster, next, lagging } = viewStartedWithout();
    commitMany(cluster, next, 1, 3);
    cluster.isolated.delete(lagging);
    for (let t = 0; t < 10 && !cluster.queue.some((e) => e.from === next && e.to === lagging); t++) cluster.handle(next, cluster.replica(next).tick());
    cluster.deliverAll((e) => e.message.type !== 'new-state');
    assert.equal(cluster.replica(lagging).statusReport().status, 'recovering');
    // The NEW-STATE is still arriving, and nothing else from the primary gets through.
    for (let t = 0; t < 60; t++) {
      if (receiving) cluster.handle(lagging, cluster.replica(lagging).onReceiving(next));
      cluster.tick(1, [lagging], false);
    }
    return cluster.replica(lagging).statusReport().status;
  };
  assert.equal(catchingUp(false), 'view-change', 'without it, it gives up on the primary');
  assert.equal(catchingUp(true), 'recovering', 'with it, it waits for the rest');
});

test('§5.2 NEW-STATE is bounded: a far-behind backup catches up in several rounds', () => {
  const cluster = new Cluster(3, { messageEntriesMax: 4 });
  const primary = cluster.settle();
  cluster.register('c');
  const backup = (primary + 1) % 3;
  cluster.isolated.add(backup);
  commitMany(cluster, primary, 1, 15);
  cluster.isolated.delete(backup);
  cluster.tick(10);
  const sent = cluster.queue.length; // settled
  assert.equal(sent, 0);
  const newStates = cluster.ofType(primary, 'log').filter((e) => e.event === 'state transfer: sending');
  assert.ok(newStates.length >= 4, `expected several rounds, got ${newStates.length}`);
  assert.ok(newStates.every((e) => (e.fields?.entries as number) <= 4));
  assert.equal(cluster.items(backup).length, 15);
});

test('§5.2 snapshots: a backup behind the primary\'s snapshot gets the snapshot and the log after it', () => {
  const cluster = new Cluster(3, { snapshotEveryOps: 4 });
  const primary = cluster.settle();
  cluster.register('c');
  const backup = (primary + 1) % 3;
  cluster.isolated.add(backup);
  commitMany(cluster, primary, 1, 10);
  cluster.isolated.delete(backup);
  cluster.tick(10);
  const installed = cluster.ofType(backup, 'log').find((e) => e.event === 'state transfer: installed snapshot');
  assert.ok(installed, 'the backup installed a snapshot');
  // D3: it covers ops this journal never held, so storage must have its file on disk before
  // anything after it counts as durable — it is not one the log could rebuild.
  const received = cluster.disks[backup]!.records.filter((r) => r.record.kind === 'snapshot').map((r) => r.record);
  assert.ok(received.length > 0 && received.every((r) => r.kind === 'snapshot' && !r.coveredByLog), 'persisted as not covered by the log');
  assert.deepEqual(cluster.items(backup), cluster.items(primary));
  assert.equal(cluster.items(backup).length, 10);
  // And it survives a restart: snapshot + replace record on its disk.
  cluster.crash(backup);
  cluster.restart(backup);
  commitMany(cluster, primary, 11, 1);
  cluster.tick(10);
  assert.deepEqual(cluster.items(backup), cluster.items(primary));
});

test('snapshots trim the in-memory log once durable, and a restart resumes from snapshot + log', () => {
  const cluster = new Cluster(1, { snapshotEveryOps: 3 });
  cluster.settle();
  cluster.register('c');
  commitMany(cluster, 0, 1, 7);
  const snapshots = cluster.disks[0]!.records.filter((r) => r.record.kind === 'snapshot');
  assert.deepEqual(snapshots.map((r) => r.record.kind === 'snapshot' && r.record.snapshot.op), [3, 6]);
  cluster.crash(0);
  cluster.restart(0);
  cluster.settle();
  assert.deepEqual(cluster.items(0), ['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7']);
  const retry = cluster.request(0, req('c', 7, 'm7'));
  assert.ok(retry.some((e) => e.type === 'reply' && e.reply === 7), 'the client table came back too');
});

test("snapshots are spaced by the state's size: checked every snapshotEveryOps ops, due once the ops since the last reach snapshotStateRatio × size()", () => {
  const snapshotOps = (options: { snapshotStateRatio: number }) => {
    const cluster = new Cluster(1, { snapshotEveryOps: 2, ...options });
    cluster.settle();
    cluster.register('c'); // op 1; the sends are ops 2..17, the machine holding 1..16 items
    commitMany(cluster, 0, 1, 16);
    return cluster.disks[0]!.records.flatMap((r) => (r.record.kind === 'snapshot' ? [r.record.snapshot.op] : []));
  };
  assert.deepEqual(snapshotOps({ snapshotStateRatio: 0 }), [2, 4, 6, 8, 10, 12, 14, 16], 'ratio 0: every snapshotEveryOps ops');
  // At op 4: 2 ops since op 2, 3 items (2 ≥ 1.5); at 6: 2 < 2.5; at 8: 4 ≥ 3.5; then 8 ≥ 7.5 at 16.
  assert.deepEqual(snapshotOps({ snapshotStateRatio: 0.5 }), [2, 4, 8, 16], 'ratio 0.5: the gap doubles as the state does');
});

test('a primary whose snapshot comes due tells the backups the commit number first and takes it at its next tick', () => {
  const cluster = new Cluster(3, { snapshotEveryOps: 4, snapshotStateRatio: 0 });
  const primary = cluster.settle();
  cluster.register('c'); // op 1
  const snapshotsOf = (id: number) => cluster.disks[id]!.records.flatMap((r) => (r.record.kind === 'snapshot' ? [r.record.snapshot.op] : []));
  commitMany(cluster, primary, 1, 3); // ops 2..4: op 4 commits on the primary, the snapshot is due
  const backups = [0, 1, 2].filter((id) => id !== primary);
  for (const backup of backups) {
    assert.equal(cluster.replica(backup).statusReport().executed, 4, `backup ${backup} heard commit 4 without waiting for a heartbeat`);
    assert.deepEqual(snapshotsOf(backup), [4], `backup ${backup} took its snapshot at op 4`);
  }
  assert.deepEqual(snapshotsOf(primary), [], 'the primary has not paused yet');
  cluster.request(primary, req('c', 4, 'm4')); // op 5, before the primary's next tick
  cluster.deliverAll();
  cluster.tick(1, [primary], false);
  assert.deepEqual(snapshotsOf(primary), [5], 'the primary took it at its next tick, of the state it then had');
  // The next comes due at op 8 everywhere: counted from the op it came due at, not the one taken.
  commitMany(cluster, primary, 5, 3); // ops 6..8
  for (const backup of backups) assert.deepEqual(snapshotsOf(backup), [4, 8], `backup ${backup}`);
  cluster.tick(1, [primary], false);
  assert.deepEqual(snapshotsOf(primary), [5, 8], 'primary and backups stay in step');
});

test('§5.2 a replica too far behind a START-VIEW\'s tail fetches the rest by state transfer', () => {
  const cluster = new Cluster(3, { messageEntriesMax: 2 });
  const old = cluster.settle();
  cluster.register('c');
  const lagging = (old + 2) % 3;
  cluster.isolated.add(lagging);
  commitMany(cluster, old, 1, 6);
  cluster.crash(old);
  cluster.isolated.delete(lagging);
  const next = cluster.settle();
  cluster.tick(10);
  assert.deepEqual(cluster.items(lagging), cluster.items(next));
  assert.equal(cluster.items(next).length, 6);
});

test('§5.2 fix: a catching-up replica replaces its log only once the staged pieces reach the view\'s start', () => {
  const cluster = new Cluster(3, { messageEntriesMax: 2 });
  const old = cluster.settle();
  cluster.register('c');
  const lagging = (old + 2) % 3;
  commitMany(cluster, old, 1, 5);
  // The lagging replica restarts cut off: its log (ops 1..6) is back, its commit number is 0.
  cluster.isolated.add(lagging);
  cluster.crash(lagging);
  cluster.restart(lagging);
  cluster.crash(old);
  cluster.restart(old);
  const next = cluster.settle();
  cluster.isolated.delete(lagging);
  const recordsBefore = cluster.disks[lagging]!.records.length;
  let pieces = 0;
  for (let steps = 0; cluster.replica(lagging).statusReport().view !== cluster.replica(next).statusReport().view || cluster.replica(lagging).statusReport().status !== 'normal'; steps++) {
    assert.ok(steps < 10_000, 'the lagging replica did not catch up');
    const envelope = cluster.deliverOne() ?? (cluster.tick(1, undefined, false), null);
    if (envelope?.to !== lagging || envelope.message.type !== 'new-state') continue;
    pieces += 1;
    const written = cluster.disks[lagging]!.records.slice(recordsBefore).map((r) => r.record.kind);
    if (cluster.replica(lagging).statusReport().status === 'recovering') {
      assert.ok(!written.includes('replace'), `piece ${pieces}: nothing replaced before the pieces reach op 6`);
      assert.equal(cluster.replica(lagging).statusReport().op, 6, 'the old log is kept meanwhile');
    }
  }
  assert.equal(pieces, 3, 'six ops in pieces of two');
  cluster.tick(10);
  assert.deepEqual(cluster.items(lagging), cluster.items(next));
});

test('§8.1 a replica part way through catching up keeps its old log view, so a view change cannot prefer its short log (sim seed 5077)', () => {
  // Ops 1..6 commit in view 1 on A and B. B starts view 2 with L, which must fetch the log in
  // pieces. B dies while L is part way; A returns with the ops, in log view 1. Had L taken log
  // view 2 with its partial log, the next view change would choose it and lose ops 4..6.
  const cluster = new Cluster(3, { messageEntriesMax: 2 });
  const a = cluster.settle();
  const b = (a + 1) % 3; // The primary of view 2.
  const l = (a + 2) % 3;
  cluster.register('c');
  cluster.isolated.add(l);
  commitMany(cluster, a, 1, 5);
  cluster.crash(a);
  cluster.isolated.delete(l);
  let pieces = 0;
  for (let steps = 0; pieces === 0; steps++) {
    assert.ok(steps < 10_000, 'L never received a piece of the new view\'s log');
    const envelope = cluster.deliverOne() ?? (cluster.tick(1, undefined, false), null);
    if (envelope?.to === l && envelope.message.type === 'new-state') pieces += 1;
  }
  const partway = cluster.replica(l).statusReport();
  assert.equal(partway.status, 'recovering');
  assert.ok(partway.logView < partway.view, 'still the old log view');
  cluster.crash(b);
  cluster.restart(a);
  const next = cluster.settle();
  cluster.tick(10);
  for (const id of [a, l]) assert.deepEqual(cluster.items(id), ['m1', 'm2', 'm3', 'm4', 'm5'], `replica ${id} (primary ${next})`);
});

test('§5.2 catching up to a new view whose primary compacted its log: snapshot, then the log after it', () => {
  const cluster = new Cluster(3, { snapshotEveryOps: 4, messageEntriesMax: 3 });
  const old = cluster.settle();
  cluster.register('c');
  const lagging = (old + 2) % 3;
  cluster.isolated.add(lagging);
  commitMany(cluster, old, 1, 10);
  cluster.crash(old);
  cluster.restart(old); // D4: the next view starts, without the lagging replica.
  const next = cluster.settle();
  commitMany(cluster, next, 11, 2);
  cluster.isolated.delete(lagging);
  cluster.tickUntil('the lagging replica catches up', () => cluster.replica(lagging).statusReport().status === 'normal' && cluster.items(lagging).length === 12);
  assert.ok(cluster.ofType(lagging, 'log').some((e) => e.event === 'state transfer: installed snapshot'));
  assert.deepEqual(cluster.items(lagging), cluster.items(next));
});

test('§5.2 an unanswered GET-STATE is resent ever more slowly, and at the normal pace once a piece arrives', () => {
  const { cluster, next, lagging } = viewStartedWithout();
  commitMany(cluster, next, 1, 3);
  cluster.isolated.delete(lagging);
  // Every NEW-STATE is lost (a primary too busy to answer looks the same from here); the
  // primary's heartbeats still arrive, so the lagging replica keeps asking instead of starting a
  // view change.
  const asked: number[] = [];
  for (let t = 0; t < 320; t++) {
    cluster.tick(1, undefined, false);
    if (cluster.queue.some((e) => e.from === lagging && e.message.type === 'get-state')) asked.push(t);
    cluster.deliverAll((e) => e.message.type !== 'new-state');
  }
  assert.equal(cluster.replica(lagging).statusReport().status, 'recovering');
  const gaps = asked.slice(1).map((t, i) => t - asked[i]!);
  // Heartbeat 5 ticks: resends after 10, 20, 40, 80, 80, … ticks (not every 5).
  assert.deepEqual(gaps.slice(0, 4), [10, 20, 40, 80], `GET-STATE sent at ticks ${asked.join(', ')}`);
  assert.ok(gaps.every((gap) => gap <= 80), `never waits longer than 16 heartbeats: ${gaps.join(', ')}`);
  // The answers get through again: the transfer completes, at the normal pace.
  cluster.tickUntil('the lagging replica caught up', () => cluster.replica(lagging).statusReport().status === 'normal', 100);
  assert.deepEqual(cluster.items(lagging), ['m1', 'm2', 'm3']);
});

test('§5.2 every piece of state is word from the primary: a catch-up longer than the view-change timeout, with no heartbeat getting through, ends in the view', () => {
  const cluster = new Cluster(3, { messageEntriesMax: 1, heartbeatTicks: 5, viewChangeTimeoutTicks: 20 });
  const old = cluster.settle();
  cluster.register('c');
  const lagging = (old + 2) % 3;
  cluster.isolated.add(lagging);
  commitMany(cluster, old, 1, 11); // ops 2..12
  cluster.crash(old);
  cluster.restart(old); // D4: the next view starts at op 12 without the lagging replica.
  const next = cluster.settle();
  cluster.isolated.delete(lagging);
  for (let t = 0; t < 10 && !cluster.queue.some((e) => e.from === next && e.to === lagging); t++) cluster.handle(next, cluster.replica(next).tick());
  while (cluster.replica(lagging).statusReport().status !== 'recovering') assert.ok(cluster.deliverOne(), 'the heartbeat tells it of the view');
  // Catching up takes twelve pieces of one op. Only the lagging replica ticks, so the primary
  // sends no heartbeat: each piece, 4 ticks after the last, is all it hears from the primary —
  // less than a heartbeat apart (no GET-STATE resends), far longer than its timeout in all.
  const timeoutTicks = 20 + lagging; // Each replica waits `replica` ticks longer (options.ts).
  let ticks = 0;
  while (cluster.replica(lagging).statusReport().status === 'recovering') {
    assert.ok(ticks <= 100, 'the catch-up did not end');
    cluster.tick(4, [lagging], false);
    ticks += 4;
    for (let envelope = cluster.deliverOne(); envelope !== null; envelope = cluster.deliverOne()) {
      if (envelope.to === lagging && envelope.message.type === 'new-state') break;
    }
  }
  const caughtUp = cluster.replica(lagging).statusReport();
  assert.deepEqual([caughtUp.status, caughtUp.view, caughtUp.op], ['normal', cluster.replica(next).statusReport().view, 12], 'no view change meanwhile');
  assert.ok(ticks > timeoutTicks, `the catch-up took ${ticks} ticks, longer than the timeout`);
});
