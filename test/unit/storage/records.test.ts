import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crc32 } from '../../../lib/storage/crc32.js';
import { encodeRecord, encodeRecordHeader, readRecord, RECORD_BYTES_MAX, RECORD_HEADER_BYTES, scanRecords } from '../../../lib/storage/records.js';

const PAYLOADS = ['first', 'the second record', 'x'].map((text) => Buffer.from(text));
const STREAM = Buffer.concat(PAYLOADS.map(encodeRecord));
/** Byte offset at which each record starts, plus the end. */
const STARTS = PAYLOADS.reduce((starts, p) => [...starts, starts.at(-1)! + RECORD_HEADER_BYTES + p.length], [0]);

test('a record is [u32 BE length][u32 BE crc32 of payload][u32 BE crc32 of the 8 bytes before][payload]', () => {
  const frame = encodeRecord(Buffer.from('123456789'));
  assert.equal(RECORD_HEADER_BYTES, 12);
  assert.equal(frame.readUInt32BE(0), 9);
  assert.equal(frame.readUInt32BE(4), 0xcbf43926);
  assert.equal(frame.readUInt32BE(8), crc32(frame.subarray(0, 8)));
  assert.equal(frame.subarray(12).toString(), '123456789');
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

test('a flipped byte anywhere in a record stops the scan there: in the header a bad header, in the body a bad checksum', () => {
  for (let at = 0; at < STREAM.length; at++) {
    const damaged = Buffer.from(STREAM);
    damaged[at]! ^= 0x40;
    const scan = scanRecords(damaged);
    const record = STARTS.findIndex((start, i) => at >= start && at < STARTS[i + 1]!);
    assert.equal(scan.records.length, record, `flip at ${at}`);
    // Never a torn verdict: the header checks itself, so a flipped length cannot make the record
    // seem to run past the end of the buffer.
    const reason = at < STARTS[record]! + RECORD_HEADER_BYTES ? 'bad-header' : 'checksum';
    assert.deepEqual(scan.stop, { kind: 'bad', offset: STARTS[record], reason }, `flip at ${at}`);
  }
});

test('a zero-filled tail is a bad header, never an empty record; fewer than 12 zeros a torn header', () => {
  const zeros = Buffer.concat([STREAM, Buffer.alloc(64)]);
  const scan = scanRecords(zeros);
  assert.equal(scan.records.length, PAYLOADS.length);
  assert.deepEqual(scan.stop, { kind: 'bad', offset: STREAM.length, reason: 'bad-header' });
  assert.deepEqual(scanRecords(zeros.subarray(0, STREAM.length + RECORD_HEADER_BYTES - 1)).stop, { kind: 'bad', offset: STREAM.length, reason: 'torn-header' });
  assert.throws(() => encodeRecord(Buffer.alloc(0)), RangeError);
});

test('a header that checks out on a length of zero is a bad header: nobody writes one', () => {
  const header = Buffer.alloc(RECORD_HEADER_BYTES);
  header.writeUInt32BE(crc32(header.subarray(0, 8)), 8);
  assert.deepEqual(readRecord(header, 0), { kind: 'bad', offset: 0, reason: 'bad-header' });
});

test('a length above the maximum in a header that checks out is refused before any body is read', () => {
  const header = encodeRecordHeader(RECORD_BYTES_MAX, 0);
  header.writeUInt32BE(RECORD_BYTES_MAX + 1, 0);
  header.writeUInt32BE(crc32(header.subarray(0, 8)), 8);
  // Only the header exists: the verdict must come from the length alone, not "torn body".
  assert.deepEqual(readRecord(header, 0), { kind: 'bad', offset: 0, reason: 'too-long' });
  assert.deepEqual(readRecord(encodeRecordHeader(100, 0), 0, 99), { kind: 'bad', offset: 0, reason: 'too-long' });
  assert.throws(() => encodeRecord(Buffer.allocUnsafe(RECORD_BYTES_MAX + 1)), RangeError);
  assert.throws(() => encodeRecordHeader(100, 0, 99), RangeError);
});

test('a record whose header checks out but whose payload checksum does not match is a checksum failure', () => {
  const payload = Buffer.from('payload');
  const frame = Buffer.concat([encodeRecordHeader(payload.length, (crc32(payload) + 1) >>> 0), payload]);
  assert.deepEqual(readRecord(frame, 0), { kind: 'bad', offset: 0, reason: 'checksum' });
});

test('reading at an offset returns a view into the buffer and where the next record starts', () => {
  const read = readRecord(STREAM, STARTS[1]!);
  assert.equal(read.kind, 'record');
  assert.equal(read.kind === 'record' && read.payload.toString(), 'the second record');
  assert.equal(read.kind === 'record' && read.next, STARTS[2]);
});
