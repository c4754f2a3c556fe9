// Every message replicas exchange, one interface per message, named as in VRR (§4.1 normal
// operation, §4.2 view change, §5.2 state transfer, §5.3 fetching the chosen log) — all but ALIVE,
// which is ours (check-quorum, normal.ts). Each is a plain JSON object carrying the
// sender's view, so a replica can tell at once whether it is behind, level or ahead (§4: "every
// message carries its view"). The driver serialises them; the core never sees bytes.

import type { LogEntry, ReplicaId, Snapshot } from './types.js';

interface Header {
  /** The sender's view when it sent the message. */
  view: number;
  from: ReplicaId;
}

/** §4.1 step 2: primary → backups. New log entries, dense and in op order (a batch, §6.2), and
 *  the primary's commit number (§4.1 step 5, so backups learn it without a separate COMMIT). The
 *  primary also resends older entries this way to a backup that acknowledged less. */
export interface Prepare<C> extends Header {
  type: 'prepare';
  entries: LogEntry<C>[];
  commit: number;
}

/** §4.1 step 3: backup → primary. "I hold your log of this view up to `op`, on disk." Cumulative:
 *  a backup of view v holds a prefix of the primary's log, so `op` covers every op at or below it. */
export interface PrepareOk extends Header {
  type: 'prepare-ok';
  op: number;
}

/** §4.1 step 5: primary → backups when idle; doubles as the heartbeat backups time out on. */
export interface Commit extends Header {
  type: 'commit';
  commit: number;
}

/** Check-quorum (normal.ts): → the primary of `view`, every heartbeat: I am in your view, a backup
 *  or catching up. Only the header; it votes for nothing and promises nothing. Without it an idle
 *  backup sends its primary nothing (COMMIT heartbeats go one way), and a primary could not tell a
 *  quiet cluster from a partition. */
export interface Alive extends Header {
  type: 'alive';
}

/** §4.2 step 1: to all. "I have given up on the previous view; I am in view-change for `view`." */
export interface StartViewChange extends Header {
  type: 'start-view-change';
}

/** §4.2 step 2: to the primary of `view`. The sender's durable log, summarised as its log view
 *  (v′, D3), op number and commit number, with the newest `entries` of the log ending at `op`
 *  (a bounded tail, §5.3: enough for a new primary whose log agrees up to where the tail starts). */
export interface DoViewChange<C> extends Header {
  type: 'do-view-change';
  logView: number;
  op: number;
  commit: number;
  entries: LogEntry<C>[];
}

/** §4.2 step 3: new primary → all. The chosen log as a bounded tail ending at `op`; a replica
 *  whose commit number is below where the tail starts fetches the rest by state transfer. */
export interface StartView<C> extends Header {
  type: 'start-view';
  op: number;
  commit: number;
  entries: LogEntry<C>[];
}

/** §5.2: → the primary of `view`. "Send me your log after op `after`." */
export interface GetState extends Header {
  type: 'get-state';
  after: number;
}

/** §5.2: primary → asker. A bounded piece of the log after `after` — or, when the log before
 *  `after` + 1 was compacted, the snapshot and the entries after it — with the primary's op and
 *  commit numbers so the asker knows whether to ask again, and the op its view started at: a
 *  replica catching up may take this view as its log view only once it holds the log that far. */
export interface NewState<C, R> extends Header {
  type: 'new-state';
  after: number;
  snapshot: Snapshot<R> | null;
  entries: LogEntry<C>[];
  op: number;
  commit: number;
  startOp: number;
}

/** §5.3 (smaller messages): new primary of `view`, still in status view-change → the replica
 *  whose DO-VIEW-CHANGE it chose, when that message's tail does not reach back to what the new
 *  primary holds. "Send me your log after op `after`, if it is still the log you reported: log
 *  view `logView`, ending at `op`." */
export interface GetLog extends Header {
  type: 'get-log';
  logView: number;
  op: number;
  after: number;
}

/** §5.3: the answer to GET-LOG. A bounded piece of the sender's log after `after` (echoing the
 *  `logView` and `op` it was asked for, which its log still has) — or, when its log before
 *  `after` + 1 was folded into its snapshot, that snapshot (committed ops only) and the entries
 *  after it, as in NEW-STATE. */
export interface LogSuffix<C, R> extends Header {
  type: 'log-suffix';
  logView: number;
  op: number;
  after: number;
  snapshot: Snapshot<R> | null;
  entries: LogEntry<C>[];
}

export type ReplicationMessage<C, R> =
  | Prepare<C>
  | PrepareOk
  | Commit
  | Alive
  | StartViewChange
  | DoViewChange<C>
  | StartView<C>
  | GetState
  | NewState<C, R>
  | GetLog
  | LogSuffix<C, R>;

// ---- shape checks: a peer's message is input, so a malformed one is refused, never thrown on ----

const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;

/** Why `entries` is not a dense run of well-formed entries starting right after `after`, or null. */
function entriesProblem(entries: unknown, after: number, view: number): string | null {
  if (!Array.isArray(entries)) return 'entries is not an array';
  let previousView = 0;
  for (const [index, entry] of entries.entries()) {
    if (typeof entry !== 'object' || entry === null) return 'entry is not an object';
    const { op, view: entryView, clientId, owner, requestNumber, at } = entry as Record<string, unknown>;
    if (op !== after + 1 + index) return 'entries are not dense after the stated op';
    if (!isCount(entryView) || entryView > view) return 'entry view is not at most the message view';
    if (entryView < previousView) return 'entry views decrease';
    if (typeof clientId !== 'string' || !isCount(requestNumber)) return 'entry has no client id or request number';
    if (typeof owner !== 'string' || !isCount(at)) return 'entry has no owner or time';
    previousView = entryView;
  }
  return null;
}

/** Why `message` is not a well-formed replication message for a cluster of `replicaCount`, or
 *  null if it is. Checks shape and internal consistency only; protocol guards do the rest. */
export function messageProblem(message: unknown, replicaCount: number): string | null {
  if (typeof message !== 'object' || message === null) return 'not an object';
  const m = message as Record<string, unknown>;
  if (!isCount(m.view)) return 'view is not a count';
  if (!isCount(m.from) || m.from >= replicaCount) return 'from is not a replica id';
  const view = m.view;
  switch (m.type) {
    case 'prepare': {
      if (!isCount(m.commit)) return 'commit is not a count';
      if (!Array.isArray(m.entries) || m.entries.length === 0) return 'prepare without entries';
      const first = (m.entries[0] as { op?: unknown } | null)?.op;
      if (!isCount(first) || first < 1) return 'first op is not positive';
      return entriesProblem(m.entries, first - 1, view);
    }
    case 'prepare-ok':
      return isCount(m.op) ? null : 'op is not a count';
    case 'commit':
      return isCount(m.commit) ? null : 'commit is not a count';
    case 'alive':
    case 'start-view-change':
      return null;
    case 'do-view-change':
      if (!isCount(m.logView) || m.logView >= view) return 'log view is not below the view';
      return tailProblem(m, view);
    case 'start-view':
      return tailProblem(m, view);
    case 'get-state':
      return isCount(m.after) ? null : 'after is not a count';
    case 'new-state':
      return newStateProblem(m, view);
    case 'get-log':
      if (!isCount(m.logView) || m.logView >= view) return 'log view is not below the view';
      if (!isCount(m.op) || !isCount(m.after) || m.after >= m.op) return 'after is not a count below op';
      return null;
    case 'log-suffix':
      return logSuffixProblem(m, view);
    default:
      return 'unknown message type';
  }
}

/** A log tail ending at `op`, with `commit` ≤ `op`. */
function tailProblem(m: Record<string, unknown>, view: number): string | null {
  if (!isCount(m.op) || !isCount(m.commit) || m.commit > m.op) return 'op or commit is not a count, or commit > op';
  if (!Array.isArray(m.entries) || m.entries.length > m.op) return 'entries is not an array that fits below op';
  return entriesProblem(m.entries, m.op - m.entries.length, view);
}

function logSuffixProblem(m: Record<string, unknown>, view: number): string | null {
  if (!isCount(m.logView) || m.logView >= view) return 'log view is not below the view';
  if (!isCount(m.op) || !isCount(m.after) || m.after >= m.op) return 'after or op is not a count, or after >= op';
  const start = m.snapshot === null ? m.after : snapshotStart(m.snapshot, m.after);
  if (typeof start === 'string') return start;
  if (start > m.op) return 'snapshot reaches past op';
  if (!Array.isArray(m.entries) || start + m.entries.length > m.op) return 'entries reach past op';
  return entriesProblem(m.entries, start, view);
}

/** The op a snapshot sent instead of the log after `after` ends at, or what is wrong with it. */
function snapshotStart(value: unknown, after: number): number | string {
  const snapshot = value as Record<string, unknown> | undefined;
  if (typeof snapshot !== 'object' || !isCount(snapshot.op) || !isCount(snapshot.view)) return 'snapshot is malformed';
  if (typeof snapshot.clientTable !== 'object' || snapshot.clientTable === null) return 'snapshot has no client table';
  if (snapshot.op <= after) return 'snapshot does not reach past after';
  return snapshot.op;
}

function newStateProblem(m: Record<string, unknown>, view: number): string | null {
  if (!isCount(m.after) || !isCount(m.op) || !isCount(m.commit) || m.commit > m.op) return 'after, op or commit is not a count';
  if (!isCount(m.startOp) || m.startOp > m.op) return 'start op is not a count up to op';
  const start = m.snapshot === null ? m.after : snapshotStart(m.snapshot, m.after);
  if (typeof start === 'string') return start;
  if (!Array.isArray(m.entries) || start + m.entries.length > m.op) return 'entries reach past op';
  return entriesProblem(m.entries, start, view);
}
