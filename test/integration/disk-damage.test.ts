// Disk damage with real processes: a replica stopped with SIGKILL while the cluster is idle gets
// one byte of its data directory flipped, and is started again. Whatever the byte — in the last
// record of its newest log segment, in a record mid-log, in one copy of its view record, in its
// snapshot — it must come back whole (status normal, damaged: false). A damaged log or snapshot
// is not a torn write, so it is never cut silently (disk rule D6): the replica says what it found
// ('storage-damaged'), votes in nothing, and takes its log back from a primary (docs/storage.md).
// A damaged view record copy is rewritten from the other one. A replica whose whole disk is lost
// is formatted again as a replacement, and repairs the same way. The file ends by killing f replicas
// and reading every mailbox from the survivors, all of them repaired replicas: every acknowledged
// send must be there exactly once, in order (test/integration/history.ts).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Connector } from '../../lib/client/connector.js';
import { VERIFIER_ITERATIONS_MIN } from '../../lib/chat/limits.js';
import { settingsFrom } from '../../lib/replication/options.js';
import { snapshotFileName, snapshotOps, VIEW_FILES } from '../../lib/storage/data-dir.js';
import { scanRecords } from '../../lib/storage/records.js';
import { Prng } from '../sim/prng.js';
import { ROOT, TestCluster, waitFor } from './harness.js';
import { History, readAll } from './history.js';

const REPLICAS = 5;
const F = (REPLICAS - 1) / 2;
const PASSWORD = 'disk-damage-pw';
/** Senders of the rounds' load, each to RECIPIENT, in order. */
const SENDERS = ['ann', 'ben', 'cat'];
const RECIPIENT = 'rex';
/** Enough senders to reach a snapshot in seconds; they spread their sends over BULK_RECIPIENTS
 *  (a mailbox holds at most MAILBOX_MESSAGES_MAX, lib/chat/limits.ts). */
const BULK_SENDERS = Array.from({ length: 40 }, (_, i) => `bulk${i}`);
const BULK_RECIPIENTS = ['rox', 'roy', 'rue', 'rus'];
/** The ops at which a replica considers a snapshot: bin/server runs the core's defaults. */
const SNAPSHOT_EVERY_OPS = settingsFrom({ replica: 0, replicaCount: REPLICAS }).snapshotEveryOps;

/** The log events this file looks for: lib/storage's, and the beginning of the core's line once
 *  a repair is done (it goes on to name the replica; an earlier 'storage repair' line only says
 *  that one has begun). */
const EVENT = {
  damaged: 'storage-damaged',
  repaired: 'storage repair: log repaired from replica',
  viewCopyRepaired: 'view-record-repaired',
  tornTailCut: 'torn-tail-cut',
};

/** Which bytes to flip, drawn once from SEED (the draws are listed with each use below). */
const SEED = 1313;
const prng = new Prng(SEED);

/** A byte of a record, as an offset from the record's start. */
interface ByteInRecord {
  what: string;
  at: (record: RecordSpan) => number;
}

/** In the last record of the newest segment: one byte in each third of the header — with the
 *  12-byte header of records.ts, one of its length, one of its payload checksum and one of its
 *  header checksum (with SEED, header bytes 1, 4 and 11) — and body bytes near its start, in its
 *  middle and near its end (body bytes 3, length / 2 + 3 and length - 4). */
const headerDraws = [prng.float(), prng.float(), prng.float()];
const bodyDraws = { start: prng.int(0, 7), middle: prng.int(-4, 3), end: prng.int(0, 7) };
const LAST_RECORD_BYTES: ByteInRecord[] = [
  ...headerDraws.map((u, third) => ({ what: `header byte in third ${third + 1}`, at: (r: RecordSpan) => Math.floor(((third + u) * r.headerBytes) / 3) })),
  { what: 'body byte near the start', at: (r) => r.headerBytes + bodyDraws.start },
  { what: 'body byte in the middle', at: (r) => r.headerBytes + Math.floor(r.bodyBytes / 2) + bodyDraws.middle },
  { what: 'body byte near the end', at: (r) => r.headerBytes + r.bodyBytes - 1 - bodyDraws.end },
];

/** In a record in the middle of the newest segment: one header byte (with SEED, byte 6: the
 *  payload checksum) and one body byte (94.7% of the way through it). */
const middleDraws = { header: prng.float(), body: prng.float() };
const MIDDLE_RECORD_BYTES: ByteInRecord[] = [
  { what: 'header byte', at: (r) => Math.floor(middleDraws.header * r.headerBytes) },
  { what: 'body byte', at: (r) => r.headerBytes + Math.floor(middleDraws.body * r.bodyBytes) },
];

/** One byte of one view record copy (with SEED, view-b.json, 73% of the way through it) and one
 *  of the newest snapshot (halfway through). */
const VIEW_COPY = { file: prng.pick(VIEW_FILES), at: prng.float() };
const SNAPSHOT_BYTE = prng.float();

/** A record of a segment, as the storage's own reader found it: never a hard-coded header size. */
interface RecordSpan {
  file: string;
  offset: number;
  headerBytes: number;
  bodyBytes: number;
}

/** One byte to flip, and what the replica must log about it when it starts again. */
interface Damage {
  file: string;
  offset: number;
  what: string;
  /** Where the record holding the byte starts: where the damage must be reported. */
  recordOffset?: number;
  /** 'log': the log or snapshot is damaged and must be repaired from a primary; 'view-copy':
   *  one view record copy is bad and is rewritten from the other. */
  expect: 'log' | 'view-copy';
}

let cluster: TestCluster;
const connectors: Connector[] = [];
const history = new History();
/** The round in which each replica was last damaged and repaired. */
const repairedInRound = new Map<number, number>();
let rounds = 0;
let senders: Connector[];

async function connected(): Promise<Connector> {
  const connector = new Connector({ servers: cluster.addresses, requestTimeoutMs: 1000, giveUpMs: 20_000, verifierIterations: VERIFIER_ITERATIONS_MIN });
  connectors.push(connector);
  await connector.connect();
  return connector;
}

async function created(name: string, connector: Connector): Promise<void> {
  const reply = await connector.createAccount(name, PASSWORD);
  assert.ok(reply.ok, `create ${name}: ${JSON.stringify(reply)}`);
}

async function loggedIn(name: string, connector: Connector): Promise<Connector> {
  const reply = await connector.login(name, PASSWORD);
  assert.ok(reply.ok, `login ${name}: ${JSON.stringify(reply)}`);
  return connector;
}

/** A new account, and a connector logged in as it. */
async function newSender(name: string): Promise<Connector> {
  const connector = await connected();
  await created(name, connector);
  return loggedIn(name, connector);
}

before(async () => {
  cluster = await TestCluster.start(REPLICAS);
  senders = await Promise.all(SENDERS.map(newSender));
  // Nobody logs in as a recipient before the end: a logged-in connector acknowledges the
  // messages pushed to it, which takes them out of the mailbox the end reads back.
  const admin = await connected();
  for (const name of [RECIPIENT, ...BULK_RECIPIENTS]) await created(name, admin);
  await sendLoad('before', 20);
  assert.equal(history.acknowledged, history.sends.length, 'with every replica up, every send is acknowledged');
});

after(async () => {
  await Promise.all(connectors.map((c) => c.close()));
  await cluster?.stop();
});

/** Each of SENDERS sends `count` numbered messages to RECIPIENT, one at a time. */
async function sendLoad(tag: string, count: number): Promise<void> {
  await Promise.all(senders.map(async (connector, i) => {
    for (let n = 0; n < count; n++) await history.send(connector, SENDERS[i]!, RECIPIENT, `${tag} ${SENDERS[i]} #${n}`);
  }));
}

function dataDir(id: number): string {
  return cluster.config.replicas[id]!.data;
}

/** The records of `id`'s newest segment, read with lib/storage's reader; it must read whole. */
function newestSegmentRecords(id: number): RecordSpan[] {
  const name = readdirSync(dataDir(id)).filter((n) => n.endsWith('.seg')).sort().at(-1);
  assert.ok(name, `replica ${id} has no log segment`);
  const file = join(dataDir(id), name);
  const bytes = readFileSync(file);
  const scan = scanRecords(bytes);
  assert.equal(scan.stop.kind, 'end', `replica ${id}'s ${name} should read whole before the flip; its reader stopped: ${JSON.stringify(scan.stop)}`);
  return scan.records.map((record, i) => {
    const end = scan.records[i + 1]?.offset ?? bytes.length;
    return { file, offset: record.offset, headerBytes: end - record.offset - record.payload.length, bodyBytes: record.payload.length };
  });
}

function flipByte(file: string, offset: number): void {
  const bytes = readFileSync(file);
  assert.ok(offset >= 0 && offset < bytes.length, `offset ${offset} is outside ${file} (${bytes.length} bytes)`);
  bytes[offset]! ^= 0xff;
  writeFileSync(file, bytes);
}

function logPath(id: number): string {
  return join(cluster.dir, `replica-${id}.log`);
}

function logSize(id: number): number {
  return statSync(logPath(id), { throwIfNoEntry: false })?.size ?? 0;
}

/** The lines of `id`'s log written after byte `since` whose event is, or begins with, `event`
 *  (lib/server/logger.ts quotes an event that holds a space). */
function eventLines(id: number, since: number, event: string): string[] {
  const lines = readFileSync(logPath(id)).subarray(since).toString('utf8').split('\n');
  return lines.filter((line) => line.includes(`event=${event} `) || line.endsWith(`event=${event}`) || line.includes(`event="${event}`));
}

function logTail(id: number, since: number): string {
  return readFileSync(logPath(id)).subarray(since).toString('utf8').split('\n').slice(-15).join('\n');
}

/** Waits until replica `id` reports itself whole: status normal, damaged: false. Fails at once,
 *  with its log, if it exits instead (a replica that refuses to start). */
async function waitWhole(id: number, since: number): Promise<void> {
  const slot = cluster.launcher.slots[id]!;
  await waitFor(`replica ${id} to report status normal and damaged: false`, () => {
    if (slot.process === null) assert.fail(`replica ${id} ${slot.exit} instead of repairing; its log:\n${logTail(id, since)}`);
    return slot.status?.status === 'normal' && slot.status.damaged === false ? true : undefined;
  }, 30_000, () => cluster.describe());
}

/** Kills `victim` while the cluster is idle, flips the byte `choose` names in its data directory,
 *  starts it again (with `load` running meanwhile if given) and checks that it repairs. */
async function damageAndRepair(victim: number, choose: () => Damage, load?: () => Promise<void>): Promise<void> {
  const round = ++rounds;
  const primary = await cluster.waitForPrimary();
  await cluster.waitForCatchUp([victim], (await cluster.freshStatus(primary)).commit);
  await cluster.kill(victim);
  const damage = choose();
  flipByte(damage.file, damage.offset);
  const where = `round ${round}: replica ${victim}, ${damage.what}, ${basename(damage.file)} byte ${damage.offset}`;
  const since = logSize(victim);
  const sending = load?.();
  cluster.launcher.start(victim);
  await waitWhole(victim, since);
  await sending;
  await expectRepairLogged(victim, since, damage, where);
  repairedInRound.set(victim, round);
  const leader = await cluster.waitForPrimary();
  await cluster.waitForCatchUp([victim], (await cluster.freshStatus(leader)).commit);
}

/** The victim's log since its restart: the damage named and repaired — never cut as a torn tail,
 *  which would claim that nobody had been told those bytes were durable. */
async function expectRepairLogged(id: number, since: number, damage: Damage, where: string): Promise<void> {
  const expected = damage.expect === 'log' ? [EVENT.damaged, EVENT.repaired] : [EVENT.viewCopyRepaired];
  for (const event of expected) {
    await waitFor(`${where}: a '${event}' line in the log`, () => {
      assert.deepEqual(eventLines(id, since, EVENT.tornTailCut), [], `${where}: damage to fsynced bytes must never be cut as a torn tail`);
      return eventLines(id, since, event).length > 0 ? true : undefined;
    }, 10_000, () => logTail(id, since));
  }
  const named = eventLines(id, since, expected[0]!);
  const place = damage.recordOffset === undefined ? basename(damage.file) : `${basename(damage.file)} offset=${damage.recordOffset}`;
  const names = (line: string) => line.includes(basename(damage.file)) && (damage.recordOffset === undefined || new RegExp(`offset=${damage.recordOffset}( |$)`).test(line));
  assert.ok(named.some(names), `${where}: the '${expected[0]}' line should name ${place}:\n${named.join('\n')}`);
  if (damage.expect === 'view-copy') assert.deepEqual(eventLines(id, since, EVENT.damaged), [], `${where}: one bad view copy leaves the log whole`);
}

/** The next victim among the replicas other than the primary, in turn. */
let backupTurn = 0;
async function nextBackup(): Promise<number> {
  const primary = await cluster.waitForPrimary();
  const backups = Array.from({ length: REPLICAS }, (_, id) => id).filter((id) => id !== primary);
  return backups[backupTurn++ % backups.length]!;
}

test('a flipped byte in the last record of the newest segment — each header field, body start, middle and end — is damage, repaired from a primary', async () => {
  for (const [i, sample] of LAST_RECORD_BYTES.entries()) {
    // The second victim is the primary itself; the first, third and fifth repair while SENDERS send.
    const victim = i === 1 ? await cluster.waitForPrimary() : await nextBackup();
    await damageAndRepair(victim, () => {
      const last = newestSegmentRecords(victim).at(-1)!;
      return { file: last.file, offset: last.offset + sample.at(last), recordOffset: last.offset, what: `last record, ${sample.what}`, expect: 'log' };
    }, i % 2 === 0 ? () => sendLoad(`last-${i}`, 5) : undefined);
  }
});

test('a flipped byte in one view record copy is repaired from the other copy', async () => {
  const victim = await nextBackup();
  await damageAndRepair(victim, () => {
    const file = join(dataDir(victim), VIEW_COPY.file);
    assert.ok(existsSync(file), `replica ${victim} should keep its view record in two copies, but has no ${VIEW_COPY.file}`);
    return { file, offset: Math.floor(VIEW_COPY.at * statSync(file).size), what: 'a view record copy', expect: 'view-copy' };
  });
});

test('a flipped byte in a record in the middle of the log, valid records after it, is damage, repaired from a primary', async () => {
  for (const [i, sample] of MIDDLE_RECORD_BYTES.entries()) {
    const victim = await nextBackup();
    await damageAndRepair(victim, () => {
      const records = newestSegmentRecords(victim);
      assert.ok(records.length >= 3, `replica ${victim}'s newest segment has ${records.length} records; a middle one needs 3`);
      const middle = records[Math.floor(records.length / 2)]!;
      return { file: middle.file, offset: middle.offset + sample.at(middle), recordOffset: middle.offset, what: `middle record, ${sample.what}`, expect: 'log' };
    }, i === 0 ? () => sendLoad(`middle-${i}`, 5) : undefined);
  }
});

test('a flipped byte in the newest snapshot is damage: snapshot and log dropped, repaired from a primary', async () => {
  const victim = await nextBackup();
  await sendBulkPast(SNAPSHOT_EVERY_OPS);
  const snapshot = await waitFor(`replica ${victim} to write its snapshot at op ${SNAPSHOT_EVERY_OPS}`, () => snapshotOps(readdirSync(dataDir(victim))).find((op) => op >= SNAPSHOT_EVERY_OPS), 20_000);
  await damageAndRepair(victim, () => {
    const file = join(dataDir(victim), snapshotFileName(snapshot));
    return { file, offset: Math.floor(SNAPSHOT_BYTE * statSync(file).size), what: 'the newest snapshot', expect: 'log' };
  }, () => sendLoad('snapshot', 5));
});

test('a replica whose whole disk is lost is formatted again as a replacement (bin/server --format-replacement): it starts damaged and repairs from a primary', async () => {
  const round = ++rounds;
  const victim = await nextBackup();
  const primary = await cluster.waitForPrimary();
  await cluster.waitForCatchUp([victim], (await cluster.freshStatus(primary)).commit);
  await cluster.kill(victim);
  rmSync(dataDir(victim), { recursive: true, force: true });
  const format = spawnSync(join(ROOT, 'bin/server'), ['--config', cluster.configPath, '--id', String(victim), '--format-replacement'], { encoding: 'utf8' });
  assert.equal(format.status, 0, `bin/server --format-replacement failed: ${format.stderr}`);
  assert.match(format.stdout, /a replacement/);
  const since = logSize(victim);
  const sending = sendLoad('replaced', 5);
  cluster.launcher.start(victim);
  await waitWhole(victim, since);
  await sending;
  await waitFor(`round ${round}: a '${EVENT.repaired}' line in replica ${victim}'s log`, () => (eventLines(victim, since, EVENT.repaired).length > 0 ? true : undefined), 10_000, () => logTail(victim, since));
  repairedInRound.set(victim, round);
  const leader = await cluster.waitForPrimary();
  await cluster.waitForCatchUp([victim], (await cluster.freshStatus(leader)).commit);
});

test(`after the repairs, kill f = ${F} other replicas: the repaired survivors hold every acknowledged send, once, in order`, async () => {
  const oldestFirst = Array.from({ length: REPLICAS }, (_, id) => id).sort((a, b) => (repairedInRound.get(a) ?? 0) - (repairedInRound.get(b) ?? 0));
  const killed = oldestFirst.slice(0, F);
  const survivors = oldestFirst.slice(F);
  assert.ok(survivors.every((id) => repairedInRound.has(id)), `every survivor was damaged and repaired (survivors ${survivors}, rounds ${JSON.stringify([...repairedInRound])})`);
  await Promise.all(killed.map((id) => cluster.kill(id)));
  await cluster.waitForPrimary();
  for (const recipient of [RECIPIENT, ...BULK_RECIPIENTS]) {
    const reader = await loggedIn(recipient, await connected());
    history.check(recipient, await readAll(reader));
  }
  assert.equal(history.acknowledged, history.sends.length, 'nothing was sent with more than one replica down: every send was acknowledged');
});

/** BULK_SENDERS send to BULK_RECIPIENTS until the cluster has committed past `op`. */
async function sendBulkPast(op: number): Promise<void> {
  const bulk = await Promise.all(BULK_SENDERS.map(newSender));
  const primary = await cluster.waitForPrimary();
  const needed = op - (await cluster.freshStatus(primary)).commit;
  const each = Math.ceil(needed / bulk.length) + 1;
  await Promise.all(bulk.map(async (connector, i) => {
    const to = BULK_RECIPIENTS[i % BULK_RECIPIENTS.length]!;
    for (let n = 0; n < each; n++) await history.send(connector, BULK_SENDERS[i]!, to, `bulk ${BULK_SENDERS[i]} #${n}`);
  }));
}
