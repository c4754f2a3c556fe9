import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crc32 } from '../../../lib/storage/crc32.js';
import { encodeRecord, readRecord, RECORD_BYTES_MAX, RECORD_HEADER_BYTES, scanRecords } from '../../../lib/storage/records.js';

const PAYLOADS = ['first', 'the second record', 'x'].map((text) => Buffer.from(text));
const STREAM = Buffer.concat(PAYLOADS.map(encodeRecord));
/** Byte offset at which each record starts, plus the end. */
const STARTS = PAYLOADS.reduce((starts, p) => [...starts, starts.at(-1)! + RECORD_HEADER_BYTES + p.length], [0]);

test('a record is [u32 BE length][u32 BE crc32][payload]', () => {
  const frame = encodeRecord(Buffer.from('123456789'));
  assert.equal(frame.readUInt32BE(0), 9);
  assert.equal(frame.readUInt32BE(4), 0xcbf43926);
  assert.equal(frame.subarray(8).toString(), '123456789');
});

test('scanning a stream returns every record with its offset and ends on a boundary', () => {
  const scan = scanRecords(STREAM);
  assert.deepEqual(scan.records.map((r) => r.payload.toString()), PAYLOADS.map(String));
  assert.deepEqual(scan.records.map((r) => r.offset), STARTS.slice(0, -1));
  assert.deepEqual(scan.stop, { kind: 'end', offset: STREAM.length });
});

test('a stream cut at any byte yields the whole records before the cut and a torn verdict at the next', () => {
  for (let cut = 0; cut <= STREAM.length; cut++) {
    const scan = scanRecords(STREAM.subarray(0, cut));
    const whole = STARTS.filter((start) => start > 0 && start <= cut).length;
    assert.equal(scan.records.length, whole, `cut at ${cut}`);
    const next = STARTS[whole]!;
    if (cut === next) {
      assert.deepEqual(scan.stop, { kind: 'end', offset: cut });
    } else {
      const reason = cut - next < RECORD_HEADER_BYTES ? 'torn-header' : 'torn-body';
      assert.deepEqual(scan.stop, { kind: 'bad', offset: next, reason }, `cut at ${cut}`);
    }
  }
});

test('a flipped byte anywhere in a record stops the scan at that record', () => {
  for (let at = 0; at < STREAM.length; at++) {
    const damaged = Buffer.from(STREAM);
    damaged[at]! ^= 0x40;
    const scan = scanRecords(damaged);
    const record = STARTS.findIndex((start, i) => at >= start && at < STARTS[i + 1]!);
    assert.equal(scan.records.length, record, `flip at ${at}`);
    assert.equal(scan.stop.kind, 'bad', `flip at ${at}`);
    assert.equal(scan.stop.offset, STARTS[record], `flip at ${at}`);
    // In the payload or crc field the checksum catches it; in the length field the record
    // simply no longer fits the buffer, or its checksum covers the wrong bytes.
    if (at >= STARTS[record]! + 4) assert.equal(scan.stop.kind === 'bad' && scan.stop.reason, 'checksum', `flip at ${at}`);
  }
});

test('a zero length (a zero-filled tail) is a bad record, never an empty one', () => {
  const zeros = Buffer.concat([STREAM, Buffer.alloc(64)]);
  const scan = scanRecords(zeros);
  assert.equal(scan.records.length, PAYLOADS.length);
  assert.deepEqual(scan.stop, { kind: 'bad', offset: STREAM.length, reason: 'zero-length' });
  assert.throws(() => encodeRecord(Buffer.alloc(0)), RangeError);
});

test('a length above the maximum is refused before any body is read', () => {
  const header = Buffer.alloc(RECORD_HEADER_BYTES);
  header.writeUInt32BE(RECORD_BYTES_MAX + 1, 0);
  // Only the header exists: the verdict must come from the length alone, not "torn body".
  assert.deepEqual(readRecord(header, 0), { kind: 'bad', offset: 0, reason: 'too-long' });
  header.writeUInt32BE(100, 0);
  assert.deepEqual(readRecord(header, 0, 99), { kind: 'bad', offset: 0, reason: 'too-long' });
  assert.throws(() => encodeRecord(Buffer.allocUnsafe(RECORD_BYTES_MAX + 1)), RangeError);
});

test('a record whose checksum field is wrong is a checksum failure', () => {
  const frame = encodeRecord(Buffer.from('payload'));
  frame.writeUInt32BE((crc32(Buffer.from('payload')) + 1) >>> 0, 4);
  assert.deepEqual(readRecord(frame, 0), { kind: 'bad', offset: 0, reason: 'checksum' });
});

test('reading at an offset returns a view into the buffer and where the next record starts', () => {
  const read = readRecord(STREAM, STARTS[1]!);
  assert.equal(read.kind, 'record');
  assert.equal(read.kind === 'record' && read.payload.toString(), 'the second record');
  assert.equal(read.kind === 'record' && read.next, STARTS[2]);
});
