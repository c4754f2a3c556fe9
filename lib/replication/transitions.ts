// Every change of status goes through here (TigerBeetle's transition_to_*): each one sets the
// status, builds the state that status owns (and drops the others'), and persists the view record
// when view or log view moved — the record must be durable before the replica acts in the new
// view (D2), which the senders check with viewDurable() before they send. A damaged replica
// (state.ts, `damaged`) enters no status but recovering until it is repaired: asserted here.

import assert from 'node:assert/strict';
import type { ReplicaState } from './state.js';
import { Timeout } from './timeout.js';

/** §4.2 step 1: give up on the current view and move to view-change for `view`. Also D4: a
 *  restarted primary of its log view moves to the next view instead of resuming. */
export function startViewChange<C, R, E>(s: ReplicaState<C, R, E>, view: number, reason: string): void {
  assert.ok(view > s.view, 'a view change always moves to a higher view');
  s.logLine('info', 'view change: starting', { to: view, primary: s.primaryOf(view), reason });
  // Leaving a view change for a higher view — timed out, or others moved on — means it failed:
  // the next one gets more time (viewChangeBackoffTicks). Counted alike on every replica that
  // leaves it, so the fastest replica to time out does not set the pace for all.
  if (s.status === 'view-change') s.failedViewChanges += 1;
  s.view = view;
  enterViewChange(s);
  s.persistView();
}

/** Status view-change in the current view: after startViewChange, or on restart with a log view
 *  below the durable view (D4: rejoin the view change for that view). */
export function enterViewChange<C, R, E>(s: ReplicaState<C, R, E>): void {
  assert.ok(s.logView < s.view);
  assert.ok(!s.damaged, 'a damaged replica starts and joins no view change');
  clearRoles(s);
  s.status = 'view-change';
  s.viewChange = {
    startViewChangeFrom: new Set(),
    startViewChangeSent: false,
    doViewChangeSent: null,
    doViewChanges: new Map(),
    cannotLead: false,
    logFetch: null,
    viewChangeTimeout: new Timeout('view-change', s.viewChangeBackoffTicks),
    resendTimeout: new Timeout('view-change-resend', s.settings.heartbeatTicks),
  };
}

/** The view `view` has started without us (we heard its primary, or its START-VIEW did not reach
 *  back to our commit number): fetch its log before acting in it (§5.2). Our log and log view stay
 *  as they are until the transfer completes — the fix for the state transfer defect. A damaged
 *  replica also recovers in the view whose log it holds, even one it leads (state-transfer.ts). */
export function enterRecovering<C, R, E>(s: ReplicaState<C, R, E>, view: number, reason: string): void {
  assert.ok(view >= s.view && (s.logView < view || s.damaged));
  assert.ok(s.primaryOf(view) !== s.id || s.damaged, 'the primary of a view never fetches that view by state transfer');
  const event = s.damaged ? 'storage repair: fetching a whole log from a primary' : 'state transfer: catching up with a view that started without us';
  s.logLine('info', event, { to: view, after: s.commit, reason });
  s.view = view;
  clearRoles(s);
  s.status = 'recovering';
  s.transfer = {
    after: s.commit,
    snapshot: null,
    staged: [],
    repairTarget: null,
    primaryTimeout: new Timeout('primary', s.viewChangeTimeoutTicks),
    resendTimeout: new Timeout('get-state-resend', s.settings.heartbeatTicks),
    resends: 0,
  };
  s.persistView();
}

/** §4.2 step 3: the new primary has chosen the log; it is primary of its view, in status normal.
 *  D3: the caller has persisted the log; now the view record with logView = view follows it. */
export function becomePrimary<C, R, E>(s: ReplicaState<C, R, E>): void {
  assert.equal(s.primaryOf(s.view), s.id);
  assert.ok(!s.damaged, 'a damaged replica never leads');
  clearRolesForNormal(s);
  s.status = 'normal';
  s.logView = s.view;
  s.primary = {
    pending: [],
    acks: new Map(),
    acksAtHeartbeat: new Map(),
    startOp: s.log.op,
    startViewSent: false,
    commitTimeout: new Timeout('commit', s.settings.heartbeatTicks),
    rejoinTimeout: null,
    stallTimeout: new Timeout('stall', 1),
    stallCommit: 0,
    quorumTimeout: new Timeout('quorum', s.viewChangeTimeoutTicks),
    heardFrom: new Set(),
  };
  s.persistView();
  s.rebuildInFlight();
  s.logLine('info', 'view change: complete, primary', { op: s.log.op, commit: s.commit });
}

/** §4.2 step 4 / §5.2: a backup holding the log of its view, in status normal (also on restart
 *  with logView = view, D4). D3: the caller has persisted the log first — and cleared `damaged`
 *  if that log repaired it, so the view record below says so after the log. */
export function becomeBackup<C, R, E>(s: ReplicaState<C, R, E>): void {
  assert.notEqual(s.primaryOf(s.view), s.id);
  assert.ok(!s.damaged, 'a damaged replica acknowledges nothing before it is repaired');
  clearRolesForNormal(s);
  s.status = 'normal';
  s.logView = s.view;
  s.backup = { ackedOp: 0, primaryTimeout: new Timeout('primary', s.viewChangeTimeoutTicks), repairTimeout: null };
  s.persistView();
  s.logLine('info', 'view change: complete, backup', { primary: s.primaryOf(s.view), op: s.log.op, commit: s.commit });
}

/** Reaching status normal ends a run of failed view changes: the next one starts from the base
 *  timeout again. */
function clearRolesForNormal<C, R, E>(s: ReplicaState<C, R, E>): void {
  clearRoles(s);
  s.failedViewChanges = 0;
}

function clearRoles<C, R, E>(s: ReplicaState<C, R, E>): void {
  const hadPending = (s.primary?.pending.length ?? 0) > 0;
  s.primary = null;
  s.backup = null;
  s.viewChange = null;
  s.transfer = null;
  // Requests admitted but never prepared exist nowhere else; their clients will retry.
  if (hadPending) s.rebuildInFlight();
}
