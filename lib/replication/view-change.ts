// View change (VRR §4.2): when the primary seems dead, the replicas agree on a new view whose
// primary is fixed (v mod N), pick a log that holds every committed op (§8.1), and carry on.
// With disks (VR-NOTES D2/D3), every message that reports or installs a log waits until the
// replica's view record — and, for DO-VIEW-CHANGE, everything else — is durable.

import assert from 'node:assert/strict';
import { learnCommit } from './execute.js';
import type { DoViewChange, StartView, StartViewChange } from './messages.js';
import type { ReplicaState } from './state.js';
import { requestState } from './state-transfer.js';
import { becomeBackup, becomePrimary, enterRecovering, startViewChange } from './transitions.js';
import type { ReplicaId } from './types.js';

/** §4.2 step 1: another replica has started a view change. */
export function onStartViewChange<C, R, E>(s: ReplicaState<C, R, E>, m: StartViewChange): void {
  if (m.view < s.view) return s.ignore('start-view-change', 'older view', { from: m.from, messageView: m.view });
  if (m.view > s.view) {
    startViewChange(s, m.view, `start-view-change from replica ${m.from}`);
  } else if (s.status === 'normal') {
    // A replica that missed our START-VIEW is still asking; the primary answers it again.
    if (s.primary !== null) return sendStartViewTo(s, m.from);
    return s.ignore('start-view-change', 'this view has started', { from: m.from });
  } else if (s.status === 'recovering') {
    return s.ignore('start-view-change', 'this view has started; fetching its log', { from: m.from });
  }
  s.viewChange!.startViewChangeFrom.add(m.from);
}

/** §4.2 step 3: a replica's log, sent to us as the primary of `m.view`. */
export function onDoViewChange<C, R, E>(s: ReplicaState<C, R, E>, m: DoViewChange<C>): void {
  if (m.view < s.view) return s.ignore('do-view-change', 'older view', { from: m.from, messageView: m.view });
  if (s.primaryOf(m.view) !== s.id) return s.ignore('do-view-change', 'we are not the primary of that view', { from: m.from });
  if (m.view > s.view) {
    startViewChange(s, m.view, `do-view-change from replica ${m.from}`);
  } else if (s.status === 'normal') {
    return sendStartViewTo(s, m.from);
  }
  assert.equal(s.status, 'view-change', 'the primary of a view never fetches that view by state transfer');
  // A DO-VIEW-CHANGE also says its sender started this view change, like its START-VIEW-CHANGE.
  s.viewChange!.startViewChangeFrom.add(m.from);
  s.viewChange!.doViewChanges.set(m.from, m);
}

/** §4.2 step 1, once the view record is durable (D2). */
export function sendStartViewChange<C, R, E>(s: ReplicaState<C, R, E>): void {
  const vc = s.viewChange;
  if (vc === null || vc.startViewChangeSent || !s.viewDurable()) return;
  vc.startViewChangeSent = true;
  s.broadcast({ type: 'start-view-change', view: s.view, from: s.id });
}

/** §4.2 step 2: on f START-VIEW-CHANGEs from others, report our log to the new primary. It must
 *  be the log on disk (D2/D3: a restart must not report a different one for this view), so wait
 *  until nothing is in flight. */
export function sendDoViewChange<C, R, E>(s: ReplicaState<C, R, E>): void {
  const vc = s.viewChange;
  if (vc === null || vc.doViewChangeSent !== null) return;
  if (vc.startViewChangeFrom.size < s.f || !s.disk.everythingDurable()) return;
  assert.ok(s.viewDurable());
  const message: DoViewChange<C> = {
    type: 'do-view-change',
    view: s.view,
    from: s.id,
    logView: s.logView,
    op: s.log.op,
    commit: s.commit,
    entries: s.log.tail(s.settings.messageLimit),
  };
  vc.doViewChangeSent = message;
  if (s.primaryOf(s.view) === s.id) vc.doViewChanges.set(s.id, message);
  else s.send(s.primaryOf(s.view), message);
}

/** §4.2 step 3: with f + 1 DO-VIEW-CHANGEs (ours among them), take the log with the highest
 *  (log view, op) and the highest commit number, and become primary. */
export function completeViewChange<C, R, E>(s: ReplicaState<C, R, E>): void {
  const vc = s.viewChange;
  if (vc === null || s.primaryOf(s.view) !== s.id || vc.cannotLead) return;
  if (!vc.doViewChanges.has(s.id) || vc.doViewChanges.size < s.quorum) return;
  const received = [...vc.doViewChanges.values()];
  const chosen = chooseLog(received);
  const commit = Math.max(...received.map((m) => m.commit));
  assert.ok(chosen.op >= commit, 'the chosen log holds every committed op (§8.1)');
  // How far our own log agrees with the chosen one: all of it if it is ours, or if both hold the
  // log of the same view (each is then a prefix of that view's log, and the chosen is longer);
  // otherwise only up to our commit number.
  const agreed = chosen.from === s.id || chosen.logView === s.logView ? s.log.op : s.commit;
  assert.ok(agreed <= chosen.op);
  const tailStart = chosen.op - chosen.entries.length;
  if (tailStart > agreed) {
    // The chosen tail does not reach back to what we hold: we are too far behind to lead.
    // The view change times out and the next primary, maybe better placed, tries (§5.3).
    vc.cannotLead = true;
    return s.logLine('warn', 'view change: too far behind the chosen log to lead this view', { chosenFrom: chosen.from, tailStart, agreed });
  }
  const entries = chosen.entries.slice(agreed - tailStart);
  if (!s.log.canFollow(agreed, entries)) {
    vc.cannotLead = true;
    return s.logLine('warn', 'view change: the chosen log does not fit ours', { chosenFrom: chosen.from, agreed });
  }
  if (chosen.op > agreed || s.log.op > agreed) s.replaceLog(agreed, entries);
  const votes = received.map((m) => m.from);
  s.logLine('info', 'view change: log chosen', { from: chosen.from, logView: chosen.logView, op: chosen.op, commit, votes });
  becomePrimary(s); // D3: the log record above goes first, then the view record.
  learnCommit(s, commit);
}

/** §4.2 step 3: the log with the highest log view, ties broken by the highest op (§8.1: it holds
 *  every op committed in an earlier view). Equal (log view, op) means equal logs; the lowest
 *  replica id is taken so the choice is deterministic. */
export function chooseLog<C>(received: readonly DoViewChange<C>[]): DoViewChange<C> {
  assert.ok(received.length > 0);
  const better = (a: DoViewChange<C>, b: DoViewChange<C>): boolean =>
    a.logView !== b.logView ? a.logView > b.logView : a.op !== b.op ? a.op > b.op : a.from < b.from;
  return received.reduce((best, m) => (better(m, best) ? m : best));
}

/** §4.2 step 3: once our log and view record are durable (D3), announce the view. */
export function sendStartView<C, R, E>(s: ReplicaState<C, R, E>): void {
  const p = s.primary;
  if (p === null || p.startViewSent || !s.viewDurable()) return;
  p.startViewSent = true;
  for (let to: ReplicaId = 0; to < s.replicaCount; to++) if (to !== s.id) s.send(to, startViewMessage(s));
}

function sendStartViewTo<C, R, E>(s: ReplicaState<C, R, E>, to: ReplicaId): void {
  if (s.primary?.startViewSent) s.send(to, startViewMessage(s));
}

function startViewMessage<C, R, E>(s: ReplicaState<C, R, E>): StartView<C> {
  return { type: 'start-view', view: s.view, from: s.id, op: s.log.op, commit: s.commit, entries: s.log.tail(s.settings.messageLimit) };
}

/** §4.2 step 4: install the new view's log. Our log above our commit number may be from an older
 *  view and is replaced; if the message's tail does not reach back that far, fetch the rest by
 *  state transfer first (keeping our log meanwhile). */
export function onStartView<C, R, E>(s: ReplicaState<C, R, E>, m: StartView<C>): void {
  if (m.view < s.view) return s.ignore('start-view', 'older view', { from: m.from, messageView: m.view });
  if (m.view === s.view && s.status === 'normal') return s.ignore('start-view', 'already normal in this view', { from: m.from });
  if (m.op < s.commit) {
    return s.logLine('error', 'ignoring start-view', { reason: 'its log ends below our commit number', from: m.from, op: m.op, commit: s.commit });
  }
  const tailStart = m.op - m.entries.length;
  if (tailStart > s.commit) {
    enterRecovering(s, m.view, 'start-view does not reach back to our commit number');
    return requestState(s);
  }
  const entries = m.entries.slice(s.commit - tailStart);
  if (!s.log.canFollow(s.commit, entries)) {
    return s.logLine('warn', 'ignoring start-view', { reason: 'entry views would decrease', from: m.from });
  }
  s.view = m.view;
  s.replaceLog(s.commit, entries);
  becomeBackup(s); // D3: the log record above goes first, then the view record.
  learnCommit(s, m.commit);
}

/** The view change has not completed in time: the new primary may be dead too. Try the next. */
export function onViewChangeTimeout<C, R, E>(s: ReplicaState<C, R, E>): void {
  startViewChange(s, s.view + 1, `view change to view ${s.view} did not complete in ${s.viewChangeTimeoutTicks} ticks`);
}

/** The network may have lost our START-VIEW-CHANGE or DO-VIEW-CHANGE: send them again. */
export function onViewChangeResendTimeout<C, R, E>(s: ReplicaState<C, R, E>): void {
  const vc = s.viewChange;
  assert.ok(vc !== null);
  if (vc.startViewChangeSent) s.broadcast({ type: 'start-view-change', view: s.view, from: s.id });
  if (vc.doViewChangeSent !== null && s.primaryOf(s.view) !== s.id) s.send(s.primaryOf(s.view), vc.doViewChangeSent);
}
