// A view change needs f + 1 replicas wanting it (lib/replication/view-change.ts, scenarios 1–9):
// one slow or cut-off replica must not keep the cluster changing views.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, req } from './harness.js';

const views = (cluster: Cluster, ids: number[]) => ids.map((id) => cluster.replica(id).statusReport().view);
const others = (n: number, ...not: number[]) => Array.from({ length: n }, (_, id) => id).filter((id) => !not.includes(id));

test('scenario 1: a single START-VIEW-CHANGE from one backup does not move a healthy cluster', () => {
  const cluster = new Cluster(5);
  const primary = cluster.settle();
  const view = cluster.replica(primary).statusReport().view;
  const backup = (primary + 1) % 5;
  for (const to of others(5, backup)) {
    cluster.handle(to, cluster.replica(to).onMessage({ type: 'start-view-change', view: view + 1, from: backup }));
  }
  cluster.deliverAll();
  cluster.tick(30);
  for (const id of others(5, backup)) {
    const r = cluster.replica(id).statusReport();
    assert.equal(r.status, 'normal', `replica ${id}`);
    assert.equal(r.view, view, `replica ${id} stays in view ${view}`);
  }
});

test('scenario 2: f + 1 replicas asking for a newer view move a replica that still hears its primary', () => {
  const cluster = new Cluster(5);
  const primary = cluster.settle();
  const view = cluster.replica(primary).statusReport().view;
  const [target, a, b, c] = others(5, primary) as [number, number, number, number];
  const ask = (from: number, v: number) => cluster.handle(target, cluster.replica(target).onMessage({ type: 'start-view-change', view: v, from }));
  ask(a, view + 1);
  ask(b, view + 2);
  assert.equal(cluster.replica(target).statusReport().status, 'normal', 'f = 2 asking is not enough');
  ask(c, view + 1);
  const r = cluster.replica(target).statusReport();
  assert.equal(r.status, 'view-change');
  assert.equal(r.view, view + 1, 'the highest view f + 1 asked for');
});

test('scenario 6: a replica that timed out alone stays at v + 1 and does not climb', () => {
  const cluster = new Cluster(5);
  const primary = cluster.settle();
  const view = cluster.replica(primary).statusReport().view;
  const lone = (primary + 2) % 5;
  cluster.isolated.add(lone);
  cluster.tick(300);
  const r = cluster.replica(lone).statusReport();
  assert.equal(r.status, 'view-change');
  assert.equal(r.view, view + 1, 'five view-change timeouts later, still v + 1');
  assert.deepEqual(views(cluster, others(5, lone)), [view, view, view, view]);
});

test('scenario 6: a view change that becomes real just before the timer of a replica waiting alone fires gets its whole timeout; that replica does not climb past the view the others complete', () => {
  const timeout = 20;
  const cluster = new Cluster(5, { viewChangeTimeoutTicks: timeout });
  const primary = cluster.settle();
  const view = cluster.replica(primary).statusReport().view;
  const next = (view + 1) % 5; // The primary of view + 1.
  const lone = others(5, primary, next)[0]!;
  const rest = others(5, lone);
  const timedOutAlone = () => cluster.ofType(lone, 'log').filter((e) => e.event.startsWith('view change: timed out before our do-view-change')).length;
  const sentDoViewChange = () => cluster.sent[lone]!.some(({ message }) => message.type === 'do-view-change' && message.view === view + 1);

  // The lone replica moves to view + 1 and waits there alone; its view-change timer has just fired.
  cluster.isolated.add(lone);
  cluster.tickUntil('the lone replica times out alone in view + 1', () => timedOutAlone() === 1);
  cluster.isolated.delete(lone);
  // Its timer runs on, to two ticks before it fires again; its resent START-VIEW-CHANGEs reach the
  // others, and the primary starts its rejoin wait (scenario 7).
  cluster.tick(timeout + lone - 2, [lone]);
  // Meanwhile (only the others tick: we choose the moment) the primary gives its view up, its
  // backups follow, and the lone replica's view change becomes real: it sends DO-VIEW-CHANGE. The
  // new primary's disk is slow, so the view change takes a few ticks more.
  cluster.autoPersist[next] = false;
  for (let t = 0; !sentDoViewChange(); t++) {
    assert.ok(t < 30 * timeout, 'the primary gives its view up within its rejoin wait');
    cluster.tick(1, rest);
  }
  assert.deepEqual(views(cluster, others(5)), others(5).map(() => view + 1));
  // Two ticks: the old timer would fire now. The lone replica's disk is slow too, so a climb to
  // view + 2 would be told to the others only after they completed view + 1 — as the simulator saw.
  cluster.autoPersist[lone] = false;
  cluster.tick(2);
  cluster.autoPersist[next] = true;
  cluster.persisted(next);
  cluster.deliverAll();
  cluster.autoPersist[lone] = true;
  cluster.persisted(lone);
  cluster.tick(3 * timeout);
  for (const id of others(5)) {
    const r = cluster.replica(id).statusReport();
    assert.deepEqual([r.status, r.view], ['normal', view + 1], `replica ${id} (the lone one is ${lone}) completes view ${view + 1}`);
  }
});

test('scenario 7: the primary that gives its view up counts the view-change timeout from its own DO-VIEW-CHANGE: its slow disk, then the new primary\'s, do not make it climb past the view it gave its view up for', () => {
  const timeout = 20;
  const newPrimaryDiskTicks = 8; // Each of the new primary's two view records: 16 ticks in all, within one timeout.
  // Our own view record takes half a timeout (as in the simulator), or longer than a whole one.
  for (const ownDiskTicks of [timeout / 2, timeout + 5]) {
    const cluster = new Cluster(3, { viewChangeTimeoutTicks: timeout });
    const primary = cluster.settle();
    const view = cluster.replica(primary).statusReport().view;
    const next = (view + 1) % 3; // The primary of view + 1.
    const lone = (view + 2) % 3;
    const slowDisk = (id: number, ticks: number) => {
      cluster.tick(ticks);
      cluster.persisted(id);
      cluster.deliverAll();
    };

    // A replica waits alone in view + 1 (scenario 6), until the primary gives its view up for it
    // (scenario 7) — on a slow disk: its view record for view + 1 is not durable yet.
    cluster.isolated.add(lone);
    cluster.tickUntil('the lone replica moves to view + 1', () => cluster.replica(lone).statusReport().view === view + 1);
    cluster.isolated.delete(lone);
    cluster.autoPersist[primary] = false;
    cluster.tickUntil('the primary gives its view up', () => cluster.replica(primary).statusReport().status === 'view-change', 30 * timeout);
    // Its view record lands: START-VIEW-CHANGE and DO-VIEW-CHANGE go out. The new primary joins,
    // on a slow disk too: its view record, then (with the lone replica's DO-VIEW-CHANGE and ours)
    // the chosen log and the view record that lets it send START-VIEW. Counted from when the
    // primary gave its view up, that is more than a timeout; counted from its DO-VIEW-CHANGE, less.
    // The old primary's disk stays slow, so a climb to view + 2 would be told to the others only
    // after they completed view + 1 — as the simulator saw.
    cluster.autoPersist[next] = false;
    slowDisk(primary, ownDiskTicks);
    slowDisk(next, newPrimaryDiskTicks);
    slowDisk(next, newPrimaryDiskTicks);
    cluster.autoPersist[next] = true;
    cluster.autoPersist[primary] = true;
    cluster.persisted(primary);
    cluster.tick(3 * timeout);
    for (const id of others(3)) {
      const r = cluster.replica(id).statusReport();
      assert.deepEqual([r.status, r.view], ['normal', view + 1], `replica ${id} (the old primary is ${primary}; its disk took ${ownDiskTicks} ticks) completes view ${view + 1}`);
    }
  }
});

test('scenario 8: when the primary really dies, the view change completes in one view', () => {
  for (const n of [3, 5, 7]) {
    const cluster = new Cluster(n);
    const primary = cluster.settle();
    const view = cluster.replica(primary).statusReport().view;
    cluster.register('c');
    cluster.request(primary, req('c', 1, 'kept'));
    cluster.deliverAll();
    cluster.crash(primary);
    const next = cluster.settle();
    assert.deepEqual(views(cluster, others(n, primary)), others(n, primary).map(() => view + 1), `N = ${n}`);
    assert.deepEqual(cluster.items(next), ['kept']);
  }
});

test('scenarios 1 and 7: a replica returning from a partition at a higher view does not disrupt the cluster, and rejoins', () => {
  const cluster = new Cluster(5);
  const primary = cluster.settle();
  const view = cluster.replica(primary).statusReport().view;
  const lone = (primary + 3) % 5;
  cluster.isolated.add(lone);
  cluster.tick(100);
  assert.equal(cluster.replica(lone).statusReport().view, view + 1);
  cluster.isolated.delete(lone);
  cluster.register('c');
  cluster.request(primary, req('c', 1, 'during'));
  cluster.tick(300); // less than the primary's rejoin wait (25 view-change timeouts): the cluster keeps working
  assert.deepEqual(views(cluster, others(5, lone)), [view, view, view, view]);
  assert.equal(cluster.replica(primary).statusReport().isPrimary, true);
  assert.deepEqual(cluster.items(primary), ['during']);
  // The primary gives its view up for the lone replica once (scenario 7): all meet at v + 1.
  cluster.tick(250);
  const next = cluster.settle();
  cluster.tick(5);
  assert.deepEqual(views(cluster, others(5)), [0, 1, 2, 3, 4].map(() => view + 1));
  for (const id of others(5)) assert.deepEqual(cluster.items(id), ['during'], `replica ${id} (primary ${next})`);
});

test('scenario 7: liveness with a lone replica ahead and a backup down: the primary gives its view up', () => {
  const cluster = new Cluster(3);
  const primary = cluster.settle();
  const view = cluster.replica(primary).statusReport().view;
  const [lone, other] = others(3, primary) as [number, number];
  cluster.isolated.add(lone);
  cluster.tick(60);
  cluster.isolated.delete(lone);
  cluster.crash(other);
  cluster.register('c');
  cluster.request(primary, req('c', 1, 'x'));
  cluster.tickUntil('the two live replicas meet in a newer view', () => {
    const a = cluster.replica(primary).statusReport();
    const b = cluster.replica(lone).statusReport();
    return a.status === 'normal' && b.status === 'normal' && a.view === b.view && a.view > view;
  });
  const next = cluster.primary();
  cluster.request(next, req('c', 1, 'x'));
  cluster.tick(5);
  assert.deepEqual(cluster.items(next), ['x']);
});
