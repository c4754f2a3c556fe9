// Storage benchmark: what the disk and lib/storage can do on this machine. Not a test — it
// asserts nothing; it prints a table and a JSON line for the record.
//
//   node --import tsx test/bench/storage-bench.ts [directory] [--entries N]
//
// The directory (default: os.tmpdir()) should be on the disk the replicas will use: fsync cost
// is a property of the device. The open-time figures run with a warm page cache (the journal
// was just written), which is what a restarted process usually meets; a cold start after a
// reboot adds the device's read time for the bytes involved.

import { mkdtemp, open, readdir, readFile, rm, stat } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type { LogEntry, Snapshot } from '../../lib/replication/types.js';
import { RECORD_HEADER_BYTES, scanRecords } from '../../lib/storage/records.js';
import { formatDataDir, ReplicaStore, type StoreIdentity } from '../../lib/storage/replica-store.js';

type Command = { kind: 'send'; to: string; text: string; at: number; session: string };

const IDENTITY: StoreIdentity = { cluster: 'bench', replica: 0 };
const ENTRY_BYTES_TARGET = 250;

const { values, positionals } = parseArgs({ allowPositionals: true, options: { entries: { type: 'string', default: '1000000' } } });
const BASE = positionals[0] ?? os.tmpdir();
const ENTRY_COUNT = Number(values.entries);

/** A send as the primary logs it, padded so that its JSON is about ENTRY_BYTES_TARGET bytes. */
function makeEntry(op: number, textLength: number): LogEntry<Command> {
  return {
    op, view: 3, clientId: 'c0ffee00c0ffee00c0ffee00c0ffee00', owner: 'ab'.repeat(32), requestNumber: op, at: 1_700_000_000_000 + op,
    command: { kind: 'send', to: 'bob', text: 'm'.repeat(textLength), at: 1_700_000_000_000 + op, session: 'ab'.repeat(16) },
  };
}
const TEXT_LENGTH = Math.max(1, ENTRY_BYTES_TARGET - JSON.stringify(makeEntry(500_000, 0)).length);
const entry = (op: number) => makeEntry(op, TEXT_LENGTH);

const msSince = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e6;

async function freshStoreDir(name: string): Promise<string> {
  const dir = path.join(await mkdtemp(path.join(BASE, 'chatplus-bench-')), name);
  await formatDataDir(dir, IDENTITY);
  return dir;
}

/** Opens a store whose onDurable resolves waiters, as a driver would use it. */
async function openStore(dir: string) {
  let durable = 0;
  let steps = 0;
  let waiter: { seq: number; done: () => void } | null = null;
  const { store, journal } = await ReplicaStore.open<Command, unknown>(dir, IDENTITY, {
    onDurable: (seq) => {
      durable = seq;
      steps++;
      if (waiter && waiter.seq <= seq) waiter.done();
    },
    onFailure: (error) => {
      throw error;
    },
  });
  const durableUpTo = (seq: number) => (durable >= seq ? Promise.resolve() : new Promise<void>((done) => (waiter = { seq, done })));
  // Each onDurable call ends one writer step: for log records, one write and one fdatasync.
  return { store, journal, durableUpTo, steps: () => steps };
}

async function removeBenchDir(dir: string): Promise<void> {
  await rm(path.dirname(dir), { recursive: true, force: true });
}

/** The floor: fdatasync after a small append, straight on node:fs. */
async function fsyncLatency(samples: number): Promise<{ p50_ms: number; p99_ms: number; mean_ms: number }> {
  const dir = await mkdtemp(path.join(BASE, 'chatplus-bench-'));
  const file = await open(path.join(dir, 'probe'), 'w');
  const record = Buffer.alloc(ENTRY_BYTES_TARGET + 8, 1);
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const start = process.hrtime.bigint();
    await file.write(record, 0, record.length, i * record.length);
    await file.datasync();
    times.push(msSince(start));
  }
  await file.close();
  await rm(dir, { recursive: true, force: true });
  times.sort((a, b) => a - b);
  return { p50_ms: times[Math.floor(samples / 2)]!, p99_ms: times[Math.floor(samples * 0.99)]!, mean_ms: times.reduce((a, b) => a + b) / samples };
}

/** Closed loop: persist `batch` one-entry records, wait until durable, repeat. */
async function batchedThroughput(batch: number, durationMs: number): Promise<{ batch: number; records_per_s: number; batches_per_s: number }> {
  const dir = await freshStoreDir('replica');
  const { store, durableUpTo } = await openStore(dir);
  let seq = 0;
  const start = process.hrtime.bigint();
  while (msSince(start) < durationMs) {
    for (let i = 0; i < batch; i++) store.persist(++seq, { kind: 'entries', entries: [entry(seq)] });
    await durableUpTo(seq);
  }
  const seconds = msSince(start) / 1000;
  await store.close();
  await removeBenchDir(dir);
  return { batch, records_per_s: Math.round(seq / seconds), batches_per_s: Math.round(seq / batch / seconds) };
}

/** Open loop: persist `total` one-entry records, `perTurn` per event-loop turn, as fast as the
 *  store takes them; group commit decides the batch sizes. */
async function saturatedThroughput(total: number, perTurn: number): Promise<{ records_per_s: number; fsyncs: number }> {
  const dir = await freshStoreDir('replica');
  const { store, durableUpTo, steps } = await openStore(dir);
  const start = process.hrtime.bigint();
  for (let seq = 1; seq <= total; seq++) {
    store.persist(seq, { kind: 'entries', entries: [entry(seq)] });
    if (seq % perTurn === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  await durableUpTo(total);
  const seconds = msSince(start) / 1000;
  await store.close();
  await removeBenchDir(dir);
  return { records_per_s: Math.round(total / seconds), fsyncs: steps() };
}

/** Writes `count` entries (`perRecord` per journal record), then times opening the store. The
 *  floor beside it is JSON.parse alone over the same payloads, already in memory as strings:
 *  what any JSON journal must pay; the rest of open_ms is reading, checksums and checks. */
async function journalOpenTime(count: number, perRecord: number): Promise<Record<string, number>> {
  const dir = await freshStoreDir('replica');
  const { store, durableUpTo } = await openStore(dir);
  const writeStart = process.hrtime.bigint();
  let seq = 0;
  for (let op = 1; op <= count; op += perRecord) {
    const batch: LogEntry<Command>[] = [];
    for (let i = op; i < Math.min(op + perRecord, count + 1); i++) batch.push(entry(i));
    store.persist(++seq, { kind: 'entries', entries: batch });
    if (seq % 64 === 0) await durableUpTo(seq);
  }
  await durableUpTo(seq);
  const writeMs = msSince(writeStart);
  await store.close();
  const bytes = await directoryBytes(dir);
  const openStart = process.hrtime.bigint();
  const reopened = await openStore(dir);
  const openMs = msSince(openStart);
  const loaded = reopened.journal.log.reduce((n, record) => n + record.entries.length, 0);
  if (loaded !== count) throw new Error(`loaded ${loaded} entries, wrote ${count}`);
  await reopened.store.close();
  const parseFloorMs = await parseFloor(dir);
  await removeBenchDir(dir);
  return { entries: count, journal_mb: round(bytes / 1048576), write_ms: Math.round(writeMs), open_ms: Math.round(openMs), parse_floor_ms: Math.round(parseFloorMs) };
}

/** Time JSON.parse takes over every record payload in `dir`, the bytes already decoded. */
async function parseFloor(dir: string): Promise<number> {
  const texts: string[] = [];
  for (const name of (await readdir(dir)).sort()) {
    const data = await readFile(path.join(dir, name));
    if (name.endsWith('.seg')) for (const record of scanRecords(data).records) texts.push(record.payload.toString());
    else if (name.startsWith('snapshot-')) texts.push(data.subarray(RECORD_HEADER_BYTES).toString());
  }
  const start = process.hrtime.bigint();
  for (const text of texts) JSON.parse(text);
  return msSince(start);
}

/** A snapshot holding `count` stored messages of about 250 bytes: write time, file size, and
 *  the time to open a store whose journal is just that snapshot. */
async function snapshotTimes(count: number): Promise<Record<string, number>> {
  const users = 1000;
  const mailboxes: Record<string, unknown[]> = {};
  for (let i = 0; i < count; i++) {
    const to = `user${i % users}`;
    (mailboxes[to] ??= []).push({ id: i + 1, from: `user${(i * 7) % users}`, to, text: 'm'.repeat(TEXT_LENGTH + 40), at: 1_700_000_000_000 + i });
  }
  const snapshot: Snapshot<unknown> = { op: count, view: 3, clientTable: {}, machine: { mailboxes, nextId: count + 1 } };
  const dir = await freshStoreDir('replica');
  const { store, durableUpTo } = await openStore(dir);
  const writeStart = process.hrtime.bigint();
  store.persist(1, { kind: 'snapshot', snapshot, coveredByLog: false });
  await durableUpTo(1);
  const writeMs = msSince(writeStart);
  await store.close();
  const bytes = await directoryBytes(dir);
  const openStart = process.hrtime.bigint();
  const reopened = await openStore(dir);
  const openMs = msSince(openStart);
  await reopened.store.close();
  const parseFloorMs = await parseFloor(dir);
  await removeBenchDir(dir);
  return { messages: count, snapshot_mb: round(bytes / 1048576), write_ms: Math.round(writeMs), open_ms: Math.round(openMs), parse_floor_ms: Math.round(parseFloorMs) };
}

async function directoryBytes(dir: string): Promise<number> {
  let bytes = 0;
  for (const name of await readdir(dir)) bytes += (await stat(path.join(dir, name))).size;
  return bytes;
}

const round = (n: number) => Math.round(n * 10) / 10;

async function main(): Promise<void> {
  console.log(`storage bench in ${BASE} (${os.cpus().length} CPUs, node ${process.version}); entries of ${JSON.stringify(entry(500_000)).length} bytes as JSON`);
  const results: Record<string, unknown> = {};
  console.log(`load average ${os.loadavg().map((n) => n.toFixed(1)).join(' ')} (benchmarks on a busy machine are slow and noisy)`);
  results.fdatasync = await fsyncLatency(300);
  console.table({ 'fdatasync after a small append': results.fdatasync });
  results.batched = [];
  for (const batch of [1, 10, 100]) (results.batched as unknown[]).push(await batchedThroughput(batch, 2000));
  console.table(results.batched);
  results.saturated = await saturatedThroughput(200_000, 100);
  console.table({ 'open loop, 100 persists per turn': results.saturated });
  results.open = await journalOpenTime(ENTRY_COUNT, 100);
  console.table({ 'journal of entries': results.open });
  results.snapshot = await snapshotTimes(ENTRY_COUNT);
  console.table({ snapshot: results.snapshot });
  console.log(JSON.stringify(results));
}

await main();
