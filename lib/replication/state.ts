// A replica's whole state (VRR §4: "the state of a replica"), plus the few helpers every
// sub-protocol uses to act: send, broadcast, persist, log. Handlers live in normal.ts,
// view-change.ts and state-transfer.ts; status changes in transitions.ts; execution in execute.ts.
// Each field says what it means and what must hold of it; invariants.ts checks those after every
// step.

import type { ClientTable } from './client-table.js';
import { type Durability, sameViewRecord, type ViewRecord } from './durability.js';
import type { Log } from './log.js';
import type { DoViewChange, ReplicationMessage } from './messages.js';
import type { Settings } from './options.js';
import { faultsTolerated, primaryOf, quorumSize } from './quorum.js';
import { Timeout } from './timeout.js';
import type { Effect, JournalRecord, LogEntry, ReplicaId, Snapshot, StateMachine, StateMachineFactory, Status } from './types.js';

export type CoreEffect<C, R, E> = Effect<C, R, E, ReplicationMessage<C, R>>;

/** Exists exactly while this replica is the primary of its view in status normal. */
interface PrimaryState<C> {
  /** Requests admitted since the last flush(), numbered log.op + 1, log.op + 2, ... (the batch). */
  pending: LogEntry<C>[];
  /** Per backup, the highest op it acknowledged durably in this view (PREPARE-OK is cumulative). */
  acks: Map<ReplicaId, number>;
  /** `acks` as they were at the previous heartbeat: a backup whose ack has not moved since, while
   *  behind, gets its missing entries resent. */
  acksAtHeartbeat: Map<ReplicaId, number>;
  /** The op number when this view started: the end of the log START-VIEW announced. Every
   *  replica that takes this view as its log view must hold the log at least this far — it holds
   *  every op committed before the view (§8.1), which the (log view, op) choice relies on. */
  startOp: number;
  /** START-VIEW has gone out. It waits for the durable view record (D2/D3), and no PREPARE of
   *  this view may precede it. */
  startViewSent: boolean;
  /** Heartbeat: send COMMIT (or resend PREPAREs) when it fires (§4.1 step 5). */
  commitTimeout: Timeout;
  /** Running once a replica has asked for a newer view that we did not join: when it fires we give
   *  this view up so that replica can rejoin (view-change.ts, scenario 7). */
  rejoinTimeout: Timeout | null;
  /** With rejoinTimeout: fires after ticks without a commit while ops wait to commit (scenario 7);
   *  `stallCommit` is the commit number when it was last reset. */
  stallTimeout: Timeout;
  stallCommit: number;
  /** Check-quorum (normal.ts): fires when fewer than f other replicas of this view were heard from
   *  since it was last reset — the primary then steps down. It counts only once START-VIEW has gone
   *  out. */
  quorumTimeout: Timeout;
  /** The other replicas heard from in this view (ALIVE or PREPARE-OK) since quorumTimeout was last
   *  reset. Reaching f members resets the timeout and clears the set, so it stays below f. */
  heardFrom: Set<ReplicaId>;
}

/** Exists exactly while this replica is a backup in status normal. */
interface BackupState {
  /** The highest op this replica has acknowledged to the primary in this view. */
  ackedOp: number;
  /** Fires when the primary has been silent too long: start a view change (§4.2 step 1). */
  primaryTimeout: Timeout;
  /** Running while a GET-STATE for a gap in this view is unanswered; stops more being sent. */
  repairTimeout: Timeout | null;
}

/** The new primary's fetch of the part of the chosen log that its DO-VIEW-CHANGE tail did not
 *  carry (§5.3), from the replica that sent it. Kept in memory only: nothing is persisted before
 *  the whole log is assembled (D3). */
export interface LogFetch<C, R> {
  /** The chosen DO-VIEW-CHANGE this fetch completes: its sender, log view and op. A different
   *  choice (a better DO-VIEW-CHANGE arrived) starts a new fetch. */
  from: ReplicaId;
  logView: number;
  op: number;
  /** The op the fetched entries continue: what our own log agreed with when the fetch began. */
  after: number;
  /** Where the chosen tail starts: the fetch is complete once it reaches this op. */
  through: number;
  /** The sender's snapshot, when its log no longer reached back to `after`: committed ops only,
   *  so the chosen log's prefix in another form (§8.1). */
  snapshot: Snapshot<R> | null;
  /** Entries of the chosen log received so far, dense after `snapshot?.op ?? after`. */
  entries: LogEntry<C>[];
}

/** Exists exactly while status is view-change. */
interface ViewChangeState<C, R> {
  /** Other replicas that sent START-VIEW-CHANGE for this view (§4.2 step 2 waits for f). */
  startViewChangeFrom: Set<ReplicaId>;
  /** Our START-VIEW-CHANGE went out (only once the view record is durable, D2). */
  startViewChangeSent: boolean;
  /** The DO-VIEW-CHANGE we sent for this view (to resend it), or null. */
  doViewChangeSent: DoViewChange<C> | null;
  /** The new primary's collection of DO-VIEW-CHANGE messages, by sender (ours included). */
  doViewChanges: Map<ReplicaId, DoViewChange<C>>;
  /** The new primary found it cannot take the chosen log (it does not fit ours): it declines
   *  and lets the view change time out to the next view (logged once). */
  cannotLead: boolean;
  /** The new primary is fetching the chosen log's missing prefix (§5.3), or null. */
  logFetch: LogFetch<C, R> | null;
  /** Fires if this view change takes too long: the next primary may be dead too, try the next.
   *  Restarted when our DO-VIEW-CHANGE goes out; before that it only has us ask again
   *  (view-change.ts, scenario 6). */
  viewChangeTimeout: Timeout;
  /** Resend our START-VIEW-CHANGE / DO-VIEW-CHANGE in case the network lost them. */
  resendTimeout: Timeout;
}

/** Exists exactly while status is recovering: this replica knows view `view` started without it,
 *  or its log is damaged, and fetches that view's log from its primary before acting in it (§5.2,
 *  with the fix: the old log and log view stay untouched until the answer is complete). */
export interface TransferState<C, R> {
  /** Our commit number when the transfer began: the log up to it is committed and kept. */
  after: number;
  /** A snapshot the primary sent because its log no longer reaches back to `after`. */
  snapshot: Snapshot<R> | null;
  /** Entries received so far, continuing `snapshot?.op ?? after` densely. Installed once they
   *  reach the view's start op (NEW-STATE's startOp) — and, while damaged, `repairTarget`. */
  staged: LogEntry<C>[];
  /** While damaged: the primary's op in the first NEW-STATE of this transfer, which its log then
   *  held with every op we can have acknowledged (state-transfer.ts, "A damaged replica"). Null
   *  until that piece arrives, and always for a whole replica. */
  repairTarget: number | null;
  /** Fires when the primary has been silent too long: start a view change (damaged: ask to be
   *  repaired again instead). */
  primaryTimeout: Timeout;
  /** Resend GET-STATE; replaced by a longer one after each resend that got no answer. */
  resendTimeout: Timeout;
  /** GET-STATE resends since the last piece arrived. */
  resends: number;
}

/** A failing view change's timeout grows to at most 2^3 = 8 times the base (1.6 s with the
 *  defaults of 20 ticks of 10 ms). */
const VIEW_CHANGE_BACKOFF_DOUBLINGS_MAX = 3;

/** An unanswered GET-STATE is resent after a heartbeat, then after 2, 4, … up to 2^4 = 16
 *  heartbeats: a primary busy encoding a large answer is not asked to encode it again and again. */
export const STATE_RESEND_BACKOFF_DOUBLINGS_MAX = 4;

export class ReplicaState<C, R, E> {
  /** The effects of the current step, in order, until the step returns them (driver duty 1). */
  out: CoreEffect<C, R, E>[] = [];

  status: Status = 'view-change';
  /** The view this replica is in. Never decreases, and is durable before the replica acts in it
   *  (D2): on disk, disk.view; in memory it may be one persist ahead. */
  view: number;
  /** v′, the view whose log this replica holds (D3). logView ≤ view; logView = view in normal. */
  logView: number;
  /** The log above the snapshot base. Ops 1..commit agree on every replica that has them. */
  log: Log<C>;
  /** The commit number: the newest op known committed. executed ≤ commit ≤ log.op. */
  commit: number;
  /** The newest op applied to the state machine and client table. base ≤ executed ≤ commit. */
  executed: number;
  machine: StateMachine<C, R, E>;
  clientTable: ClientTable<R>;
  /** Per client, its entry in the log above `executed` or in the pending batch (at most one: one
   *  outstanding request per client). */
  inFlight = new Map<string, LogEntry<C>>();
  /** The snapshot the log's base stands on (null while the base is 0); what state transfer sends
   *  to a replica whose needs start below the base. */
  snapshot: Snapshot<R> | null;
  /** The op of the newest snapshot taken or installed (durable or not). */
  snapshotOp: number;
  /** The op at which the last snapshot came due (or of the snapshot installed or loaded): the
   *  next is counted from it, not from snapshotOp, which is later when a primary put its
   *  snapshot off to its next tick — so primary and backups stay in step (execute.ts). */
  snapshotDueOp: number;
  /** A primary's snapshot came due: it is taken at the next tick, after the backups were told
   *  the commit number that makes theirs due too (execute.ts executeCommitted). */
  snapshotAtNextTick = false;
  disk: Durability<R>;
  /** The log may lack ops this replica acknowledged: storage found it damaged and cut it
   *  (docs/storage.md). Set from the durable state and persisted in every view record while it
   *  holds. A damaged replica votes in nothing — it stays in status recovering (invariants.ts),
   *  so it has no backup, view-change or primary state to send PREPARE-OK, DO-VIEW-CHANGE or
   *  START-VIEW from, and it starts, joins and leads no view change — until a primary's log has
   *  replaced its own. Why that loses no acknowledged op: state-transfer.ts, "A damaged replica". */
  damaged: boolean;

  primary: PrimaryState<C> | null = null;
  backup: BackupState | null = null;
  viewChange: ViewChangeState<C, R> | null = null;
  transfer: TransferState<C, R> | null = null;
  /** Per replica, the highest view it asked for by START-VIEW-CHANGE. A replica that asked for a
   *  view above ours is out of our view for good (its view never decreases): view-change.ts
   *  joins once f + 1 have (scenario 2). Entries at or below our view mean nothing. */
  asked = new Map<ReplicaId, number>();
  /** View changes in a row left for a higher view before completing (volatile; 0 once normal). Each one
   *  doubles the next view change's timeout, up to VIEW_CHANGE_BACKOFF_DOUBLINGS_MAX. */
  failedViewChanges = 0;
  /** A backup, or a replica catching up, sends ALIVE to the primary of its view when this fires
   *  (check-quorum, normal.ts). */
  readonly aliveTimeout: Timeout;

  constructor(
    readonly id: ReplicaId,
    readonly settings: Settings,
    readonly createMachine: StateMachineFactory<C, R, E>,
    fields: {
      view: number;
      logView: number;
      log: Log<C>;
      snapshot: Snapshot<R> | null;
      machine: StateMachine<C, R, E>;
      clientTable: ClientTable<R>;
      disk: Durability<R>;
      damaged: boolean;
    },
  ) {
    this.view = fields.view;
    this.logView = fields.logView;
    this.log = fields.log;
    this.snapshot = fields.snapshot;
    this.machine = fields.machine;
    this.clientTable = fields.clientTable;
    this.disk = fields.disk;
    this.damaged = fields.damaged;
    this.commit = fields.log.base;
    this.executed = fields.log.base;
    this.snapshotOp = fields.log.base;
    this.snapshotDueOp = fields.log.base;
    this.aliveTimeout = new Timeout('alive', settings.heartbeatTicks);
  }

  get replicaCount(): number {
    return this.settings.replicaCount;
  }

  get f(): number {
    return faultsTolerated(this.replicaCount);
  }

  get quorum(): number {
    return quorumSize(this.replicaCount);
  }

  primaryOf(view: number): ReplicaId {
    return primaryOf(view, this.replicaCount);
  }

  /** This replica's view-change timeout: a little longer per replica id (no randomness). How long
   *  a backup waits for word from its primary before asking for a view change. */
  get viewChangeTimeoutTicks(): number {
    return this.settings.viewChangeTimeoutTicks + this.id;
  }

  /** How long the next view change may take before this replica gives up on it and tries the
   *  next view: the view-change timeout, doubled per view change that just failed. A view change
   *  that cannot finish in time on a slow or loaded machine would fail again at the same pace;
   *  waiting longer lets it settle. Timing only: no safety argument depends on it. */
  get viewChangeBackoffTicks(): number {
    return this.viewChangeTimeoutTicks * 2 ** Math.min(this.failedViewChanges, VIEW_CHANGE_BACKOFF_DOUBLINGS_MAX);
  }

  // ---- acting ------------------------------------------------------------------------------

  send(to: ReplicaId, message: ReplicationMessage<C, R>): void {
    this.out.push({ type: 'send', to, message });
  }

  /** The same message to each of `to` (by default every other replica) as one effect, so that a
   *  driver encodes it once. Nothing is emitted for an empty `to` (a cluster of one). */
  broadcast(message: ReplicationMessage<C, R>, to: ReplicaId[] = this.others()): void {
    if (to.length > 0) this.out.push({ type: 'broadcast', to, message });
  }

  /** Every replica but this one, in id order. */
  others(): ReplicaId[] {
    const others: ReplicaId[] = [];
    for (let id = 0; id < this.replicaCount; id++) if (id !== this.id) others.push(id);
    return others;
  }

  logLine(level: 'debug' | 'info' | 'warn' | 'error', event: string, fields: Record<string, unknown> = {}): void {
    this.out.push({ type: 'log', level, event, fields: { replica: this.id, view: this.view, status: this.status, ...fields } });
  }

  /** A guard said no: say why (TigerBeetle's "ignoring (newer view)"). */
  ignore(what: string, reason: string, fields: Record<string, unknown> = {}): void {
    this.logLine('debug', `ignoring ${what}`, { reason, ...fields });
  }

  persist(record: JournalRecord<C, R>): number {
    const seq = this.disk.next();
    this.out.push({ type: 'persist', seq, record });
    return seq;
  }

  /** The view record the replica's state calls for. */
  viewRecord(): ViewRecord {
    return { view: this.view, logView: this.logView, damaged: this.damaged };
  }

  /** Persists the view record if it differs from the last one issued (D2/D3) — a change of
   *  `damaged` alone included: a repair in the view whose log it held leaves (view, logView) as
   *  they were. */
  persistView(): void {
    const record = this.viewRecord();
    if (sameViewRecord(this.disk.issuedView, record)) return;
    this.disk.noteView(this.persist({ kind: 'view', ...record }), record);
  }

  /** True once the view record for the current (view, logView, damaged) is on disk: a repaired
   *  replica acts as whole only once a restart would find it so. */
  viewDurable(): boolean {
    return this.disk.viewIs(this.viewRecord());
  }

  /** Appends entries to the log and persists them as one record. */
  appendEntries(entries: LogEntry<C>[]): void {
    this.log.append(entries);
    this.disk.noteAppend(this.persist({ kind: 'entries', entries }), this.log.op);
    for (const entry of entries) if (entry.op > this.executed) this.inFlight.set(entry.clientId, entry);
  }

  /** Replaces the log above `after` (≥ commit: committed ops never change) and persists that. */
  replaceLog(after: number, entries: LogEntry<C>[]): void {
    this.log.replaceAfter(after, entries);
    this.disk.noteReplace(this.persist({ kind: 'replace', after, entries }), after, this.log.op);
    this.rebuildInFlight();
  }

  /** Recomputes `inFlight` from the log above `executed` (and the pending batch). */
  rebuildInFlight(): void {
    this.inFlight.clear();
    for (const entry of this.log.suffix(this.executed)) this.inFlight.set(entry.clientId, entry);
    for (const entry of this.primary?.pending ?? []) this.inFlight.set(entry.clientId, entry);
  }
}
