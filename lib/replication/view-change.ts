// View change (VRR §4.2): when the primary seems dead, the replicas agree on a new view whose
// primary is fixed (v mod N), pick a log that holds every committed op (§8.1), and carry on. With
// disks (disk rules D2 and D3, docs/architecture.md), every message that reports or installs a log
// waits until the replica's view record — and, for DO-VIEW-CHANGE, everything else — is durable. A
// new primary whose chosen log's bounded tail does not reach back to what it holds fetches the rest
// from that log's sender first (§5.3: GET-LOG / LOG-SUFFIX, below completeViewChange).

import assert from 'node:assert/strict';
import { learnCommit } from './execute.js';
import type { DoViewChange, GetLog, LogSuffix, StartView, StartViewChange } from './messages.js';
import type { LogFetch, ReplicaState } from './state.js';
import { installSnapshot, repaired, requestState } from './state-transfer.js';
import { becomeBackup, becomePrimary, enterRecovering, startViewChange } from './transitions.js';
import { Timeout } from './timeout.js';
import type { LogEntry, ReplicaId, Snapshot } from './types.js';

/** §4.2 step 1: another replica has started a view change. VRR joins at once; we join only when
 *  that cannot disrupt a working view (scenarios below; docs/architecture.md, "View change"), and
 *  never while our log is damaged (state-transfer.ts, "A damaged replica"). */
export function onStartViewChange<C, R, E>(s: ReplicaState<C, R, E>, m: StartViewChange): void {
  if (m.view < s.view) return s.ignore('start-view-change', 'older view', { from: m.from, messageView: m.view });
  if (m.view > s.view) {
    s.asked.set(m.from, Math.max(s.asked.get(m.from) ?? 0, m.view));
    if (s.damaged) return s.ignore('start-view-change', 'damaged: votes in no view change', { from: m.from, messageView: m.view });
    const view = viewToJoin(s, m);
    if (view === null) {
      if (s.primary !== null && s.primary.rejoinTimeout === null) {
        s.primary.rejoinTimeout = new Timeout('rejoin', rejoinTicks(s));
        s.primary.stallTimeout = new Timeout('stall', stallTicks(s));
        s.primary.stallCommit = s.commit;
      }
      return s.ignore('start-view-change', 'fewer than f + 1 ask for a newer view and our view works', { from: m.from, messageView: m.view });
    }
    startViewChange(s, view, `start-view-change from replica ${m.from}`);
    // Everyone who asked for exactly this view has sent its START-VIEW-CHANGE for it.
    for (const [from, asked] of s.asked) if (asked === view) addParticipant(s, from);
    return;
  } else if (s.status === 'normal') {
    // A replica that missed our START-VIEW is still asking, or a damaged one asks to be repaired
    // (state-transfer.ts): the primary answers it with START-VIEW, of its log as it is now.
    if (s.primary !== null) return sendStartViewTo(s, m.from);
    return s.ignore('start-view-change', 'this view has started', { from: m.from });
  } else if (s.status === 'recovering') {
    return s.ignore('start-view-change', 'this view has started; fetching its log', { from: m.from });
  }
  addParticipant(s, m.from);
}

/** Another replica takes part in our view change: its START-VIEW-CHANGE, or its DO-VIEW-CHANGE,
 *  says so. The f-th makes the view change real (scenario 6): we send DO-VIEW-CHANGE once our
 *  disk holds everything we persisted. */
function addParticipant<C, R, E>(s: ReplicaState<C, R, E>, from: ReplicaId): void {
  s.viewChange!.startViewChangeFrom.add(from);
}

// ---- when a view change may start (why one replica cannot drag the cluster along) -----------
//
// VRR §4.2 has a replica join any view change it hears of. Then one replica whose timer fires —
// starved of CPU, returning from a partition — moves everyone to a new view, again and again if it
// stays slow. Instead a view change needs f + 1 replicas wanting it. Scenarios, numbered:
//
//  1. One backup times out while the primary works (slow, cut off, or just restarted). It moves to
//     v + 1 and asks. The others are normal in v and still hear their primary: one ask is not
//     enough, they stay. Every replica that asked for v' > v is out of view v for good (its view
//     is durable and never decreases), so we remember the highest view each one asked for.
//  2. f + 1 others asked for v' or higher. Then at most N − (f + 1) = f replicas are left in view v,
//     fewer than the f + 1 a commit needs: view v can commit nothing more, and joining costs
//     nothing. We join the highest view that f + 1 of them asked for (each of those is at or above
//     it, so it is reachable). We do not count ourselves: a replica that still hears its primary
//     does not want a view change, and one whose own timer fired has already moved by itself.
//  3. Our own primary asks for a newer view (it restarted, D4, or gave up, scenario 7): the view
//     we are loyal to is gone; join at once.
//  4. A replica in status view-change joins any newer view it hears of at once, as in VRR: it is
//     serving no one, and the newer view can only exist because f + 1 replicas took part in a view
//     change (6), or a primary gave its view up (7), never because one replica timed out alone.
//  5. DO-VIEW-CHANGE and START-VIEW of v', and PREPARE/COMMIT from a normal primary of v', prove
//     that v' is under way or established: they move us as before (onDoViewChange, onStartView,
//     followPrimary in normal.ts).
//  6. A view change times out. If we have sent our DO-VIEW-CHANGE (step 2: f START-VIEW-CHANGEs
//     besides ours, so f + 1 participants, and our disk holds all we persisted) it was real and
//     its primary failed: climb to v + 2, as before. Otherwise we timed out alone, or our own disk
//     is still writing (climbing would only wait for it again): stay in view-change for v + 1 and
//     ask again, so that when the others do move they meet us at v + 1 instead of at a view we
//     raised one by one. A minority (≤ f) can therefore never raise the view at all. A real view
//     change gets the whole timeout from our DO-VIEW-CHANGE: the timer starts again when it goes
//     out (sendDoViewChange), since what is left is the new primary's part. Counted from when we
//     entered v + 1, the timer fired too early twice over: after running while we waited alone,
//     moments after the others came (test/sim/FINDINGS.md F8); and after our own slow disk had
//     used part of it before anyone heard from us — three view records in a row (ours, the new
//     primary's, then its log view's) outlast one timeout on slow disks (F10). Either way we
//     climbed to v + 2, ignored the START-VIEW of v + 1 as older, and waited alone again until
//     the next primary gave its view up (7) — the same race every round, since reaching normal
//     resets the backoff.
//  7. The replica stuck alone at v + 1 while the cluster works in v. It rejoins as soon as the
//     cluster reaches v + 1 or beyond: a START-VIEW, PREPARE or COMMIT of that view moves it
//     (scenario 5; state transfer if need be). To make sure the cluster does get there — and to
//     keep liveness when fewer than f + 1 replicas remain in view v (say view v's primary, one
//     backup and a lone asker in N = 3, the third backup crashed: v cannot commit and the backup
//     still hears its primary, so nobody would ever time out) — the primary of v, once some
//     replica has asked for a newer view, gives view v up after rejoinTicks (25 view-change
//     timeouts), or after stallTicks (4) if meanwhile nothing commits while ops wait to: it starts
//     a view change to the highest view asked for, and its backups follow at once (scenario 3).
//     So a replica stuck alone costs at most one view change per rejoinTicks while the cluster
//     works, not one per timeout of its own, and never makes the cluster climb past the view it
//     asked for; a cluster that cannot commit without it gets it back within stallTicks.
//  8. If the primary of v is dead, its backups time out by themselves (their timers are not reset
//     by anyone else), meet at v + 1 (a lone replica already waiting there counts), and complete
//     the view change in one view when the primary of v + 1 is alive; otherwise scenario 6.
//  9. Safety is untouched: this only decides when a replica enters a view change (and, in 6, when
//     it leaves one for the next view: timing, which no safety argument relies on — any replica
//     may move to a higher view at any moment). Which log wins, and what is durable before each
//     message (D2/D3), is as before.
// 10. Check-quorum (normal.ts): a primary that has not heard from f other replicas of its view
//     (ALIVE or PREPARE-OK) for its view-change timeout moves to v + 1 by itself. Like a backup's
//     timeout (8) it is one replica starting a view change on its own timer, which VRR §4.2 allows
//     any replica at any moment: it changes no log, commits nothing, and votes for nothing it
//     would not vote for anyway, so 9 holds for it as well. The others meet it as in 1–7. Cut off
//     from everyone, it waits alone at v + 1 (6) while the majority moves on; healed, the others'
//     START-VIEW, PREPARE or COMMIT takes it to their view (5). Cut off in one direction only —
//     its backups hear it, it hears none of them — its START-VIEW-CHANGE moves them at once (3),
//     and the view moves where before it stayed for ever. The cost: a primary whose only
//     remaining backups stall for longer than the timeout steps down, a view change where a
//     pause would have done.

/** The view we join on this START-VIEW-CHANGE for a newer view, or null to stay (scenarios 1–4). */
function viewToJoin<C, R, E>(s: ReplicaState<C, R, E>, m: StartViewChange): number | null {
  if (s.status === 'view-change') return m.view; // 4
  if (m.from === s.primaryOf(s.view)) return m.view; // 3
  const views = [...s.asked.values()].filter((view) => view > s.view).sort((a, b) => b - a);
  return views[s.f] ?? null; // 2: the (f + 1)-th highest, if f + 1 asked
}

/** How long a primary lets a replica wait alone in a newer view before giving its view up (7):
 *  long while this view commits (it only restores full membership), short once it has stalled. */
function rejoinTicks<C, R, E>(s: ReplicaState<C, R, E>): number {
  return 25 * s.settings.viewChangeTimeoutTicks;
}

function stallTicks<C, R, E>(s: ReplicaState<C, R, E>): number {
  return 4 * s.settings.viewChangeTimeoutTicks;
}

/** Scenario 7, on each tick of a primary that some replica has asked to leave its view: give the
 *  view up after rejoinTicks, or after stallTicks without a commit while ops wait to commit. */
export function onPrimaryRejoinTick<C, R, E>(s: ReplicaState<C, R, E>): void {
  const p = s.primary!;
  if (p.rejoinTimeout === null) return;
  if (s.commit !== p.stallCommit || s.log.op === s.commit) {
    p.stallCommit = s.commit;
    p.stallTimeout.reset();
  } else if (p.stallTimeout.tick()) {
    return giveViewUp(s, `no commit for ${stallTicks(s)} ticks while a replica asks for a newer view`);
  }
  if (p.rejoinTimeout.tick()) giveViewUp(s, `a replica has asked for a newer view for ${rejoinTicks(s)} ticks`);
}

function giveViewUp<C, R, E>(s: ReplicaState<C, R, E>, reason: string): void {
  const view = Math.max(...s.asked.values());
  assert.ok(view > s.view);
  startViewChange(s, view, `${reason}; giving this view up so it can rejoin`);
  for (const [from, asked] of s.asked) if (asked === view) addParticipant(s, from);
}

/** §4.2 step 3: a replica's log, sent to us as the primary of `m.view`. */
export function onDoViewChange<C, R, E>(s: ReplicaState<C, R, E>, m: DoViewChange<C>): void {
  if (m.view < s.view) return s.ignore('do-view-change', 'older view', { from: m.from, messageView: m.view });
  if (s.primaryOf(m.view) !== s.id) return s.ignore('do-view-change', 'we are not the primary of that view', { from: m.from });
  if (s.damaged) return s.ignore('do-view-change', 'damaged: cannot lead', { from: m.from, messageView: m.view });
  if (m.view > s.view) {
    startViewChange(s, m.view, `do-view-change from replica ${m.from}`);
  } else if (s.status === 'normal') {
    return sendStartViewTo(s, m.from);
  }
  assert.equal(s.status, 'view-change', 'the primary of a view never fetches that view by state transfer');
  // A DO-VIEW-CHANGE also says its sender started this view change, like its START-VIEW-CHANGE.
  addParticipant(s, m.from);
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
  vc.viewChangeTimeout.reset(); // Our part is done; the new primary gets the whole timeout (scenario 6).
  if (s.primaryOf(s.view) === s.id) vc.doViewChanges.set(s.id, message);
  else s.send(s.primaryOf(s.view), message);
}

/** §4.2 step 3: with f + 1 DO-VIEW-CHANGEs (ours among them), take the log with the highest
 *  (log view, op) and the highest commit number, and become primary. When the chosen tail does not
 *  reach back to what we hold, fetch the rest from its sender first (§5.3; see below). */
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
  const tail = chosenTail(s, chosen);
  if (tail === null) return; // The fetched entries do not fit the chosen tail: we declined.
  if (tail.snapshot === null && tail.after > agreed) return fetchChosenLog(s, chosen, agreed);
  // D3: only now, with the whole chosen log above `agreed` in hand, is anything persisted.
  if (tail.snapshot !== null) {
    installSnapshot(s, tail.snapshot, tail.entries, agreed); // The snapshot, then the log after it (race 7).
  } else {
    const entries = tail.entries.slice(agreed - tail.after);
    if (!s.log.canFollow(agreed, entries)) {
      vc.cannotLead = true;
      return s.logLine('warn', 'view change: the chosen log does not fit ours', { chosenFrom: chosen.from, agreed });
    }
    if (chosen.op > agreed || s.log.op > agreed) s.replaceLog(agreed, entries);
  }
  const votes = received.map((m) => m.from);
  s.logLine('info', 'view change: log chosen', { from: chosen.from, logView: chosen.logView, op: chosen.op, commit, votes, fetchedFrom: tail.fetchedFrom });
  becomePrimary(s); // D3: the log record above goes first, then the view record.
  learnCommit(s, commit);
}

// ---- fetching the chosen log (§5.3 "smaller messages") ----------------------------------------
//
// A DO-VIEW-CHANGE carries only a bounded tail of its sender's log (messageEntriesMax entries,
// messageBytesMax bytes). When the chosen one's tail starts above `agreed` (what our own log is
// known to share with it), the new primary asks the chosen replica for its log in (agreed,
// tailStart] with GET-LOG, in bounded LOG-SUFFIX pieces, keeps them in memory with the chosen
// DO-VIEW-CHANGE, and completes the view change once they reach the tail. Lost messages are
// retried on the view-change resend tick; the view-change timeout still bounds the whole thing.
// Why this is safe — the races, numbered:
//
//  1. The entries are the chosen log's. The responder answers only while it is in view v, in
//     status view-change, with the log view and op its DO-VIEW-CHANGE reported. A replica's log
//     does not change in status view-change (it accepts no PREPARE, START-VIEW or NEW-STATE
//     there), it sent that DO-VIEW-CHANGE only once everything was durable, and leaving
//     view-change for v means START-VIEW or NEW-STATE of v (which only we could have sent, and
//     we have not started v: a restarted primary of v whose view record was durable moves to
//     v + 1, D4) or a move to a higher view. So the pieces are exactly the prefix, below the
//     tail, of the log the DO-VIEW-CHANGE summarised — the log §8.1 makes us adopt.
//  2. The responder restarted after its DO-VIEW-CHANGE. It reloads the log it reported (D2/D3:
//     it waited for everything to be durable), so while it is still in view-change for v with the
//     same (log view, op) its answer is still that log. If it moved on, it refuses.
//  3. A better DO-VIEW-CHANGE arrives mid-fetch. chooseLog may then pick another log (any f + 1
//     or more DO-VIEW-CHANGEs give a log holding every committed op, §8.1). The fetch is tied to
//     (from, log view, op) of the choice: a new choice starts a new fetch, and answers for the
//     old one are ignored. Fetched entries are only ever joined to the DO-VIEW-CHANGE they came
//     with.
//  4. A newer view starts meanwhile. Leaving view-change drops the fetch with the rest of the
//     view-change state, and answers carry their view: one from another view is ignored. Nothing
//     was persisted, so there is nothing to undo.
//  5. We crash mid-fetch. Nothing was persisted before the whole log was assembled: the replace
//     record is written only in completeViewChange, then the view record (D3). A restart finds
//     our old log and old log view, exactly what our DO-VIEW-CHANGE reported.
//  6. Lost, duplicated or reordered pieces. Each GET-LOG asks for the log after the end of what
//     we hold; an answer for any other point is ignored, so pieces join densely and in order,
//     and a lost one is asked for again on the resend tick.
//  7. The responder no longer holds the entries: they are below its snapshot base. It sends its
//     snapshot and the log after it instead, as NEW-STATE does (§5.2). A snapshot holds executed,
//     so committed, ops only; every committed op is in the chosen log at the same position
//     (§8.1), so the snapshot is that log's prefix in another form, and its op is above our
//     commit number (we asked for the log after `agreed` ≥ commit). We install it only with the
//     rest of the log in hand: the snapshot record, then the replace record above it, then the
//     view record (D3). A crash between the first two leaves the snapshot with our old entries
//     above it and our old log view — the crash window state transfer already has, safe to vote
//     with (docs/architecture.md: "One crash window").
//  8. No op runs twice or is skipped across the snapshot: installing it replaces our state
//     machine and client table by the snapshot's and sets executed = commit = its op, so only
//     ops above it execute afterwards. Clients of ops inside it get their saved replies from the
//     client table when they retry (§4).

/** The chosen log from where we have it, as (after, entries above it): the DO-VIEW-CHANGE tail,
 *  preceded by the fetched entries once they reach it. Null if the two do not join (we decline). */
function chosenTail<C, R, E>(
  s: ReplicaState<C, R, E>,
  chosen: DoViewChange<C>,
): { after: number; snapshot: Snapshot<R> | null; entries: LogEntry<C>[]; fetchedFrom: ReplicaId | null } | null {
  const tailStart = chosen.op - chosen.entries.length;
  const fetch = s.viewChange!.logFetch;
  if (fetch === null || !fetchIsFor(fetch, chosen) || fetchEnd(fetch) < tailStart || fetch.after >= tailStart) {
    return { after: tailStart, snapshot: null, entries: chosen.entries, fetchedFrom: null };
  }
  const start = fetch.snapshot?.op ?? fetch.after;
  const prefix = fetch.entries.slice(0, Math.max(0, tailStart - start));
  const rest = chosen.entries.slice(Math.max(0, start - tailStart));
  const joinView = prefix.at(-1)?.view ?? fetch.snapshot?.view ?? 0;
  if (rest[0] !== undefined && rest[0].view < joinView) {
    s.viewChange!.cannotLead = true;
    s.logLine('warn', 'view change: the fetched log does not join the chosen tail', { chosenFrom: chosen.from, tailStart });
    return null;
  }
  return { after: start, snapshot: fetch.snapshot, entries: [...prefix, ...rest], fetchedFrom: fetch.from };
}

/** The op after which the fetch's next piece starts. */
function fetchEnd<C, R>(fetch: LogFetch<C, R>): number {
  return (fetch.snapshot?.op ?? fetch.after) + fetch.entries.length;
}

function fetchIsFor<C, R>(fetch: LogFetch<C, R>, chosen: DoViewChange<C>): boolean {
  return fetch.from === chosen.from && fetch.logView === chosen.logView && fetch.op === chosen.op;
}

/** Starts fetching the chosen log after `agreed` from its sender, unless that is under way. */
function fetchChosenLog<C, R, E>(s: ReplicaState<C, R, E>, chosen: DoViewChange<C>, agreed: number): void {
  const vc = s.viewChange!;
  if (vc.logFetch !== null && fetchIsFor(vc.logFetch, chosen)) return; // Under way; the resend tick retries.
  assert.notEqual(chosen.from, s.id, 'our own log reaches back to what we hold');
  const through = chosen.op - chosen.entries.length;
  assert.ok(agreed < through && through <= chosen.op);
  vc.logFetch = { from: chosen.from, logView: chosen.logView, op: chosen.op, after: agreed, through, snapshot: null, entries: [] };
  s.logLine('info', 'view change: fetching the chosen log', { from: chosen.from, after: agreed, through });
  sendGetLog(s);
}

function sendGetLog<C, R, E>(s: ReplicaState<C, R, E>): void {
  const fetch = s.viewChange!.logFetch!;
  const after = fetchEnd(fetch);
  assert.ok(after < fetch.through);
  s.send(fetch.from, { type: 'get-log', view: s.view, from: s.id, logView: fetch.logView, op: fetch.op, after });
}

/** §5.3: the new primary of our view asks for the part of our log that our DO-VIEW-CHANGE's tail
 *  did not carry. Answer only with the log we reported (race 1). */
export function onGetLog<C, R, E>(s: ReplicaState<C, R, E>, m: GetLog): void {
  if (m.view !== s.view) return s.ignore('get-log', m.view < s.view ? 'older view' : 'newer view', { from: m.from });
  if (s.status !== 'view-change') return s.ignore('get-log', 'no longer in view-change: our log may have changed', { from: m.from });
  if (m.logView !== s.logView || m.op !== s.log.op) {
    return s.ignore('get-log', 'our log is not the one our do-view-change reported', { from: m.from, logView: m.logView, op: m.op });
  }
  assert.equal(m.from, s.primaryOf(s.view), 'dispatch admits get-log only from the primary of its view');
  assert.ok(m.after < s.log.op);
  // Below our base the log was folded into our snapshot: send that, and the log after it (race 7).
  const snapshot = m.after < s.log.base ? s.snapshot : null;
  assert.ok(m.after >= s.log.base || snapshot !== null, 'the log stands on its snapshot');
  const entries = s.log.after(snapshot?.op ?? m.after, s.settings.messageLimit);
  s.logLine('info', 'view change: sending our log to the new primary', { to: m.from, after: m.after, snapshot: snapshot?.op ?? null, entries: entries.length });
  s.send(m.from, { type: 'log-suffix', view: s.view, from: s.id, logView: s.logView, op: s.log.op, after: m.after, snapshot, entries });
}

/** §5.3: a piece of the chosen log arrives at the new primary. */
export function onLogSuffix<C, R, E>(s: ReplicaState<C, R, E>, m: LogSuffix<C, R>): void {
  if (m.view !== s.view) return s.ignore('log-suffix', m.view < s.view ? 'older view' : 'newer view', { from: m.from });
  const fetch = s.viewChange?.logFetch ?? null;
  if (fetch === null || s.viewChange!.cannotLead) return s.ignore('log-suffix', 'not fetching a log', { from: m.from });
  if (m.from !== fetch.from || m.logView !== fetch.logView || m.op !== fetch.op) {
    return s.ignore('log-suffix', 'answers for a log we no longer chose', { from: m.from, logView: m.logView, op: m.op });
  }
  const end = fetchEnd(fetch);
  if (m.after !== end || end >= fetch.through) return s.ignore('log-suffix', 'answers an older request', { after: m.after, expected: end });
  assert.equal(s.status, 'view-change');
  assert.equal(s.primaryOf(s.view), s.id, 'only the new primary fetches');
  const previousView = m.snapshot?.view ?? fetch.entries.at(-1)?.view ?? fetch.snapshot?.view ?? s.log.viewAt(fetch.after);
  if ((m.snapshot === null && m.entries.length === 0) || !s.log.canFollow(m.snapshot?.op ?? m.after, m.entries, previousView)) {
    return s.logLine('warn', 'ignoring log-suffix', { reason: 'empty, or entry views would decrease', from: m.from });
  }
  if (m.snapshot !== null) {
    // Its log no longer reaches back to what we asked for (race 7): its snapshot stands in for it.
    fetch.snapshot = m.snapshot;
    fetch.entries = [];
  }
  fetch.entries.push(...m.entries);
  const fetched = fetchEnd(fetch);
  s.logLine('info', 'view change: fetched part of the chosen log', { from: m.from, through: fetched, needed: fetch.through, snapshot: fetch.snapshot?.op ?? null });
  if (fetched < fetch.through) sendGetLog(s);
  // Otherwise completeViewChange, which runs after every step, now has the whole log.
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
  s.broadcast(startViewMessage(s));
}

function sendStartViewTo<C, R, E>(s: ReplicaState<C, R, E>, to: ReplicaId): void {
  if (s.primary?.startViewSent) s.send(to, startViewMessage(s));
}

function startViewMessage<C, R, E>(s: ReplicaState<C, R, E>): StartView<C> {
  return { type: 'start-view', view: s.view, from: s.id, op: s.log.op, commit: s.commit, entries: s.log.tail(s.settings.messageLimit) };
}

/** §4.2 step 4: install the new view's log. Our log above our commit number may be from an older
 *  view and is replaced; if the message's tail does not reach back that far, fetch the rest by
 *  state transfer first (keeping our log meanwhile). A damaged replica is repaired by it
 *  (state-transfer.ts, "A damaged replica": why that log holds all it can have acknowledged). */
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
  if (s.damaged) repaired(s, m.from, s.commit, m.op);
  s.view = m.view;
  s.replaceLog(s.commit, entries);
  becomeBackup(s); // D3: the log record above goes first, then the view record.
  learnCommit(s, m.commit);
}

/** The view change has not completed in time — counted, once we sent our DO-VIEW-CHANGE, from
 *  then: the new primary may be dead too. Try the next — but only if we sent it (the view change
 *  was real, f + 1 participants); alone, or before our own disk let us, stay and ask again (6). */
export function onViewChangeTimeout<C, R, E>(s: ReplicaState<C, R, E>): void {
  const vc = s.viewChange!;
  if (vc.doViewChangeSent !== null) {
    return startViewChange(s, s.view + 1, `view change to view ${s.view} did not complete in ${s.viewChangeBackoffTicks} ticks after our do-view-change`);
  }
  s.logLine('info', 'view change: timed out before our do-view-change; staying in this view', {
    participants: vc.startViewChangeFrom.size + 1,
    durable: s.disk.everythingDurable(),
  });
  if (vc.startViewChangeSent) s.broadcast({ type: 'start-view-change', view: s.view, from: s.id });
}

/** The network may have lost our START-VIEW-CHANGE, DO-VIEW-CHANGE or GET-LOG: send them again. */
export function onViewChangeResendTimeout<C, R, E>(s: ReplicaState<C, R, E>): void {
  const vc = s.viewChange;
  assert.ok(vc !== null);
  if (vc.startViewChangeSent) s.broadcast({ type: 'start-view-change', view: s.view, from: s.id });
  if (vc.doViewChangeSent !== null && s.primaryOf(s.view) !== s.id) s.send(s.primaryOf(s.view), vc.doViewChangeSent);
  const fetch = vc.logFetch;
  if (fetch !== null && !vc.cannotLead && fetchEnd(fetch) < fetch.through) sendGetLog(s); // §5.3: race 6.
}
