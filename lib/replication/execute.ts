// Committed ops become effects: the state machine runs them in op order, the client table records
// their replies, the primary answers the clients (VRR §4.1 steps 4 and 6), and now and then a
// snapshot is taken so the log can be trimmed (snapshotDue).

import assert from 'node:assert/strict';
import type { ReplicaState } from './state.js';
import type { LogEntry, RejectCode } from './types.js';

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
  if (deferred) s.broadcast({ type: 'commit', view: s.view, from: s.id, commit: s.commit });
}

/** The snapshot a primary put off (executeCommitted), taken at the start of its next tick
 *  whatever it is by then: a snapshot may be of any executed op. */
export function takeDeferredSnapshot<C, R, E>(s: ReplicaState<C, R, E>): void {
  if (!s.snapshotAtNextTick) return;
  s.snapshotAtNextTick = false;
  if (s.executed > s.snapshotOp) takeSnapshot(s);
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

/** What executing one entry came to: the state machine's reply and events (a register's reply
 *  is null), or the client table's refusal — the entry then applies nothing, on every replica. */
type Outcome<R, E> = { reply: R | null; events: E[] } | { refused: Extract<RejectCode, 'SESSION_EXPIRED' | 'NOT_OWNER' | 'CLIENT_TABLE_FULL'> };

function executeOne<C, R, E>(s: ReplicaState<C, R, E>, op: number): void {
  const entry = s.log.entry(op);
  assert.ok(op === s.executed + 1 && op <= s.commit, 'ops execute once, in order, only when committed');
  s.executed = op;
  const { clientId, owner, requestNumber } = entry;
  if (s.inFlight.get(clientId)?.op === op) s.inFlight.delete(clientId);
  const outcome = execute(s, entry);
  const refused = 'refused' in outcome;
  s.out.push({ type: 'applied', op, clientId, requestNumber, events: refused ? [] : outcome.events });
  if (s.primary === null) return;
  if (refused) s.out.push({ type: 'reject', clientId, owner, requestNumber, code: outcome.refused, view: s.view, primary: s.id });
  else s.out.push({ type: 'reply', clientId, owner, requestNumber, op, reply: outcome.reply });
}

/** The client table's verdict on an entry, then the entry itself. The verdict is reached here,
 *  in log order, the same way on every replica — whatever the primary's table said when it
 *  admitted the entry (see admit()): a table that was stale (a deposed primary) may have let in a
 *  request of a client it did not know (SESSION_EXPIRED: never registered, or evicted since) or
 *  of another owner than the one registered (NOT_OWNER), and a register waits until now to learn
 *  whether the table has room for it (CLIENT_TABLE_FULL). */
function execute<C, R, E>(s: ReplicaState<C, R, E>, entry: LogEntry<C>): Outcome<R, E> {
  const { op, clientId, owner, requestNumber, at, command } = entry;
  const row = s.clientTable.row(clientId);
  if (row !== undefined && row.owner !== owner) return { refused: 'NOT_OWNER' };
  if (command === null) {
    const registration = s.clientTable.register(clientId, owner, op, at);
    if (!registration.registered) return { refused: 'CLIENT_TABLE_FULL' };
    if (registration.evicted !== null) s.logLine('debug', 'client table: evicted a client to make room', { client: registration.evicted, op });
    return { reply: null, events: [] };
  }
  if (row === undefined) return { refused: 'SESSION_EXPIRED' };
  const { reply, events } = s.machine.apply(command, { op, clientId });
  s.clientTable.recordExecuted(clientId, requestNumber, reply, op, at);
  return { reply, events };
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
