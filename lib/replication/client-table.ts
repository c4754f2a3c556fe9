// The client table (VRR §4, §4.5; docs/architecture.md "Client table"): per client, the owner
// that registered it and the latest request it executed with its reply, so a retry is answered
// from the table and never applied twice — and only ever to that owner. It is replicated state —
// updated only when an op executes, rebuilt from the snapshot and log after a restart, and saved
// in every snapshot — so eviction too is decided by the log: by op order and by the times the
// primary wrote into the entries (VRR §4.4), never by a local clock.
//
// Requests that are in the log but not executed yet are not rows here: the replica tracks them
// separately ("in flight"), because they may still be replaced by a view change. So every row is
// an executed request, and `reply: null` only ever means "the reply was null" (a register).
//
// Eviction. A register that executes with the table full makes room, in this order:
//   1. the oldest row that executed nothing since its register: its client has no request that
//      ran (one that runs later is refused SESSION_EXPIRED, and was sent once), so nothing of
//      its is in doubt — and a flood of registrations evicts its own rows first;
//   2. else the row executed longest ago, if it has been idle for `clientIdleEvictMs` by the
//      register's entry time;
//   3. else nobody: the register is refused (CLIENT_TABLE_FULL) and creates no row.
// Each step looks at one row only: the rows are kept in op order, and entry times do not
// decrease along the log, so the first row in op order is also the one idle longest. O(1).

import assert from 'node:assert/strict';
import type { Settings } from './options.js';
import type { ClientTableRow, RejectCode } from './types.js';

/** The table's bound, and how idle a row must be before a register may evict it. */
type ClientTableLimits = Pick<Settings, 'clientTableMax' | 'clientIdleEvictMs'>;

/** A register's outcome: a row for the client (and the client evicted for it, if any), or no
 *  room. */
export type Registration = { registered: true; evicted: string | null } | { registered: false };

export class ClientTable<R> {
  /** Every row, in ascending `op` order (a row is re-inserted whenever it changes), so the first
   *  is the row executed longest ago. Every row has been executed. */
  private readonly rows = new Map<string, ClientTableRow<R>>();
  /** The clients whose row is still their register (requestNumber 0), in op order: eviction
   *  takes the first of these before any other. */
  private readonly unused = new Set<string>();
  /** The newest entry time of any row written so far: a primary stamps no entry below it. */
  private newest = 0;

  constructor(
    private readonly limits: ClientTableLimits,
    saved: Record<string, ClientTableRow<R>> | null,
  ) {
    assert.ok(limits.clientTableMax >= 1 && limits.clientIdleEvictMs >= 0);
    const ordered = Object.entries(saved ?? {}).sort(([, a], [, b]) => a.op - b.op);
    // A snapshot from a cluster configured with a larger table keeps its newest rows.
    for (const [clientId, row] of ordered.slice(-limits.clientTableMax)) this.put(clientId, { ...row });
  }

  get size(): number {
    return this.rows.size;
  }

  /** The newest entry time the table holds: a new entry's time must not be below it, or the
   *  row executed longest ago would no longer be the one idle longest. */
  get newestAt(): number {
    return this.newest;
  }

  row(clientId: string): ClientTableRow<R> | undefined {
    return this.rows.get(clientId);
  }

  /** Executes `clientId`'s register (at `op`, entry time `at`) for `owner`, evicting a row if the
   *  table is full and one may go (the three steps above). */
  register(clientId: string, owner: string, op: number, at: number): Registration {
    // Admission lets at most one register of a client into any log, and execution refuses one
    // for an id another owner holds, so registering a known client is a bug.
    assert.ok(!this.rows.has(clientId), `client ${clientId} registered twice`);
    let evicted: string | null = null;
    if (this.rows.size >= this.limits.clientTableMax) {
      evicted = this.evictable(at);
      if (evicted === null) return { registered: false };
      this.rows.delete(evicted);
      this.unused.delete(evicted);
    }
    this.put(clientId, { owner, requestNumber: 0, reply: null, op, at });
    return { registered: true, evicted };
  }

  /** Records that the owner of `clientId`'s row executed request `requestNumber` (≥ 1) at `op`,
   *  entry time `at`, with `reply`. */
  recordExecuted(clientId: string, requestNumber: number, reply: R | null, op: number, at: number): void {
    const previous = this.rows.get(clientId);
    assert.ok(previous !== undefined, `client ${clientId} executed a request without a row`);
    // Admission lets at most one copy of a request into any log, so executing one twice is a bug.
    assert.ok(requestNumber > previous.requestNumber, `client ${clientId} request ${requestNumber} executed twice`);
    this.rows.delete(clientId);
    this.unused.delete(clientId);
    this.put(clientId, { owner: previous.owner, requestNumber, reply, op, at });
  }

  /** A copy for a snapshot (JSON-serialisable). */
  toSnapshot(): Record<string, ClientTableRow<R>> {
    const copy: Record<string, ClientTableRow<R>> = {};
    for (const [clientId, row] of this.rows) copy[clientId] = { ...row };
    return copy;
  }

  /** Appends a row that is newer (by op) than every row held. */
  private put(clientId: string, row: ClientTableRow<R>): void {
    this.rows.set(clientId, row);
    if (row.requestNumber === 0) this.unused.add(clientId);
    this.newest = Math.max(this.newest, row.at);
  }

  /** The client a register at entry time `at` may evict from a full table, or null. */
  private evictable(at: number): string | null {
    const [neverUsed] = this.unused;
    if (neverUsed !== undefined) return neverUsed;
    const [oldest] = this.rows;
    assert.ok(oldest !== undefined, 'a full table has rows');
    const [clientId, row] = oldest;
    return at - row.at >= this.limits.clientIdleEvictMs ? clientId : null;
  }
}

/** What the primary does with a client request (VRR §4.1 step 2). */
type Admission<R> =
  | { action: 'append' }
  /** A retry of the latest executed request: answer from the table, apply nothing. */
  | { action: 'reply'; op: number; reply: R | null }
  /** A retry of a request still in flight: it is answered when it commits. */
  | { action: 'drop'; reason: string }
  | { action: 'reject'; code: Extract<RejectCode, 'NOT_OWNER' | 'STALE_REQUEST' | 'BUSY'> };

/** Who sent a request, and which of theirs it is. */
interface Requester {
  owner: string;
  requestNumber: number;
}

/** Decides admission from the client's executed row and its request in flight (in the log above
 *  the executed op, or in the primary's pending batch), if any. A client id belongs to the owner
 *  that registered it: a request of another owner learns nothing — no saved reply, not even
 *  whether its number is stale — and adds nothing to the log. One outstanding request per client
 *  (§4): a new request while an earlier one is in flight is refused with BUSY rather than
 *  queued, so that the table's single row per client always answers the client's latest retry.
 *  The answers given here hold even if this replica's table is stale (a deposed primary):
 *  request numbers only grow and each executes once, so a saved reply and "stale" stay right,
 *  and a saved reply goes only to its owner. */
export function admit<R>(row: ClientTableRow<R> | undefined, inFlight: Requester | undefined, request: Requester): Admission<R> {
  const { owner, requestNumber } = request;
  // The row is executed state: its owner registered the id. A stale row differs from the truth
  // only for an id evicted since and registered again — by someone who learnt it, since ids are
  // drawn at random — so NOT_OWNER is only ever wrong to such a taker.
  if (row !== undefined && row.owner !== owner) return { action: 'reject', code: 'NOT_OWNER' };
  // Without a row, a request in flight proves no ownership yet: it is a register that has not
  // executed — or, on a deposed primary, whatever its stale table let in, say another owner's
  // register for an id registered since in a newer view. Telling the owner NOT_OWNER there would
  // make it give up an id that is still its own (the simulator found it). So a request of
  // another owner is dropped: it learns nothing, adds nothing, and its sender, hearing nothing,
  // asks again — elsewhere, or here once the register has executed and the row decides.
  if (inFlight !== undefined && inFlight.owner !== owner) return { action: 'drop', reason: "another owner's request in flight" };
  // A client this table does not know: a register (request 0) registers it. Any other request
  // means the client was never registered, or was evicted — or registered after this replica
  // stopped being primary without knowing it: a deposed primary's table is stale. So "unknown"
  // is decided in log order like any read: the request goes into the log and is refused with
  // SESSION_EXPIRED when it executes (execute.ts), which a deposed primary never reaches.
  // Refusing here would let a client that registered elsewhere open a new session and resend a
  // request that already ran.
  if (row === undefined && inFlight === undefined) return { action: 'append' };
  const latest = Math.max(row?.requestNumber ?? -1, inFlight?.requestNumber ?? -1);
  // Below the latest: an old duplicate (a register included, once the client has moved on).
  if (requestNumber < latest) return { action: 'reject', code: 'STALE_REQUEST' };
  if (requestNumber === latest) {
    if (inFlight?.requestNumber === requestNumber) return { action: 'drop', reason: 'request in flight' };
    assert.ok(row !== undefined && row.requestNumber === requestNumber);
    return { action: 'reply', op: row.op, reply: row.reply };
  }
  if (inFlight !== undefined) return { action: 'reject', code: 'BUSY' };
  return { action: 'append' };
}
