// The contract between the pure replication core (lib/replication) and whoever drives it. The
// core never touches a socket, a file, a timer or a clock; it receives inputs (a peer message, a
// client request, a persistence completion, a tick) and answers each with a list of effects to
// carry out.
//
// Duties of the driver (numbered so code and docs can cite them). ReplicaDriver
// (lib/replication/driver.ts) carries them out, pure like the core, over small ports that each
// host implements: the I/O shell in lib/server wires sockets, the store and a timer to them (the
// "lib/server:" notes below). The deterministic simulator still has a driver of its own
// (test/sim/cluster.ts); on ReplicaDriver it will test the very code the server runs.
//   1. Carry out effects in the order returned, one input at a time.
//   2. `persist` effects form one ordered stream: write each record durably (fsync; for small
//      files temp + fsync + rename + fsync dir) in `seq` order, then call `onPersisted(seq)` with
//      the highest seq whose record — and every earlier one — is durable. Never report a seq
//      durable early: the core sends PREPARE-OK and votes on the strength of it (disk rules
//      D1–D3, docs/architecture.md).
//   3. A persistence failure (EIO, ENOSPC) is fatal for the replica: stop feeding it inputs and
//      stop the process; never call onPersisted for a record that may not be on disk.
//   4. Deliver `send` and `broadcast` effects best-effort: the network may drop, delay, reorder
//      or duplicate them; the core tolerates all of that. One thing it may not do: deliver a
//      message sent to one run of a replica to a later run of it (lib/server: each run has new
//      connections) — a damaged replica trusts that an answer of its own view answers its own
//      request (lib/replication/state-transfer.ts, "A damaged replica"). Messages from peers go to
//      `onMessage` unchanged. Optionally, while a large message from a peer is still arriving, call
//      `onReceiving(from)` (lib/server: once per socket read that leaves a frame unfinished):
//      liveness only.
//   5. Route `reply` and `reject` effects to the client connection waiting for that
//      (clientId, owner, requestNumber), if this process has one; otherwise drop them.
//   6. Call `tick()` at a steady rate (lib/server: every `tickMs` of the cluster configuration).
//      All timeouts count ticks.
//   7. Call `flush()` after each burst of inputs (lib/server: once per event-loop turn), so that
//      requests admitted in the burst leave as one PREPARE (batching, VRR §6.2).
//   8. On start-up, rebuild DurableState from the journal with `recover()` and construct the
//      replica from it; a missing or empty data directory is an error, not a new replica (D7).

/** Replica ids are 0 .. replicaCount-1; the primary of view v is v mod replicaCount. */
export type ReplicaId = number;

export type Status = 'normal' | 'view-change' | 'recovering';

/** A client request as the core sees it. `requestNumber` 0 registers the client in the client
 *  table (VRR §4; docs/architecture.md "Client table"); later requests number 1, 2, ... and
 *  carry a command. Every request names its `owner`: the fingerprint of the secret the client
 *  keeps (lib/auth/client-secret.ts), which the register binds the client id to; the secret
 *  itself never reaches the core. `at` is the driver's wall clock when the request arrived, in
 *  ms since the epoch: the primary writes it into the entry (VRR §4.4), and the client table
 *  measures idleness by entry times alone. */
export type ClientRequest<C> =
  | { clientId: string; owner: string; at: number; requestNumber: 0; command: null }
  | { clientId: string; owner: string; at: number; requestNumber: number; command: C };

/** One slot of the replicated log. (view, op) is its viewstamp. */
export interface LogEntry<C> {
  /** Position in the log, starting at 1; ops are dense (no gaps). */
  op: number;
  /** The view in which the primary assigned this op. */
  view: number;
  clientId: string;
  /** The fingerprint of the secret of whoever sent the request. Execution checks it against the
   *  client-table row, in log order: a request of another owner runs nowhere. */
  owner: string;
  /** 0 = register `clientId`; otherwise the client's request number. */
  requestNumber: number;
  /** The primary's clock when it admitted the request (ms since the epoch), never below the time
   *  of the entry before it: times do not decrease along a primary's log. Client-table eviction
   *  reads them, so every replica decides it alike. */
  at: number;
  /** The command as the primary admitted it (timestamps already chosen); null for a register. */
  command: C | null;
}

/** The deterministic application the log drives (lib/chat for Chat+, a toy in some tests). */
export interface StateMachine<C, R, E> {
  /** Executes one committed command. Must be deterministic: same state + command → same result. */
  apply(command: C, context: { op: number; clientId: string }): { reply: R; events: E[] };
  /** A JSON-serialisable copy of the whole state. */
  snapshot(): unknown;
  /** Optional: how much the state holds, in log entries' worth (about how many commands it
   *  would take to build it again). Lets the replica space its snapshots by the state's size
   *  (`snapshotStateRatio`); called at every multiple of `snapshotEveryOps`, so O(state
   *  outline) is fine, O(state) is not. Without it, a snapshot comes at every multiple. */
  size?(): number;
}

/** Builds a state machine, empty or from a snapshot's `machine` field. The replica keeps that
 *  snapshot (to send to lagging replicas) and hands the factory the same object, not a copy —
 *  a copy of a large state costs seconds at start-up — so the factory must neither change its
 *  argument nor build a machine that shares anything mutable with it. */
export type StateMachineFactory<C, R, E> = (snapshot: unknown | null) => StateMachine<C, R, E>;

/** One client's row in the replicated client table (VRR §4). A row is written only when a
 *  request executes: a request still in the log is not in the table (client-table.ts). */
export interface ClientTableRow<R> {
  /** The owner fingerprint its register carried: only requests with the same owner are answered
   *  from this row or executed for this client. */
  owner: string;
  /** The latest request number executed for this client (0: only the register so far). */
  requestNumber: number;
  /** The reply its execution gave; null only when that reply was null (a register). */
  reply: R | null;
  /** The op at which that request executed: the table keeps its rows in this order, so eviction
   *  finds the row executed longest ago first (client-table.ts), the same on every replica. */
  op: number;
  /** The entry time of that request: a row idle for `clientIdleEvictMs` by a register's entry
   *  time may be evicted to make room for it. */
  at: number;
}

/** Everything committed up to and including `op`, so the log before it can be dropped. */
export interface Snapshot<R> {
  op: number;
  /** The view of the entry at `op` (its viewstamp), so logs can be compared after compaction. */
  view: number;
  clientTable: Record<string, ClientTableRow<R>>;
  machine: unknown;
}

/** What the core asks the driver to make durable, in order. */
export type JournalRecord<C, R> =
  /** Append entries (ops continue the log without a gap). */
  | { kind: 'entries'; entries: LogEntry<C>[] }
  /** Atomically drop every op above `after` and append `entries` (a view change or state
   *  transfer replacing an uncommitted suffix; D3: never drop before the replacement is durable). */
  | { kind: 'replace'; after: number; entries: LogEntry<C>[] }
  /** The view this replica is in and the view whose log it holds (v', "log view", D2/D3), and
   *  whether its log is damaged: it may lack ops this replica acknowledged (storage found damage
   *  and cut the log there, docs/storage.md), so the replica votes in nothing until it has
   *  repaired its log from its peers. */
  | { kind: 'view'; view: number; logView: number; damaged: boolean }
  /** A snapshot; once durable, journal records wholly at or below `snapshot.op` may be deleted.
   *  `coveredByLog` says where it came from. True: taken here, from ops this replica executed,
   *  every one of them in a record persisted before this one — until its file is on disk the
   *  state it holds is recoverable from the previous snapshot and those records, so storage may
   *  report it durable as soon as every earlier record is, write it in the background, skip it
   *  for a newer one, and delete records it covers only once its file is on disk. False: received
   *  by state transfer, covering ops this journal never held; it must be on disk before anything
   *  after it is reported durable. */
  | { kind: 'snapshot'; snapshot: Snapshot<R>; coveredByLog: boolean };

/** A replica's durable state, rebuilt from its journal at start-up (driver duty 8). */
export interface DurableState<C, R> {
  view: number;
  logView: number;
  snapshot: Snapshot<R> | null;
  /** Log entries after the snapshot (or from op 1), dense and in order. */
  entries: LogEntry<C>[];
  /** The log may lack ops this replica acknowledged (see the view record): it must be repaired
   *  from peers before the replica votes again. */
  damaged: boolean;
}

export type RejectCode =
  | 'NOT_PRIMARY'
  | 'VIEW_CHANGE'
  | 'SESSION_EXPIRED'
  | 'STALE_REQUEST'
  | 'BUSY'
  /** The client id is registered to another owner (another secret). */
  | 'NOT_OWNER'
  /** A register found the client table full of clients it may not evict (client-table.ts). */
  | 'CLIENT_TABLE_FULL';

export type Effect<C, R, E, M> =
  | { type: 'send'; to: ReplicaId; message: M }
  /** The same message to each of `to` (distinct ids, never this replica's), in that order: one
   *  object, so a driver encodes it once. Delivered best effort per peer, like `send` (duty 4). */
  | { type: 'broadcast'; to: ReplicaId[]; message: M }
  | { type: 'persist'; seq: number; record: JournalRecord<C, R> }
  /** The answer to a committed request (reply is null for a register). Only the primary emits it.
   *  `owner` is the request's: the driver routes by (clientId, owner, requestNumber), so a
   *  request with a stolen client id can neither receive nor divert its owner's answers. */
  | { type: 'reply'; clientId: string; owner: string; requestNumber: number; op: number; reply: R | null }
  /** The request was refused: not admitted at all (NOT_PRIMARY, VIEW_CHANGE, STALE_REQUEST, BUSY,
   *  NOT_OWNER), or admitted and skipped when it executed, in log order: SESSION_EXPIRED (a
   *  client the table does not know), NOT_OWNER (registered to another owner) or
   *  CLIENT_TABLE_FULL (a register with no room). `primary` is the replica this one believes is
   *  primary. */
  | { type: 'reject'; clientId: string; owner: string; requestNumber: number; code: RejectCode; view: number; primary: ReplicaId }
  /** An op was executed on this replica; every replica emits it, the primary's driver uses the
   *  events (chat pushes). */
  | { type: 'applied'; op: number; clientId: string; requestNumber: number; events: E[] }
  /** A line for the operator's log, with the reason for anything ignored. */
  | { type: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; event: string; fields?: Record<string, unknown> };

/** A snapshot of the replica's state for logs, the cluster console and the simulator checkers. */
export interface ReplicaStatusReport {
  replica: ReplicaId;
  status: Status;
  view: number;
  logView: number;
  primary: ReplicaId;
  isPrimary: boolean;
  /** Highest op in the log. */
  op: number;
  /** Highest committed op known here. */
  commit: number;
  /** Highest op executed on this replica's state machine. */
  executed: number;
  /** A primary whose state machine has executed its whole log as of the start of its view
   *  (startOp): every op any client was told committed before this view has run here. Until then
   *  a new primary's state may lack them — it executes at once only what it knows committed, and
   *  commits the rest of the log it inherited in its own view (§4.2) — so reads from its state
   *  (the gateway's login-start and resume) must wait. False on every replica but the primary. */
  readsCurrent: boolean;
  /** Its log may lack ops it acknowledged: it takes no part until repaired from its peers — true
   *  until the view record saying it is repaired is durable (a restart before would find it
   *  damaged again). */
  damaged: boolean;
}

/** What the storage layer hands back at start-up, for `recover()` to turn into DurableState:
 *  the latest durable view record, the latest durable snapshot, and every log record written
 *  after the segments that snapshot made deletable, in the order they were written.
 *
 *  Storage may delete only a *prefix* of the log records (whole old segments, oldest first, once
 *  a durable snapshot covers every op they mention). Deleting a `replace` record while keeping an
 *  older record it cut would bring the cut entries back at the next start-up (FINDINGS F1). */
export interface LoadedJournal<C, R> {
  view: { view: number; logView: number; damaged: boolean } | null;
  snapshot: Snapshot<R> | null;
  log: Array<Extract<JournalRecord<C, R>, { kind: 'entries' | 'replace' }>>;
}

