// A replica's journal on a simulated disk, following driver duty 2 (lib/replication/types.ts).
//
// A `persist` record is written at once (it is in the page cache) and becomes durable when its
// fsync completes, after a random latency; fsyncs complete in seq order, so what is durable is
// always a prefix of what was written. When the replica crashes, the durable records survive and
// so does a random prefix of the unsynced ones — the kernel may have written some back, and
// storage cuts a torn tail at the first record it cannot read — so the core sees every outcome
// real storage allows: nothing unsynced kept, some kept with the next one torn, or all kept.
// (This assumes storage keeps records in write order, which lib/storage promises: one ordered
// stream, a torn tail cut, never a hole.)
//
// On restart the disk hands back a LoadedJournal exactly as storage would build it: the latest
// view record, the latest snapshot, and the log records in write order. Records written before
// that snapshot and wholly at or below its op may have been deleted with their segments; the
// disk deletes a random prefix of those (keeping them is always allowed), and once deleted they
// stay deleted.
//
// A snapshot the replica took itself (coveredByLog) is reported durable as soon as the records
// before it are, but storage writes its file in the background and may skip it for a newer one
// (lib/storage/replica-store.ts). So a crash loses any of those whose file had not landed: the
// newest ones reported durable since the last start-up, a random number of them, as if the
// snapshot writer had been that far behind. The replica then restarts from an older snapshot and
// the log after it, which storage keeps until a newer snapshot file is on disk.

import assert from 'node:assert/strict';
import type { DurableState, JournalRecord, LoadedJournal } from '../../lib/replication/types.js';
import type { Prng } from './prng.js';

export interface DiskLatency {
  /** Virtual milliseconds an fsync takes, inclusive bounds. */
  fsyncMin: number;
  fsyncMax: number;
}

export const FAST_DISK: DiskLatency = { fsyncMin: 1, fsyncMax: 4 };

type LogRecord<C, R> = Extract<JournalRecord<C, R>, { kind: 'entries' | 'replace' }>;

interface Unsynced<C, R> {
  seq: number;
  record: JournalRecord<C, R>;
  syncAt: number;
}

export interface CrashOutcome {
  /** Unsynced records that survived anyway. */
  kept: number;
  /** Unsynced records lost. */
  lost: number;
  /** Whether the first lost record was half-written (a torn tail storage cuts at start-up). */
  torn: boolean;
  /** Snapshots taken by the replica, reported durable, whose file had not landed. */
  snapshotFilesLost: number;
}

export class SimDisk<C, R> {
  /** Records that survive any crash, in write order. */
  private durable: JournalRecord<C, R>[] = [];
  /** Written but not yet fsynced, in seq order; syncAt never decreases along the list. */
  private unsynced: Unsynced<C, R>[] = [];
  /** The last seq written by the current incarnation (seqs restart with each incarnation). */
  private lastSeq = 0;
  /** Durable snapshots taken by the replica whose file may not have landed yet, oldest first. */
  private snapshotsWithoutFile: JournalRecord<C, R>[] = [];

  constructor(
    private readonly prng: Prng,
    public latency: DiskLatency,
  ) {}

  /** The explicit format step (disk rule D7): lays down a new replica's state, durable at once. */
  format(state: DurableState<C, R>): void {
    assert.equal(this.durable.length + this.unsynced.length, 0, 'format of a disk that holds a journal');
    this.durable.push({ kind: 'view', view: state.view, logView: state.logView });
    if (state.snapshot !== null) this.durable.push({ kind: 'snapshot', snapshot: structuredClone(state.snapshot), coveredByLog: false });
    if (state.entries.length > 0) this.durable.push({ kind: 'entries', entries: structuredClone(state.entries) });
  }

  /** Starts a new incarnation's persist stream. */
  reopen(): void {
    assert.equal(this.unsynced.length, 0, 'reopen with unsynced records: crash() first');
    this.lastSeq = 0;
  }

  write(seq: number, record: JournalRecord<C, R>, now: number): void {
    assert.ok(seq > this.lastSeq, `persist seq ${seq} not above the last one ${this.lastSeq} (duty 2: one ordered stream)`);
    this.lastSeq = seq;
    const previous = this.unsynced.at(-1)?.syncAt ?? now;
    const syncAt = Math.max(previous, now + this.prng.int(this.latency.fsyncMin, this.latency.fsyncMax));
    // A copy, as a real write would make: the core may not change a record after handing it over.
    this.unsynced.push({ seq, record: structuredClone(record), syncAt });
  }

  /** When the next fsync completes, or Infinity. */
  nextTime(): number {
    return this.unsynced[0]?.syncAt ?? Infinity;
  }

  /** Completes the fsyncs due by `now`; returns the highest seq now durable, or null. */
  syncDue(now: number): number | null {
    let highest: number | null = null;
    while (this.unsynced.length > 0 && this.unsynced[0]!.syncAt <= now) {
      const done = this.unsynced.shift()!;
      this.makeDurable(done.record);
      highest = done.seq;
    }
    return highest;
  }

  private makeDurable(record: JournalRecord<C, R>): void {
    this.durable.push(record);
    if (record.kind !== 'snapshot') return;
    // A received snapshot is written in order, after the snapshot writer has finished: it
    // supersedes any snapshot still waiting for its file.
    if (record.coveredByLog) this.snapshotsWithoutFile.push(record);
    else this.snapshotsWithoutFile = [];
  }

  get unsyncedCount(): number {
    return this.unsynced.length;
  }

  /** The process or the machine dies: a random prefix of the unsynced records survives. */
  crash(): CrashOutcome {
    const pending = this.unsynced;
    this.unsynced = [];
    const roll = this.prng.int(0, 2);
    const kept = roll === 0 ? 0 : roll === 1 ? pending.length : this.prng.int(0, pending.length);
    for (const { record } of pending.slice(0, kept)) this.makeDurable(record);
    const lost = pending.length - kept;
    const outcome = { kept, lost, torn: lost > 0 && this.prng.chance(0.5), snapshotFilesLost: 0 };
    if (this.snapshotsWithoutFile.length > 0) {
      const unwritten = new Set(this.snapshotsWithoutFile.slice(this.prng.int(0, this.snapshotsWithoutFile.length)));
      this.durable = this.durable.filter((record) => !unwritten.has(record));
      outcome.snapshotFilesLost = unwritten.size;
    }
    this.snapshotsWithoutFile = [];
    return outcome;
  }

  /** What storage reads back at start-up. Deletes superseded small files and maybe old segments. */
  load(): LoadedJournal<C, R> {
    assert.equal(this.unsynced.length, 0, 'load with unsynced records: crash() first');
    this.compact();
    let view: LoadedJournal<C, R>['view'] = null;
    let snapshot: LoadedJournal<C, R>['snapshot'] = null;
    const log: LogRecord<C, R>[] = [];
    for (const record of this.durable) {
      if (record.kind === 'view') view = { view: record.view, logView: record.logView };
      else if (record.kind === 'snapshot') snapshot = record.snapshot;
      else log.push(record);
    }
    return structuredClone({ view, snapshot, log });
  }

  /** The number of durable records, for tests that check compaction. */
  get durableCount(): number {
    return this.durable.length;
  }

  private compact(): void {
    const lastView = lastIndexOf(this.durable, 'view');
    const lastSnapshot = lastIndexOf(this.durable, 'snapshot');
    // Small files are replaced atomically: only the latest view and snapshot exist.
    let records = this.durable.filter(
      (r, i) => (r.kind !== 'view' || i === lastView) && (r.kind !== 'snapshot' || i === lastSnapshot),
    );
    if (lastSnapshot >= 0) {
      const snapshotRecord = this.durable[lastSnapshot]!;
      assert.ok(snapshotRecord.kind === 'snapshot');
      records = this.dropCoveredSegments(records, snapshotRecord.snapshot.op);
    }
    this.durable = records;
  }

  /** Deletes a random-length prefix of the log records that precede the snapshot record and
   *  lie wholly at or below its op, as deleting whole old segments would. */
  private dropCoveredSegments(records: JournalRecord<C, R>[], snapshotOp: number): JournalRecord<C, R>[] {
    const snapshotIndex = records.findIndex((r) => r.kind === 'snapshot');
    // Indexes of the leading log records the snapshot covers (view records are small files,
    // not segments, and do not stop the run).
    const covered: number[] = [];
    for (let i = 0; i < snapshotIndex; i++) {
      const record = records[i]!;
      if (record.kind === 'view') continue;
      if (!SimDisk.wholly(record as LogRecord<C, R>, snapshotOp)) break;
      covered.push(i);
    }
    const drop = new Set(covered.slice(0, this.prng.int(0, covered.length)));
    return records.filter((_, i) => !drop.has(i));
  }

  private static wholly<C, R>(record: LogRecord<C, R>, op: number): boolean {
    const top = record.kind === 'replace' ? record.after : 0;
    return record.entries.every((entry) => entry.op <= op) && top <= op;
  }
}

function lastIndexOf<C, R>(records: JournalRecord<C, R>[], kind: JournalRecord<C, R>['kind']): number {
  for (let i = records.length - 1; i >= 0; i--) if (records[i]!.kind === kind) return i;
  return -1;
}
