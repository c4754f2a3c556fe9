// The replicated log as one replica holds it in memory: a dense run of entries after a snapshot
// base. Everything at or below the base has been folded into the snapshot (the executed state),
// so only entries above it are kept. Every mutation asserts that the run stays dense and that
// entry views never decrease — the shape every VR log has (VRR §4: a log is some primary's log).

import assert from 'node:assert/strict';
import type { LogEntry } from './types.js';

/** A bound on how much of the log goes into one message. Bytes are estimated from the JSON
 *  length, which is what the driver will put on the wire. */
export interface MessageLimit {
  entriesMax: number;
  bytesMax: number;
}

export class Log<C> {
  /** The op of the newest entry folded into the snapshot (0 if none); entries start at base + 1. */
  private baseOp: number;
  /** The view of the entry at `baseOp` (its viewstamp), 0 if none. */
  private baseView: number;
  /** entries[i].op === baseOp + 1 + i; views non-decreasing. */
  private entries: LogEntry<C>[] = [];

  constructor(baseOp: number, baseView: number, entries: readonly LogEntry<C>[]) {
    this.baseOp = baseOp;
    this.baseView = baseView;
    this.append(entries);
  }

  /** The op number (VRR §4): the newest op in the log. */
  get op(): number {
    return this.baseOp + this.entries.length;
  }

  get base(): number {
    return this.baseOp;
  }

  /** The view of the newest entry (or of the base when the log above it is empty). */
  get lastView(): number {
    return this.entries.at(-1)?.view ?? this.baseView;
  }

  /** The time of the newest entry above the base, or 0 when there is none. */
  get lastAt(): number {
    return this.entries.at(-1)?.at ?? 0;
  }

  entry(op: number): LogEntry<C> {
    assert.ok(op > this.baseOp && op <= this.op, `op ${op} is not in the log (${this.baseOp}, ${this.op}]`);
    return this.entries[op - this.baseOp - 1]!;
  }

  /** The view of the entry at `op`, including the base entry. */
  viewAt(op: number): number {
    return op === this.baseOp ? this.baseView : this.entry(op).view;
  }

  /** True if `entries` (dense, views non-decreasing: messages are checked for that) may follow
   *  op `after`: they start at after + 1 and their views do not go below the view at `after`. */
  canFollow(after: number, entries: readonly LogEntry<C>[], afterView = this.viewAt(after)): boolean {
    const first = entries[0];
    return first === undefined || (first.op === after + 1 && first.view >= afterView);
  }

  /** Entry views never decrease above the base. The first entry above the base is not compared
   *  with the base's view: after a crash between the two records of a snapshot installed by state
   *  transfer (`snapshot`, then `replace`), the entries above it are the older log it was about to
   *  replace. Such a log is only ever reported with its older log view, which any log holding
   *  the snapshot's newer ops outranks, so it is never chosen (docs/architecture.md). */
  append(entries: readonly LogEntry<C>[]): void {
    let view = this.entries.at(-1)?.view ?? 0;
    for (const entry of entries) {
      assert.equal(entry.op, this.op + 1, 'log entries must be dense');
      assert.ok(entry.view >= view, 'log entry views must not decrease');
      view = entry.view;
      this.entries.push(entry);
    }
  }

  /** Drops every entry above `after` and appends `entries` in their place (a view change or
   *  state transfer replacing an uncommitted suffix). */
  replaceAfter(after: number, entries: readonly LogEntry<C>[]): void {
    assert.ok(after >= this.baseOp && after <= this.op, `cannot replace after ${after} in (${this.baseOp}, ${this.op}]`);
    this.entries.length = after - this.baseOp;
    this.append(entries);
  }

  /** Forgets entries at or below `through`, now covered by a durable snapshot. */
  compact(through: number): void {
    assert.ok(through >= this.baseOp && through <= this.op, 'compaction must stay inside the log');
    this.baseView = this.viewAt(through);
    this.entries.splice(0, through - this.baseOp);
    this.baseOp = through;
  }

  /** Starts over from a snapshot at `baseOp` (installed by state transfer), then `entries`. */
  reset(baseOp: number, baseView: number, entries: readonly LogEntry<C>[]): void {
    this.baseOp = baseOp;
    this.baseView = baseView;
    this.entries = [];
    this.append(entries);
  }

  /** Every entry above `after`, oldest first (no bound: for in-memory use only). */
  suffix(after: number): readonly LogEntry<C>[] {
    assert.ok(after >= this.baseOp && after <= this.op);
    return this.entries.slice(after - this.baseOp);
  }

  /** The oldest entries above `after`, at most one message's worth (at least one, if any). */
  after(after: number, limit: MessageLimit): LogEntry<C>[] {
    assert.ok(after >= this.baseOp && after <= this.op);
    const taken: LogEntry<C>[] = [];
    let bytes = 0;
    for (let op = after + 1; op <= this.op && taken.length < limit.entriesMax; op++) {
      const entry = this.entry(op);
      bytes += JSON.stringify(entry).length;
      if (taken.length > 0 && bytes > limit.bytesMax) break;
      taken.push(entry);
    }
    return taken;
  }

  /** The newest entries, ending at `op`, at most one message's worth (§5.3: a bounded tail). */
  tail(limit: MessageLimit): LogEntry<C>[] {
    const taken: LogEntry<C>[] = [];
    let bytes = 0;
    for (let op = this.op; op > this.baseOp && taken.length < limit.entriesMax; op--) {
      const entry = this.entry(op);
      bytes += JSON.stringify(entry).length;
      if (taken.length > 0 && bytes > limit.bytesMax) break;
      taken.push(entry);
    }
    return taken.reverse();
  }
}
