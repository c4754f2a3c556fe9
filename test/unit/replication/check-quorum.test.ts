// Check-quorum (lib/replication/normal.ts): a primary that has not heard from f other replicas of
// its view — ALIVE or PREPARE-OK — for its view-change timeout steps down to view + 1; backups and
// replicas catching up send the primary of their view ALIVE every heartbeat.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { messageProblem } from '../../../lib/replication/messages.js';
import { Cluster, type Message, req } from './harness.js';

const HEARTBEAT = 5;
const TIMEOUT = 20;
const options = { heartbeatTicks: HEARTBEAT, viewChangeTimeoutTicks: TIMEOUT };

const others = (n: number, ...not: number[]) => Array.from({ length: n }, (_, id) => id).filter((id) => !not.includes(id));

/** A settled cluster of `n` whose primary is cut off from the other replicas (messages to and
 *  from it are dropped: each test hands it what it hears), with its quorum timer just reset. */
function isolatedPrimary(n: number) {
  const cluster = new Cluster(n, options);
  const primary = cluster.settle();
  const view = cluster.replica(primary).statusReport().view;
  const backups = others(n, primary);
  const f = (n - 1) / 2;
  cluster.isolated.add(primary);
  const hear = (message: Message) => cluster.handle(primary, cluster.replica(primary).onMessage(message));
  const aliveFrom = (from: number, inView = view) => hear({ type: 'alive', view: inView, from });
  // f replicas heard: the set reaches f, the timer starts again from zero.
  for (const from of backups.slice(0, f)) aliveFrom(from);
  // The primary's own view-change timeout, as its backups wait for it.
  const ticks = TIMEOUT + primary;
  const status = () => cluster.replica(primary).statusReport();
  const tickPrimary = (count: number) => cluster.tick(count, [primary]);
  return { cluster, primary, view, backups, f, hear, aliveFrom, ticks, status, tickPrimary };
}

const steppedDown = (cluster: Cluster, id: number) => cluster.ofType(id, 'log').filter((e) => e.event === 'primary stepping down');

test('a primary that hears from fewer than f others of its view for its view-change timeout steps down to view + 1, with a warn line', () => {
  const { cluster, primary, view, backups, aliveFrom, ticks, status, tickPrimary } = isolatedPrimary(5);
  tickPrimary(3);
  aliveFrom(backups[3]!); // One of the f = 2 it needs.
  tickPrimary(ticks - 4);
  assert.deepEqual([status().status, status().view], ['normal', view], 'one tick short of the timeout: still serving');
  assert.deepEqual(steppedDown(cluster, primary), []);

  tickPrimary(1);
  assert.deepEqual([status().status, status().view, status().isPrimary], ['view-change', view + 1, false]);
  const [line, ...more] = steppedDown(cluster, primary);
  assert.equal(more.length, 0, 'said once');
  assert.equal(line!.level, 'warn');
  assert.deepEqual(line!.fields, { replica: primary, view, status: 'normal', reason: 'quorum lost', ticks, heardFrom: [backups[3]], f: 2 });
  const starting = cluster.ofType(primary, 'log').filter((e) => e.event === 'view change: starting').at(-1);
  assert.equal(starting?.fields?.to, view + 1);
  assert.match(String(starting?.fields?.reason), new RegExp(`^check-quorum: in ${ticks} ticks heard from replicas \\[${backups[3]}\\] of this view, fewer than f = 2$`));
});

test('a primary that hears ALIVE from f backups just inside each window keeps serving; silence then ends it', () => {
  const { cluster, primary, view, backups, f, aliveFrom, ticks, status, tickPrimary } = isolatedPrimary(5);
  for (let window = 0; window < 6; window++) {
    tickPrimary(ticks - 1);
    for (const from of backups.slice(window % 2, window % 2 + f)) aliveFrom(from);
    assert.deepEqual([status().status, status().view], ['normal', view], `window ${window}`);
  }
  assert.deepEqual(steppedDown(cluster, primary), []);
  tickPrimary(ticks);
  assert.equal(status().status, 'view-change', 'a window with nobody heard steps down');
});

test('PREPARE-OKs of its view count as well: a primary committing through f backups keeps serving', () => {
  const cluster = new Cluster(5, options);
  const primary = cluster.settle();
  const view = cluster.replica(primary).statusReport().view;
  cluster.register('c');
  // Only the primary ticks, so the backups send no ALIVE: each window, one request's PREPARE-OKs.
  const ticks = TIMEOUT + primary;
  for (let n = 1; n <= 6; n++) {
    cluster.tick(ticks - 1, [primary]);
    cluster.request(primary, req('c', n, `m${n}`));
    cluster.deliverAll((e) => e.message.type !== 'alive');
  }
  assert.deepEqual([cluster.replica(primary).statusReport().status, cluster.replica(primary).statusReport().view], ['normal', view]);
  assert.equal(cluster.replica(primary).statusReport().commit, 7, 'it committed all along');
  cluster.tick(ticks, [primary]);
  assert.equal(steppedDown(cluster, primary).length, 1, 'a window with no PREPARE-OK steps down');
  assert.equal(cluster.replica(primary).statusReport().view, view + 1);
});

test('ALIVE and PREPARE-OK of an older or a newer view do not count', () => {
  const { cluster, primary, view, backups, f, hear, aliveFrom, ticks, status, tickPrimary } = isolatedPrimary(5);
  assert.ok(view >= 1, 'a settled cluster has left view 0');
  tickPrimary(ticks - 1);
  for (const from of backups.slice(0, f)) {
    aliveFrom(from, view - 1);
    aliveFrom(from, view + 1);
    hear({ type: 'prepare-ok', view: view - 1, from, op: 0 });
    hear({ type: 'prepare-ok', view: view + 1, from, op: 0 });
  }
  tickPrimary(1);
  assert.equal(status().status, 'view-change');
  assert.deepEqual(steppedDown(cluster, primary)[0]?.fields?.heardFrom, []);
});

test('a cluster of one (f = 0) never steps down: it has nobody to hear from', () => {
  const cluster = new Cluster(1, options);
  const primary = cluster.settle();
  const view = cluster.replica(primary).statusReport().view;
  cluster.tick(10 * TIMEOUT);
  assert.deepEqual([cluster.replica(primary).statusReport().status, cluster.replica(primary).statusReport().view], ['normal', view]);
  assert.deepEqual(steppedDown(cluster, primary), []);
  assert.deepEqual(cluster.sent[primary], [], 'and sends nothing');
});

test('every backup sends ALIVE to the primary of its view once a heartbeat, and the primary sends none', () => {
  const cluster = new Cluster(5, options);
  const primary = cluster.settle();
  const view = cluster.replica(primary).statusReport().view;
  for (let heartbeat = 0; heartbeat < 4; heartbeat++) {
    cluster.tick(HEARTBEAT, undefined, false);
    const alive = cluster.queue.filter((e) => e.message.type === 'alive');
    assert.deepEqual(
      alive.map((e) => [e.from, e.to, e.message.view]).sort(),
      others(5, primary).map((from) => [from, primary, view]),
      `heartbeat ${heartbeat}: one each, to the primary, in its view`,
    );
    cluster.deliverAll();
  }
});

test('a replica repairing its damaged log sends ALIVE to the primary of its view; a damaged former primary recovering in its own view sends none', () => {
  const aliveSent = (damagedIsPrimary: boolean) => {
    const cluster = new Cluster(3, options);
    const primary = cluster.settle();
    const view = cluster.replica(primary).statusReport().view;
    const damaged = damagedIsPrimary ? primary : (primary + 1) % 3;
    cluster.crash(damaged);
    cluster.restartDamaged(damaged, 0);
    const report = cluster.replica(damaged).statusReport();
    assert.deepEqual([report.status, report.view, report.damaged], ['recovering', view, true]);
    cluster.queue = [];
    cluster.tick(3 * HEARTBEAT, [damaged], false);
    return { primary, view, alive: cluster.queue.filter((e) => e.message.type === 'alive').map((e) => [e.from, e.to, e.message.view]) };
  };
  const backup = aliveSent(false);
  const backupId = (backup.primary + 1) % 3;
  assert.deepEqual(backup.alive, [0, 1, 2].map(() => [backupId, backup.primary, backup.view]), 'one a heartbeat, to the primary of its view');
  assert.deepEqual(aliveSent(true).alive, [], 'nobody to tell: it leads the view it recovers in');
});

test('asymmetric partition: a primary whose backups hear it but that hears none of them steps down, and its START-VIEW-CHANGE moves them', () => {
  const cluster = new Cluster(5, options);
  const primary = cluster.settle();
  const view = cluster.replica(primary).statusReport().view;
  const toPrimary = (e: { to: number }) => e.to === primary;
  for (let t = 0; t < 3 * TIMEOUT && cluster.replica(primary).statusReport().view === view; t++) {
    cluster.tick(1, undefined, false);
    cluster.deliverAll((e) => !toPrimary(e));
  }
  assert.equal(cluster.replica(primary).statusReport().view, view + 1, 'it stepped down');
  assert.equal(steppedDown(cluster, primary).length, 1);
  // Its backups, still hearing it, never timed out: they follow its START-VIEW-CHANGE at once
  // (view-change.ts, scenario 3), and view + 1 starts among them.
  for (let t = 0; t < 3 * TIMEOUT; t++) {
    cluster.tick(1, undefined, false);
    cluster.deliverAll((e) => !toPrimary(e));
  }
  const reports = others(5, primary).map((id) => cluster.replica(id).statusReport());
  assert.deepEqual(reports.map((r) => [r.status, r.view]), others(5, primary).map(() => ['normal', view + 1]));
  assert.ok(reports.every((r) => !r.isPrimary || r.replica === (view + 1) % 5));
  assert.ok(
    others(5, primary).every((id) => !cluster.ofType(id, 'log').some((e) => e.event === 'view change: starting' && /no word from primary/.test(String(e.fields?.reason)))),
    'no backup timed out on its primary',
  );
  // Healed, the old primary joins the view the others started.
  cluster.tick(3 * TIMEOUT);
  assert.deepEqual([cluster.replica(primary).statusReport().status, cluster.replica(primary).statusReport().view], ['normal', view + 1]);
});

test('a malformed ALIVE is refused by messageProblem, and a replica drops it with a warning', () => {
  assert.equal(messageProblem({ type: 'alive', view: 3, from: 1 }, 3), null);
  assert.match(messageProblem({ type: 'alive', view: -1, from: 1 }, 3) ?? 'ok', /view is not a count/);
  assert.match(messageProblem({ type: 'alive', view: 3, from: 3 }, 3) ?? 'ok', /from is not a replica id/);
  assert.match(messageProblem({ type: 'alive', view: '3', from: 1 }, 3) ?? 'ok', /view is not a count/);

  const { cluster, primary, view, backups, f, hear, ticks, status, tickPrimary } = isolatedPrimary(5);
  tickPrimary(ticks - 1);
  const before = cluster.effects[primary]!.length;
  const garbage = [
    ...backups.slice(0, f).map((from) => ({ type: 'alive', view: String(view), from })),
    { type: 'alive', view, from: 9 },
    { type: 'alive', view, from: primary },
  ] as unknown as Message[];
  for (const message of garbage) hear(message);
  const warnings = cluster.effects[primary]!.slice(before).filter((e) => e.type === 'log' && e.level === 'warn');
  assert.equal(warnings.length, garbage.length, 'each one logged');
  tickPrimary(1);
  assert.equal(status().status, 'view-change', 'none of them counted');
});
