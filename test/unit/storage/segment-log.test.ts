import assert from 'node:assert/strict';
import { readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { test } from 'node:test';
import { StorageError } from '../../../lib/storage/errors.js';
import { RECORD_HEADER_BYTES } from '../../../lib/storage/records.js';
import { type LogDamage, segmentFileName, SegmentLog, type RecordPlace } from '../../../lib/storage/segment-log.js';
import { nodeFs, type StorageFs } from '../../../lib/storage/storage-fs.js';
import { systemError, tempDir, TestFs } from './helpers.js';

interface Opened {
  log: SegmentLog;
  records: Array<{ text: string } & RecordPlace>;
  logs: Array<Record<string, unknown>>;
}

/** Opens the log, whatever it finds: the records read, the log lines, and what open returned. */
async function openSegments(dir: string, segmentBytesMax = 1024 * 1024, fs: StorageFs = new TestFs()) {
  const records: Opened['records'] = [];
  const logs: Opened['logs'] = [];
  const opened = await SegmentLog.open(dir, {
    fs,
    segmentBytesMax,
    onRecord: (payload, place) => records.push({ text: payload.toString(), ...place }),
    log: (event, fields) => logs.push({ event, ...fields }),
  });
  return { opened, records, logs };
}

/** Opens a log that must hold no damage. */
async function openLog(dir: string, segmentBytesMax?: number, fs?: StorageFs): Promise<Opened> {
  const { opened, records, logs } = await openSegments(dir, segmentBytesMax, fs);
  assert.equal(opened.damage, null, 'no damage');
  assert.ok(opened.damage === null);
  return { log: opened.log, records, logs };
}

/** Opens a log that must be damaged: the damage found, the records before it, and the cut. */
async function openDamaged(dir: string, segmentBytesMax?: number, fs?: StorageFs) {
  const { opened, records, logs } = await openSegments(dir, segmentBytesMax, fs);
  assert.ok(opened.damage !== null, 'damage expected');
  return { damage: opened.damage, cut: opened.cut, records, logs };
}

async function writeRecords(dir: string, texts: string[], segmentBytesMax?: number): Promise<void> {
  const { log } = await openLog(dir, segmentBytesMax);
  for (const text of texts) await log.append(Buffer.from(text));
  await log.close();
}

/** Opens `dir`, which must be damaged as `expected` says, cuts the damage, and checks that the
 *  log then holds exactly `survivors`, reopens without damage, and appends after them. */
async function cutsDamage(dir: string, expected: Partial<LogDamage>, survivors: string[], segmentBytesMax?: number): Promise<void> {
  const { damage, cut, records, logs } = await openDamaged(dir, segmentBytesMax);
  for (const [key, value] of Object.entries(expected)) assert.deepEqual(damage[key as keyof LogDamage], value, `damage.${key}: ${JSON.stringify(damage)}`);
  assert.deepEqual(records.map((r) => r.text), survivors, 'the records before the damage are read');
  assert.deepEqual(logs, [], 'no torn-tail-cut: the damage is the caller\'s to report');
  const log = await cut();
  await log.append(Buffer.from('after'));
  await log.close();
  const reopened = await openLog(dir, segmentBytesMax);
  await reopened.log.close();
  assert.deepEqual(reopened.records.map((r) => r.text), [...survivors, 'after']);
}

test('records appended are read back at the next open, in order, with their places', async (t) => {
  const dir = await tempDir(t);
  await writeRecords(dir, ['one', 'two', 'three']);
  const { log, records } = await openLog(dir);
  t.after(() => log.close());
  assert.deepEqual(records.map((r) => r.text), ['one', 'two', 'three']);
  assert.deepEqual(records.map((r) => r.offset), [0, RECORD_HEADER_BYTES + 3, 2 * RECORD_HEADER_BYTES + 6]);
  assert.equal(records[0]!.file, path.join(dir, segmentFileName(1)));
});

test('each append is one write and one fdatasync, and a new segment is made durable in its directory', async (t) => {
  const fs = new TestFs();
  const { log } = await openLog(await tempDir(t), 1024, fs);
  t.after(() => log.close());
  assert.deepEqual(fs.operations.map((o) => o.op), ['open', 'open', 'sync'], 'segment 1 created, directory synced');
  fs.operations.length = 0;
  await log.append(Buffer.from('a'));
  assert.deepEqual(fs.operations, [{ op: 'write', file: 'log-00000001.seg' }, { op: 'datasync', file: 'log-00000001.seg' }]);
});

test('segments roll at the size limit, and reading crosses them in order', async (t) => {
  const dir = await tempDir(t);
  const texts = Array.from({ length: 20 }, (_, i) => `record ${i} `.padEnd(100, '.'));
  await writeRecords(dir, texts, 300);
  const names = (await readdir(dir)).sort();
  assert.equal(names.length, 10, 'two 112-byte records fit in 300 bytes, a third does not');
  for (const name of names) assert.ok((await stat(path.join(dir, name))).size <= 300);
  const { log, records } = await openLog(dir, 300);
  t.after(() => log.close());
  assert.deepEqual(records.map((r) => r.text), texts);
  assert.deepEqual(records.map((r) => r.segment), texts.map((_, i) => Math.floor(i / 2) + 1));
  assert.equal(log.currentSegment, 10);
});

test('a record larger than the segment limit gets a segment of its own', async (t) => {
  const dir = await tempDir(t);
  await writeRecords(dir, ['small', 'L'.repeat(500), 'small'], 100);
  const { log, records } = await openLog(dir, 100);
  t.after(() => log.close());
  assert.deepEqual(records.map((r) => r.segment), [1, 2, 3]);
});

test('deleteBelow removes the oldest segments; roll lets the current one go too', async (t) => {
  const dir = await tempDir(t);
  const fs = new TestFs();
  const { log } = await openLog(dir, 20, fs);
  for (const text of ['aaaaaaaaaa', 'bbbbbbbbbb', 'cccccccccc']) await log.append(Buffer.from(text));
  assert.deepEqual(log.segments, [1, 2, 3]);
  await log.roll();
  await log.roll(); // the new segment is empty: no second roll
  assert.deepEqual(log.segments, [1, 2, 3, 4]);
  fs.operations.length = 0;
  assert.equal(await log.deleteBelow(3), 2);
  assert.deepEqual(fs.operations.filter((o) => o.op !== 'open').map((o) => `${o.op} ${o.file}`), [
    'unlink log-00000001.seg', `sync ${path.basename(dir)}`, 'unlink log-00000002.seg', `sync ${path.basename(dir)}`,
  ]);
  await log.append(Buffer.from('dddddddddd'));
  await log.close();
  const reopened = await openLog(dir, 20);
  t.after(() => reopened.log.close());
  assert.deepEqual(reopened.records.map((r) => `${r.segment}:${r.text}`), ['3:cccccccccc', '4:dddddddddd']);
  await assert.rejects(reopened.log.deleteBelow(5), /current segment is never deleted/);
});

test('a torn tail of the last segment is cut, logged with file, offset and bytes cut, and appends continue', async (t) => {
  const dir = await tempDir(t);
  await writeRecords(dir, ['kept', 'torn']);
  const file = path.join(dir, segmentFileName(1));
  const whole = await readFile(file);
  await writeFile(file, whole.subarray(0, whole.length - 2));
  const { log, records, logs } = await openLog(dir);
  assert.deepEqual(records.map((r) => r.text), ['kept']);
  const offset = RECORD_HEADER_BYTES + 4;
  assert.deepEqual(logs, [{ event: 'torn-tail-cut', file, offset, bytesCut: RECORD_HEADER_BYTES + 2 }]);
  assert.equal((await stat(file)).size, offset);
  await log.append(Buffer.from('after'));
  await log.close();
  const reopened = await openLog(dir);
  t.after(() => reopened.log.close());
  assert.deepEqual(reopened.records.map((r) => r.text), ['kept', 'after']);
  assert.deepEqual(reopened.logs, []);
});

test('a tail of zeros shorter than a header is torn; a longer one is damage, not told from rot', async (t) => {
  const dir = await tempDir(t);
  await writeRecords(dir, ['kept']);
  const file = path.join(dir, segmentFileName(1));
  const whole = await readFile(file);
  await writeFile(file, Buffer.concat([whole, Buffer.alloc(RECORD_HEADER_BYTES - 1)]));
  const torn = await openLog(dir);
  await torn.log.close();
  assert.deepEqual(torn.logs, [{ event: 'torn-tail-cut', file, offset: whole.length, bytesCut: RECORD_HEADER_BYTES - 1 }]);
  // A file system that grew the file before its data reached the disk leaves this too; so does
  // rot. Nothing tells them apart, so it is damage (safe: only liveness is at stake).
  await writeFile(file, Buffer.concat([whole, Buffer.alloc(4096)]));
  await cutsDamage(dir, { file, offset: whole.length, reason: 'bad-header', bytesCut: 4096, segmentsDropped: 0 }, ['kept']);
});

test('a record of the last segment the file ends inside of is torn, whatever its size, even with its first page zero', async (t) => {
  const dir = await tempDir(t);
  await writeRecords(dir, ['kept', 'T'.repeat(9000)]);
  const file = path.join(dir, segmentFileName(1));
  const data = await readFile(file);
  const last = RECORD_HEADER_BYTES + 4;
  await writeFile(file, data.subarray(0, data.length - 100));
  const torn = await openLog(dir);
  await torn.log.close();
  assert.deepEqual(torn.records.map((r) => r.text), ['kept']);
  assert.deepEqual(torn.logs, [{ event: 'torn-tail-cut', file, offset: last, bytesCut: data.length - 100 - last }]);
  // Whole in size but its header page never written: damage, as above.
  data.fill(0, last, 4096);
  await writeFile(file, data);
  await cutsDamage(dir, { file, offset: last, reason: 'bad-header' }, ['kept']);
});

test('a bad record followed by valid ones is damage, even in the last segment: cut there', async (t) => {
  const dir = await tempDir(t);
  await writeRecords(dir, ['first', 'middle', 'last']);
  const file = path.join(dir, segmentFileName(1));
  const data = await readFile(file);
  const middle = RECORD_HEADER_BYTES + 5;
  const cases: Array<[number, LogDamage['reason']]> = [[middle, 'bad-header'], [middle + 5, 'bad-header'], [middle + 9, 'bad-header'], [middle + RECORD_HEADER_BYTES + 1, 'checksum']];
  for (const [at, reason] of cases) {
    const damaged = Buffer.from(data);
    damaged[at]! ^= 0x10;
    await writeFile(file, damaged);
    await cutsDamage(dir, { file, offset: middle, reason, bytesCut: data.length - middle, segmentsDropped: 0 }, ['first']);
    await writeFile(file, data);
  }
});

test('any bad record in a segment before the last is damage, even one cut short at its very end', async (t) => {
  const dir = await tempDir(t);
  await writeRecords(dir, ['aaaaaaaaaa', 'bbbbbbbbbb', 'cccccccccc', 'dddddddddd'], 30);
  const file = path.join(dir, segmentFileName(2));
  const data = await readFile(file);
  await writeFile(file, data.subarray(0, data.length - 1));
  const { damage } = await openDamaged(dir, 30);
  assert.deepEqual(damage, {
    file,
    offset: 0,
    reason: 'torn-body',
    bytesCut: data.length - 1,
    segmentsDropped: 2,
    dropped: 'log cut at log-00000002.seg offset 0 (21 bytes); 2 later segments dropped',
  });
  await cutsDamage(dir, { file, offset: 0 }, ['aaaaaaaaaa'], 30);
  assert.deepEqual((await readdir(dir)).sort(), [1, 2].map(segmentFileName), 'the later segments are gone, the damaged one emptied');
});

test('a missing segment between others is damage: the log is cut at the gap', async (t) => {
  const dir = await tempDir(t);
  await writeRecords(dir, ['aaaaaaaaaa', 'bbbbbbbbbb', 'cccccccccc', 'dddddddddd'], 30);
  await rename(path.join(dir, segmentFileName(2)), path.join(dir, 'moved-away'));
  const fs = new TestFs();
  const { damage, cut } = await openDamaged(dir, 30, fs);
  assert.deepEqual(damage, {
    file: path.join(dir, segmentFileName(2)),
    offset: null,
    reason: 'missing-segment',
    bytesCut: 0,
    segmentsDropped: 2,
    dropped: 'log-00000002.seg is missing: log cut after log-00000001.seg; 2 later segments dropped',
  });
  assert.deepEqual(fs.operations.filter((o) => o.op !== 'open'), [], 'open changed nothing');
  await (await cut()).close();
  assert.deepEqual(fs.operations.filter((o) => o.op === 'unlink' || o.op === 'truncate').map((o) => o.file), [segmentFileName(4), segmentFileName(3)], 'newest first, nothing truncated');
  assert.deepEqual((await readdir(dir)).sort(), [segmentFileName(1), 'moved-away']);
});

test('the cut deletes the later segments newest first, each unlink durable, then truncates and settles the damaged one', async (t) => {
  const dir = await tempDir(t);
  // Two 22-byte records a segment: segment 2 holds c and d.
  await writeRecords(dir, ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((letter) => letter.repeat(10)), 50);
  const file = path.join(dir, segmentFileName(2));
  const data = await readFile(file);
  data[22 + RECORD_HEADER_BYTES + 1]! ^= 1;
  await writeFile(file, data);
  const fs = new TestFs();
  const { cut, records } = await openDamaged(dir, 50, fs);
  assert.deepEqual(records.map((r) => r.text[0]).join(''), 'abc');
  await (await cut()).close();
  const directory = path.basename(dir);
  assert.deepEqual(fs.operations.filter((o) => o.op !== 'open').map((o) => `${o.op} ${o.file}`), [
    `unlink ${segmentFileName(4)}`, `sync ${directory}`,
    `unlink ${segmentFileName(3)}`, `sync ${directory}`,
    `truncate ${segmentFileName(2)}`, `write ${segmentFileName(2)}`, `datasync ${segmentFileName(2)}`, `sync ${directory}`,
  ]);
  assert.equal((await stat(file)).size, 22);
});

test('only one operation may run at a time: that is what keeps the tail knowable', async (t) => {
  const { log } = await openLog(await tempDir(t), 1024, new TestFs());
  const first = log.append(Buffer.from('a'));
  await assert.rejects(log.append(Buffer.from('b')), /one operation at a time/);
  await first;
  await log.close();
});

test('after a failed fdatasync the log refuses every later append', async (t) => {
  const fs = new TestFs();
  const { log } = await openLog(await tempDir(t), 1024, fs);
  t.after(() => log.close());
  fs.failAfter('datasync', 0, systemError('EIO'));
  await assert.rejects(log.append(Buffer.from('a')), (error: unknown) => error instanceof StorageError && error.code === 'IO' && /EIO/.test(error.message));
  fs.failAfter('datasync', 1000, systemError('EIO'));
  await assert.rejects(log.append(Buffer.from('b')), /failed earlier/);
});

test('opening an empty directory starts segment 1 (the store checks formatting first)', async (t) => {
  const dir = await tempDir(t);
  const { log, records } = await openLog(dir, 1024, nodeFs);
  t.after(() => log.close());
  assert.deepEqual(records, []);
  assert.deepEqual(await readdir(dir), [segmentFileName(1)]);
});
