// From what the storage layer read back at start-up (LoadedJournal) to the replica's durable
// state (driver duty 8). Replays the log records in the order they were written — appends and
// replaces — on top of the latest durable snapshot; entries at or below the snapshot are already
// folded into it. The journal is this replica's own disk, checksummed by lib/storage, so anything
// inconsistent here is a bug or undetected corruption: it throws, naming what is wrong, rather
// than start a replica that would vote with a damaged log (disk rule D6, docs/architecture.md).

import assert from 'node:assert/strict';
import type { DurableState, LoadedJournal, LogEntry } from './types.js';

/** What a freshly formatted replica holds (the explicit format step of D7): view 0, empty log. */
export function emptyDurableState<C, R>(): DurableState<C, R> {
  return { view: 0, logView: 0, snapshot: null, entries: [], damaged: false };
}

export function recover<C, R>(loaded: LoadedJournal<C, R>): DurableState<C, R> {
  const recordedView = loaded.view?.view ?? 0;
  const logView = loaded.view?.logView ?? 0;
  assert.ok(logView <= recordedView, `journal: log view ${logView} is ahead of view ${recordedView}`);
  const base = loaded.snapshot?.op ?? 0;
  // `end` is the newest op of the log as written so far; `kept` its entries above the base.
  let end = base;
  const kept: LogEntry<C>[] = [];
  let newestEntryView = 0;
  for (const record of loaded.log) {
    if (record.kind === 'replace') {
      // A replace written before the snapshot may cut below it; the snapshot covers that part.
      end = Math.max(record.after, base);
      kept.length = end - base;
    }
    for (const entry of record.entries) {
      newestEntryView = Math.max(newestEntryView, entry.view);
      if (entry.op <= base) continue;
      assert.equal(entry.op, end + 1, `journal: op ${entry.op} does not continue the log at ${end}`);
      // Not compared with the snapshot's view: entries right above a snapshot installed by state
      // transfer may be older, the rest of the log it replaces (see Log.append).
      assert.ok(entry.view >= (kept.at(-1)?.view ?? 0), `journal: op ${entry.op} has a lower view than the op before it`);
      kept.push(entry);
      end = entry.op;
    }
  }
  // Entries of a view after the one the view record names: the replica took a newer view's log
  // (a START-VIEW, or state transfer) and crashed once its `replace` was durable, before the view
  // record that follows it was (D3 orders them so). It was in that view, or a later one, when it
  // wrote them, and an entry of view v proves that view v began: resuming in the newest such view
  // promises more than the view record did, never less. The log view stays as recorded, so a
  // view change ranks this log as the older one it is (test/sim/FINDINGS.md F7).
  const view = Math.max(recordedView, newestEntryView);
  return { view, logView, snapshot: loaded.snapshot, entries: kept, damaged: loaded.view?.damaged ?? false };
}
