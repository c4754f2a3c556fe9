// Damage and torn writes at open (docs/storage.md, disk rule D6): a torn tail is cut silently; rot
// in the log or the snapshot opens as a damaged journal — logged, recorded durably in the view
// record, then cut, and never cut twice. (The view record's own copies: view-record.test.ts.)
// The byte-by-byte loops run with fsyncs off (they check what is read back and cut); the order
// in which things become durable is checked with fsyncs on.

import assert from 'node:assert/strict';
import { readdir, readFile, unlink, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { test } from 'node:test';
import { RECORD_HEADER_BYTES, scanRecords } from '../../../lib/storage/records.js';
import { segmentFileName } from '../../../lib/storage/segment-log.js';
import { formatReplacementDataDir } from '../../../lib/storage/replica-store.js';
import { entries, systemError, tempDir, TestFs, type FsOperation } from './helpers.js';
import { flipped, formattedDir, IDENTITY, type Journaled, logOps, openAndClose, rejectsWith, saveFiles, snapshotAt, writeJournal } from './store-helpers.js';

const VIEW = { view: 3, logView: 3 };

/** A view record and three log records: ops 1-2, then 3 and 4 in small records (about 120
 *  bytes each: the byte-by-byte tests open the store twice per byte). */
const HISTORY: Journaled[] = [
  { kind: 'view', ...VIEW, damaged: false },
  { kind: 'entries', entries: entries(1, 2) },
  { kind: 'entries', entries: entries(3, 3, 1) },
  { kind: 'entries', entries: entries(4, 4, 10) },
];

/** Small enough that each record of HISTORY gets a segment of its own. */
const ONE_RECORD_A_SEGMENT = 200;

const segmentPath = (dir: string, segment: number) => path.join(dir, segmentFileName(segment));
const segmentsIn = async (dir: string) => (await readdir(dir)).filter((name) => name.endsWith('.seg')).sort();

/** Checks that `dir` opens damaged, logging `damage` and keeping the log ops `ops`, and that
 *  it opens damaged again with nothing more cut (the flag is durable). Returns the journal. */
async function opensDamaged(dir: string, damage: Record<string, unknown>, ops: number[], label: string) {
  const first = await openAndClose(dir);
  assert.deepEqual(first.logs, [{ event: 'storage-damaged', fields: damage }], label);
  assert.deepEqual(first.journal.view, { ...VIEW, damaged: true }, label);
  assert.deepEqual(logOps(first.journal.log), ops, label);
  const again = await openAndClose(dir);
  assert.deepEqual(again.logs, [], `${label}: nothing more is cut`);
  assert.deepEqual(again.journal, first.journal, `${label}: still damaged, the same journal`);
  return first.journal;
}

// --- the log ------------------------------------------------------------------------------------

test('a flipped bit in any byte of the newest record is damage, never a torn tail: logged, recorded durably, cut once', async (t) => {
  const dir = await formattedDir(t);
  await writeJournal(dir, HISTORY);
  const file = segmentPath(dir, 1);
  const { saved, restore } = await saveFiles(dir);
  const whole = saved.get(segmentFileName(1))!;
  const last = scanRecords(whole).records.at(-1)!.offset;
  assert.ok(whole.length - last >= 100 && whole.length - last <= 300, `a small record: ${whole.length - last} bytes`);
  for (let at = last; at < whole.length; at++) {
    await restore();
    await writeFile(file, flipped(whole, at));
    const reason = at < last + RECORD_HEADER_BYTES ? 'bad-header' : 'checksum';
    const dropped = `log cut at log-00000001.seg offset ${last} (${whole.length - last} bytes)`;
    await opensDamaged(dir, { file, offset: last, reason, dropped }, [1, 2, 3], `flip at ${at}`);
  }
});

test('a flipped bit in any byte of a record followed by valid ones is damage: cut there', async (t) => {
  const dir = await formattedDir(t);
  await writeJournal(dir, HISTORY);
  const file = segmentPath(dir, 1);
  const { saved, restore } = await saveFiles(dir);
  const whole = saved.get(segmentFileName(1))!;
  const [, middle, last] = scanRecords(whole).records.map((record) => record.offset);
  for (let at = middle!; at < last!; at++) {
    await restore();
    await writeFile(file, flipped(whole, at));
    const reason = at < middle! + RECORD_HEADER_BYTES ? 'bad-header' : 'checksum';
    const dropped = `log cut at log-00000001.seg offset ${middle} (${whole.length - middle!} bytes)`;
    await opensDamaged(dir, { file, offset: middle, reason, dropped }, [1, 2], `flip at ${at}`);
  }
});

test('a flipped bit in any byte of a sealed segment is damage: cut there, the later segments deleted', async (t) => {
  const dir = await formattedDir(t);
  await writeJournal(dir, HISTORY, { segmentBytesMax: ONE_RECORD_A_SEGMENT });
  assert.deepEqual(await segmentsIn(dir), [1, 2, 3].map(segmentFileName));
  const file = segmentPath(dir, 2);
  const { saved, restore } = await saveFiles(dir);
  const sealed = saved.get(segmentFileName(2))!;
  for (let at = 0; at < sealed.length; at++) {
    await restore();
    await writeFile(file, flipped(sealed, at));
    const reason = at < RECORD_HEADER_BYTES ? 'bad-header' : 'checksum';
    const dropped = `log cut at log-00000002.seg offset 0 (${sealed.length} bytes); 1 later segment dropped`;
    await opensDamaged(dir, { file, offset: 0, reason, dropped }, [1, 2], `flip at ${at}`);
    assert.deepEqual(await segmentsIn(dir), [1, 2].map(segmentFileName), `flip at ${at}`);
    assert.equal((await readFile(file)).length, 0, `flip at ${at}: the damaged segment is emptied`);
  }
});

test('the newest record cut short at any length is a torn tail: cut silently, not damaged', async (t) => {
  const dir = await formattedDir(t);
  await writeJournal(dir, HISTORY);
  const file = segmentPath(dir, 1);
  const whole = await readFile(file);
  const last = scanRecords(whole).records.at(-1)!.offset;
  // From nothing of it to all but its last byte; a header and no body at last + 12.
  for (let cut = last; cut < whole.length; cut++) {
    await writeFile(file, whole.subarray(0, cut));
    const opened = await openAndClose(dir);
    const expected = cut === last ? [] : [{ event: 'torn-tail-cut', fields: { file, offset: last, bytesCut: cut - last } }];
    assert.deepEqual(opened.logs, expected, `cut at ${cut}`);
    assert.deepEqual(opened.journal.view, { ...VIEW, damaged: false }, `cut at ${cut}`);
    assert.deepEqual(logOps(opened.journal.log), [1, 2, 3], `cut at ${cut}`);
    assert.equal((await readFile(file)).length, last, `cut at ${cut}`);
  }
});

test('a missing segment between others is damage: the log is cut at the gap', async (t) => {
  const dir = await formattedDir(t);
  await writeJournal(dir, HISTORY, { segmentBytesMax: ONE_RECORD_A_SEGMENT });
  await unlink(segmentPath(dir, 2));
  const dropped = 'log-00000002.seg is missing: log cut after log-00000001.seg; 1 later segment dropped';
  await opensDamaged(dir, { file: segmentPath(dir, 2), offset: null, reason: 'missing-segment', dropped }, [1, 2], 'segment 2 lost');
  assert.deepEqual(await segmentsIn(dir), [segmentFileName(1)]);
});

test('damage in a directory with no view record yet records view 0, log view 0, damaged', async (t) => {
  const dir = await formattedDir(t);
  await writeJournal(dir, HISTORY.filter((record) => record.kind !== 'view'));
  const file = segmentPath(dir, 1);
  await writeFile(file, flipped(await readFile(file), 40));
  const { journal } = await openAndClose(dir);
  assert.deepEqual(journal.view, { view: 0, logView: 0, damaged: true });
  assert.deepEqual(journal.log, []);
});

// --- the snapshot -------------------------------------------------------------------------------

test('a flipped bit in the snapshot, header or body, is damage: the snapshot and the whole log are dropped', async (t) => {
  const dir = await formattedDir(t);
  await writeJournal(dir, [
    { kind: 'view', ...VIEW, damaged: false },
    { kind: 'entries', entries: entries(1, 4) },
    { kind: 'snapshot', snapshot: snapshotAt(4), coveredByLog: false },
    { kind: 'entries', entries: entries(5, 6) },
  ]);
  const name = 'snapshot-000000000004.json';
  const file = path.join(dir, name);
  const { saved, restore } = await saveFiles(dir);
  const whole = saved.get(name)!;
  const sample = [...Array(RECORD_HEADER_BYTES).keys(), ...Array.from({ length: 12 }, (_, i) => RECORD_HEADER_BYTES + Math.floor((i * (whole.length - RECORD_HEADER_BYTES)) / 12)), whole.length - 1];
  for (const at of sample) {
    await restore();
    await writeFile(file, flipped(whole, at));
    const reason = at < RECORD_HEADER_BYTES ? 'bad-header' : 'checksum';
    const journal = await opensDamaged(dir, { file, offset: 0, reason, dropped: `${name} damaged; snapshot and log dropped` }, [], `flip at ${at}`);
    assert.equal(journal.snapshot, null, `flip at ${at}`);
    assert.deepEqual((await readdir(dir)).sort(), ['identity.json', segmentFileName(1), 'view-a.json', 'view-b.json'], `flip at ${at}: a new, empty log`);
  }
});

// --- a crash part-way ---------------------------------------------------------------------------

test('the damaged view record is durable, both copies, before anything is cut', async (t) => {
  const dir = await formattedDir(t);
  await writeJournal(dir, HISTORY, { segmentBytesMax: ONE_RECORD_A_SEGMENT });
  await writeFile(segmentPath(dir, 2), flipped(await readFile(segmentPath(dir, 2)), 20));
  const fs = new TestFs();
  await openAndClose(dir, fs);
  const steps = fs.operations.map((o) => `${o.op} ${o.file}`);
  const viewDurable = steps.indexOf(`sync ${path.basename(dir)}`, steps.indexOf('rename view-b.json'));
  const firstCut = steps.findIndex((step) => step.startsWith('unlink') || step.startsWith('truncate'));
  assert.ok(steps.indexOf('rename view-a.json') < steps.indexOf('rename view-b.json'), steps.join(', '));
  assert.ok(viewDurable > 0 && viewDurable < firstCut, steps.join(', '));
});

test('a crash between the damaged view record and the end of the cut still opens damaged, and the cut completes', async (t) => {
  const cases: Array<[FsOperation, number, string, string[]]> = [
    ['rename', 1, 'the write of view-b.json (view-a.json says damaged)', ['view-record-repaired', 'storage-damaged']],
    ['unlink', 0, 'the deletion of the later segment', ['storage-damaged']],
    ['truncate', 0, 'the truncation of the damaged segment', ['storage-damaged']],
  ];
  for (const [op, after, what, events] of cases) {
    const dir = await formattedDir(t);
    await writeJournal(dir, HISTORY, { segmentBytesMax: ONE_RECORD_A_SEGMENT });
    await writeFile(segmentPath(dir, 2), flipped(await readFile(segmentPath(dir, 2)), 20));
    const failing = new TestFs({ syncs: false });
    failing.failAfter(op, after, systemError('EIO'));
    await assert.rejects(openAndClose(dir, failing), rejectsWith('IO', 'EIO'), what);
    const reopened = await openAndClose(dir);
    assert.deepEqual(reopened.logs.map((l) => l.event), events, `${what}: the damage is still there, and found again`);
    assert.deepEqual(reopened.journal.view, { ...VIEW, damaged: true }, what);
    assert.deepEqual(logOps(reopened.journal.log), [1, 2], what);
    const again = await openAndClose(dir);
    assert.deepEqual([again.logs, again.journal], [[], reopened.journal], `${what}: cut once the cut completed`);
    assert.deepEqual(await segmentsIn(dir), [1, 2].map(segmentFileName), what);
  }
});

test('a replacement for a replica whose disk was lost is formatted damaged: it opens damaged with an empty journal, a plain format opens whole', async (t) => {
  const dir = path.join(await tempDir(t), 'replacement');
  await formatReplacementDataDir(dir, IDENTITY);
  assert.deepEqual((await openAndClose(dir)).journal, { view: { view: 0, logView: 0, damaged: true }, snapshot: null, log: [] });
  assert.deepEqual((await openAndClose(await formattedDir(t))).journal, { view: null, snapshot: null, log: [] });
  // A replacement format that crashed before its identity was written (its view copies are
  // there) can simply be run again.
  const again = path.join(await tempDir(t), 'again');
  await formatReplacementDataDir(again, IDENTITY);
  await unlink(path.join(again, 'identity.json'));
  await formatReplacementDataDir(again, IDENTITY);
  assert.equal((await openAndClose(again)).journal.view?.damaged, true);
});
