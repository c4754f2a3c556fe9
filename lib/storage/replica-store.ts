// The replica's durable journal: what the driver (lib/server, or a test) uses to carry out the
// core's `persist` effects (driver duty 2 in lib/replication/types.ts) and to load them back at
// start-up (duty 8).
//
// One ordered stream. persist() only enqueues; a single writer loop (the "pump") takes the queue
// from the front, one step at a time, and starts a step only when the previous one is durable:
//
//   entries/replace  every consecutive one queued → ONE segment record, one write, one fdatasync
//   view             both copies of the view record, view-a.json then view-b.json, each replaced
//                    atomically (view-record.ts; of several in a row, the last wins)
//   snapshot         received by state transfer: snapshot-<op>.json written atomically, older
//                    snapshots and the segments it covers deleted
//   snapshot         taken here (coveredByLog): handed to the snapshot writer, below; the step
//                    itself is done at once
//
// After each step, onDurable(seq of its last record). Because steps run strictly one after
// another, a record is durable only after every earlier one (disk rule D3, docs/architecture.md:
// a view file is never on disk before the entries that precede it), and onDurable is called in
// seq order.
//
// A snapshot the replica took itself holds nothing the journal does not: every op it covers is
// in a record before it, already durable when the pump reaches it, and those records are deleted
// only once the snapshot's file is on disk. So it counts as durable at once (its state can be
// rebuilt from the previous snapshot and that log), and a second, background writer puts it on
// disk while log batches go on being written and fsynced. Writing the whole state takes seconds
// when the state is large; in the ordered stream it held back every PREPARE-OK for that long, on
// every replica at the same op, and under load the cluster fell into view changes. The snapshot
// writer writes one snapshot at a time and, when several wait, only the newest: an older one
// would be deleted by it straight away. When its file is durable, the pump deletes what it
// covers between two steps, so only the pump ever touches the segment log.
//
// Group commit falls out of the same loop: while one fdatasync runs, new persists pile up in the
// queue, and the next step writes all of them with a single write and a single fdatasync. Under
// load a batch grows until its fsync time is shared by many records; when idle, a lone record
// goes out at once (after the current burst of synchronous persist calls).
//
// Failure (D1): if any write, fsync or rename fails, onFailure is called once, the queue is
// dropped, and nothing is ever reported durable again — a retried fsync may "succeed" with the
// data gone. The driver must then stop the replica (duty 3).
//
// Opening a damaged directory (docs/storage.md). A torn tail is no damage: the segment log cuts
// it (disk rule D6). Damage to the log (segment-log.ts) or to the newest snapshot means the
// journal may lack ops this replica acknowledged. It is not refused — the replica repairs its
// log from its peers — but handled in this order, so that a crash at any point opens as damaged
// again:
//   1. a log line, 'storage-damaged': the file, the offset, the reason, and what is dropped;
//   2. the view record rewritten with damaged: true (view and log view as recorded, or 0 and 0),
//      both copies durable before anything is cut;
//   3. the cut: log damage drops the bad record and everything after it (SegmentLog cut());
//      snapshot damage drops every segment (newest first, each unlink durable: the log stands
//      on nothing without its base) and then every snapshot file, and the log restarts at
//      segment 1;
//   4. the journal handed back says damaged, with the records before the damage (and no
//      snapshot after snapshot damage).
// A directory whose view record already says damaged opens as damaged with nothing cut: the
// core clears the flag with a view record of its own once it has repaired its log. Still
// refused: a bad identity file, both copies of the view record unusable (view-record.ts), a
// record whose checksum matches but whose content is not what we write (a bug), and I/O errors.

import assert from 'node:assert/strict';
import * as path from 'node:path';
import type { JournalRecord, LoadedJournal, Snapshot } from '../replication/types.js';
import { readFileAtomic, readFileChecked, writeFileAtomic } from './atomic-file.js';
import { checkIdentity, formatDataDir, removeTempFiles, snapshotFileName, snapshotOps, type StoreIdentity } from './data-dir.js';
import { io, StorageError, toStorageError } from './errors.js';
import {
  batchBytes,
  decodeBatch,
  decodeSnapshot,
  encodeBatch,
  encodeLogRecord,
  type EncodedLogRecord,
  maxOpOf,
  type LogRecord,
  type ViewRecord,
} from './journal-codec.js';
import { jsonChunks } from './json-chunks.js';
import { RECORD_BYTES_MAX } from './records.js';
import { SEGMENT_BYTES_MAX_DEFAULT, SegmentLog } from './segment-log.js';
import { nodeFs, type StorageFs } from './storage-fs.js';
import { readViewRecord, writeViewRecord } from './view-record.js';

export { formatDataDir, type StoreIdentity } from './data-dir.js';

/** Formats `dir` for a replica that takes the place of one whose disk was lost: its view record
 *  says damaged from the start, so it votes in nothing until it has fetched a log from a primary
 *  (docs/storage.md, "Replacing a lost disk"). A plain format would start it whole, with an empty
 *  log it could vote with (disk rule D7). */
export function formatReplacementDataDir(dir: string, identity: StoreIdentity, fs: StorageFs = nodeFs): Promise<void> {
  return formatDataDir(dir, identity, fs, (fs, dir) => writeViewRecord(fs, dir, { kind: 'view', view: 0, logView: 0, damaged: true }));
}
export { StorageError } from './errors.js';
export { OWNER_ONLY_DIRECTORY_MODE, OWNER_ONLY_FILE_MODE } from './storage-fs.js';

interface ReplicaStoreOptions {
  /** Called in seq order with the highest seq such that it and every earlier record is durable. */
  onDurable: (seq: number) => void;
  /** Called at most once, on the first I/O failure; afterwards nothing is reported durable. */
  onFailure: (error: Error) => void;
  /** Notable events for the operator: at open a torn tail cut, a view record copy repaired, or
   *  damage found ('storage-damaged'); segments deleted by a snapshot. */
  log?: (event: string, fields: Record<string, unknown>) => void;
  /** Size at which the segment log starts a new file (default 64 MiB). */
  segmentBytesMax?: number;
  /** The file system; tests inject one that counts fsyncs or fails them. */
  fs?: StorageFs;
}

/** A persisted record waiting for the writer. Log records are encoded when persisted. */
type Queued<R> =
  | ({ kind: 'log'; seq: number } & EncodedLogRecord)
  | { kind: 'view'; seq: number; record: ViewRecord }
  | { kind: 'snapshot'; seq: number; snapshot: Snapshot<R>; coveredByLog: boolean };

/** One unit of work for the writer; durable as a whole, reported with its last seq. */
type Step<R> =
  | { kind: 'batch'; seq: number; records: EncodedLogRecord[]; bytes: number }
  | Exclude<Queued<R>, { kind: 'log' }>;

export class ReplicaStore<C, R> {
  private readonly dir: string;
  private readonly fs: StorageFs;
  private readonly options: ReplicaStoreOptions;
  private readonly segmentLog: SegmentLog;
  /** Highest op of any log record in each segment on disk (absent: the segment holds none). */
  private readonly segmentMaxOp: Map<number, number>;
  /** Ops of the snapshot files on disk. */
  private snapshotFiles: number[];
  /** The op of the newest snapshot persisted; snapshots may not go backwards. */
  private snapshotOp: number;
  private readonly queue: Queued<R>[] = [];
  /** The writer loop while it runs; null when the queue is drained. */
  private pumping: Promise<void> | null = null;
  private lastSeq = -Infinity;
  /** The snapshot writer while it runs (snapshots taken here); null when it is idle. */
  private snapshotWriting: Promise<void> | null = null;
  /** The op of the snapshot the snapshot writer is writing. */
  private snapshotWritingOp: number | null = null;
  /** The newest snapshot taken here that the snapshot writer has not started on yet. */
  private snapshotWaiting: Snapshot<R> | null = null;
  /** Set by the snapshot writer when a snapshot file is durable: the op the pump compacts to. */
  private compactTo: number | null = null;
  /** Set by the first I/O failure; nothing is reported durable after it. */
  private failed = false;
  private closing: Promise<void> | null = null;

  private constructor(dir: string, fs: StorageFs, options: ReplicaStoreOptions, loaded: Loaded<unknown, R>) {
    this.dir = dir;
    this.fs = fs;
    this.options = options;
    this.segmentLog = loaded.segmentLog;
    this.segmentMaxOp = loaded.segmentMaxOp;
    this.snapshotFiles = loaded.snapshotFiles;
    this.snapshotOp = loaded.journal.snapshot?.op ?? 0;
  }

  /** Opens a formatted data directory and loads its journal. A missing, empty or unformatted
   *  directory is NOT_FORMATTED, another replica's is WRONG_REPLICA, one in another data format
   *  is WRONG_FORMAT. Damage to the log or the snapshot opens as a damaged journal (see the
   *  header); what cannot be repaired from peers is CORRUPT. */
  static async open<C, R>(
    dir: string,
    identity: StoreIdentity,
    options: ReplicaStoreOptions,
  ): Promise<{ store: ReplicaStore<C, R>; journal: LoadedJournal<C, R> }> {
    const fs = options.fs ?? nodeFs;
    const names = await removeTempFiles(fs, dir, await checkIdentity(fs, dir, identity));
    const loaded = await loadJournal<C, R>(fs, dir, names, options);
    const store = new ReplicaStore<C, R>(dir, fs, options, loaded);
    return { store, journal: loaded.journal };
  }

  /** Enqueues `record` for durable storage; onDurable(seq) follows once it (and everything
   *  before it) is on disk. Seqs must increase. After a failure or close, records are dropped:
   *  they will never be reported durable, which is all the core needs to know. */
  persist(seq: number, record: JournalRecord<C, R>): void {
    assert.ok(Number.isSafeInteger(seq), `persist seq must be an integer, got ${seq}`);
    assert.ok(seq > this.lastSeq, `persist seq ${seq} after ${this.lastSeq}: seqs must increase`);
    this.lastSeq = seq;
    if (this.failed || this.closing !== null) return;
    this.queue.push(this.queued(seq, record));
    this.pumping ??= this.pump();
  }

  /** Waits for everything queued to be durable (or for a failure) and for the snapshot writer,
   *  then closes the files. The segments a last snapshot covers may stay: they are harmless. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      // In this order: the pump may still hand the snapshot writer a snapshot; the writer, once
      // closing, no longer wakes the pump to compact.
      await this.pumping;
      await this.snapshotWriting;
      await this.segmentLog.close();
    })();
    return this.closing;
  }

  private queued(seq: number, record: JournalRecord<C, R>): Queued<R> {
    switch (record.kind) {
      case 'entries':
      case 'replace':
        return { kind: 'log', seq, ...encodeLogRecord(record) };
      case 'view':
        return { kind: 'view', seq, record: { kind: 'view', view: record.view, logView: record.logView, damaged: record.damaged } };
      case 'snapshot':
        // Compaction deletes the log up to a snapshot's op; an older snapshot after it would
        // then have a hole between its op and the surviving log.
        assert.ok(record.snapshot.op >= this.snapshotOp, `snapshot at op ${record.snapshot.op} after one at op ${this.snapshotOp}`);
        this.snapshotOp = record.snapshot.op;
        return { kind: 'snapshot', seq, snapshot: record.snapshot, coveredByLog: record.coveredByLog };
    }
  }

  /** The writer: one step at a time, each durable before the next starts (D3), until the queue
   *  is empty or a step fails. */
  private async pump(): Promise<void> {
    // Let the current synchronous burst of persist() calls finish first, so it forms one batch.
    await Promise.resolve();
    while ((this.queue.length > 0 || this.compactTo !== null) && !this.failed) {
      const compactTo = this.compactTo;
      this.compactTo = null;
      const step = compactTo === null ? this.takeStep() : null;
      try {
        if (compactTo !== null) await this.compact(compactTo);
        else await this.write(step!);
      } catch (error) {
        this.fail(error);
        break;
      }
      // The snapshot writer may have failed meanwhile: then nothing more is reported (D1).
      if (step !== null && !this.failed) this.options.onDurable(step.seq);
    }
    this.pumping = null;
  }

  /** Removes the next step from the front of the queue. */
  private takeStep(): Step<R> {
    const queue = this.queue;
    const head = queue[0]!;
    if (head.kind === 'snapshot') return queue.shift() as Step<R>;
    let count = 1;
    if (head.kind === 'view') {
      // Only the last of consecutive view records needs writing: it supersedes the others.
      while (count < queue.length && queue[count]!.kind === 'view') count++;
      return queue.splice(0, count).at(-1) as Step<R>;
    }
    let recordBytes = head.bytes;
    for (; count < queue.length; count++) {
      const next = queue[count]!;
      if (next.kind !== 'log' || batchBytes(recordBytes + next.bytes, count + 1) > RECORD_BYTES_MAX) break;
      recordBytes += next.bytes;
    }
    const records = queue.splice(0, count) as Array<Extract<Queued<R>, { kind: 'log' }>>;
    return { kind: 'batch', seq: records.at(-1)!.seq, records, bytes: batchBytes(recordBytes, count) };
  }

  private async write(step: Step<R>): Promise<void> {
    switch (step.kind) {
      case 'batch': {
        const segment = await this.segmentLog.append(encodeBatch(step.records, step.bytes));
        let maxOp = this.segmentMaxOp.get(segment) ?? 0;
        for (const record of step.records) maxOp = Math.max(maxOp, record.maxOp);
        this.segmentMaxOp.set(segment, maxOp);
        return;
      }
      case 'view':
        return writeViewRecord(this.fs, this.dir, step.record);
      case 'snapshot':
        if (step.coveredByLog) return this.handToSnapshotWriter(step.snapshot);
        // Received by state transfer: on disk before anything after it. An older snapshot of our
        // own still being written would delete it when done, so that one finishes first and any
        // waiting one is dropped (this one is newer and covers it).
        this.snapshotWaiting = null;
        await this.snapshotWriting;
        await this.writeSnapshot(step.snapshot);
        return this.compact(step.snapshot.op);
    }
  }

  /** Queues a snapshot taken here for the snapshot writer, replacing any still waiting, and
   *  starts the writer if it is idle. */
  private handToSnapshotWriter(snapshot: Snapshot<R>): void {
    // Returns at once, so the pump goes on with the log. Safe to count as durable already: every
    // op it covers is durable in the segments (the pump reached it), which stay until its file is.
    this.snapshotWaiting = snapshot;
    this.snapshotWriting ??= this.runSnapshotWriter();
  }

  private async runSnapshotWriter(): Promise<void> {
    for (let snapshot = this.snapshotWaiting; snapshot !== null && !this.failed; snapshot = this.snapshotWaiting) {
      this.snapshotWaiting = null;
      this.snapshotWritingOp = snapshot.op;
      try {
        await this.writeSnapshot(snapshot);
      } catch (error) {
        this.fail(error);
        break;
      } finally {
        this.snapshotWritingOp = null;
      }
      if (this.closing !== null) continue;
      this.compactTo = snapshot.op;
      this.pumping ??= this.pump();
    }
    this.snapshotWriting = null;
  }

  /** The JSON of the snapshot at `op` as written to disk, checksum verified, if that snapshot is
   *  durable and on disk (waiting for the snapshot writer if it is writing it), and still there;
   *  otherwise null (not yet durable, skipped for a newer one, replaced, or unreadable: the caller
   *  encodes the snapshot it holds instead). Lets a replica send a large snapshot without encoding
   *  it again on the event loop (lib/server/snapshot-frames.ts). */
  async snapshotJson(op: number): Promise<Buffer | null> {
    // Reported durable but still being written by the snapshot writer: worth the wait, it is
    // cheaper than encoding the snapshot again.
    if (op === this.snapshotWritingOp) await this.snapshotWriting;
    if (!this.snapshotFiles.includes(op)) return null;
    try {
      return await readFileAtomic(this.fs, path.join(this.dir, snapshotFileName(op)));
    } catch {
      return null; // Deleted by a newer snapshot meanwhile, or damaged: the in-memory copy will do.
    }
  }

  /** Writes the snapshot file, then deletes the older snapshot files. The segments it covers are
   *  the caller's to delete (compact()): only the pump touches the segment log. */
  private async writeSnapshot(snapshot: Snapshot<R>): Promise<void> {
    await writeFileAtomic(this.fs, path.join(this.dir, snapshotFileName(snapshot.op)), jsonChunks(snapshot));
    // The new file is durable. An older one surviving a crash is harmless (open reads only the
    // newest), so these unlinks need no directory fsync.
    for (const op of this.snapshotFiles) {
      if (op < snapshot.op) await io(`delete ${snapshotFileName(op)}`, this.fs.unlink(path.join(this.dir, snapshotFileName(op))));
    }
    this.snapshotFiles = [snapshot.op];
  }

  /** Deletes the oldest segments while every record in them is at or below `op` (the op of a
   *  snapshot file now durable). The current segment is rolled first if it qualifies, so that it
   *  can go too. Runs in the pump only, between steps. */
  private async compact(op: number): Promise<void> {
    const maxOp = (segment: number) => this.segmentMaxOp.get(segment) ?? 0;
    if (maxOp(this.segmentLog.currentSegment) <= op) await this.segmentLog.roll();
    const firstKept = this.segmentLog.segments.find((segment) => maxOp(segment) > op) ?? this.segmentLog.currentSegment;
    const deleted = await this.segmentLog.deleteBelow(firstKept);
    for (const segment of [...this.segmentMaxOp.keys()]) if (segment < firstKept) this.segmentMaxOp.delete(segment);
    if (deleted > 0) this.options.log?.('journal-compacted', { snapshotOp: op, segmentsDeleted: deleted, firstSegment: firstKept });
  }

  /** An I/O failure stops the store for good (D1). Anything else is a bug in this code and is
   *  rethrown, to crash loudly rather than pose as a disk problem. */
  private fail(error: unknown): void {
    const failure = toStorageError('journal write', error);
    if (!(failure instanceof StorageError)) throw failure;
    this.failed = true;
    this.queue.length = 0;
    this.options.onFailure(failure);
  }
}

interface Loaded<C, R> {
  journal: LoadedJournal<C, R>;
  segmentLog: SegmentLog;
  segmentMaxOp: Map<number, number>;
  snapshotFiles: number[];
}

type OperatorLog = (event: string, fields: Record<string, unknown>) => void;

/** What the 'storage-damaged' log line says: where, why, and what is dropped. */
interface DamageReport {
  file: string;
  offset: number | null;
  reason: string;
  dropped: string;
}

/** Reads the view record, the newest snapshot and every log record, in written order; damage
 *  to the log or the snapshot is recorded and cut (see the header). */
async function loadJournal<C, R>(fs: StorageFs, dir: string, names: string[], options: ReplicaStoreOptions): Promise<Loaded<C, R>> {
  const operatorLog = options.log ?? (() => {});
  const view = await readViewRecord(fs, dir, operatorLog);
  const snapshotFiles = snapshotOps(names);
  const snapshot = await readSnapshot<R>(fs, dir, snapshotFiles.at(-1));
  const segmentLogOptions = { fs, segmentBytesMax: options.segmentBytesMax ?? SEGMENT_BYTES_MAX_DEFAULT, log: operatorLog };
  if (snapshot.kind === 'damaged') {
    const report = { ...snapshot.where, dropped: `${path.basename(snapshot.where.file)} damaged; snapshot and log dropped` };
    const damagedView = await recordDamage(fs, dir, view, operatorLog, report);
    await SegmentLog.deleteAll(fs, dir);
    for (const op of snapshotFiles) await io(`delete ${snapshotFileName(op)}`, fs.unlink(path.join(dir, snapshotFileName(op))));
    // Opening the log, now empty, creates segment 1 and syncs the directory: the unlinks too.
    const opened = await SegmentLog.open(dir, { ...segmentLogOptions, onRecord: () => assert.fail('every segment was deleted') });
    assert.ok(opened.damage === null);
    return { journal: { view: damagedView, snapshot: null, log: [] }, segmentLog: opened.log, segmentMaxOp: new Map(), snapshotFiles: [] };
  }
  const records: LogRecord<C, R>[] = [];
  const segmentMaxOp = new Map<number, number>();
  const opened = await SegmentLog.open(dir, {
    ...segmentLogOptions,
    onRecord: (payload, place) => {
      let maxOp = segmentMaxOp.get(place.segment) ?? 0;
      for (const record of decodeBatch<C, R>(payload, place)) {
        records.push(record);
        maxOp = Math.max(maxOp, maxOpOf(record));
      }
      segmentMaxOp.set(place.segment, maxOp);
    },
  });
  const journal: LoadedJournal<C, R> = { view: view && { view: view.view, logView: view.logView, damaged: view.damaged }, snapshot: snapshot.snapshot, log: records };
  if (opened.damage === null) return { journal, segmentLog: opened.log, segmentMaxOp, snapshotFiles };
  const { file, offset, reason, dropped } = opened.damage;
  journal.view = await recordDamage(fs, dir, view, operatorLog, { file, offset, reason, dropped });
  return { journal, segmentLog: await opened.cut(), segmentMaxOp, snapshotFiles };
}

/** Steps 1 and 2 for damage (see the header): the log line, then the view record saying
 *  damaged, durable before anything is cut. Returns it as the journal reports it. */
async function recordDamage(fs: StorageFs, dir: string, view: ViewRecord | null, operatorLog: OperatorLog, report: DamageReport): Promise<LoadedJournal<unknown, unknown>['view']> {
  operatorLog('storage-damaged', { ...report });
  const damaged: ViewRecord = { kind: 'view', view: view?.view ?? 0, logView: view?.logView ?? 0, damaged: true };
  await writeViewRecord(fs, dir, damaged);
  return { view: damaged.view, logView: damaged.logView, damaged: true };
}

/** The newest snapshot file (`op`), or null if there is none; or where and why it is damaged.
 *  The log it replaced is gone, so there is nothing to fall back on (an older snapshot plus that
 *  log would be missing ops): a damaged one makes the replica damaged. */
async function readSnapshot<R>(
  fs: StorageFs,
  dir: string,
  op: number | undefined,
): Promise<{ kind: 'valid'; snapshot: Snapshot<R> | null } | { kind: 'damaged'; where: Omit<DamageReport, 'dropped'> }> {
  if (op === undefined) return { kind: 'valid', snapshot: null };
  const file = path.join(dir, snapshotFileName(op));
  const checked = await readFileChecked(fs, file);
  assert.ok(checked.kind !== 'absent', `${file} vanished while opening`);
  if (checked.kind === 'bad') return { kind: 'damaged', where: { file, offset: checked.offset, reason: checked.reason } };
  return { kind: 'valid', snapshot: decodeSnapshot<R>(checked.payload, file, op) };
}
