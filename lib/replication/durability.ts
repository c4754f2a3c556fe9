// What is on disk. The core asks the driver to persist records and hears back, by sequence number,
// when they are durable (driver duty 2). A replica may only claim what is durable: a PREPARE-OK,
// its own vote toward a commit, a DO-VIEW-CHANGE, a START-VIEW (disk rules D1–D3,
// docs/architecture.md). This module turns "seq n is durable" into the facts those claims need:
// which view record is on disk, how much of the in-memory log is on disk unchanged, which snapshots
// are safe to build on.

import assert from 'node:assert/strict';
import type { Snapshot } from './types.js';

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
  /** Ops 1..op of the in-memory log are on disk exactly as they are in memory. */
  op: number;
  /** The view record most recently issued, durable or not (to persist only changes). */
  issuedView: { view: number; logView: number };

  private readonly views: Pending<{ view: number; logView: number }>[] = [];
  /** Log records in flight, each with the op the durable prefix reaches once it lands. */
  private readonly logMarks: Pending<number>[] = [];
  private readonly snapshots: Pending<Snapshot<R>>[] = [];

  constructor(view: number, logView: number, op: number) {
    this.view = view;
    this.logView = logView;
    this.op = op;
    this.issuedView = { view, logView };
  }

  next(): number {
    this.issued += 1;
    return this.issued;
  }

  everythingDurable(): boolean {
    return this.durable === this.issued;
  }

  /** True when the durable view record says exactly (view, logView). */
  viewIs(view: number, logView: number): boolean {
    return this.view === view && this.logView === logView;
  }

  noteView(seq: number, view: number, logView: number): void {
    this.issuedView = { view, logView };
    this.views.push({ seq, value: { view, logView } });
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
      ({ view: this.view, logView: this.logView } = this.views.shift()!.value);
    }
    while (this.logMarks[0] !== undefined && this.logMarks[0].seq <= seq) this.op = Math.max(this.op, this.logMarks.shift()!.value);
    const landed: Snapshot<R>[] = [];
    while (this.snapshots[0] !== undefined && this.snapshots[0].seq <= seq) landed.push(this.snapshots.shift()!.value);
    return landed;
  }
}
