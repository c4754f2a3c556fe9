// State transfer (VRR §5.2): a replica that lacks ops asks the primary of its view for the log
// after what it holds, in bounded pieces; when the primary's log no longer reaches back that far
// (compacted), it sends its snapshot and the log after it.
//
// Two cases share the messages:
//   repair    — a backup in status normal found a gap in its own view (its log is a prefix of the
//               primary's): it asks for ops after its op number and appends the answer.
//   catch-up  — a replica in status recovering learnt of a view that started without it: it asks
//               for ops after its commit number and, only once the answer reaches the op the
//               view started at (so it holds every op committed before the view), replaces its
//               log in one record, then takes the new log view (D3). Until then its old log and
//               log view stay as they are, so a view change meanwhile sees exactly what it
//               acknowledged before — the fix for the state transfer defect found by
//               model checking of VRR in TLA+ (docs/architecture.md, "State transfer").
// We ask the primary only: its log holds every op committed before and in its view, so an answer
// from it can never make us drop a committed op.

import assert from 'node:assert/strict';
import { ClientTable } from './client-table.js';
import { learnCommit } from './execute.js';
import type { GetState, NewState } from './messages.js';
import { STATE_RESEND_BACKOFF_DOUBLINGS_MAX, type ReplicaState, type TransferState } from './state.js';
import { Timeout } from './timeout.js';
import { becomeBackup } from './transitions.js';
import type { LogEntry, Snapshot } from './types.js';

/** The op after which the transfer's next piece starts. */
function transferEnd<C, R>(t: TransferState<C, R>): number {
  return (t.snapshot?.op ?? t.after) + t.staged.length;
}

/** Sends GET-STATE for whatever this replica lacks (at most one repair request at a time). */
export function requestState<C, R, E>(s: ReplicaState<C, R, E>): void {
  let after: number;
  if (s.transfer !== null) {
    after = transferEnd(s.transfer);
    s.transfer.resendTimeout.reset();
  } else {
    const b = s.backup;
    assert.ok(b !== null);
    if (b.repairTimeout !== null) return;
    b.repairTimeout = new Timeout('repair', s.settings.heartbeatTicks);
    after = s.log.op;
  }
  s.send(s.primaryOf(s.view), { type: 'get-state', view: s.view, from: s.id, after });
}

/** GET-STATE went unanswered (lost, or the primary is busy with a large answer): ask again, and
 *  wait twice as long before the next resend. */
export function onStateResendTimeout<C, R, E>(s: ReplicaState<C, R, E>): void {
  const t = s.transfer!;
  t.resends += 1;
  const doublings = Math.min(t.resends, STATE_RESEND_BACKOFF_DOUBLINGS_MAX);
  t.resendTimeout = new Timeout('get-state-resend', s.settings.heartbeatTicks * 2 ** doublings);
  requestState(s);
}

/** §5.2: the primary answers with the next piece of its log. */
export function onGetState<C, R, E>(s: ReplicaState<C, R, E>, m: GetState): void {
  if (m.view !== s.view) return s.ignore('get-state', m.view < s.view ? 'older view' : 'newer view', { from: m.from });
  if (s.primary === null || !s.primary.startViewSent) return s.ignore('get-state', 'not the primary of this view, or not started', { from: m.from });
  if (m.after > s.log.op) return s.ignore('get-state', 'asks for ops after ours', { from: m.from, after: m.after });
  // The log below its base was folded into the snapshot: send that instead.
  const snapshot = m.after < s.log.base ? s.snapshot : null;
  assert.ok(m.after >= s.log.base || snapshot !== null);
  const entries = s.log.after(snapshot?.op ?? m.after, s.settings.messageLimit);
  s.logLine('info', 'state transfer: sending', { to: m.from, after: m.after, snapshot: snapshot?.op ?? null, entries: entries.length });
  const { startOp } = s.primary;
  s.send(m.from, { type: 'new-state', view: s.view, from: s.id, after: m.after, snapshot, entries, op: s.log.op, commit: s.commit, startOp });
}

/** §5.2: a piece of the primary's log arrives. */
export function onNewState<C, R, E>(s: ReplicaState<C, R, E>, m: NewState<C, R>): void {
  if (m.view !== s.view) return s.ignore('new-state', m.view < s.view ? 'older view' : 'newer view', { from: m.from });
  if (s.transfer !== null) return continueCatchUp(s, m);
  if (s.backup !== null) return continueRepair(s, m);
  s.ignore('new-state', 'not fetching state', { from: m.from });
}

function continueRepair<C, R, E>(s: ReplicaState<C, R, E>, m: NewState<C, R>): void {
  const b = s.backup!;
  b.primaryTimeout.reset();
  if (m.after !== s.log.op) return s.ignore('new-state', 'answers an older request', { after: m.after, op: s.log.op });
  b.repairTimeout = null;
  const previousView = m.snapshot?.view ?? s.log.lastView;
  if (!s.log.canFollow(m.snapshot?.op ?? m.after, m.entries, previousView)) {
    return s.logLine('warn', 'ignoring new-state', { reason: 'entry views would decrease' });
  }
  if (m.snapshot !== null) installSnapshot(s, m.snapshot, m.entries, s.log.op);
  else if (m.entries.length > 0) s.appendEntries(m.entries);
  s.logLine('info', 'state transfer: repaired', { op: s.log.op, primaryOp: m.op, snapshot: m.snapshot?.op ?? null });
  learnCommit(s, m.commit);
  if (s.log.op < m.op) requestState(s);
}

function continueCatchUp<C, R, E>(s: ReplicaState<C, R, E>, m: NewState<C, R>): void {
  const t = s.transfer!;
  t.primaryTimeout.reset();
  if (m.after !== transferEnd(t)) return s.ignore('new-state', 'answers an older request', { after: m.after, expected: transferEnd(t) });
  const previousView = m.snapshot?.view ?? t.staged.at(-1)?.view ?? t.snapshot?.view ?? s.log.viewAt(t.after);
  if (!s.log.canFollow(m.snapshot?.op ?? m.after, m.entries, previousView)) {
    return s.logLine('warn', 'ignoring new-state', { reason: 'entry views would decrease' });
  }
  if (m.snapshot !== null) {
    t.snapshot = m.snapshot;
    t.staged = [];
  }
  t.staged.push(...m.entries);
  t.resends = 0; // The primary answers: ask for the next piece at the normal pace.
  t.resendTimeout = new Timeout('get-state-resend', s.settings.heartbeatTicks);
  const end = transferEnd(t);
  s.logLine('info', 'state transfer: received', { through: end, primaryOp: m.op, snapshot: t.snapshot?.op ?? null });
  // Taking this view as our log view claims we hold the log the view started with, which holds
  // every op committed before it (§8.1): a view change may choose our log on that claim. So keep
  // asking until the staged entries reach the view's start op. What we then drop of our old log
  // beyond them was never committed (committed ops are all in that log), so D3 holds as well.
  if (end < m.startOp) return requestState(s);
  if (t.snapshot !== null) installSnapshot(s, t.snapshot, t.staged, t.after);
  else s.replaceLog(t.after, t.staged);
  becomeBackup(s); // The log record goes first, then the view record with logView = view (D3).
  learnCommit(s, m.commit);
  if (s.log.op < m.op) requestState(s);
}

/** Replaces the state machine, client table and log by a snapshot and the entries after it.
 *  Persists the snapshot, then the log after it. `kept` is the op up to which our on-disk log
 *  stays as it is in memory until those land. */
export function installSnapshot<C, R, E>(s: ReplicaState<C, R, E>, snapshot: Snapshot<R>, entries: LogEntry<C>[], kept: number): void {
  assert.ok(snapshot.op > s.commit, 'a snapshot is installed only when our log cannot reach it');
  s.machine = s.createMachine(snapshot.machine);
  s.clientTable = new ClientTable(s.settings, snapshot.clientTable);
  s.snapshot = snapshot;
  s.log.reset(snapshot.op, snapshot.view, entries);
  s.commit = snapshot.op;
  s.executed = snapshot.op;
  s.snapshotOp = snapshot.op;
  s.snapshotDueOp = snapshot.op;
  s.snapshotAtNextTick = false;
  s.persist({ kind: 'snapshot', snapshot, coveredByLog: false });
  s.disk.noteReplace(s.persist({ kind: 'replace', after: snapshot.op, entries }), kept, s.log.op);
  s.rebuildInFlight();
  s.logLine('info', 'state transfer: installed snapshot', { op: snapshot.op });
}
