// An append-only log of records (records.ts) kept in numbered segment files:
//
//   log-00000001.seg  log-00000002.seg  ...  log-0000000N.seg   ← only the last one grows
//
// Writing. append() writes ONE record and fdatasyncs it before it returns, and a second append
// may not start until the first has finished. The caller batches everything that queued up
// meanwhile into that one record (group commit, replica-store.ts). Together these give the
// property the reader relies on (disk rule D6, docs/architecture.md): at a crash, only the newest
// record of the newest segment can be incomplete, because every earlier byte was already synced.
// A segment is rolled (a new file started) when the next record would push it past the size
// limit; the new file's directory entry is fsynced before any record goes into it.
//
// Reading (open). Every segment is read and checked in order. A bad record is a torn tail, and
// is cut off with a log line, only if it is in the last segment and no valid record follows it
// anywhere in that file: then it is the write that was in flight at the crash, which nobody was
// told was durable. Anything else means bytes that had been synced are damaged: StorageError
// CORRUPT naming the file and offset, and the replica refuses to start (D6) — never a skip.
// The valid bytes of the last segment are then written again and fdatasynced before anyone
// trusts them: they may be bytes a failed fsync left in the page cache only (D1).
//
// Compaction. deleteBelow(n) removes the segments numbered below n, oldest first, so that what
// survives a crash part-way is always a contiguous run of segments; a gap in the numbering at
// open is corruption (a segment lost), not something to paper over.

import assert from 'node:assert/strict';
import * as path from 'node:path';
import { corruptError, io, StorageError } from './errors.js';
import { encodeRecord, readRecord, RECORD_BYTES_MAX, RECORD_HEADER_BYTES, scanRecords } from './records.js';
import { OWNER_ONLY_FILE_MODE, syncDirectory, writeFully, type StorageFile, type StorageFs } from './storage-fs.js';

export const SEGMENT_BYTES_MAX_DEFAULT = 64 * 1024 * 1024;

const SEGMENT_NAME = /^log-(\d{8})\.seg$/;

/** Checksum work the torn-tail search may spend before it gives up and calls the damage
 *  corruption (the safe verdict: refusing to start loses no acknowledged data). */
const TAIL_SEARCH_CRC_BYTES_MAX = 256 * 1024 * 1024;

export function segmentFileName(segment: number): string {
  return `log-${String(segment).padStart(8, '0')}.seg`;
}

/** Where a record was found at open: for the reader's own error messages. */
export interface RecordPlace {
  segment: number;
  file: string;
  offset: number;
}

interface SegmentLogOptions {
  fs: StorageFs;
  /** A segment is rolled before a record would take it past this size. */
  segmentBytesMax: number;
  /** Called at open for every valid record, in written order. */
  onRecord: (payload: Buffer, place: RecordPlace) => void;
  log: (event: string, fields: Record<string, unknown>) => void;
}

export class SegmentLog {
  private readonly dir: string;
  private readonly fs: StorageFs;
  private readonly segmentBytesMax: number;
  /** Segment numbers on disk: ascending, contiguous, never empty; the last one is `file`. */
  private readonly segmentNumbers: number[];
  private file: StorageFile;
  /** Size of the last segment; every byte of it is durable whenever no append is running. */
  private bytes: number;
  /** An append or roll is running (at most one at a time: the D6 rule). */
  private busy = false;
  /** A write or fsync failed: the file state is unknown, so the log accepts nothing more (D1). */
  private broken = false;

  private constructor(dir: string, fs: StorageFs, segmentBytesMax: number, segments: number[], file: StorageFile, bytes: number) {
    this.dir = dir;
    this.fs = fs;
    this.segmentBytesMax = segmentBytesMax;
    this.segmentNumbers = segments;
    this.file = file;
    this.bytes = bytes;
  }

  /** Reads and checks every segment, cuts a torn tail, and opens the last segment for appends. */
  static async open(dir: string, options: SegmentLogOptions): Promise<SegmentLog> {
    assert.ok(options.segmentBytesMax > 0, 'segmentBytesMax must be positive');
    const { fs } = options;
    const segments = await listSegments(fs, dir);
    if (segments.length === 0) {
      const file = await createSegment(fs, dir, 1);
      return new SegmentLog(dir, fs, options.segmentBytesMax, [1], file, 0);
    }
    let last: { validBytes: number; data: Buffer } = { validBytes: 0, data: Buffer.alloc(0) };
    for (const [index, segment] of segments.entries()) {
      last = await loadSegment(fs, dir, segment, index === segments.length - 1, options.onRecord);
    }
    const name = segmentFileName(segments.at(-1)!);
    const file = await io(`open ${name}`, fs.open(path.join(dir, name), 'r+'));
    const log = new SegmentLog(dir, fs, options.segmentBytesMax, segments, file, last.validBytes);
    try {
      await log.settleLastSegment(last.data, options.log);
    } catch (error) {
      await file.close(); // the open failed: do not leak the handle
      throw error;
    }
    return log;
  }

  /** The segment appends go to. */
  get currentSegment(): number {
    return this.segmentNumbers.at(-1)!;
  }

  /** Segment numbers on disk, oldest first. */
  get segments(): readonly number[] {
    return this.segmentNumbers;
  }

  /** Writes `payload` as one record and makes it durable; returns the segment it went into. */
  async append(payload: Uint8Array): Promise<number> {
    const frame = encodeRecord(payload);
    return this.exclusively(async () => {
      if (this.bytes > 0 && this.bytes + frame.length > this.segmentBytesMax) await this.startNextSegment();
      const name = segmentFileName(this.currentSegment);
      await writeFully(this.file, frame, this.bytes, `write ${name}`);
      await io(`fdatasync ${name}`, this.file.datasync());
      this.bytes += frame.length;
      return this.currentSegment;
    });
  }

  /** Starts a new segment unless the current one is empty, so that everything written so far
   *  lies in segments that deleteBelow(currentSegment) may remove. */
  async roll(): Promise<void> {
    await this.exclusively(async () => {
      if (this.bytes > 0) await this.startNextSegment();
    });
  }

  /** Deletes every segment numbered below `segment` (never the current one), oldest first, each
   *  unlink made durable before the next, so a crash leaves the survivors contiguous. */
  async deleteBelow(segment: number): Promise<number> {
    assert.ok(segment <= this.currentSegment, 'the current segment is never deleted');
    return this.exclusively(async () => {
      let deleted = 0;
      while (this.segmentNumbers[0]! < segment) {
        const name = segmentFileName(this.segmentNumbers[0]!);
        await io(`delete ${name}`, this.fs.unlink(path.join(this.dir, name)));
        await syncDirectory(this.fs, this.dir);
        this.segmentNumbers.shift();
        deleted++;
      }
      return deleted;
    });
  }

  async close(): Promise<void> {
    assert.ok(!this.busy, 'close while an append is running');
    this.broken = true;
    await io(`close ${segmentFileName(this.currentSegment)}`, this.file.close());
  }

  /** Runs `work` as the only operation in flight; any failure leaves the log broken for good. */
  private async exclusively<T>(work: () => Promise<T>): Promise<T> {
    assert.ok(!this.busy, 'SegmentLog: one operation at a time (only the newest record may be torn)');
    if (this.broken) throw new StorageError('IO', `segment log in ${this.dir} is closed or failed earlier`);
    this.busy = true;
    try {
      return await work();
    } catch (error) {
      this.broken = true;
      throw error;
    } finally {
      this.busy = false;
    }
  }

  private async startNextSegment(): Promise<void> {
    const next = this.currentSegment + 1;
    const file = await createSegment(this.fs, this.dir, next);
    await io(`close ${segmentFileName(this.currentSegment)}`, this.file.close());
    this.segmentNumbers.push(next);
    this.file = file;
    this.bytes = 0;
  }

  /** At open: cut whatever follows the valid records of the last segment (`data`, as read;
   *  loadSegment proved the rest a torn tail), write the valid bytes again where they are, and
   *  make the segment and the directory durable before anyone trusts them.
   *
   *  The fdatasync matters even with nothing cut: after the process died, the previous
   *  incarnation's last write may still be only in the page cache. The rewrite matters after a
   *  failed fsync (D1): Linux may then have marked the pages clean without writing them, so the
   *  bytes we just read came from the cache, an fdatasync would not write them (they are not
   *  dirty), and a power loss would take away records this replica is about to vote with.
   *  Writing them again makes them dirty, so the fdatasync writes them; it costs one sequential
   *  write of this segment per start.
   *
   *  Only the last segment can hold such bytes. A segment is sealed (startNextSegment) only from
   *  inside an append or roll, which run one at a time and never after a failed write or fsync
   *  (the log is then broken for good), so every byte of it was fdatasynced successfully before
   *  the next segment was started; the segment a restart appends to is made durable here first.
   *  The directory fsync makes the name of every file created, renamed or unlinked in the
   *  directory durable too, whoever did it: the atomic files need no rewrite, because
   *  writeFileAtomic fdatasyncs a file's bytes before the rename that publishes them (a failed
   *  fdatasync stops it before the rename), so only their names could still be in doubt. (A
   *  failed directory fsync does not drop names as a failed fdatasync drops pages: they go
   *  through the file system's journal, which commits them later or stops the file system.) */
  private async settleLastSegment(data: Buffer, log: SegmentLogOptions['log']): Promise<void> {
    const name = segmentFileName(this.currentSegment);
    if (data.length > this.bytes) {
      await io(`truncate ${name}`, this.file.truncate(this.bytes));
      log('torn-tail-cut', { file: path.join(this.dir, name), offset: this.bytes, bytesCut: data.length - this.bytes });
    }
    await writeFully(this.file, data.subarray(0, this.bytes), 0, `rewrite ${name}`);
    await io(`fdatasync ${name}`, this.file.datasync());
    await syncDirectory(this.fs, this.dir);
  }
}

/** The segment numbers in `dir`, ascending; a gap means a lost segment, which is corruption. */
async function listSegments(fs: StorageFs, dir: string): Promise<number[]> {
  const names = await io(`list ${dir}`, fs.readdir(dir));
  const segments = names.flatMap((name) => {
    const match = SEGMENT_NAME.exec(name);
    return match ? [Number(match[1])] : [];
  });
  segments.sort((a, b) => a - b);
  for (let i = 1; i < segments.length; i++) {
    if (segments[i] !== segments[i - 1]! + 1) {
      const missing = path.join(dir, segmentFileName(segments[i - 1]! + 1));
      throw corruptError(missing, null, `segment missing between ${segmentFileName(segments[i - 1]!)} and ${segmentFileName(segments[i]!)}`);
    }
  }
  return segments;
}

/** Creates an empty, owner-only segment (never over an existing file, so the mode always
 *  applies) and makes its directory entry durable. */
async function createSegment(fs: StorageFs, dir: string, segment: number): Promise<StorageFile> {
  const name = segmentFileName(segment);
  const file = await io(`create ${name}`, fs.open(path.join(dir, name), 'wx', OWNER_ONLY_FILE_MODE));
  await syncDirectory(fs, dir);
  return file;
}

/** Reads one segment, hands its valid records to `onRecord`, and returns how many of its bytes
 *  are valid, with the bytes read. Throws CORRUPT unless every byte is valid or the bad part is a
 *  torn tail. */
async function loadSegment(
  fs: StorageFs,
  dir: string,
  segment: number,
  isLast: boolean,
  onRecord: SegmentLogOptions['onRecord'],
): Promise<{ validBytes: number; data: Buffer }> {
  const file = path.join(dir, segmentFileName(segment));
  const data = await io(`read ${file}`, fs.readFile(file));
  const scan = scanRecords(data);
  for (const record of scan.records) onRecord(record.payload, { segment, file, offset: record.offset });
  if (scan.stop.kind === 'end') return { validBytes: data.length, data };
  const { offset, reason } = scan.stop;
  if (!isLast) throw corruptError(file, offset, `bad record (${reason}) in a segment that was sealed and synced`);
  const after = searchForRecord(data, offset + 1);
  if (after === 'gave-up') throw corruptError(file, offset, `bad record (${reason}); could not rule out valid records after it`);
  if (after !== null) throw corruptError(file, offset, `bad record (${reason}) followed by a valid record at offset ${after}`);
  return { validBytes: offset, data };
}

/** The first offset at or after `from` where a valid record starts, or null if there is none.
 *  Used to tell a torn tail (nothing valid after the damage) from corruption. Only offsets whose
 *  length field is plausible are checksummed, and the total checksum work is bounded. */
function searchForRecord(data: Buffer, from: number): number | null | 'gave-up' {
  let checksummed = 0;
  for (let offset = from; offset + RECORD_HEADER_BYTES < data.length; offset++) {
    const length = data.readUInt32BE(offset);
    if (length === 0 || length > RECORD_BYTES_MAX || offset + RECORD_HEADER_BYTES + length > data.length) continue;
    checksummed += length;
    if (checksummed > TAIL_SEARCH_CRC_BYTES_MAX) return 'gave-up';
    if (readRecord(data, offset).kind === 'record') return offset;
  }
  return null;
}
