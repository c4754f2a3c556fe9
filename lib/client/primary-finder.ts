// Where to look for the primary next: the connector's policy for finding it, kept apart from the
// mechanics that carry it out (primary-channel.ts: sockets, timers). Pure: no sockets, no timers,
// no clock; the random numbers it needs come in through `random`, so a test can replay any run.
//
// Its inputs: the seed addresses (--server); each replica greeted (its hello: where it says the
// primary is, and the members); each announcement on a connection we hold; NOT_PRIMARY and BUSY
// from the primary's connection; a primary lost (its connection died, or it answered VIEW_CHANGE:
// it stepped down); a replica that failed (refused, lost, timed out); a park that ran out; an
// answer. Its outputs: a verdict on each replica greeted (adopt it, follow its hint, park there,
// leave it) and on each announcement (adopt, follow, ignore), and next(): the address to dial
// and how long to wait first.
//
// The rules:
//   1. Members. hello and announcements carry the client addresses of the cluster's members,
//      each with the view it came in. The newest list replaces the last (that is how a change of
//      membership arrives); a list from an older view is ignored. The known addresses are the
//      members and the seeds: a seed stays as a fallback, because a replica's configured address
//      may not be reachable from here.
//   2. Stale news. We remember the newest view in which some replica reported a working primary
//      (a hint with an address: a replica gives one only in status normal). A hint, a primary or
//      an announcement from an older view comes from a replica that has not heard of that view
//      (cut off, or deposed without knowing) and is not followed. Views of replicas in a view
//      change do not count: one stuck there alone must not make us refuse a primary that works.
//      Nor may a lie: once a majority of the members have answered from older views, the newest
//      view cannot have started (it would hold one of them), and it is forgotten.
//   3. Hints. A fresh hint is followed — unless it names the replica that just failed (after a
//      primary dies, the backups name it until their view change completes) or has no address
//      (the replica is in a view change). Then we park at that replica instead: keep the
//      connection and wait, at most parkMs, for its announcement, which names the new primary.
//      But losing our connection does not prove the primary dead (a timeout, a network blip, a
//      replica that cut off a slow reader): a replica in status normal that still names it once
//      ASK_AGAIN_MS has passed — long after a backup notices a silent primary — hears it, so we
//      ask that replica again then, and if it still names the primary, go back to it.
//      Two replicas pointing at each other must not make us spin: a second hint in a row waits.
//   4. The round. With nothing to follow, the next address is a random one among the known
//      addresses not yet tried in this round, those that failed since they last answered coming
//      last. Random, so that the idle clients of a dead primary spread over the backups instead
//      of all parking at the same one. When every address has failed, they are tried all the
//      same, round after round, with the doubling backoff.
//   5. The pace. An urgent caller (a call waits) never waits on a fresh hint or announcement; a
//      patient one (an idle client reconnecting for its pushes) spreads that dial over up to
//      4 × backoffBaseMs, so that a thousand idle clients do not connect in the same millisecond.
//      After a dead connection the wait doubles up to backoffMaxMs, so that a cluster that is down
//      is not hammered; after a live replica said "not here, not now" (BUSY, NOT_PRIMARY, a stale
//      hint, a second hint in a row) an urgent caller waits at most twice backoffBaseMs, a patient
//      one doubles. Losing the primary, or a park running out, costs no wait: the next dial goes
//      to another replica.

import type { Announcement, HelloResult, PrimaryHint } from '../protocol/messages.js';
import { Backoff } from './backoff.js';
import { parseAddress, tryParseAddress } from './servers.js';

/** 'urgent' while a call waits; 'patient' when nothing waits (an idle client reconnecting). */
export type Pace = 'urgent' | 'patient';

export interface FinderOptions {
  /** The addresses the connector was given: at least one. */
  seeds: readonly string[];
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** The longest a park lasts: a replica that announces nothing by then is left for another. */
  parkMs: number;
  /** A number in [0, 1). */
  random: () => number;
}

/** Dial `address` after `waitMs`. */
export interface Dial {
  address: string;
  waitMs: number;
}

/** What to do with a replica just greeted: make its connection the primary's (in `view`), leave
 *  it for `address`, keep the connection and wait for its announcement (at most `ms`), or leave
 *  it and go on round. */
export type Verdict =
  | { kind: 'adopt'; view: number }
  | { kind: 'follow'; address: string }
  | { kind: 'park'; ms: number; why: string; askAgain: boolean }
  | { kind: 'leave'; why: string };

/** What to do with an announcement from the replica at the other end of a connection: it is the
 *  primary (adopt the connection, in `view`), the primary is elsewhere, or it is news we ignore. */
export type AnnouncementVerdict = { kind: 'adopt'; view: number } | { kind: 'follow'; address: string } | { kind: 'ignore'; why: string };

/** A patient follow is spread over [0, this × backoffBaseMs). */
const PATIENT_SPREAD_BASES = 4;
/** How long to park at a replica in status normal that names the primary we lost before asking it
 *  again (rule 3): well past the time its backups take to notice a dead primary (a view-change
 *  timeout, 200 ms with the default ticks). Still naming it then, the replica hears it. */
export const ASK_AGAIN_MS = 1000;

export class PrimaryFinder {
  private members: readonly string[] = [];
  /** The view the member list came in; -1 before any. */
  private membersView = -1;
  /** Addresses that failed since they last answered, each with the search it failed in. */
  private readonly failures = new Map<string, number>();
  /** Counts the primaries adopted. A failure stamped with the current count happened since we
   *  last had a primary: that replica "just failed", and hints naming it are not followed. */
  private search = 0;
  /** The primary whose connection we lost in this search; hints naming it in its view are
   *  not followed (rule 3). Matched by number and view, so a seed address that differs from
   *  the replica's configured one does not hide it. */
  private lost: Pick<PrimaryHint, 'replica' | 'view'> | null = null;
  /** The newest view in which some replica reported a working primary (rule 2). */
  private newestView = -1;
  /** Members greeted since the last primary was adopted whose answers were stale, with the view
   *  each was in: once they are a majority, newestView was never a view that started (rule 2). */
  private readonly staleAt = new Map<string, number>();
  /** An address a hint or announcement sent us to: the next dial. */
  private target: { address: string; secondHint: boolean } | null = null;
  /** Hints followed since the last answer, dead connection or park: the second one waits. */
  private hintsInARow = 0;
  /** Addresses dialled in this round (rule 4). */
  private readonly tried = new Set<string>();
  /** What the last setback was, which sets the wait before the next dial: a dead connection,
   *  a live replica saying "not here, not now", or nothing that calls for a wait. */
  private setback: 'dead' | 'live' | null = null;
  /** Doubling to backoffMaxMs: after dead connections, and every setback at the patient pace. */
  private readonly doubling: Backoff;
  /** Short, growing to twice backoffBaseMs only: live replicas' answers at the urgent pace. */
  private readonly short: Backoff;

  constructor(private readonly options: FinderOptions) {
    if (options.seeds.length === 0) throw new TypeError('a connector needs at least one server address');
    for (const seed of options.seeds) parseAddress(seed);
    const { backoffBaseMs: baseMs, backoffMaxMs: maxMs, random } = options;
    this.doubling = new Backoff({ baseMs, maxMs, random });
    this.short = new Backoff({ baseMs, maxMs: Math.min(maxMs, 2 * baseMs), random });
  }

  // -------------------------------------------------------------------------------------------
  // Inputs.

  /** A member list, as a hello or an announcement of `view` carried it (rule 1). Addresses this
   *  client cannot parse are left out: it could never dial them. */
  learnMembers(members: readonly string[], view: number): void {
    if (view < this.membersView) return;
    this.members = [...new Set(members.filter((address) => tryParseAddress(address) !== null))];
    this.membersView = view;
  }

  /** The replica at `address` answered hello. `again`: its second hello, at the end of a park
   *  that waited for it to stop naming the primary we lost (rule 3). */
  greeted(address: string, hello: HelloResult, again = false): Verdict {
    this.failures.delete(address); // It answers again (restarted, or the network healed).
    this.learnMembers(hello.members, hello.view);
    const hint = hello.primary;
    // Still in status normal and still naming it, well after a backup notices a silent primary:
    // the replica hears that primary, so it is alive, and only our connection to it died.
    if (again && hint.address !== null && this.justFailed(hint)) this.absolve(hint.address);
    const who = `replica ${hello.replica}`;
    if (hint.replica === hello.replica && hint.address !== null) {
      if (hint.view >= this.newestView) return this.adopt(hint.view);
      return this.stale(address, hello, `${who} says it is primary of view ${hint.view}, but view ${this.newestView} has begun`);
    }
    const weighed = this.weigh(hint);
    if (weighed === 'stale') return this.stale(address, hello, `${who} names the primary of view ${hint.view}, but view ${this.newestView} has begun`);
    if (weighed === 'wait') {
      // A replica in a view change will announce its end; one in status normal that names the
      // primary we lost announces only if that primary is really dead: ask it again in a while.
      const askAgain = hint.address !== null && this.justFailed(hint);
      const ms = askAgain ? Math.min(this.options.parkMs, ASK_AGAIN_MS) : this.options.parkMs;
      return { kind: 'park', ms, why: `${who} ${waitReason(hint)}`, askAgain };
    }
    return this.follow(weighed.address);
  }

  /** An announcement arrived on a connection to `at` (a replica parked at, or the primary). */
  announced(at: { replica: number }, announcement: Announcement): AnnouncementVerdict {
    const { primary } = announcement;
    this.learnMembers(announcement.members, primary.view);
    if (primary.view < this.newestView) return { kind: 'ignore', why: `an announcement of view ${primary.view}, but view ${this.newestView} has begun` };
    this.newestView = primary.view;
    if (primary.replica === at.replica) return this.adopt(primary.view);
    // Only the primary we lost, in the view we lost it in, is ignored: a replica whose dial failed
    // earlier in this search and has since completed a view change is alive again.
    if (this.isLost(primary) || !isUsable(primary.address)) return { kind: 'ignore', why: `an announcement naming replica ${primary.replica}, which we cannot reach` };
    this.hintsInARow = 0; // News of a finished view change, not one more hint: followed at once.
    return this.follow(primary.address!);
  }

  /** The primary's connection answered NOT_PRIMARY: it is a backup now. The connector leaves it;
   *  its hint, if fresh, is the next dial. */
  notPrimary(hint: PrimaryHint | null): void {
    this.setback = 'live';
    if (hint === null) return;
    const weighed = this.weigh(hint);
    if (typeof weighed === 'object') this.follow(weighed.address);
  }

  /** The primary answered BUSY: how long to wait before asking it again. */
  busy(pace: Pace): number {
    return this.waitAfter('live', pace);
  }

  /** We lost the primary `primary` at `address`: its connection died, or it answered
   *  VIEW_CHANGE (it stepped down). The next dial goes at once to another replica. */
  primaryLost(address: string, primary: Pick<PrimaryHint, 'replica' | 'view'>): void {
    this.failures.set(address, this.search);
    this.lost = { replica: primary.replica, view: primary.view };
    this.target = null;
    this.setback = null;
  }

  /** A connection to `address` could not be made, died, timed out or broke the protocol. */
  failed(address: string): void {
    this.failures.set(address, this.search);
    this.hintsInARow = 0;
    this.setback = 'dead';
  }

  /** A park ran out without an announcement worth following: on to the next replica. */
  parkExpired(): void {
    this.hintsInARow = 0;
    this.setback = null;
  }

  /** The primary answered a request: every wait starts again from the shortest. */
  answered(): void {
    this.doubling.reset();
    this.short.reset();
    this.hintsInARow = 0;
    this.setback = null;
  }

  // -------------------------------------------------------------------------------------------
  // Outputs.

  /** The next address to dial, and how long to wait first. */
  next(pace: Pace): Dial {
    const target = this.target;
    if (target !== null) {
      this.target = null;
      this.tried.add(target.address);
      if (target.secondHint) return { address: target.address, waitMs: this.waitAfter('live', pace) };
      const spreadMs = pace === 'urgent' ? 0 : this.options.random() * PATIENT_SPREAD_BASES * this.options.backoffBaseMs;
      return { address: target.address, waitMs: Math.round(spreadMs) };
    }
    const address = this.nextInRound();
    // Every address failed: going round them is retrying dead ones, at the doubling pace.
    const setback = this.setback ?? (this.failures.has(address) ? 'dead' : null);
    return { address, waitMs: setback === null ? 0 : this.waitAfter(setback, pace) };
  }

  /** The addresses known: the members, then the seeds that are not among them. */
  knownAddresses(): string[] {
    return [...new Set([...this.members, ...this.options.seeds])];
  }

  /** The addresses that failed since they last answered. */
  unreachableAddresses(): string[] {
    return [...this.failures.keys()];
  }

  // -------------------------------------------------------------------------------------------

  private adopt(view: number): { kind: 'adopt'; view: number } {
    this.newestView = view;
    this.staleAt.clear();
    this.search += 1;
    this.lost = null;
    this.target = null;
    this.hintsInARow = 0;
    this.tried.clear();
    return { kind: 'adopt', view };
  }

  /** `address` answered from a view older than newestView: leave it — unless, with it, a majority
   *  of the members has. A view starts only once f + 1 replicas are in it, and a replica's view
   *  never goes back, so had newestView started, any majority would hold a member in it or later.
   *  Then the word that raised it was false (a replica's hint cannot name a view that never
   *  started: whoever answered at some address lied), and the newest view any of them is in
   *  takes its place; the greeting is judged again against it. */
  private stale(address: string, hello: HelloResult, why: string): Verdict {
    this.setback = 'live';
    if (this.members.includes(address)) this.staleAt.set(address, hello.view);
    if (this.staleAt.size < Math.floor(this.members.length / 2) + 1) return { kind: 'leave', why };
    this.newestView = Math.max(...this.staleAt.values());
    this.staleAt.clear();
    return this.greeted(address, hello);
  }

  private follow(address: string): { kind: 'follow'; address: string } {
    this.hintsInARow += 1;
    this.target = { address, secondHint: this.hintsInARow > 1 };
    return { kind: 'follow', address };
  }

  /** A live replica's hint: stale (rule 2), worth waiting at that replica for news instead
   *  (rule 3), or an address to go to. */
  private weigh(hint: PrimaryHint): 'stale' | 'wait' | { address: string } {
    if (hint.address === null) return 'wait';
    if (hint.view < this.newestView) return 'stale';
    this.newestView = hint.view;
    if (this.justFailed(hint) || !isUsable(hint.address)) return 'wait';
    return { address: hint.address };
  }

  /** The hint names the primary we just lost, or an address that failed since we last had a
   *  primary. */
  private justFailed(hint: PrimaryHint): boolean {
    return this.isLost(hint) || (hint.address !== null && this.failures.get(hint.address) === this.search);
  }

  private isLost(hint: PrimaryHint): boolean {
    const lost = this.lost;
    return lost !== null && lost.replica === hint.replica && lost.view === hint.view;
  }

  /** A replica we took for dead is alive after all (greeted, `again`): forget that it failed. */
  private absolve(address: string): void {
    this.lost = null;
    this.failures.delete(address);
  }

  /** Rule 4: a random address not tried in this round, one that has not failed if there is any. */
  private nextInRound(): string {
    const known = this.knownAddresses();
    let untried = known.filter((address) => !this.tried.has(address));
    if (untried.length === 0) {
      this.tried.clear();
      untried = known;
    }
    const answering = untried.filter((address) => !this.failures.has(address));
    const pool = answering.length > 0 ? answering : untried;
    const address = pool[Math.floor(this.options.random() * pool.length)]!;
    this.tried.add(address);
    return address;
  }

  private waitAfter(setback: 'dead' | 'live', pace: Pace): number {
    const backoff = setback === 'live' && pace === 'urgent' ? this.short : this.doubling;
    return Math.round(backoff.nextDelayMs());
  }
}

function isUsable(address: string | null): boolean {
  return address !== null && tryParseAddress(address) !== null;
}

function waitReason(hint: PrimaryHint): string {
  if (hint.address === null) return `knows no working primary (view ${hint.view})`;
  return `names replica ${hint.replica} as the primary of view ${hint.view}, which we cannot reach`;
}
