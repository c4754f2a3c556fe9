// Fault tests with real processes: five replicas, clients sending while replicas are killed with
// SIGKILL, partitioned and restarted. Each test ends with a history check (test/integration/history.ts):
// every acknowledged send present exactly once, in each sender's order.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestCluster, waitFor } from './harness.js';
import { History, readAll } from './history.js';
import { Connector } from '../../lib/client/connector.js';

const REPLICAS = 5;
const SENDERS = ['ann', 'ben', 'cat'];
const RECIPIENT = 'rex';
const LISTENER = 'lin';
const PASSWORD = 'fault-test-pw';

let cluster: TestCluster;
const connectors: Connector[] = [];

async function client(name: string): Promise<Connector> {
  const connector = new Connector({ servers: cluster.addresses, requestTimeoutMs: 1000, giveUpMs: 20_000 });
  connectors.push(connector);
  await connector.connect();
  const reply = await connector.login(name, PASSWORD);
  assert.ok(reply.ok, `login ${name}: ${JSON.stringify(reply)}`);
  return connector;
}

before(async () => {
  cluster = await TestCluster.start(REPLICAS);
  const admin = new Connector({ servers: cluster.addresses });
  connectors.push(admin);
  await admin.connect();
  for (const name of [...SENDERS, RECIPIENT, LISTENER]) {
    const reply = await admin.createAccount(name, PASSWORD);
    assert.ok(reply.ok, `create ${name}: ${JSON.stringify(reply)}`);
  }
});

after(async () => {
  await Promise.all(connectors.map((c) => c.close()));
  await cluster?.stop();
});

/** Each sender sends `count` numbered messages to the recipient, one at a time, while `fault` runs. */
async function sendDuring(history: History, tag: string, count: number, fault: () => Promise<void>): Promise<void> {
  const senders = await Promise.all(SENDERS.map((name) => client(name)));
  const load = senders.map(async (connector, i) => {
    for (let n = 0; n < count; n++) await history.send(connector, SENDERS[i]!, RECIPIENT, `${tag} ${SENDERS[i]} #${n}`);
  });
  await fault();
  await Promise.all(load);
  await Promise.all(senders.map((c) => c.close()));
}

async function checkMailbox(history: History): Promise<void> {
  const reader = await client(RECIPIENT);
  history.check(RECIPIENT, await readAll(reader));
  await reader.close();
}

test('kill -9 the primary while three clients send: every acknowledged send is there exactly once, in order', async () => {
  const history = new History();
  const primary = await cluster.waitForPrimary();
  await sendDuring(history, 'kill-primary', 40, async () => {
    await waitForAcks(history, 15);
    await cluster.kill(primary);
    await cluster.waitForPrimary({ not: primary });
  });
  assert.ok(history.acknowledged >= 100, `most sends were acknowledged (${history.acknowledged} of ${history.sends.length})`);
  await checkMailbox(history);
  await cluster.restart(primary);
});

test('kill -9 two replicas, primary included: three keep serving; both restart and catch up', async () => {
  const history = new History();
  const primary = await cluster.waitForPrimary();
  const backup = (primary + 1) % REPLICAS;
  await sendDuring(history, 'kill-two', 20, async () => {
    await waitForAcks(history, 10);
    await Promise.all([cluster.kill(primary), cluster.kill(backup)]);
    await cluster.waitForPrimary();
  });
  assert.equal(history.acknowledged, history.sends.length, 'with three of five up, every send is acknowledged');
  await checkMailbox(history);
  // A fresh report: the launcher's copy may predate the last sends, which would make the
  // catch-up wait below pass before the restarted replicas learned anything.
  const survivors = cluster.statuses().flatMap((s) => (s === null ? [] : [s.replica]));
  const commit = Math.max(...(await Promise.all(survivors.map((id) => cluster.freshStatus(id)))).map((s) => s.commit));
  await cluster.restart(primary);
  await cluster.restart(backup);
  await cluster.waitForCatchUp([primary, backup], commit);
});

test('isolate the primary: it stops acknowledging, the majority elects another, and after healing it follows', async () => {
  const history = new History();
  const old = await cluster.waitForPrimary();
  const oldView = cluster.statuses()[old]!.view;
  cluster.launcher.setPartitioned(old, true);
  const next = await cluster.waitForPrimary({ not: old });
  assert.notEqual(next, old);
  assert.ok(cluster.statuses()[next]!.view > oldView, 'the new primary leads a later view');
  await sendDuring(history, 'partition', 10, async () => {});
  assert.equal(history.acknowledged, history.sends.length);
  // Fresh reports, taken after the sends: the isolated replica committed none of them, and the
  // commit number it must catch up to includes all of them (a stale report could let the wait
  // below return before the old primary heard of the new view).
  const [isolated, leader] = await Promise.all([cluster.freshStatus(old), cluster.freshStatus(next)]);
  assert.ok(isolated.commit < leader.commit, `the isolated primary committed nothing new (${isolated.commit}) while the majority went on (${leader.commit})`);
  cluster.launcher.setPartitioned(old, false);
  await cluster.waitForCatchUp([old], leader.commit);
  // It has left its old view for the majority's. (On a loaded machine a later view change may
  // legitimately make it primary again — but only of a view whose number makes it the primary.)
  const healed = cluster.statuses()[old]!;
  assert.ok(healed.view > oldView, `the old primary moved on from view ${oldView} (now ${healed.view})`);
  assert.equal(healed.isPrimary, healed.view % REPLICAS === old, 'it acts as primary only of a view that is its own');
  await checkMailbox(history);
});

test('a client idle on a deposed primary is moved to the new one and keeps receiving pushes', async () => {
  const old = await cluster.waitForPrimary();
  const listener = await client(LISTENER);
  assert.equal(listener.status().replica, old);
  const pushed: string[] = [];
  listener.on('push', (message) => pushed.push(message.text));
  cluster.launcher.setPartitioned(old, true);
  const next = await cluster.waitForPrimary({ not: old });
  cluster.launcher.setPartitioned(old, false);
  await waitFor('the old primary to learn of the new view', () => (cluster.statuses()[old]?.isPrimary === false ? true : undefined), 20_000, () => cluster.describe());
  const sender = await client(SENDERS[0]!);
  assert.ok((await sender.call({ kind: 'send', to: LISTENER, text: 'after the view change' })).ok);
  await waitFor('the push to reach the client that was idle on the old primary', () => (pushed.includes('after the view change') ? true : undefined), 20_000, () => `${JSON.stringify(listener.status())} pushed=${JSON.stringify(pushed)}`);
  assert.equal(listener.status().replica, next);
  await Promise.all([listener.close(), sender.close()]);
});

test('stop all five with SIGKILL and restart: everything acknowledged is there', async () => {
  const history = new History();
  await sendDuring(history, 'full-restart', 10, async () => {});
  assert.equal(history.acknowledged, history.sends.length);
  await Promise.all(Array.from({ length: REPLICAS }, (_, id) => cluster.kill(id)));
  for (let id = 0; id < REPLICAS; id++) await cluster.restart(id);
  await cluster.waitForPrimary();
  await checkMailbox(history);
});

async function waitForAcks(history: History, count: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (history.acknowledged < count) {
    if (Date.now() > deadline) throw new Error(`only ${history.acknowledged} sends acknowledged before the fault`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
