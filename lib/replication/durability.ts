// What is on disk. The core asks the driver to persist records and hears back, by sequence number,
// when they are durable (driver duty 2). A replica may only claim what is durable: a PREPARE-OK,
// its own vote toward a commit, a DO-VIEW-CHANGE, a START-VIEW (disk rules D1–D3,
// docs/architecture.md). This module turns "seq n is durable" into the facts those claims need:
// which view record is on disk (with its `damaged` flag), how much of the in-memory log is on disk
// unchanged, which snapshots are safe to build on.

import assert from 'node:assert/strict';
import type { Snapshot } from './types.js';

/** What a view record says (D2/D3; `damaged`: the log may lack ops this replica acknowledged). */
export interface ViewRecord {
  view: number;
  logView: number;
  damaged: boolean;
}

export function sameViewRecord(a: ViewRecord, b: ViewRecord): boolean {
  return a.view === b.view && a.logView === b.logView && a.damaged === b.damaged;
}

interface Pending<T> {
  seq: number;
  value: T;
}

export class Durability<R> {
  /** The seq of the newest persist record issued. */
  issued = 0;
  /** The highest seq reported durable; every record up to it is on disk. durable ≤ issued. */
  durable = 0;
  /** The newest durable view record (D2/D3). logView ≤ view. */
  view: number;
  logView: number;
  /** The newest durable view record says the log may lack ops this replica acknowledged. */
  damaged: boolean;
  /** Ops 1..op of the in-memory log are on disk exactly as they are in memory. */
  op: number;
  /** The view record most recently issued, durable or not (to persist only changes). */
  issuedView: ViewRecord;

  private readonly views: Pending<ViewRecord>[] = [];
  /** Log records in flight, each with the op the durable prefix reaches once it lands. */
  private readonly logMarks: Pending<number>[] = [];
  private readonly snapshots: Pending<Snapshot<R>>[] = [];

  constructor(record: ViewRecord, op: number) {
    ({ view: this.view, logView: this.logView, damaged: this.damaged } = record);
    this.op = op;
    this.issuedView = { ...record };
  }

  next(): number {
    this.issued += 1;
    return this.issued;
  }

  everythingDurable(): boolean {
    return this.durable === this.issued;
  }

  /** True when the durable view record says exactly this. */
  viewIs(record: ViewRecord): boolean {
    return sameViewRecord(this, record);
  }

  noteView(seq: number, record: ViewRecord): void {
    this.issuedView = { ...record };
    this.views.push({ seq, value: { ...record } });
  }

  /** Entries up to `op` were appended in record `seq`. */
  noteAppend(seq: number, op: number): void {
    this.logMarks.push({ seq, value: op });
  }

  /** Record `seq` replaces everything above `after`, leaving the log ending at `op`. Until it is
   *  durable, only the prefix up to `after` is the same in memory and on disk. */
  noteReplace(seq: number, after: number, op: number): void {
    this.op = Math.min(this.op, after);
    for (const mark of this.logMarks) mark.value = Math.min(mark.value, after);
    this.logMarks.push({ seq, value: op });
  }

  noteSnapshot(seq: number, snapshot: Snapshot<R>): void {
    this.snapshots.push({ seq, value: snapshot });
  }

  /** Records up to `seq` are durable. Returns the snapshots that just became durable. */
  onPersisted(seq: number): Snapshot<R>[] {
    assert.ok(seq <= this.issued, `seq ${seq} reported durable but only ${this.issued} issued (driver duty 2)`);
    if (seq <= this.durable) return [];
    this.durable = seq;
    while (this.views[0] !== undefined && this.views[0].seq <= seq) {
      ({ view: this.view, logView: this.logView, damaged: this.damaged } = this.views.shift()!.value);
    }
    while (this.logMarks[0] !== undefined && this.logMarks[0].seq <= seq) this.op = Math.max(this.op, this.logMarks.shift()!.value);
    const landed: Snapshot<R>[] = [];
    while (this.snapshots[0] !== undefined && this.snapshots[0].seq <= seq) landed.push(this.snapshots.shift()!.value);
    return landed;
  }
}
