// The client table (VRR §4, §4.5; docs/architecture.md "Client table"): per client, the
// latest request it executed and the reply, so a retry is answered from the table and never
// applied twice. It is replicated state — updated only when an op executes, rebuilt from the
// snapshot and log after a restart, and saved in every snapshot — so eviction too is decided by
// the log (the row whose last execution is oldest goes), never by a local clock.
//
// Requests that are in the log but not executed yet are not rows here: the replica tracks them
// separately ("in flight"), because they may still be replaced by a view change. So every row is
// an executed request, and `reply: null` only ever means "the reply was null" (a register).

import assert from 'node:assert/strict';
import type { ClientTableRow, RejectCode } from './types.js';

export class ClientTable<R> {
  /** Rows in ascending `op` order (a row is re-inserted whenever it changes), so the first row is
   *  always the one eviction picks. Every row has been executed. */
  private readonly rows = new Map<string, ClientTableRow<R>>();

  constructor(
    private readonly rowsMax: number,
    saved: Record<string, ClientTableRow<R>> | null,
  ) {
    assert.ok(rowsMax >= 1);
    const ordered = Object.entries(saved ?? {}).sort(([, a], [, b]) => a.op - b.op);
    // A snapshot from a cluster configured with a larger table keeps its newest rows.
    for (const [clientId, row] of ordered.slice(-rowsMax)) this.rows.set(clientId, { ...row });
  }

  get size(): number {
    return this.rows.size;
  }

  row(clientId: string): ClientTableRow<R> | undefined {
    return this.rows.get(clientId);
  }

  /** Records that `clientId`'s request executed at `op` with `reply`. Returns the client evicted
   *  to stay within the bound, if any: the one whose last execution is oldest. */
  recordExecuted(clientId: string, requestNumber: number, reply: R | null, op: number): string | null {
    const previous = this.rows.get(clientId);
    // Admission lets at most one copy of a request into any log, so executing one twice is a bug.
    assert.ok(previous === undefined || requestNumber > previous.requestNumber, `client ${clientId} request ${requestNumber} executed twice`);
    this.rows.delete(clientId);
    this.rows.set(clientId, { requestNumber, reply, op });
    if (this.rows.size <= this.rowsMax) return null;
    const [oldest] = this.rows.keys();
    assert.ok(oldest !== undefined && oldest !== clientId);
    this.rows.delete(oldest);
    return oldest;
  }

  /** A copy for a snapshot (JSON-serialisable). */
  toSnapshot(): Record<string, ClientTableRow<R>> {
    const copy: Record<string, ClientTableRow<R>> = {};
    for (const [clientId, row] of this.rows) copy[clientId] = { ...row };
    return copy;
  }
}

/** What the primary does with a client request (VRR §4.1 step 2). */
type Admission<R> =
  | { action: 'append' }
  /** A retry of the latest executed request: answer from the table, apply nothing. */
  | { action: 'reply'; op: number; reply: R | null }
  /** A retry of a request still in flight: it is answered when it commits. */
  | { action: 'drop'; reason: string }
  | { action: 'reject'; code: Extract<RejectCode, 'STALE_REQUEST' | 'BUSY'> };

/** Decides admission from the client's executed row and its request in flight (in the log above
 *  the executed op, or in the primary's pending batch), if any. One outstanding request per
 *  client (§4): a new request while an earlier one is in flight is refused with BUSY rather than
 *  queued, so that the table's single row per client always answers the client's latest retry.
 *  Every answer given here from the table is true even if this replica's table is stale (a
 *  deposed primary): request numbers only grow and each executes once, so a saved reply and a
 *  "stale" verdict stay right. */
export function admit<R>(row: ClientTableRow<R> | undefined, inFlight: number | undefined, requestNumber: number): Admission<R> {
  // A client this table does not know: a register (request 0) registers it. Any other request
  // means the client was never registered, or was evicted — or registered after this replica
  // stopped being primary without knowing it: a deposed primary's table is stale. So "unknown"
  // is decided in log order like any read: the request goes into the log and is refused with
  // SESSION_EXPIRED when it executes (execute.ts), which a deposed primary never reaches.
  // Refusing here would let a client that registered elsewhere open a new session and resend a
  // request that already ran.
  if (row === undefined && inFlight === undefined) return { action: 'append' };
  const latest = Math.max(row?.requestNumber ?? -1, inFlight ?? -1);
  // Below the latest: an old duplicate (a register included, once the client has moved on).
  if (requestNumber < latest) return { action: 'reject', code: 'STALE_REQUEST' };
  if (requestNumber === latest) {
    if (inFlight === requestNumber) return { action: 'drop', reason: 'request in flight' };
    assert.ok(row !== undefined && row.requestNumber === requestNumber);
    return { action: 'reply', op: row.op, reply: row.reply };
  }
  if (inFlight !== undefined) return { action: 'reject', code: 'BUSY' };
  return { action: 'append' };
}
