// Normal operation (VRR §4.1): the primary orders client requests into the log, backups append
// and acknowledge them once durable, the primary commits what f + 1 replicas hold durably and
// tells the backups, everyone executes committed ops in order. Batching (§6.2): requests
// admitted in one burst leave as one PREPARE and one persist record when the driver calls flush().

import assert from 'node:assert/strict';
import { admit } from './client-table.js';
import { executeCommitted, learnCommit } from './execute.js';
import type { Alive, Commit, Prepare, PrepareOk } from './messages.js';
import { quorumOp } from './quorum.js';
import type { ReplicaState } from './state.js';
import { requestState } from './state-transfer.js';
import { enterRecovering, startViewChange } from './transitions.js';
import type { ClientRequest, RejectCode, ReplicaId } from './types.js';

/** §4.1 steps 1–2: a client request reaches this replica. */
export function onRequest<C, R, E>(s: ReplicaState<C, R, E>, request: ClientRequest<C>): void {
  const { clientId, owner, at, requestNumber } = request;
  const wellFormed = typeof clientId === 'string' && typeof owner === 'string' && Number.isSafeInteger(at) && at >= 0 &&
    Number.isSafeInteger(requestNumber) && requestNumber >= 0;
  if (!wellFormed || (requestNumber === 0) !== (request.command === null)) {
    s.logLine('warn', 'ignoring request', { reason: 'malformed request', client: clientId });
    return;
  }
  if (s.status !== 'normal') return reject(s, request, 'VIEW_CHANGE');
  if (s.primary === null) return reject(s, request, 'NOT_PRIMARY');
  const admission = admit(s.clientTable.row(clientId), s.inFlight.get(clientId), request);
  switch (admission.action) {
    case 'reject':
      return reject(s, request, admission.code);
    case 'drop':
      return s.ignore('request', admission.reason, { client: clientId, requestNumber });
    case 'reply':
      s.out.push({ type: 'reply', clientId, owner, requestNumber, op: admission.op, reply: admission.reply });
      return;
    case 'append':
      break;
  }
  const p = s.primary;
  if (s.log.op + p.pending.length - s.commit >= s.settings.pipelineOpsMax) return reject(s, request, 'BUSY');
  const op = s.log.op + p.pending.length + 1;
  const entry = { op, view: s.view, clientId, owner, requestNumber, at: entryTime(s, at), command: request.command };
  p.pending.push(entry);
  s.inFlight.set(clientId, entry);
}

/** The time written into a new entry (VRR §4.4: the primary chooses it, every replica reads it
 *  from the log): when the request arrived by the driver's clock, but never below the entry
 *  before it nor below any client-table row. So times do not decrease along the log, and the
 *  row executed longest ago is also the row idle longest (client-table.ts). A clock that steps
 *  back, or a new primary's clock behind its predecessor's, repeats the newest time meanwhile. */
function entryTime<C, R, E>(s: ReplicaState<C, R, E>, arrivedAt: number): number {
  const previous = s.primary!.pending.at(-1)?.at ?? s.log.lastAt;
  return Math.max(arrivedAt, previous, s.clientTable.newestAt);
}

function reject<C, R, E>(s: ReplicaState<C, R, E>, request: ClientRequest<C>, code: RejectCode): void {
  const { clientId, owner, requestNumber } = request;
  s.out.push({ type: 'reject', clientId, owner, requestNumber, code, view: s.view, primary: s.primaryOf(s.view) });
}

/** §4.1 step 2 with batching (§6.2): the pending batch becomes PREPAREs and persist records. The
 *  PREPARE may go before our own fsync (D1); we count ourselves toward a commit only after it. */
export function flush<C, R, E>(s: ReplicaState<C, R, E>): void {
  const p = s.primary;
  if (p === null || p.pending.length === 0) return;
  if (!p.startViewSent) return; // D2: nothing is prepared in a view before its START-VIEW.
  while (p.pending.length > 0) {
    const entries = p.pending.splice(0, s.settings.batchEntriesMax);
    s.appendEntries(entries);
    s.broadcast({ type: 'prepare', view: s.view, from: s.id, entries, commit: s.commit });
  }
  p.commitTimeout.reset(); // A PREPARE carries the commit number: it is a heartbeat too.
}

/** §4.1 step 3: a backup receives entries from its primary. */
export function onPrepare<C, R, E>(s: ReplicaState<C, R, E>, m: Prepare<C>): void {
  if (!followPrimary(s, m)) return;
  const b = s.backup;
  assert.ok(b !== null && s.logView === s.view);
  const first = m.entries[0]!.op;
  const last = m.entries.at(-1)!.op;
  if (first > s.log.op + 1) {
    // Never skip an op: fetch the gap first, and buffer nothing meanwhile (§4.1 step 3).
    requestState(s);
  } else if (last > s.log.op) {
    const fresh = m.entries.slice(s.log.op + 1 - first);
    if (!s.log.canFollow(s.log.op, fresh)) return s.logLine('warn', 'ignoring prepare', { reason: 'entry views would decrease', from: m.from });
    s.appendEntries(fresh);
  } else {
    // A resend: the primary may have lost our PREPARE-OK, so send it again once durable.
    b.ackedOp = Math.min(b.ackedOp, last - 1);
  }
  learnCommit(s, m.commit);
  if (m.commit > s.log.op) requestState(s);
}

/** §4.1 step 5: the primary's commit number, when it has nothing to prepare (the heartbeat). */
export function onCommit<C, R, E>(s: ReplicaState<C, R, E>, m: Commit): void {
  if (!followPrimary(s, m)) return;
  // An idle primary that has not committed what we acknowledged may have lost our PREPARE-OK
  // (after START-VIEW it is our only one, and nothing else would prompt another): send it again.
  const b = s.backup!;
  if (m.commit < b.ackedOp) b.ackedOp = m.commit;
  learnCommit(s, m.commit);
  if (m.commit > s.log.op) requestState(s);
}

/** The guards PREPARE and COMMIT share (VRR §4, §5.2): true if this replica is a backup in the
 *  message's view and should act on it. A newer view, or our own view started without us, means
 *  we must fetch that view's log first. */
function followPrimary<C, R, E>(s: ReplicaState<C, R, E>, m: Prepare<C> | Commit): boolean {
  if (m.view < s.view) {
    s.ignore(m.type, 'older view', { from: m.from, messageView: m.view });
    return false;
  }
  if (m.view > s.view || s.status === 'view-change') {
    enterRecovering(s, m.view, `${m.type} from the primary of view ${m.view}`);
    requestState(s);
    return false;
  }
  if (s.status === 'recovering') {
    s.transfer!.primaryTimeout.reset();
    s.ignore(m.type, 'catching up by state transfer first', { from: m.from });
    return false;
  }
  assert.ok(s.backup !== null, 'a message from the primary of our view reached a replica that is not its backup');
  s.backup.primaryTimeout.reset();
  return true;
}

/** Part of a message from `from` arrived; the rest is on its way. A snapshot of tens of MB takes
 *  a second or more to arrive on a loaded machine, and a backup (or a replica catching up) that
 *  asked its primary for one counted that time as silence, timed out and asked for a new view
 *  (bench: catch-up at 200,000 messages, 4 view changes; at 270,000 a storm). Liveness only:
 *  nothing in the message is believed before it is whole — when it lands, it resets the same
 *  timer (followPrimary) or shows the sender has moved on. */
export function onReceiving<C, R, E>(s: ReplicaState<C, R, E>, from: ReplicaId): void {
  if (from !== s.primaryOf(s.view)) return;
  if (s.backup !== null) s.backup.primaryTimeout.reset();
  else if (s.transfer !== null) s.transfer.primaryTimeout.reset();
}

/** §4.1 step 4: a backup holds our log durably up to `op`. */
export function onPrepareOk<C, R, E>(s: ReplicaState<C, R, E>, m: PrepareOk): void {
  if (m.view !== s.view) return s.ignore('prepare-ok', m.view < s.view ? 'older view' : 'newer view', { from: m.from });
  if (s.primary === null) return s.ignore('prepare-ok', 'not the primary in status normal', { from: m.from });
  if (m.op > s.log.op) {
    return s.logLine('warn', 'ignoring prepare-ok', { reason: 'acknowledges an op we never prepared', from: m.from, op: m.op });
  }
  s.primary.acks.set(m.from, Math.max(s.primary.acks.get(m.from) ?? 0, m.op));
  heard(s, m.from);
}

/** §4.1 step 4: commit what f + 1 replicas hold durably in this view — ourselves only once our
 *  own copy is on disk (D1). Run after every step; cheap when nothing changed. */
export function commitAsPrimary<C, R, E>(s: ReplicaState<C, R, E>): void {
  const p = s.primary;
  if (p === null || !p.startViewSent) return;
  assert.ok(s.viewDurable(), 'START-VIEW went out, so the view record is durable');
  const op = quorumOp([Math.min(s.disk.op, s.log.op), ...p.acks.values()], s.quorum);
  if (op <= s.commit) return;
  s.commit = op;
  executeCommitted(s);
}

/** §4.1 step 3: acknowledge what is durable, once the view record is durable too (D1, D2). */
export function sendPrepareOk<C, R, E>(s: ReplicaState<C, R, E>): void {
  const b = s.backup;
  if (b === null || !s.viewDurable()) return;
  const op = Math.min(s.disk.op, s.log.op);
  if (op <= b.ackedOp) return;
  b.ackedOp = op;
  s.send(s.primaryOf(s.view), { type: 'prepare-ok', view: s.view, from: s.id, op });
}

/** Primary heartbeat (§4.1 step 5): COMMIT to each backup — or, to a backup whose acknowledgement
 *  has not moved for a whole heartbeat while ops wait to commit, the entries after it again (the
 *  PREPARE or its PREPARE-OK may have been lost). A backup with no acknowledgement in this view
 *  at all (every one it sent was lost, e.g. the one after START-VIEW) gets the entries after the
 *  commit number; one whose acknowledgement is below our snapshot, the entries after that (the
 *  log before it is folded away, and the backup may hold it all: its PREPARE-OKs may be what was
 *  lost, F11). Either way it acknowledges them if it has them, appends them, or fetches what it
 *  lacks (a gap before them). */
export function onCommitTimeout<C, R, E>(s: ReplicaState<C, R, E>): void {
  const p = s.primary;
  assert.ok(p !== null);
  if (!p.startViewSent) return;
  const commitTo: ReplicaId[] = [];
  for (const backup of s.others()) {
    const acked = p.acks.get(backup);
    const from = Math.max(acked ?? s.commit, s.log.base);
    const stalled = from < s.log.op && p.acksAtHeartbeat.get(backup) === acked;
    if (stalled) {
      const entries = s.log.after(from, { entriesMax: s.settings.batchEntriesMax, bytesMax: s.settings.messageBytesMax });
      s.send(backup, { type: 'prepare', view: s.view, from: s.id, entries, commit: s.commit });
    } else {
      commitTo.push(backup);
    }
  }
  // The COMMIT is the same for every backup that is not resent entries: one broadcast.
  s.broadcast({ type: 'commit', view: s.view, from: s.id, commit: s.commit }, commitTo);
  p.acksAtHeartbeat = new Map(p.acks);
}

/** §4.2 step 1: the primary has been silent for the timeout; try the next view. */
export function onPrimaryTimeout<C, R, E>(s: ReplicaState<C, R, E>): void {
  startViewChange(s, s.view + 1, `no word from primary ${s.primaryOf(s.view)} for ${s.viewChangeTimeoutTicks} ticks`);
}

// ---- check-quorum: a primary that hears no majority steps down ------------------------------
//
// A primary cut off from the other replicas (a partition) commits nothing — a commit needs f + 1 —
// but without this rule it stays in status normal in its view for ever: it keeps its clients,
// answers them from stale state, and never hangs up an idle one, while the others have moved on.
// So a primary must hear, within every view-change timeout (its own, as its backups wait for it),
// from f other replicas of its view — with itself a majority — or it steps down: it starts a view
// change to view + 1, as a backup whose primary fell silent does (§4.2 step 1). Leaving status
// normal does the rest: the driver logs `deposed` and hangs up its clients, who are refused with
// VIEW_CHANGE until they find the new primary; when the partition heals, the replica meets the
// others' newer view by the usual paths (view-change.ts, scenarios 1–7), and in an asymmetric
// partition, where its backups still hear it, its START-VIEW-CHANGE moves them at once (scenario 3).
//
// Hearing from a replica means a PREPARE-OK of this view, or an ALIVE of this view, which a backup
// and a replica catching up (state transfer, storage repair) send their primary every heartbeat:
// an idle backup sends it nothing else. The replica catching up must count. With N = 3, one
// replica dead and the other fetching a snapshot that takes seconds, the primary hears no
// PREPARE-OK; stepping down would throw the transfer away, the next view's primary would start it
// again from the beginning and step down in turn — a livelock, one view change per timeout.
//
// Timing only: no safety argument is touched (view-change.ts, scenario 10). Stepping down is a
// replica starting a view change on its own timer, which VRR §4.2 allows any replica at any
// moment; it changes no log, commits nothing, and votes for nothing the replica would not vote for
// anyway. It adds liveness: the clients of a cut-off primary are released, and in an asymmetric
// partition the view moves. What it costs: a backup stalled for longer than the timeout while
// every other backup is down makes the primary step down — a view change where a pause would have
// done. The clock starts once START-VIEW has gone out: before that nobody can know the view has
// started, and the primary's own disk sets the pace (D2). A cluster of one (f = 0) has nobody to
// hear from: its own disk is its majority, and it never steps down.

/** Check-quorum: `from`, another replica, is in our view (its ALIVE or PREPARE-OK of it). */
function heard<C, R, E>(s: ReplicaState<C, R, E>, from: ReplicaId): void {
  const p = s.primary!;
  p.heardFrom.add(from);
  if (p.heardFrom.size < s.f) return;
  p.heardFrom.clear();
  p.quorumTimeout.reset();
}

/** Check-quorum: a backup or a replica catching up says it is in our view. */
export function onAlive<C, R, E>(s: ReplicaState<C, R, E>, m: Alive): void {
  if (m.view !== s.view) return s.ignore('alive', m.view < s.view ? 'older view' : 'newer view', { from: m.from });
  if (s.primary === null) return s.ignore('alive', 'not the primary in status normal', { from: m.from });
  heard(s, m.from);
}

/** Check-quorum, every heartbeat: a backup, or a replica catching up in a view it does not lead,
 *  tells that view's primary it is there. No wait for the view record (D2): ALIVE promises
 *  nothing and votes for nothing, and waiting on a slow disk would only cost a view change. */
export function sendAlive<C, R, E>(s: ReplicaState<C, R, E>): void {
  const primary = s.primaryOf(s.view);
  if ((s.backup === null && s.transfer === null) || primary === s.id) return;
  s.send(primary, { type: 'alive', view: s.view, from: s.id });
}

/** Check-quorum, on each tick of a primary: step down if fewer than f others were heard from in a
 *  whole timeout since START-VIEW went out or the set last reached f. */
export function onQuorumTick<C, R, E>(s: ReplicaState<C, R, E>): void {
  const p = s.primary!;
  if (!p.startViewSent || s.f === 0 || !p.quorumTimeout.tick()) return;
  const heardFrom = [...p.heardFrom].sort((a, b) => a - b);
  const ticks = p.quorumTimeout.after;
  s.logLine('warn', 'primary stepping down', { reason: 'quorum lost', ticks, heardFrom, f: s.f });
  startViewChange(s, s.view + 1, `check-quorum: in ${ticks} ticks heard from replicas [${heardFrom.join(', ')}] of this view, fewer than f = ${s.f}`);
}
