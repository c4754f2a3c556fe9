// State transfer (VRR §5.2): a replica that lacks ops asks the primary of its view for the log
// after what it holds, in bounded pieces; when the primary's log no longer reaches back that far
// (compacted), it sends its snapshot and the log after it.
//
// Two cases share the messages:
//   repair    — a backup in status normal found a gap in its own view (its log is a prefix of the
//               primary's): it asks for ops after its op number and appends the answer.
//   catch-up  — a replica in status recovering learnt of a view that started without it (or its
//               log is damaged, below): it asks for ops after its commit number and, only once
//               the answer reaches the op the view started at (so it holds every op committed
//               before the view), replaces its log in one record, then takes the new log view
//               (D3). Until then its old log and log view stay as they are, so a view change
//               meanwhile sees exactly what it acknowledged before — the fix for the state
//               transfer defect found by model checking of VRR in TLA+ (docs/architecture.md,
//               "State transfer").
// We ask the primary only: its log holds every op committed before and in its view, so an answer
// from it can never make us drop a committed op.
//
// A damaged replica (state.ts, `damaged`; docs/storage.md). Storage found this replica's log
// damaged and cut it at the damage: the log may lack ops the replica acknowledged. As in VRR §4.3,
// a replica that lost state it may have promised takes part in nothing until it has fetched that
// state from others: it votes in nothing — no PREPARE-OK, DO-VIEW-CHANGE or START-VIEW; it starts,
// joins and leads no view change — until it holds a log, from a primary, that contains every op it
// can have acknowledged.
//
// Why this cannot lose an acknowledged op. An op is committed once f + 1 replicas hold it durably
// in one view's log. A damaged replica never reports a log, so every view change counts whole
// logs only; with at most f replicas damaged or down, any f + 1 DO-VIEW-CHANGEs meet the f + 1
// that held a committed op in one that still holds it, and the chosen log holds it (§8.1,
// unchanged). The damaged replica takes a log back only from a primary, whose log holds every op
// committed before its view (§8.1), and only once that log holds every op of the view this replica
// can have acknowledged in:
//   - START-VIEW (onStartView, view-change.ts): of a newer view than the one whose log we held,
//     we acknowledged nothing in it; of that same view, it is the primary's answer to our
//     START-VIEW-CHANGE, so its log held every op we had acknowledged (they were in it when we
//     did, and a primary's log only grows in its view);
//   - catch-up (continueCatchUp): the staged log must reach the view's start op and the
//     primary's op in the first NEW-STATE of this transfer (its log then held every op we had
//     acknowledged, by the same argument). The start op alone is not enough: in the view whose log
//     it held, the replica may have acknowledged ops after the view's start.
// Only then is the flag cleared — the log record first, then the view record with damaged: false
// (D3), so a crash in between restarts the replica damaged again, never whole with a partial log.
// Both rely on the answer being to a request of this run of the replica: a START-VIEW or NEW-STATE
// sent to the run that crashed, held up in the network, may end below what that run acknowledged,
// and clearing on it could lose a committed op. The driver keeps it from arriving (duty 4: the
// peer network's connections die with the process, lib/server/peer-network.ts).
//
// How it gets a log without starting a view change: at start-up it recovers in its recorded
// view — even when it held that view's log, even as its primary — and asks: GET-STATE to the
// primary of its view when that is another replica, and START-VIEW-CHANGE for its own view to all.
// That message carries no log and says only "I have left every view before this one", which is
// true of a replica that votes in nothing: it is no vote. A normal primary of that view answers it
// with START-VIEW; if the replica led that view, the others time out on it and change view without
// it, and the new primary's START-VIEW or COMMIT reaches it; if the cluster still works in an
// older view, its primary gives that view up for the asker (view-change.ts, scenario 7). It asks
// again whenever its primary is silent for the view-change timeout. With at most f replicas
// damaged and the rest up, f + 1 whole replicas change views and answer; more than f damaged at
// once stall until an operator acts, as nobody can tell which of them acknowledged what.

import assert from 'node:assert/strict';
import { ClientTable } from './client-table.js';
import { learnCommit } from './execute.js';
import type { GetState, NewState } from './messages.js';
import { STATE_RESEND_BACKOFF_DOUBLINGS_MAX, type ReplicaState, type TransferState } from './state.js';
import { Timeout } from './timeout.js';
import { becomeBackup, enterRecovering, startViewChange } from './transitions.js';
import type { LogEntry, ReplicaId, Snapshot } from './types.js';

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
    // Only a damaged replica recovers in a view it leads: nobody to ask; it waits for a newer view.
    if (s.primaryOf(s.view) === s.id) return;
  } else {
    const b = s.backup;
    assert.ok(b !== null);
    if (b.repairTimeout !== null) return;
    b.repairTimeout = new Timeout('repair', s.settings.heartbeatTicks);
    after = s.log.op;
  }
  s.send(s.primaryOf(s.view), { type: 'get-state', view: s.view, from: s.id, after });
}

/** Start-up with a damaged log: recovering in the recorded view, whatever it is (see above). */
export function rejoinDamaged<C, R, E>(s: ReplicaState<C, R, E>): void {
  enterRecovering(s, s.view, 'the log is damaged: it votes in nothing until then');
  askForRepair(s);
}

/** A damaged replica asks to be repaired: START-VIEW-CHANGE for its view (once that is durable,
 *  D2; no vote, see above) and GET-STATE to its primary if that is another replica. */
function askForRepair<C, R, E>(s: ReplicaState<C, R, E>): void {
  assert.ok(s.damaged && s.transfer !== null);
  if (s.viewDurable()) s.broadcast({ type: 'start-view-change', view: s.view, from: s.id });
  requestState(s);
}

/** The primary of our view has been silent for the timeout while we catch up: start a view change
 *  (§4.2 step 1). A damaged replica may not; it asks to be repaired again. */
export function onTransferPrimaryTimeout<C, R, E>(s: ReplicaState<C, R, E>): void {
  if (s.damaged) return askForRepair(s);
  startViewChange(s, s.view + 1, 'no word from the primary while catching up');
}

/** The log `from` sent, about to replace ours above `after` through `through`, holds every op
 *  this replica can have acknowledged (see above): it may vote again. Only memory changes here;
 *  the disk learns it from the view record that becomeBackup writes after the log record (D3). */
export function repaired<C, R, E>(s: ReplicaState<C, R, E>, from: ReplicaId, after: number, through: number): void {
  assert.ok(s.damaged);
  s.damaged = false;
  s.logLine('info', `storage repair: log repaired from replica ${from}`, { after, through });
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
  if (s.damaged) t.repairTarget ??= m.op;
  t.resends = 0; // The primary answers: ask for the next piece at the normal pace.
  t.resendTimeout = new Timeout('get-state-resend', s.settings.heartbeatTicks);
  const end = transferEnd(t);
  s.logLine('info', 'state transfer: received', { through: end, primaryOp: m.op, snapshot: t.snapshot?.op ?? null });
  // Taking this view as our log view claims we hold the log the view started with, which holds
  // every op committed before it (§8.1): a view change may choose our log on that claim. So keep
  // asking until the staged entries reach the view's start op. What we then drop of our old log
  // beyond them was never committed (committed ops are all in that log), so D3 holds as well.
  if (end < m.startOp) return requestState(s);
  // A damaged replica also needs every op of this view it can have acknowledged (see above).
  if (end < (t.repairTarget ?? 0)) return requestState(s);
  if (s.damaged) repaired(s, m.from, t.after, end);
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
