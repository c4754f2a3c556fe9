// Record framing: the unit in which bytes reach the disk and come back.
//
//   [u32 BE length][u32 BE crc32 of payload][u32 BE crc32 of the 8 bytes before it][payload]
//
// The header checks itself. Without that, a flipped bit in the length field of the newest record
// would make the record seem to run past the end of the file, exactly like a write a crash cut
// short, and the record would be cut as a torn tail although it had been synced and
// acknowledged. With it, "the file ends inside this record" is only ever concluded from a header
// that is whole and checks out (docs/storage.md).
//
// Reading is a pure function over a Buffer, and never trusts the length before the header
// checksum has vouched for it. A body is returned only when its checksum matches. The reader
// says why a record is bad, not what that means: a torn write after a crash, or damage to bytes
// that were durable, depends on where the record sits, which only the segment log knows
// (segment-log.ts, disk rule D6 of docs/architecture.md).

import { crc32 } from './crc32.js';

export const RECORD_HEADER_BYTES = 12;

/** The header bytes the header checksum covers: the length and the payload checksum. */
const CHECKED_HEADER_BYTES = 8;

/** Largest payload a segment record may carry. A group-commit batch is one record, so this
 *  also bounds one batch. */
export const RECORD_BYTES_MAX = 64 * 1024 * 1024;

/** Why a record could not be read:
 *    torn-header  fewer than RECORD_HEADER_BYTES bytes left: the buffer ends inside the header
 *    bad-header   the header checksum fails, or it passes on a length of zero (which nobody
 *                 writes: encodeRecord refuses it)
 *    too-long     the header checks out but the length is above the maximum (a bug)
 *    torn-body    the header checks out and the buffer ends before the body does
 *    checksum     header and body are whole, and the body checksum fails
 *  Only the 'torn-*' reasons say the buffer ended inside the record. */
export type BadRecordReason = 'torn-header' | 'bad-header' | 'too-long' | 'torn-body' | 'checksum';

type RecordRead =
  /** A whole record with matching checksums; the next one starts at `next`. */
  | { kind: 'record'; offset: number; payload: Buffer; next: number }
  /** No bytes left at `offset`: the buffer ends exactly on a record boundary. */
  | { kind: 'end'; offset: number }
  | { kind: 'bad'; offset: number; reason: BadRecordReason };

interface RecordScan {
  records: Array<{ offset: number; payload: Buffer }>;
  /** Where and why the scan stopped: 'end' if every byte belonged to a good record. */
  stop: Extract<RecordRead, { kind: 'end' | 'bad' }>;
}

/** The header of a record whose payload is `length` bytes with checksum `payloadCrc`.
 *  `bytesMax` bounds the length, as for readRecord. */
export function encodeRecordHeader(length: number, payloadCrc: number, bytesMax = RECORD_BYTES_MAX): Buffer {
  // Length zero is reserved: a record is never empty, so that a header which somehow checks out
  // on a zero length still cannot pass for a record.
  if (length === 0 || length > bytesMax) {
    throw new RangeError(`record payload of ${length} bytes is outside 1..${bytesMax}`);
  }
  const header = Buffer.allocUnsafe(RECORD_HEADER_BYTES);
  header.writeUInt32BE(length, 0);
  header.writeUInt32BE(payloadCrc, 4);
  header.writeUInt32BE(crc32(header.subarray(0, CHECKED_HEADER_BYTES)), CHECKED_HEADER_BYTES);
  return header;
}

/** Frames `payload` as one record: header and body in a single buffer, ready for one write. */
export function encodeRecord(payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(RECORD_HEADER_BYTES + payload.length);
  frame.set(encodeRecordHeader(payload.length, crc32(payload)), 0);
  frame.set(payload, RECORD_HEADER_BYTES);
  return frame;
}

/** Reads the record starting at `offset`. The payload is a view into `buffer`, not a copy.
 *  `bytesMax` bounds the length (atomic files allow more than a segment record). */
export function readRecord(buffer: Buffer, offset: number, bytesMax = RECORD_BYTES_MAX): RecordRead {
  const available = buffer.length - offset;
  if (available === 0) return { kind: 'end', offset };
  if (available < RECORD_HEADER_BYTES) return { kind: 'bad', offset, reason: 'torn-header' };
  const checked = buffer.subarray(offset, offset + CHECKED_HEADER_BYTES);
  if (crc32(checked) !== buffer.readUInt32BE(offset + CHECKED_HEADER_BYTES)) return { kind: 'bad', offset, reason: 'bad-header' };
  const length = buffer.readUInt32BE(offset);
  if (length === 0) return { kind: 'bad', offset, reason: 'bad-header' };
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
