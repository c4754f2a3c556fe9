// Client failover with real processes (docs/architecture.md, "Client failover"): five replicas,
// clients that learn the cluster from one address, follow the new primary's announcement, and
// leave a primary that has lost its majority. Each fault ends with a history check
// (test/integration/history.ts): every acknowledged send present exactly once, in order.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestCluster, spawnClient, waitFor } from './harness.js';
import { History, readAll } from './history.js';
import { Connector } from '../../lib/client/connector.js';
import { VERIFIER_ITERATIONS_MIN } from '../../lib/chat/limits.js';
import type { StoredMessage } from '../../lib/chat/types.js';

const REPLICAS = 5;
const PASSWORD = 'failover-test-pw';
/** Idle clients in the announcement test, spread over accounts (each account's sessions are capped). */
const IDLE_CLIENTS = 12;
const IDLE_ACCOUNTS = ['ida', 'ivo', 'ira'];

let cluster: TestCluster;
const connectors: Connector[] = [];

function connector(servers: string[]): Connector {
  const made = new Connector({ servers, giveUpMs: 20_000, verifierIterations: VERIFIER_ITERATIONS_MIN });
  connectors.push(made);
  return made;
}

async function loggedIn(name: string, servers = cluster.addresses): Promise<Connector> {
  const made = connector(servers);
  const reply = await made.login(name, PASSWORD);
  assert.ok(reply.ok, `login ${name}: ${JSON.stringify(reply)}`);
  return made;
}

before(async () => {
  cluster = await TestCluster.start(REPLICAS);
  const admin = connector(cluster.addresses);
  for (const name of ['sam', 'rex', 'lin', ...IDLE_ACCOUNTS]) {
    const reply = await admin.createAccount(name, PASSWORD);
    assert.ok(reply.ok, `create ${name}: ${JSON.stringify(reply)}`);
  }
});

after(async () => {
  await Promise.all(connectors.map((c) => c.close()));
  await cluster?.stop();
});

/** Connections the running replicas other than `except` have accepted since they started, summed. */
async function acceptedSoFar(except: number): Promise<number> {
  const others = cluster.statuses().flatMap((s) => (s === null || s.replica === except ? [] : [s.replica]));
  const reports = await Promise.all(others.map((id) => cluster.freshStatus(id)));
  return reports.reduce((sum, report) => sum + report.accepted, 0);
}

test('the REPL given one address learns the cluster, and survives the kill -9 of that replica', async () => {
  const primary = await cluster.waitForPrimary();
  const address = cluster.addresses[primary]!;
  const child = spawnClient([address]);
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk));
  const shows = (text: string, timeoutMs = 20_000) => waitFor(`the REPL to print ${JSON.stringify(text)}`, () => (output.includes(text) ? true : undefined), timeoutMs, () => output);
  try {
    child.stdin.write(`login sam\n${PASSWORD}\nsend rex before the kill\nstatus\n`);
    await shows('sent #');
    await shows('replicas:');
    const statusLine = output.split('\n').find((line) => line.startsWith('replicas:'))!;
    for (const member of cluster.addresses) assert.ok(statusLine.includes(member), `status lists ${member}: ${statusLine}`);
    await cluster.kill(primary);
    child.stdin.write('send rex after the kill\n');
    // Before clients learned the cluster, this printed nothing for 30 s and then UNAVAILABLE.
    await waitFor('the send after the kill', () => (/sent #\d+ to rex[\s\S]*sent #\d+ to rex/.test(output) ? true : undefined), 20_000, () => output);
    assert.doesNotMatch(output, /UNAVAILABLE/);
  } finally {
    child.kill('SIGKILL');
    await cluster.restart(primary);
  }
  const reader = await loggedIn('rex');
  const texts = (await readAll(reader)).map((m) => m.text);
  assert.deepEqual(texts.filter((t) => t.endsWith('the kill')), ['before the kill', 'after the kill'], 'each send is there once');
  await reader.close();
});

test('a partitioned primary steps down and its clients move to the new primary before the partition heals', async () => {
  const history = new History();
  const old = await cluster.waitForPrimary();
  const listener = await loggedIn('lin');
  const sender = await loggedIn('sam');
  assert.equal(listener.status().replica, old);
  // The listener acks what is pushed to it, so its mailbox is what was pushed and what is unread.
  const pushed: StoredMessage[] = [];
  listener.on('push', (message) => pushed.push(message));
  await history.send(sender, 'sam', 'lin', 'partition #0');
  cluster.launcher.setPartitioned(old, true);
  try {
    // Check-quorum: cut off from every other replica, the old primary leaves status normal by
    // itself, and hangs up on its clients; the idle listener follows the new primary there.
    await waitFor('the partitioned primary to step down', () => (cluster.statuses()[old]?.status !== 'normal' ? true : undefined), 20_000, () => cluster.describe());
    const next = await cluster.waitForPrimary({ not: old });
    await waitFor('the idle listener to move to the new primary', () => (listener.status().replica === next ? true : undefined), 20_000, () => JSON.stringify(listener.status()));
    for (let n = 1; n <= 5; n++) await history.send(sender, 'sam', 'lin', `partition #${n}`);
    assert.equal(history.acknowledged, history.sends.length, 'the sender moved too, and every send was acknowledged');
    await waitFor('the pushes to reach the listener while the old primary is still cut off', () => (pushed.some((m) => m.text === 'partition #5') ? true : undefined), 20_000, () => JSON.stringify(pushed));
    const log = readFileSync(join(cluster.dir, `replica-${old}.log`), 'utf8');
    assert.match(log, /stepping down/, 'the old primary says in its log why it stopped serving');
  } finally {
    cluster.launcher.setPartitioned(old, false);
  }
  history.check('lin', [...pushed, ...(await readAll(listener))]);
  await Promise.all([listener.close(), sender.close()]);
});

test('idle clients of a killed primary follow the announcement of the new one, without a connection storm', async () => {
  const primary = await cluster.waitForPrimary();
  const idle = await Promise.all(Array.from({ length: IDLE_CLIENTS }, (_, i) => loggedIn(IDLE_ACCOUNTS[i % IDLE_ACCOUNTS.length]!)));
  for (const client of idle) assert.equal(client.status().replica, primary);
  const before = await acceptedSoFar(primary);
  await cluster.kill(primary);
  try {
    const next = await cluster.waitForPrimary({ not: primary });
    await waitFor('every idle client to reach the new primary', () => (idle.every((c) => c.status().replica === next) ? true : undefined), 20_000, () => JSON.stringify(idle.map((c) => c.status().replica)));
    // Each client costs a connection to wait at a backup and one to the new primary; polling the
    // backups until one of them is primary would cost several.
    const dialled = (await acceptedSoFar(primary)) - before;
    assert.ok(dialled <= 3 * IDLE_CLIENTS, `${IDLE_CLIENTS} idle clients made ${dialled} connections to follow one failover`);
    // And they are really there: a message to each account reaches each of its sessions.
    const got = idle.map(() => [] as string[]);
    idle.forEach((client, i) => client.on('push', (message) => got[i]!.push(message.text)));
    const sender = await loggedIn('sam');
    for (const name of IDLE_ACCOUNTS) assert.ok((await sender.call({ kind: 'send', to: name, text: `after the failover, ${name}` })).ok);
    await waitFor('every idle session to receive its push', () => (got.every((texts) => texts.length > 0) ? true : undefined), 20_000, () => JSON.stringify(got));
    await sender.close();
  } finally {
    await Promise.all(idle.map((c) => c.close()));
    await cluster.restart(primary);
  }
});
