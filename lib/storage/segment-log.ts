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
// Reading (open). The segments are read in order and every record is checked, up to the first
// bad one. By the property above, a bad record is one of two things:
//   TORN    in the last segment, a record the file ends inside of (torn-header or torn-body,
//           records.ts): the write that was in flight at the crash, which nobody was told was
//           durable, and nothing can follow it. It is cut off with a log line ('torn-tail-cut').
//   DAMAGE  everything else: a header or body checksum that fails anywhere, a record cut short
//           in a sealed segment, a gap in the segment numbers (a lost segment). Those bytes may
//           have been synced and acknowledged. (A whole-looking record with a bad checksum at
//           the very end may also be a crash on a file system that grew the file before its
//           data reached the disk; nothing tells that from rot, so it is damage too.)
// Damage is not refused: open reports it (file, offset, reason, what a cut drops) and touches
// nothing, so that the caller can first record durably that the replica is damaged
// (replica-store.ts, docs/storage.md). Then cut() drops the damage and everything after it: the
// later segments, newest first and each unlink durable, so that a crash part-way leaves a
// contiguous run that still shows the damage; then the damaged segment is truncated at the bad
// record. Torn or cut, the valid bytes of the last segment are then written again and
// fdatasynced before anyone trusts them: they may be bytes a failed fsync left in the page cache
// only (D1). A lost NEWEST segment cannot be noticed: the log just looks shorter.
//
// Compaction. deleteBelow(n) removes the segments numbered below n, oldest first, so that what
// survives a crash part-way is always a contiguous run of segments; a gap in the numbering at
// open is a lost segment, damage, never something to paper over.

import assert from 'node:assert/strict';
import * as path from 'node:path';
import { io, StorageError } from './errors.js';
import { type BadRecordReason, encodeRecord, scanRecords } from './records.js';
import { OWNER_ONLY_FILE_MODE, syncDirectory, writeFully, type StorageFile, type StorageFs } from './storage-fs.js';

export const SEGMENT_BYTES_MAX_DEFAULT = 64 * 1024 * 1024;

const SEGMENT_NAME = /^log-(\d{8})\.seg$/;

export function segmentFileName(segment: number): string {
  return `log-${String(segment).padStart(8, '0')}.seg`;
}

/** Where a record was found at open: for the reader's own error messages. */
export interface RecordPlace {
  segment: number;
  file: string;
  offset: number;
}

/** Damage found at open (see the header), and what cutting it drops. */
export interface LogDamage {
  /** The segment holding the bad record, or the missing segment. */
  file: string;
  /** Where the bad record starts in `file`; null for a missing segment. */
  offset: number | null;
  reason: BadRecordReason | 'missing-segment';
  /** Bytes of `file` from the bad record on (0 for a missing segment). */
  bytesCut: number;
  /** Segments after the damaged or missing one, all deleted by the cut. */
  segmentsDropped: number;
  /** The cut in one line, e.g. "log cut at log-00000003.seg offset 4096; 2 later segments dropped". */
  dropped: string;
}

/** What open found: a log ready for appends, or damage that cut() must drop first. */
export type OpenedSegmentLog =
  | { damage: null; log: SegmentLog }
  | { damage: LogDamage; cut: () => Promise<SegmentLog> };

/** The outcome of reading the segments at open. */
interface LogRead {
  /** The segments that stay, ascending and contiguous; appends go to the last. */
  kept: number[];
  /** The last kept segment's bytes as read, and how many of them stay. */
  data: Buffer;
  validBytes: number;
  /** The bytes after validBytes are a torn tail. */
  torn: boolean;
  damage: LogDamage | null;
}

interface SegmentLogOptions {
  fs: StorageFs;
  /** A segment is rolled before a record would take it past this size. */
  segmentBytesMax: number;
  /** Called at open for every valid record before the end of the log or the damage, in written
   *  order. */
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

  /** Reads and checks every segment. Without damage: cuts a torn tail and opens the last segment
   *  for appends. With damage: changes nothing, and returns it with the cut to run. */
  static async open(dir: string, options: SegmentLogOptions): Promise<OpenedSegmentLog> {
    assert.ok(options.segmentBytesMax > 0, 'segmentBytesMax must be positive');
    const { fs } = options;
    const listed = await listSegments(fs, dir);
    if (listed.length === 0) {
      const file = await createSegment(fs, dir, 1);
      return { damage: null, log: new SegmentLog(dir, fs, options.segmentBytesMax, [1], file, 0) };
    }
    const read = await readSegments(fs, dir, listed, options.onRecord);
    if (read.damage === null) return { damage: null, log: await SegmentLog.resume(dir, options, read) };
    let cut = false;
    return {
      damage: read.damage,
      cut: async () => {
        assert.ok(!cut, 'the damage is cut once');
        cut = true;
        const last = read.kept.at(-1)!;
        await deleteSegments(fs, dir, listed.filter((segment) => segment > last).reverse());
        return SegmentLog.resume(dir, options, read);
      },
    };
  }

  /** Deletes every segment in `dir`, newest first, each unlink durable; returns how many. */
  static async deleteAll(fs: StorageFs, dir: string): Promise<number> {
    const listed = await listSegments(fs, dir);
    await deleteSegments(fs, dir, listed.reverse());
    return listed.length;
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
      const below = this.segmentNumbers.filter((number) => number < segment);
      await deleteSegments(this.fs, this.dir, below);
      this.segmentNumbers.splice(0, below.length);
      return below.length;
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

  /** At open, once nothing after the kept segments is left: the last kept segment opened for
   *  appends, settled. */
  private static async resume(dir: string, options: SegmentLogOptions, read: LogRead): Promise<SegmentLog> {
    const name = segmentFileName(read.kept.at(-1)!);
    const file = await io(`open ${name}`, options.fs.open(path.join(dir, name), 'r+'));
    const log = new SegmentLog(dir, options.fs, options.segmentBytesMax, read.kept, file, read.validBytes);
    try {
      await log.settleLastSegment(read, options.log);
    } catch (error) {
      await file.close(); // the open failed: do not leak the handle
      throw error;
    }
    return log;
  }

  /** Cuts whatever follows the valid bytes of the last segment (`read.data`, as read: a torn
   *  tail, or damage the caller has recorded), writes the valid bytes again where they are, and
   *  makes the segment and the directory durable before anyone trusts them.
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
  private async settleLastSegment(read: LogRead, log: SegmentLogOptions['log']): Promise<void> {
    const name = segmentFileName(this.currentSegment);
    if (read.data.length > this.bytes) {
      await io(`truncate ${name}`, this.file.truncate(this.bytes));
      if (read.torn) log('torn-tail-cut', { file: path.join(this.dir, name), offset: this.bytes, bytesCut: read.data.length - this.bytes });
    }
    await writeFully(this.file, read.data.subarray(0, this.bytes), 0, `rewrite ${name}`);
    await io(`fdatasync ${name}`, this.file.datasync());
    await syncDirectory(this.fs, this.dir);
  }
}

/** The segment numbers in `dir`, ascending (a gap is for readSegments to find). */
async function listSegments(fs: StorageFs, dir: string): Promise<number[]> {
  const names = await io(`list ${dir}`, fs.readdir(dir));
  const segments = names.flatMap((name) => {
    const match = SEGMENT_NAME.exec(name);
    return match ? [Number(match[1])] : [];
  });
  return segments.sort((a, b) => a - b);
}

/** Creates an empty, owner-only segment (never over an existing file, so the mode always
 *  applies) and makes its directory entry durable. */
async function createSegment(fs: StorageFs, dir: string, segment: number): Promise<StorageFile> {
  const name = segmentFileName(segment);
  const file = await io(`create ${name}`, fs.open(path.join(dir, name), 'wx', OWNER_ONLY_FILE_MODE));
  await syncDirectory(fs, dir);
  return file;
}

/** Deletes `segments` in the order given, each unlink made durable before the next. */
async function deleteSegments(fs: StorageFs, dir: string, segments: readonly number[]): Promise<void> {
  for (const segment of segments) {
    const name = segmentFileName(segment);
    await io(`delete ${name}`, fs.unlink(path.join(dir, name)));
    await syncDirectory(fs, dir);
  }
}

/** Reads the `listed` segments in order, handing every valid record to `onRecord`, up to the end
 *  of the log, a torn tail or the first damage (see the header). */
async function readSegments(fs: StorageFs, dir: string, listed: number[], onRecord: SegmentLogOptions['onRecord']): Promise<LogRead> {
  let data: Buffer = Buffer.alloc(0);
  for (const [index, segment] of listed.entries()) {
    const later = listed.length - index - 1;
    if (index > 0 && segment !== listed[index - 1]! + 1) {
      return { kept: listed.slice(0, index), data, validBytes: data.length, torn: false, damage: missingSegment(dir, listed[index - 1]!, later + 1) };
    }
    const file = path.join(dir, segmentFileName(segment));
    data = await io(`read ${file}`, fs.readFile(file));
    const scan = scanRecords(data);
    for (const record of scan.records) onRecord(record.payload, { segment, file, offset: record.offset });
    if (scan.stop.kind === 'end') continue;
    const { offset, reason } = scan.stop;
    const kept = listed.slice(0, index + 1);
    // The file ends inside the record, and it is the newest segment: the write a crash tore.
    if (later === 0 && (reason === 'torn-header' || reason === 'torn-body')) return { kept, data, validBytes: offset, torn: true, damage: null };
    return { kept, data, validBytes: offset, torn: false, damage: badRecord(file, offset, reason, data.length - offset, later) };
  }
  return { kept: listed, data, validBytes: data.length, torn: false, damage: null };
}

function badRecord(file: string, offset: number, reason: BadRecordReason, bytesCut: number, segmentsDropped: number): LogDamage {
  const dropped = `log cut at ${path.basename(file)} offset ${offset} (${bytesCut} bytes)${laterDropped(segmentsDropped)}`;
  return { file, offset, reason, bytesCut, segmentsDropped, dropped };
}

/** The segment after `before` is missing; `segmentsDropped` segments follow the gap. */
function missingSegment(dir: string, before: number, segmentsDropped: number): LogDamage {
  const missing = segmentFileName(before + 1);
  const dropped = `${missing} is missing: log cut after ${segmentFileName(before)}${laterDropped(segmentsDropped)}`;
  return { file: path.join(dir, missing), offset: null, reason: 'missing-segment', bytesCut: 0, segmentsDropped, dropped };
}

function laterDropped(segments: number): string {
  return segments === 0 ? '' : `; ${segments} later segment${segments === 1 ? '' : 's'} dropped`;
}
