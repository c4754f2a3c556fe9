import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, unlink, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';
import { readFileAtomic, writeFileAtomic } from '../../../lib/storage/atomic-file.js';
import { crc32 } from '../../../lib/storage/crc32.js';
import { encodeRecord, scanRecords } from '../../../lib/storage/records.js';
import { nodeFs } from '../../../lib/storage/storage-fs.js';
import { formatDataDir, ReplicaStore, StorageError, type StoreIdentity } from '../../../lib/storage/replica-store.js';
import { segmentFileName } from '../../../lib/storage/segment-log.js';
import { entries, notOwnerOnly, Recorder, systemError, tempDir, TestFs, withoutUmask } from './helpers.js';
import { formattedDir, IDENTITY, type Journaled, logOps, openStore, rejectsWith, snapshotAt, writeJournal } from './store-helpers.js';

// --- format and open (disk rule D7) ------------------------------------------------------------

test('a freshly formatted directory opens with an empty journal', async (t) => {
  const { store, journal } = await openStore(await formattedDir(t));
  t.after(() => store.close());
  assert.deepEqual(journal, { view: null, snapshot: null, log: [] });
});

test('format creates missing parent directories and refuses a directory that holds anything', async (t) => {
  const root = await tempDir(t);
  const deep = path.join(root, 'a', 'b', 'replica');
  await formatDataDir(deep, IDENTITY);
  await assert.rejects(formatDataDir(deep, IDENTITY), rejectsWith('IO', 'not empty', deep));
  const other = path.join(root, 'other');
  await mkdir(other);
  await writeFile(path.join(other, 'notes.txt'), 'hello');
  await assert.rejects(formatDataDir(other, IDENTITY), rejectsWith('IO', 'not empty', 'notes.txt'));
});

test('a format interrupted before its rename can be run again; open still calls it unformatted', async (t) => {
  const dir = path.join(await tempDir(t), 'replica');
  await mkdir(dir);
  await writeFile(path.join(dir, 'identity.json.tmp'), 'half-written');
  await assert.rejects(openStore(dir), rejectsWith('NOT_FORMATTED', 'identity.json'));
  await formatDataDir(dir, IDENTITY);
  const { store } = await openStore(dir);
  await store.close();
});

test('temp files left by interrupted atomic writes are removed at open', async (t) => {
  const dir = await formattedDir(t);
  await writeJournal(dir, [{ kind: 'view', view: 1, logView: 1, damaged: false }]);
  await writeFile(path.join(dir, 'view-a.json.tmp'), 'partial');
  await writeFile(path.join(dir, 'snapshot-000000000009.json.tmp'), 'partial');
  const { store, journal } = await openStore(dir);
  t.after(() => store.close());
  assert.deepEqual(journal.view, { view: 1, logView: 1, damaged: false });
  assert.deepEqual((await readdir(dir)).sort(), ['identity.json', segmentFileName(1), 'view-a.json', 'view-b.json']);
});

test('open refuses a missing, an empty, and an unformatted directory: NOT_FORMATTED', async (t) => {
  const root = await tempDir(t);
  await assert.rejects(openStore(path.join(root, 'missing')), rejectsWith('NOT_FORMATTED', 'does not exist'));
  await mkdir(path.join(root, 'empty'));
  await assert.rejects(openStore(path.join(root, 'empty')), rejectsWith('NOT_FORMATTED', 'is empty'));
  await mkdir(path.join(root, 'stray'));
  await writeFile(path.join(root, 'stray', segmentFileName(1)), '');
  await assert.rejects(openStore(path.join(root, 'stray')), rejectsWith('NOT_FORMATTED', 'identity.json'));
});

test("open refuses another replica's or another cluster's directory: WRONG_REPLICA", async (t) => {
  const dir = await formattedDir(t);
  const open = (identity: StoreIdentity) => ReplicaStore.open(dir, identity, new Recorder().options);
  await assert.rejects(open({ cluster: 'test', replica: 3 }), rejectsWith('WRONG_REPLICA', 'replica 2', 'replica 3'));
  await assert.rejects(open({ cluster: 'prod', replica: 2 }), rejectsWith('WRONG_REPLICA', '"test"', '"prod"'));
});

test('format writes the data format; open refuses an older or newer one, saying which and what to do: WRONG_FORMAT', async (t) => {
  const dir = await formattedDir(t);
  const identityFile = path.join(dir, 'identity.json');
  assert.deepEqual(JSON.parse(String(await readFileAtomic(nodeFs, identityFile))), { format: 3, cluster: 'test', replica: 2 });
  const olderOrNewer: Array<[string, string[]]> = [
    ['{"cluster":"test","replica":2}', ['older Chat+ (format 1)', 'this one reads format 3', 'move it aside and format a new replica, or run the older version']],
    ['{"format":2,"cluster":"test","replica":2}', ['older Chat+ (format 2)']],
    ['{"format":4,"cluster":"test","replica":2}', ['newer Chat+ (format 4)', 'this one reads format 3', 'run the newer version']],
  ];
  for (const [identity, mentions] of olderOrNewer) {
    await writeFileAtomic(nodeFs, identityFile, [identity]);
    await assert.rejects(openStore(dir), rejectsWith('WRONG_FORMAT', dir, ...mentions), identity);
  }
  for (const format of ['"2"', '0', '2.5', 'null']) {
    await writeFileAtomic(nodeFs, identityFile, [`{"format":${format},"cluster":"test","replica":2}`]);
    await assert.rejects(openStore(dir), rejectsWith('CORRUPT', identityFile, 'format must be a positive integer'), format);
  }
  for (const identity of ['{"format":3,"cluster":"test"}', '[]']) {
    await writeFileAtomic(nodeFs, identityFile, [identity]);
    await assert.rejects(openStore(dir), rejectsWith('CORRUPT', identityFile, '{format, cluster, replica}'), identity);
  }
});

test('a directory of format 1 or 2, whose identity file has the older 8-byte header, is refused as older: WRONG_FORMAT', async (t) => {
  const dir = await formattedDir(t);
  const identityFile = path.join(dir, 'identity.json');
  /** A file as programs of formats 1 and 2 wrote it: [u32 BE length][u32 BE crc32][payload]. */
  const olderFramed = (text: string) => {
    const payload = Buffer.from(text);
    const header = Buffer.alloc(8);
    header.writeUInt32BE(payload.length, 0);
    header.writeUInt32BE(crc32(payload), 4);
    return Buffer.concat([header, payload]);
  };
  for (const [identity, format] of [['{"cluster":"test","replica":2}', 1], ['{"format":2,"cluster":"test","replica":2}', 2]] as const) {
    await writeFile(identityFile, olderFramed(identity));
    await assert.rejects(openStore(dir), rejectsWith('WRONG_FORMAT', `older Chat+ (format ${format})`, 'this one reads format 3'), identity);
  }
  // The older framing is only ever read to name an older format.
  await writeFile(identityFile, olderFramed('{"format":3,"cluster":"test","replica":2}'));
  await assert.rejects(openStore(dir), rejectsWith('CORRUPT', identityFile, 'bad-header'));
  const damaged = olderFramed('{"format":2,"cluster":"test","replica":2}');
  damaged[20]! ^= 1;
  await writeFile(identityFile, damaged);
  await assert.rejects(openStore(dir), rejectsWith('CORRUPT', identityFile, 'bad-header'));
});

test('every file the store creates is 0600 and every directory 0700, whatever the umask', async (t) => {
  withoutUmask(t);
  const root = await tempDir(t);
  const dir = path.join(root, 'data', 'replica-2'); // format creates `data` too
  await formatDataDir(dir, IDENTITY);
  const ownSnapshot: Journaled = { kind: 'snapshot', snapshot: snapshotAt(4), coveredByLog: true };
  const received: Journaled = { kind: 'snapshot', snapshot: snapshotAt(2), coveredByLog: false };
  await writeJournal(dir, [{ kind: 'entries', entries: entries(1, 2, 150) }, received, { kind: 'view', view: 1, logView: 1, damaged: false }, { kind: 'entries', entries: entries(3, 4, 150) }, ownSnapshot, { kind: 'entries', entries: entries(5, 6, 150) }], { segmentBytesMax: 500 });
  const names = await readdir(dir);
  for (const name of ['identity.json', 'view-a.json', 'view-b.json', 'snapshot-000000000004.json', segmentFileName(3)]) assert.ok(names.includes(name), `${name} in ${names.join(', ')}`);
  // An empty directory made beforehand (by an operator, say) is made owner-only by format.
  const premade = path.join(root, 'premade');
  await mkdir(premade, { mode: 0o755 });
  await formatDataDir(premade, IDENTITY);
  assert.deepEqual(await notOwnerOnly(root), []);
});

// --- the ordered stream ----------------------------------------------------------------------

test('mixed records come back at the next open: latest view, and log records in written order', async (t) => {
  const dir = await formattedDir(t);
  const records: Journaled[] = [
    { kind: 'entries', entries: entries(1, 3) },
    { kind: 'view', view: 1, logView: 1, damaged: false },
    { kind: 'entries', entries: entries(4, 5) },
    { kind: 'replace', after: 4, entries: entries(5, 6) },
    { kind: 'view', view: 3, logView: 2, damaged: false },
    { kind: 'entries', entries: [] },
  ];
  await writeJournal(dir, records);
  const { store, journal } = await openStore(dir);
  t.after(() => store.close());
  assert.deepEqual(journal.view, { view: 3, logView: 2, damaged: false });
  assert.equal(journal.snapshot, null);
  assert.deepEqual(journal.log, records.filter((r) => r.kind === 'entries' || r.kind === 'replace'));
});

test('onDurable reports seqs in order across record kinds, each only after every earlier record', async (t) => {
  const { store, recorder } = await openStore(await formattedDir(t));
  store.persist(10, { kind: 'entries', entries: entries(1, 1) });
  store.persist(11, { kind: 'view', view: 1, logView: 0, damaged: false });
  store.persist(15, { kind: 'entries', entries: entries(2, 2) });
  store.persist(16, { kind: 'snapshot', snapshot: snapshotAt(1), coveredByLog: false });
  store.persist(20, { kind: 'view', view: 2, logView: 1, damaged: false });
  store.persist(21, { kind: 'view', view: 2, logView: 2, damaged: false });
  store.persist(30, { kind: 'replace', after: 1, entries: entries(2, 3) });
  await recorder.durableUpTo(30);
  await store.close();
  assert.deepEqual(recorder.durable, [10, 11, 15, 16, 21, 30], 'consecutive views are written once, as the last of them');
  assert.throws(() => store.persist(29, { kind: 'entries', entries: [] }), /seqs must increase/);
});

test('a view record is not written until the entries before it are fsynced (D3)', async (t) => {
  const fs = new TestFs();
  const { store, recorder } = await openStore(await formattedDir(t), new Recorder(), { fs });
  t.after(() => store.close());
  fs.hold();
  const entriesSyncing = fs.nextDatasync();
  store.persist(1, { kind: 'entries', entries: entries(1, 2) });
  store.persist(2, { kind: 'view', view: 5, logView: 5, damaged: false });
  await entriesSyncing;
  assert.ok(!fs.operations.some((o) => o.file.startsWith('view-')), 'nothing of the view record yet');
  assert.deepEqual(recorder.durable, []);
  fs.release();
  await recorder.durableUpTo(2);
  const index = (op: string, file: string) => fs.operations.findIndex((o) => o.op === op && o.file === file);
  assert.ok(index('datasync', segmentFileName(1)) < index('open', 'view-a.json.tmp'));
  assert.deepEqual(recorder.durable, [1, 2]);
});

test('group commit: everything persisted while an fsync runs goes out in one write and one fsync', async (t) => {
  const fs = new TestFs();
  const dir = await formattedDir(t);
  const { store, recorder } = await openStore(dir, new Recorder(), { fs });
  fs.operations.length = 0;
  fs.hold();
  const firstSyncing = fs.nextDatasync();
  store.persist(1, { kind: 'entries', entries: entries(1, 1) });
  await firstSyncing;
  for (let op = 2; op <= 500; op++) store.persist(op, { kind: 'entries', entries: entries(op, op) });
  fs.release();
  await recorder.durableUpTo(500);
  assert.deepEqual(recorder.durable, [1, 500]);
  assert.equal(fs.count('write'), 2);
  assert.equal(fs.count('datasync'), 2);
  await store.close();
  // Each batch is one record on disk, holding all of its journal records.
  const scan = scanRecords(await readFile(path.join(dir, segmentFileName(1))));
  assert.deepEqual(scan.records.map((r) => (JSON.parse(r.payload.toString()) as unknown[]).length), [1, 499]);
});

test('persists made in one synchronous burst share a single fsync', async (t) => {
  const fs = new TestFs();
  const { store, recorder } = await openStore(await formattedDir(t), new Recorder(), { fs });
  t.after(() => store.close());
  const before = fs.count('datasync');
  for (let op = 1; op <= 50; op++) store.persist(op, { kind: 'entries', entries: entries(op, op) });
  await recorder.durableUpTo(50);
  assert.equal(fs.count('datasync') - before, 1);
  assert.deepEqual(recorder.durable, [50]);
});

test('close waits for queued records; persists after close are dropped, never reported', async (t) => {
  const dir = await formattedDir(t);
  const { store, recorder } = await openStore(dir);
  store.persist(1, { kind: 'entries', entries: entries(1, 5) });
  const closing = store.close();
  store.persist(2, { kind: 'entries', entries: entries(6, 6) });
  await closing;
  assert.deepEqual(recorder.durable, [1]);
  const reopened = await openStore(dir);
  t.after(() => reopened.store.close());
  assert.deepEqual(logOps(reopened.journal.log), [1, 2, 3, 4, 5]);
});

test('segments roll at the configured size and the journal reads back across them', async (t) => {
  const dir = await formattedDir(t);
  const records: Journaled[] = [];
  for (let op = 1; op <= 30; op++) records.push({ kind: 'entries', entries: entries(op, op, 100) });
  await writeJournal(dir, records, { segmentBytesMax: 1000 });
  const segments = (await readdir(dir)).filter((name) => name.endsWith('.seg'));
  assert.ok(segments.length >= 5, `${segments.length} segments`);
  const { store, journal } = await openStore(dir, new Recorder(), { segmentBytesMax: 1000 });
  t.after(() => store.close());
  assert.deepEqual(logOps(journal.log), records.flatMap((r) => (r.kind === 'entries' ? r.entries.map((e) => e.op) : [])));
});

// --- snapshots and compaction ------------------------------------------------------------------

test('a snapshot deletes the segments it covers; reopening gives the snapshot and later records only', async (t) => {
  const dir = await formattedDir(t);
  // About 400 bytes per record and 500 per segment: each record sits in a segment of its own.
  const pairs: Journaled[] = [1, 3, 5, 7, 9].map((op) => ({ kind: 'entries', entries: entries(op, op + 1, 150) }));
  await writeJournal(dir, [...pairs, { kind: 'snapshot', snapshot: snapshotAt(6), coveredByLog: false }, { kind: 'entries', entries: entries(11, 12, 150) }], { segmentBytesMax: 500 });
  const names = await readdir(dir);
  assert.deepEqual(names.filter((n) => n.endsWith('.seg')).sort(), [4, 5, 6].map(segmentFileName));
  const { store, journal, recorder } = await openStore(dir, new Recorder(), { segmentBytesMax: 500 });
  assert.deepEqual(journal.snapshot, snapshotAt(6));
  assert.deepEqual(logOps(journal.log), [7, 8, 9, 10, 11, 12]);

  // A snapshot covering everything rolls the current segment, so that it can go too; the older
  // snapshot file goes once the new one is durable.
  store.persist(1, { kind: 'snapshot', snapshot: snapshotAt(12), coveredByLog: false });
  await recorder.durableUpTo(1);
  assert.deepEqual(recorder.logs.map((l) => l.event), ['journal-compacted']);
  store.persist(2, { kind: 'entries', entries: entries(13, 14) });
  await recorder.durableUpTo(2);
  await store.close();
  assert.deepEqual((await readdir(dir)).sort(), ['identity.json', segmentFileName(7), 'snapshot-000000000012.json']);

  // Restart after compaction: the snapshot, then only what was written after it.
  const reopened = await openStore(dir);
  t.after(() => reopened.store.close());
  assert.deepEqual(reopened.journal.snapshot, snapshotAt(12));
  assert.deepEqual(logOps(reopened.journal.log), [13, 14]);
});

test('a replace record keeps its segment alive until the snapshot covers its `after` and its entries', async (t) => {
  const dir = await formattedDir(t);
  const records: Journaled[] = [
    { kind: 'entries', entries: entries(1, 2, 150) },
    { kind: 'replace', after: 9, entries: [] }, // mentions op 9 though it carries no entries
    { kind: 'entries', entries: entries(3, 4, 150) },
    { kind: 'snapshot', snapshot: snapshotAt(5), coveredByLog: false },
  ];
  await writeJournal(dir, records, { segmentBytesMax: 400 });
  const { store, journal } = await openStore(dir);
  t.after(() => store.close());
  assert.deepEqual(journal.log.map((r) => r.kind), ['replace', 'entries'], 'only the segment of entries 1-2 was deletable');
});

test('a large snapshot is written in pieces and read back whole', async (t) => {
  const dir = await formattedDir(t);
  const mailboxes = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`user${i}`, Array.from({ length: 200 }, (_, j) => ({ id: j, text: `message ${j} for ${i} ✓` }))]));
  const snapshot = snapshotAt(100, { mailboxes });
  await writeJournal(dir, [{ kind: 'snapshot', snapshot, coveredByLog: false }]);
  const { store, journal } = await openStore(dir);
  t.after(() => store.close());
  assert.deepEqual(journal.snapshot, snapshot);
});

test('a snapshot older than the last one is a bug in the caller', async (t) => {
  const { store } = await openStore(await formattedDir(t));
  store.persist(1, { kind: 'snapshot', snapshot: snapshotAt(10), coveredByLog: false });
  assert.throws(() => store.persist(2, { kind: 'snapshot', snapshot: snapshotAt(9), coveredByLog: false }), /snapshot at op 9 after one at op 10/);
  await store.close();
});

// --- snapshots taken here: the snapshot writer ----------------------------------------------------

const isSnapshotFile = (name: string) => name.startsWith('snapshot-');
/** Teardown that cannot hang on an fsync a failed assertion left held. */
const closeReleased = (fs: TestFs, store: { close(): Promise<void> }) => {
  fs.release();
  return store.close();
};
/** A store whose snapshot files' fsyncs are held until fs.release(); `snapshotSyncing` resolves
 *  when the first one starts. */
async function storeHoldingSnapshots(t: TestContext, extra: { segmentBytesMax?: number } = {}) {
  const fs = new TestFs();
  const dir = await formattedDir(t);
  const { store, recorder } = await openStore(dir, new Recorder(), { fs, ...extra });
  t.after(() => closeReleased(fs, store));
  fs.hold(isSnapshotFile);
  return { fs, dir, store, recorder, snapshotSyncing: fs.nextDatasync(isSnapshotFile) };
}

/** The snapshot files written (renamed into place), in order. */
const snapshotFilesWritten = (fs: TestFs) => fs.operations.filter((o) => o.op === 'rename' && isSnapshotFile(o.file)).map((o) => o.file);

const segmentsIn = async (dir: string) => (await readdir(dir)).filter((name) => name.endsWith('.seg')).sort();

test('a snapshot taken here is durable at once; log batches go on while its file is written; segments go after', async (t) => {
  const { fs, dir, store, recorder, snapshotSyncing } = await storeHoldingSnapshots(t, { segmentBytesMax: 500 });
  // About 400 bytes per record and 500 per segment: each record sits in a segment of its own.
  for (const op of [1, 3, 5]) {
    store.persist(op, { kind: 'entries', entries: entries(op, op + 1, 150) });
    await recorder.durableUpTo(op);
  }
  const segmentsBefore = await segmentsIn(dir);

  store.persist(6, { kind: 'snapshot', snapshot: snapshotAt(4), coveredByLog: true });
  store.persist(7, { kind: 'entries', entries: entries(7, 8) });
  await snapshotSyncing;
  store.persist(8, { kind: 'entries', entries: entries(9, 9) });
  await recorder.durableUpTo(8);
  assert.deepEqual(recorder.durable.slice(3), [6, 7, 8], 'the snapshot (6) counted as durable once the records before it were; later batches did not wait for its file');
  assert.ok(!(await readdir(dir)).includes('snapshot-000000000004.json'), 'its file is not there yet');
  assert.deepEqual((await segmentsIn(dir)).slice(0, segmentsBefore.length), segmentsBefore, 'no segment deleted before the snapshot file is durable');
  assert.equal(await store.snapshotJson(3), null);

  const json = store.snapshotJson(4); // waits for the snapshot writer rather than saying null
  fs.release();
  assert.deepEqual(JSON.parse((await json)!.toString('utf8')), snapshotAt(4));
  await recorder.logged('journal-compacted');
  assert.deepEqual((await segmentsIn(dir)).slice(0, 1), [segmentFileName(3)], 'the segments of ops 1-2 and 3-4 went once the file was durable');
  await store.close();
  const reopened = await openStore(dir, new Recorder(), { segmentBytesMax: 500 });
  t.after(() => reopened.store.close());
  assert.deepEqual(reopened.journal.snapshot, snapshotAt(4));
  assert.deepEqual(logOps(reopened.journal.log).filter((op) => op > 4), [5, 6, 7, 8, 9]);
});

test('a crash while the snapshot writer runs loses only that snapshot: the restart finds the one before and the whole log', async (t) => {
  const { dir, store, recorder, snapshotSyncing } = await storeHoldingSnapshots(t, { segmentBytesMax: 500 });
  for (const op of [1, 3, 5]) {
    store.persist(op, { kind: 'entries', entries: entries(op, op + 1, 150) });
    await recorder.durableUpTo(op);
  }
  store.persist(6, { kind: 'snapshot', snapshot: snapshotAt(4), coveredByLog: true });
  store.persist(7, { kind: 'entries', entries: entries(7, 8) });
  await snapshotSyncing;
  await recorder.durableUpTo(7);
  // The process dies here, its snapshot file half-made; the next incarnation opens the directory.
  const restarted = await openStore(dir, new Recorder(), { segmentBytesMax: 500 });
  t.after(() => restarted.store.close());
  assert.equal(restarted.journal.snapshot, null, 'the snapshot reported durable never reached its file');
  assert.deepEqual(logOps(restarted.journal.log), [1, 2, 3, 4, 5, 6, 7, 8], 'every op it covered is still in the log');
});

test('the snapshot writer writes one snapshot at a time, and of several waiting only the newest', async (t) => {
  const { fs, dir, store, recorder, snapshotSyncing } = await storeHoldingSnapshots(t);
  store.persist(1, { kind: 'entries', entries: entries(1, 30) });
  for (const op of [10, 20, 30]) store.persist(op, { kind: 'snapshot', snapshot: snapshotAt(op), coveredByLog: true });
  await snapshotSyncing;
  await recorder.durableUpTo(30);
  fs.release();
  await store.close();
  assert.deepEqual(snapshotFilesWritten(fs), ['snapshot-000000000010.json', 'snapshot-000000000030.json'], 'the one at op 20 was skipped: the one at 30 replaces it');
  assert.deepEqual((await readdir(dir)).filter(isSnapshotFile), ['snapshot-000000000030.json']);
});

test('a received snapshot waits for the snapshot writer, drops what waits, and is on disk before what follows it', async (t) => {
  const { fs, dir, store, recorder, snapshotSyncing } = await storeHoldingSnapshots(t);
  store.persist(1, { kind: 'entries', entries: entries(1, 20) });
  store.persist(2, { kind: 'snapshot', snapshot: snapshotAt(10), coveredByLog: true });
  await snapshotSyncing;
  store.persist(3, { kind: 'snapshot', snapshot: snapshotAt(20), coveredByLog: true });
  store.persist(4, { kind: 'snapshot', snapshot: snapshotAt(50), coveredByLog: false });
  store.persist(5, { kind: 'replace', after: 50, entries: entries(51, 52) });
  await recorder.durableUpTo(3);
  assert.deepEqual(recorder.durable, [1, 2, 3], 'the received snapshot (4) and what follows it wait for its file');
  fs.release();
  await recorder.durableUpTo(5);
  await store.close();
  assert.deepEqual(snapshotFilesWritten(fs), ['snapshot-000000000010.json', 'snapshot-000000000050.json']);
  const reopened = await openStore(dir);
  t.after(() => reopened.store.close());
  assert.deepEqual(reopened.journal.snapshot, snapshotAt(50), 'the older snapshot finishing last did not delete the newer');
  assert.deepEqual(logOps(reopened.journal.log).filter((op) => op > 50), [51, 52]);
});

test('a failed snapshot file write is reported once, and nothing is reported durable after it (D1)', async (t) => {
  const { fs, store, recorder, snapshotSyncing } = await storeHoldingSnapshots(t);
  store.persist(1, { kind: 'entries', entries: entries(1, 5) });
  store.persist(2, { kind: 'snapshot', snapshot: snapshotAt(5), coveredByLog: true });
  await snapshotSyncing;
  fs.failAfter('rename', 0, systemError('ENOSPC'));
  fs.release();
  await recorder.failed();
  store.persist(3, { kind: 'entries', entries: entries(6, 6) });
  await store.close();
  assert.deepEqual(recorder.durable, [1, 2], 'nothing after the failure, though the log write of 3 would have worked');
  assert.equal(recorder.failures.length, 1);
  assert.match(recorder.failures[0]!.message, /ENOSPC/);
});

// --- what storage refuses (damage it repairs: damage.test.ts) ------------------------------------

test('a flipped byte in the identity file is CORRUPT, naming it', async (t) => {
  const dir = await formattedDir(t);
  const file = path.join(dir, 'identity.json');
  const good = await readFile(file);
  for (const at of [0, 9, good.length - 2]) {
    const damaged = Buffer.from(good);
    damaged[at]! ^= 0x01;
    await writeFile(file, damaged);
    await assert.rejects(openStore(dir), rejectsWith('CORRUPT', file), `flip at ${at}`);
  }
});

test('a well-checksummed file with the wrong content is CORRUPT too, not a crash later', async (t) => {
  const dir = await formattedDir(t);
  await writeJournal(dir, [{ kind: 'snapshot', snapshot: snapshotAt(3), coveredByLog: false }]);
  await writeFile(path.join(dir, 'snapshot-000000000004.json'), await readFile(path.join(dir, 'snapshot-000000000003.json')));
  await assert.rejects(openStore(dir), rejectsWith('CORRUPT', 'snapshot-000000000004.json', 'op 3'));
});

test('a segment record with a good checksum but no journal batch inside is CORRUPT at its offset', async (t) => {
  const dir = await formattedDir(t);
  await writeJournal(dir, [{ kind: 'entries', entries: entries(1, 1) }]);
  const file = path.join(dir, segmentFileName(1));
  const good = await readFile(file);
  const payloads = ['not json', '[]', '[{"kind":"other","entries":[]}]', '[{"kind":"replace","entries":[]}]', '[{"kind":"entries","entries":[{"op":"1"}]}]'];
  for (const payload of payloads) {
    // Followed by a valid record, so that it cannot pass for a torn tail.
    await writeFile(file, Buffer.concat([good, encodeRecord(Buffer.from(payload)), good]));
    await assert.rejects(openStore(dir), rejectsWith('CORRUPT', `${file} at offset ${good.length}`), payload);
  }
});

test('small files with a good checksum but the wrong shape are CORRUPT', async (t) => {
  const dir = await formattedDir(t);
  const cases: Array<[string, string]> = [
    ['view-a.json', '{"view":-1,"logView":0}'],
    ['view-b.json', '[1,2'],
    ['snapshot-000000000003.json', '{"op":3,"view":1}'],
    ['snapshot-000000000003.json', 'null'],
  ];
  for (const [name, content] of cases) {
    const file = path.join(dir, name);
    await writeFileAtomic(nodeFs, file, [content]);
    await assert.rejects(openStore(dir), rejectsWith('CORRUPT', file), content);
    await unlink(file);
  }
});

// --- disk failures (disk rule D1) -----------------------------------------------------------------

for (const [op, code] of [['write', 'ENOSPC'], ['datasync', 'EIO'], ['rename', 'EIO']] as const) {
  test(`a failed ${op} (${code}) is reported once and nothing is reported durable after it`, async (t) => {
    const fs = new TestFs();
    const { store, recorder } = await openStore(await formattedDir(t), new Recorder(), { fs });
    store.persist(1, { kind: 'entries', entries: entries(1, 1) });
    await recorder.durableUpTo(1);
    fs.failAfter(op, 0, systemError(code));
    store.persist(2, { kind: 'entries', entries: entries(2, 2) });
    store.persist(3, { kind: 'view', view: 1, logView: 1, damaged: false });
    store.persist(4, { kind: 'entries', entries: entries(3, 3) });
    await recorder.failed();
    store.persist(5, { kind: 'entries', entries: entries(4, 4) });
    await store.close();
    // Which step failed depends on the operation (a rename is the view's); everything from it on
    // stays unreported.
    const lastDurable = op === 'rename' ? 2 : 1;
    assert.deepEqual(recorder.durable, lastDurable === 1 ? [1] : [1, 2]);
    assert.equal(recorder.failures.length, 1);
    assert.ok(recorder.failures[0] instanceof StorageError && recorder.failures[0].code === 'IO');
    assert.match(recorder.failures[0].message, new RegExp(code));
  });
}

test('snapshotJson: the durable snapshot file\'s JSON, checksum verified; null for any other op or a damaged file', async (t) => {
  const dir = await formattedDir(t);
  const snapshot = snapshotAt(12, { mailboxes: { alice: [{ id: 1, text: 'héllo ✓' }] } });
  const { store, recorder } = await openStore(dir);
  t.after(() => store.close());
  assert.equal(await store.snapshotJson(12), null, 'not durable yet');
  store.persist(1, { kind: 'snapshot', snapshot, coveredByLog: false });
  await recorder.durableUpTo(1);
  const json = await store.snapshotJson(12);
  assert.ok(json !== null, 'the durable snapshot is readable');
  assert.deepEqual(JSON.parse(json.toString('utf8')), snapshot);
  assert.equal(await store.snapshotJson(11), null, 'no snapshot at op 11');
  // A flipped byte fails the checksum: the caller encodes its in-memory copy instead.
  const file = path.join(dir, 'snapshot-000000000012.json');
  const bytes = await readFile(file);
  bytes[bytes.length - 3] ^= 0x01;
  await writeFile(file, bytes);
  assert.equal(await store.snapshotJson(12), null);
});
