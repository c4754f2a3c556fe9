// Committed ops become effects: the state machine runs them in op order, the client table records
// their replies, the primary answers the clients (VRR §4.1 steps 4 and 6), and now and then a
// snapshot is taken so the log can be trimmed (snapshotDue).

import assert from 'node:assert/strict';
import type { ReplicaState } from './state.js';

/** Raises the commit number to what this replica has learnt is committed (never above its log:
 *  a replica only executes ops it holds, and fetches the rest first, §4.1 step 6), then executes. */
export function learnCommit<C, R, E>(s: ReplicaState<C, R, E>, commit: number): void {
  const reachable = Math.min(commit, s.log.op);
  if (reachable > s.commit) s.commit = reachable;
  executeCommitted(s);
}

/** Executes every committed op not executed yet, in order.
 *
 *  Taking a snapshot of a large state blocks the event loop (0.1-0.4 s at hundreds of thousands
 *  of messages). A primary that blocked right after committing, before anyone heard the commit
 *  number, was silent past the backups' view-change timeout while they idled. So a primary
 *  tells its backups the commit number at once and takes its snapshot at the next tick; they
 *  execute up to it, their snapshot comes due at the same op, and the replicas pause together,
 *  their timers with them. */
export function executeCommitted<C, R, E>(s: ReplicaState<C, R, E>): void {
  let deferred = false;
  while (s.executed < s.commit) {
    executeOne(s, s.executed + 1);
    if (!snapshotDue(s)) continue;
    s.snapshotDueOp = s.executed;
    if (s.primary?.startViewSent && s.replicaCount > 1) deferred = s.snapshotAtNextTick = true;
    else takeSnapshot(s);
  }
  if (deferred) sendCommitToBackups(s);
}

/** The snapshot a primary put off (executeCommitted), taken at the start of its next tick
 *  whatever it is by then: a snapshot may be of any executed op. */
export function takeDeferredSnapshot<C, R, E>(s: ReplicaState<C, R, E>): void {
  if (!s.snapshotAtNextTick) return;
  s.snapshotAtNextTick = false;
  if (s.executed > s.snapshotOp) takeSnapshot(s);
}

function sendCommitToBackups<C, R, E>(s: ReplicaState<C, R, E>): void {
  for (let backup = 0; backup < s.replicaCount; backup++) {
    if (backup !== s.id) s.send(backup, { type: 'commit', view: s.view, from: s.id, commit: s.commit });
  }
}

/** At every multiple of snapshotEveryOps, a snapshot is due if the ops since the last one came
 *  due reach snapshotStateRatio × the machine's size (when it reports one). A snapshot writes
 *  the whole state: spaced by a fixed count of ops, the work per op grows with the state (at
 *  1,000,000 messages, every 10,000 ops cost each replica ~1 s of CPU and a 0.25 s pause);
 *  spaced by the state's size, it stays a constant per op, and the log to replay at start-up
 *  stays a fraction of the state. Decided by the op and the state alone (checked at the same
 *  absolute ops whatever a replica's history), so replicas take their snapshots at the same ops
 *  and pause together. */
function snapshotDue<C, R, E>(s: ReplicaState<C, R, E>): boolean {
  const every = s.settings.snapshotEveryOps;
  const since = s.executed - s.snapshotDueOp;
  if (every === 0 || since === 0 || s.executed % every !== 0) return false;
  return since >= s.settings.snapshotStateRatio * (s.machine.size?.() ?? 0);
}

function executeOne<C, R, E>(s: ReplicaState<C, R, E>, op: number): void {
  const { clientId, requestNumber, command } = s.log.entry(op);
  assert.ok(op === s.executed + 1 && op <= s.commit, 'ops execute once, in order, only when committed');
  s.executed = op;
  if (s.inFlight.get(clientId) === requestNumber) s.inFlight.delete(clientId);
  // A request of a client the table does not know (never registered, or evicted meanwhile) is
  // refused here, in log order, the same way on every replica (see admit()).
  if (requestNumber > 0 && s.clientTable.row(clientId) === undefined) {
    s.out.push({ type: 'applied', op, clientId, requestNumber, events: [] });
    if (s.primary !== null) {
      s.out.push({ type: 'reject', clientId, requestNumber, code: 'SESSION_EXPIRED', view: s.view, primary: s.id });
    }
    return;
  }
  let reply: R | null = null;
  let events: E[] = [];
  if (command !== null) ({ reply, events } = s.machine.apply(command, { op, clientId }));
  const evicted = s.clientTable.recordExecuted(clientId, requestNumber, reply, op);
  if (evicted !== null) s.logLine('debug', 'client table: evicted the client executed longest ago', { client: evicted, op });
  s.out.push({ type: 'applied', op, clientId, requestNumber, events });
  if (s.primary !== null) s.out.push({ type: 'reply', clientId, requestNumber, op, reply });
}

/** Persists the state at the executed op. The log below it is trimmed once it is durable. */
function takeSnapshot<C, R, E>(s: ReplicaState<C, R, E>): void {
  const snapshot = { op: s.executed, view: s.log.viewAt(s.executed), clientTable: s.clientTable.toSnapshot(), machine: s.machine.snapshot() };
  s.snapshotOp = snapshot.op;
  s.disk.noteSnapshot(s.persist({ kind: 'snapshot', snapshot, coveredByLog: true }), snapshot);
}

/** A snapshot is durable: the log at or below it is no longer needed in memory. Only committed,
 *  executed ops are ever at or below a snapshot, so nothing a view change needs is lost. */
export function onSnapshotDurable<C, R, E>(s: ReplicaState<C, R, E>, snapshot: NonNullable<ReplicaState<C, R, E>['snapshot']>): void {
  if (snapshot.op <= s.log.base) return; // A state transfer already moved the base past it.
  assert.ok(snapshot.op <= s.executed);
  s.log.compact(snapshot.op);
  s.snapshot = snapshot;
}
