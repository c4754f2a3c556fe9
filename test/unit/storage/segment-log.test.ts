import assert from 'node:assert/strict';
import { readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { test } from 'node:test';
import { StorageError } from '../../../lib/storage/errors.js';
import { RECORD_HEADER_BYTES } from '../../../lib/storage/records.js';
import { segmentFileName, SegmentLog, type RecordPlace } from '../../../lib/storage/segment-log.js';
import { nodeFs, type StorageFs } from '../../../lib/storage/storage-fs.js';
import { systemError, tempDir, TestFs } from './helpers.js';

interface Opened {
  log: SegmentLog;
  records: Array<{ text: string } & RecordPlace>;
  logs: Array<Record<string, unknown>>;
}

async function openLog(dir: string, segmentBytesMax = 1024 * 1024, fs: StorageFs = new TestFs()): Promise<Opened> {
  const records: Opened['records'] = [];
  const logs: Opened['logs'] = [];
  const log = await SegmentLog.open(dir, {
    fs,
    segmentBytesMax,
    onRecord: (payload, place) => records.push({ text: payload.toString(), ...place }),
    log: (event, fields) => logs.push({ event, ...fields }),
  });
  return { log, records, logs };
}

async function writeRecords(dir: string, texts: string[], segmentBytesMax?: number): Promise<void> {
  const { log } = await openLog(dir, segmentBytesMax);
  for (const text of texts) await log.append(Buffer.from(text));
  await log.close();
}

function corruptAt(file: string, offset: number) {
  return (error: unknown) => {
    assert.ok(error instanceof StorageError, String(error));
    assert.equal(error.code, 'CORRUPT');
    assert.ok(error.message.includes(`${file} at offset ${offset}`), error.message);
    return true;
  };
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
  assert.equal(names.length, 10, 'two 108-byte records fit in 300 bytes, a third does not');
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

test('a zero-filled tail (size extended, data never written) is a torn tail', async (t) => {
  const dir = await tempDir(t);
  await writeRecords(dir, ['kept']);
  const file = path.join(dir, segmentFileName(1));
  await writeFile(file, Buffer.concat([await readFile(file), Buffer.alloc(4096)]));
  const { log, records, logs } = await openLog(dir);
  t.after(() => log.close());
  assert.deepEqual(records.map((r) => r.text), ['kept']);
  assert.equal(logs[0]!.bytesCut, 4096);
});

test('a torn write whose header page is zero but a later page was written is still a torn tail', async (t) => {
  const dir = await tempDir(t);
  await writeRecords(dir, ['kept', 'T'.repeat(9000)]);
  const file = path.join(dir, segmentFileName(1));
  const data = await readFile(file);
  data.fill(0, RECORD_HEADER_BYTES + 4, 4096); // the first page of the last record never reached disk
  await writeFile(file, data);
  const { log, records } = await openLog(dir);
  t.after(() => log.close());
  assert.deepEqual(records.map((r) => r.text), ['kept']);
});

test('a bad record followed by a valid one is corruption, even in the last segment', async (t) => {
  const dir = await tempDir(t);
  await writeRecords(dir, ['first', 'middle', 'last']);
  const file = path.join(dir, segmentFileName(1));
  const data = await readFile(file);
  const middle = RECORD_HEADER_BYTES + 5;
  for (const at of [middle, middle + 2, middle + 4, middle + RECORD_HEADER_BYTES + 1]) {
    const damaged = Buffer.from(data);
    damaged[at]! ^= 0x10;
    await writeFile(file, damaged);
    await assert.rejects(openLog(dir), corruptAt(file, middle), `flip at ${at}`);
  }
  // A zeroed header in the middle, too: zeros are a torn tail only when nothing valid follows.
  const zeroed = Buffer.from(data);
  zeroed.fill(0, middle, middle + RECORD_HEADER_BYTES);
  await writeFile(file, zeroed);
  await assert.rejects(openLog(dir), corruptAt(file, middle));
});

test('any bad record in a segment before the last is corruption, even at its very end', async (t) => {
  const dir = await tempDir(t);
  await writeRecords(dir, ['aaaaaaaaaa', 'bbbbbbbbbb', 'cccccccccc'], 20);
  const file = path.join(dir, segmentFileName(2));
  const data = await readFile(file);
  await writeFile(file, data.subarray(0, data.length - 1));
  await assert.rejects(openLog(dir, 20), corruptAt(file, 0));
});

test('a missing segment between others is corruption', async (t) => {
  const dir = await tempDir(t);
  await writeRecords(dir, ['aaaaaaaaaa', 'bbbbbbbbbb', 'cccccccccc'], 20);
  await rename(path.join(dir, segmentFileName(2)), path.join(dir, 'moved-away'));
  await assert.rejects(openLog(dir, 20), (error: unknown) => {
    assert.ok(error instanceof StorageError && error.code === 'CORRUPT');
    assert.match(error.message, /log-00000002\.seg: segment missing between log-00000001\.seg and log-00000003\.seg/);
    return true;
  });
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
