// Record framing: the unit in which bytes reach the disk and come back.
//
//   [u32 BE length][u32 BE crc32 of payload][payload: `length` bytes]
//
// Reading is a pure function over a Buffer. It never trusts the length prefix: a length of
// zero or above the maximum is a bad record, decided before any body is looked at, and a body
// is only returned when its checksum matches. The reader does not decide what a bad record
// *means* (a torn tail after a crash, or corruption of data that was durable); that depends on
// where it sits, which only the segment log knows (segment-log.ts).

import { crc32 } from './crc32.js';

export const RECORD_HEADER_BYTES = 8;

/** Largest payload a segment record may carry. A group-commit batch is one record, so this
 *  also bounds one batch. */
export const RECORD_BYTES_MAX = 64 * 1024 * 1024;

/** Why a record could not be read. 'torn-*' mean the buffer ended inside the record. */
type BadRecordReason = 'torn-header' | 'torn-body' | 'zero-length' | 'too-long' | 'checksum';

type RecordRead =
  /** A whole record with a matching checksum; the next one starts at `next`. */
  | { kind: 'record'; offset: number; payload: Buffer; next: number }
  /** No bytes left at `offset`: the buffer ends exactly on a record boundary. */
  | { kind: 'end'; offset: number }
  | { kind: 'bad'; offset: number; reason: BadRecordReason };

interface RecordScan {
  records: Array<{ offset: number; payload: Buffer }>;
  /** Where and why the scan stopped: 'end' if every byte belonged to a good record. */
  stop: Extract<RecordRead, { kind: 'end' | 'bad' }>;
}

/** Frames `payload` as one record: header and body in a single buffer, ready for one write. */
export function encodeRecord(payload: Uint8Array): Buffer {
  // Length zero is reserved: an all-zero header is what a file extended but never written
  // looks like, and must not pass for a valid (empty) record.
  if (payload.length === 0 || payload.length > RECORD_BYTES_MAX) {
    throw new RangeError(`record payload of ${payload.length} bytes is outside 1..${RECORD_BYTES_MAX}`);
  }
  const frame = Buffer.allocUnsafe(RECORD_HEADER_BYTES + payload.length);
  frame.writeUInt32BE(payload.length, 0);
  frame.writeUInt32BE(crc32(payload), 4);
  frame.set(payload, RECORD_HEADER_BYTES);
  return frame;
}

/** Reads the record starting at `offset`. The payload is a view into `buffer`, not a copy. */
export function readRecord(buffer: Buffer, offset: number, bytesMax = RECORD_BYTES_MAX): RecordRead {
  const available = buffer.length - offset;
  if (available === 0) return { kind: 'end', offset };
  if (available < RECORD_HEADER_BYTES) return { kind: 'bad', offset, reason: 'torn-header' };
  const length = buffer.readUInt32BE(offset);
  if (length === 0) return { kind: 'bad', offset, reason: 'zero-length' };
  if (length > bytesMax) return { kind: 'bad', offset, reason: 'too-long' };
  if (available < RECORD_HEADER_BYTES + length) return { kind: 'bad', offset, reason: 'torn-body' };
  const start = offset + RECORD_HEADER_BYTES;
  const payload = buffer.subarray(start, start + length);
  if (crc32(payload) !== buffer.readUInt32BE(offset + 4)) return { kind: 'bad', offset, reason: 'checksum' };
  return { kind: 'record', offset, payload, next: start + length };
}

/** Reads records from `offset` until the buffer ends or a record is bad. */
export function scanRecords(buffer: Buffer, offset = 0, bytesMax = RECORD_BYTES_MAX): RecordScan {
  const records: RecordScan['records'] = [];
  for (;;) {
    const read = readRecord(buffer, offset, bytesMax);
    if (read.kind !== 'record') return { records, stop: read };
    records.push({ offset: read.offset, payload: read.payload });
    offset = read.next;
  }
}
