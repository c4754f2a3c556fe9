// The connection to the primary: finding it, keeping it, and getting a request answered on it.
// This is the mechanics of the policy in primary-finder.ts — dial, greet, park on a connection to
// wait for its announcement, adopt — carried out with sockets and timers; every choice (where
// to go, how long to wait, whether to believe what a replica says) is the finder's.
//
// A connection becomes the primary's when a hello or an announcement says so (adopt). Before a
// request goes out on it, ready() brings it up to date with the preparation steps the connector
// gives (register the client, resume the session), one round trip at a time. Two layers of
// sending live here:
//   askPrimary — one request, sent on the primary's connection and, whenever that fails (the
//                connection dies, the replica is no longer primary, it steps down), on the next
//                one, until a primary answers or the deadline passes (UNAVAILABLE);
//   attempt    — one request on the connection at hand: an answer, or a Retry when the answer
//                is about where the primary is rather than about the request.
// Below them, Link.request sends one request on one link.

import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { StoredMessage } from '../chat/types.js';
import { PROTOCOL_VERSION, type Announcement, type HelloResult, type PrimaryHint } from '../protocol/messages.js';
import { ClientError } from './errors.js';
import { Link, LinkLost, type Reply, type Request } from './link.js';
import type { Pace, PrimaryFinder } from './primary-finder.js';
import { checkHelloResult } from './results.js';

/** A request that got an answer — any answer other than "not here, not now". */
export interface Answer {
  kind: 'answer';
  reply: Reply;
  link: Link;
}

/** A request that did not get through. `busy`: the primary said BUSY, and its connection is kept
 *  to ask again after a wait; otherwise the connection was left, and the next is the finder's. */
export interface Retry {
  kind: 'retry';
  reason: string;
  busy: boolean;
}

/** One preparation step on a connection: nothing left for it to do, one thing done (the next
 *  step goes at once), or a Retry. */
export type Step = { kind: 'done' } | { kind: 'progress' } | Retry;
export type Preparation = (link: Link, deadline: number) => Promise<Step>;

/** What the connector knows while it waits for a primary (the REPL shows it). */
export interface SearchProgress {
  known: number;
  unreachable: number;
  /** The replica whose announcement it is waiting for, if it is parked. */
  parkedAt: string | null;
}

interface ChannelEvents {
  /** A push on the primary's connection. */
  push: [message: StoredMessage];
  /** The primary changed (a new replica or a new view) and the channel now talks to it. */
  failover: [primary: PrimaryHint];
  /** The primary's connection ended, or was left for an announced primary: whoever wants
   *  pushes must reconnect. */
  lost: [reason: string];
  /** Waiting for a primary: each pause before a dial, each park. */
  searching: [progress: SearchProgress];
  /** A connection was adopted as the primary's. */
  found: [];
}

export interface ChannelOptions {
  finder: PrimaryFinder;
  requestTimeoutMs: number;
  /** Only for the UNAVAILABLE message: the deadlines themselves come with each request. */
  giveUpMs: number;
  log: (line: string) => void;
}

interface Greeted {
  link: Link;
  hello: HelloResult;
}

export class PrimaryChannel extends EventEmitter<ChannelEvents> {
  /** The connection to the replica that said it is primary; null when there is none. */
  private link: Link | null = null;
  /** The primary as last found; null before the first connection. */
  private primary: PrimaryHint | null = null;
  private preparations: readonly Preparation[] = [];
  /** Aborted by stop(): wakes waits and parks so that they give up. */
  private readonly stopping = new AbortController();
  /** Why the last attempt failed: what UNAVAILABLE and CLOSED report. */
  private lastFailure = 'no replica tried yet';

  constructor(private readonly options: ChannelOptions) {
    super();
  }

  /** The steps that bring a new connection to the primary up to date, in order. */
  prepareWith(preparations: readonly Preparation[]): void {
    this.preparations = preparations;
  }

  get current(): PrimaryHint | null {
    return this.primary;
  }

  /** One request answered by a primary, on as many connections as it takes. `build` makes the
   *  request anew for each send, on a connection that is ready for it. */
  async askPrimary(build: () => Request, deadline: number, pace: Pace): Promise<Answer> {
    for (;;) {
      const link = await this.ready(deadline, pace);
      const outcome = await this.attempt(link, build(), deadline);
      if (outcome.kind === 'answer') {
        this.options.finder.answered();
        return outcome;
      }
      await this.pauseAfter(outcome, deadline, pace);
    }
  }

  /** A connection to the primary, found, and prepared by every preparation step. */
  async ready(deadline: number, pace: Pace): Promise<Link> {
    for (;;) {
      const link = this.link ?? (await this.find(deadline, pace));
      const step = await this.prepare(link, deadline);
      if (step.kind === 'done') return link;
      if (step.kind === 'retry') await this.pauseAfter(step, deadline, pace);
    }
  }

  /** One request on the primary's connection `link`. Answers about where the primary is (or is
   *  not) become a Retry; every other answer, refusals included, is for the caller. */
  async attempt(link: Link, request: Request, deadline: number): Promise<Answer | Retry> {
    const reply = await unlessLost(link.request(request, this.timeoutMs(deadline)));
    if (reply instanceof LinkLost) {
      // Its 'lost' event has done this, unless the link ended before it was adopted.
      this.onLost(link, reply.message);
      return this.retry(`${link.address}: ${reply.message}`);
    }
    if (reply.ok) return { kind: 'answer', reply, link };
    const reason = `${link.address}: ${reply.error.code}: ${reply.error.message}`;
    switch (reply.error.code) {
      case 'NOT_PRIMARY':
        this.options.finder.notPrimary(reply.primary ?? null);
        this.drop(link, 'not the primary');
        return this.retry(reason);
      case 'VIEW_CHANGE':
        // The primary stepped down (it lost touch with a majority), or a view change has begun
        // without it: either way it will not answer as primary here, and it hangs up its clients.
        assert.ok(this.primary !== null, 'a request goes only to a connection adopted as the primary');
        this.options.finder.primaryLost(link.address, this.primary);
        this.drop(link, 'stepped down');
        return this.retry(reason);
      case 'BUSY':
        return this.retry(reason, true);
      default:
        return { kind: 'answer', reply, link };
    }
  }

  /** `link` broke the protocol (a malformed result): leave it, and count it as failed. */
  dropBroken(link: Link, why: string): Retry {
    this.drop(link, why);
    this.options.finder.failed(link.address);
    return this.retry(`${link.address}: ${why}`);
  }

  /** Wakes every wait and park: they fail with CLOSED. The connection stays up for work in
   *  progress until disconnect(). */
  stop(): void {
    this.stopping.abort();
  }

  disconnect(reason: string): void {
    if (this.link !== null) this.drop(this.link, reason);
  }

  // -------------------------------------------------------------------------------------------
  // Finding the primary.

  /** Dials where the finder says until a replica is adopted as the primary. */
  private async find(deadline: number, pace: Pace): Promise<Link> {
    for (;;) {
      const dial = this.options.finder.next(pace);
      this.options.log(`dialling ${dial.address} ${dial.waitMs === 0 ? 'at once' : `in ${dial.waitMs} ms`} (last: ${this.lastFailure})`);
      if (dial.waitMs > 0) this.emitSearching(null);
      await this.wait(dial.waitMs, deadline);
      const greeted = await this.greet(dial.address, deadline);
      const adopted = greeted === null ? null : await this.judge(greeted, deadline);
      if (adopted !== null) return adopted;
    }
  }

  /** Connects to `address` and asks hello; null (and the finder told) if that fails. */
  private async greet(address: string, deadline: number): Promise<Greeted | null> {
    const link = await unlessLost(Link.open(address, this.timeoutMs(deadline)));
    if (link instanceof LinkLost) return this.failed(address, link.message);
    const hello = await this.hello(link, deadline);
    return hello === null ? null : { link, hello };
  }

  /** Asks hello on `link`: the answer, or null (the link closed, the finder told) if there is
   *  no good one. */
  private async hello(link: Link, deadline: number): Promise<HelloResult | null> {
    const reply = await unlessLost(link.request({ type: 'hello', version: PROTOCOL_VERSION }, this.timeoutMs(deadline)));
    if (reply instanceof LinkLost) return this.failed(link.address, reply.message);
    const hello = reply.ok ? checkHelloResult(reply.result) : null;
    if (hello === null || hello.version !== PROTOCOL_VERSION) {
      const why = reply.ok ? 'a malformed hello' : `${reply.error.code}: ${reply.error.message}`;
      link.close(why);
      return this.failed(link.address, why);
    }
    return hello;
  }

  /** Does what the finder says with a replica just greeted (`again`: greeted a second time, at
   *  the end of a park that asks again): the adopted link, or null. */
  private async judge({ link, hello }: Greeted, deadline: number, again = false): Promise<Link | null> {
    const verdict = this.options.finder.greeted(link.address, hello, again);
    switch (verdict.kind) {
      case 'adopt':
        return this.adopt(link, hello.replica, verdict.view);
      case 'park':
        return this.park(link, hello.replica, verdict, deadline);
      case 'follow':
        return this.leave(link, `replica ${hello.replica} is a backup; the primary of view ${hello.primary.view} is replica ${hello.primary.replica} at ${verdict.address}`);
      case 'leave':
        return this.leave(link, verdict.why);
    }
  }

  /** Keeps `link` to `replica` open and waits, at most the verdict's time, for an announcement
   *  worth acting on: the adopted link if it names this replica, else null — or, if the verdict
   *  says to ask again, what the finder makes of a second hello when the time is up. */
  private park(link: Link, replica: number, verdict: { ms: number; why: string; askAgain: boolean }, deadline: number): Promise<Link | null> {
    this.lastFailure = `${link.address}: ${verdict.why}`;
    this.options.log(`parked at ${link.address}: ${verdict.why}`);
    this.emitSearching(link.address);
    const finder = this.options.finder;
    const signal = this.stopping.signal;
    return new Promise((resolve) => {
      /** Stops listening first: closing the link below must not count as losing it. */
      const settle = (outcome: () => Link | null | Promise<Link | null>): void => {
        clearTimeout(timer);
        link.off('announcement', onAnnouncement);
        link.off('lost', onLost);
        signal.removeEventListener('abort', onStop);
        resolve(outcome());
      };
      const onAnnouncement = (announcement: Announcement): void => {
        const decision = finder.announced({ replica }, announcement);
        if (decision.kind === 'ignore') return this.options.log(`${link.address}: ignored ${decision.why}`);
        settle(() => (decision.kind === 'adopt' ? this.adopt(link, replica, decision.view) : this.leave(link, announced(announcement))));
      };
      const onLost = (reason: string): void => settle(() => this.failed(link.address, reason));
      const onStop = (): void => settle(() => this.leave(link, 'closed by the client'));
      const timer = setTimeout(() => {
        finder.parkExpired();
        if (verdict.askAgain) return settle(() => this.askAgain(link, deadline));
        settle(() => this.leave(link, `no announcement within ${Math.round(verdict.ms)} ms`));
      }, Math.max(0, Math.min(verdict.ms, deadline - performance.now())));
      link.on('announcement', onAnnouncement);
      link.once('lost', onLost);
      signal.addEventListener('abort', onStop, { once: true });
      // What came before we listened: a stop, or an announcement in the same read as the hello reply.
      if (signal.aborted) onStop();
      else if (link.latestAnnouncement !== null) onAnnouncement(link.latestAnnouncement);
    });
  }

  /** The end of a park at a replica that named the primary we lost: greet it again and do what
   *  the finder makes of it (back to that primary if the replica still names it). */
  private async askAgain(link: Link, deadline: number): Promise<Link | null> {
    const hello = await this.hello(link, deadline);
    return hello === null ? null : this.judge({ link, hello }, deadline, true);
  }

  /** Makes `link` the connection to the primary, `replica` in `view`. */
  private adopt(link: Link, replica: number, view: number): Link {
    this.link = link;
    link.on('push', (message) => {
      if (link === this.link) this.emit('push', message);
    });
    link.on('announcement', (announcement) => this.onAnnouncement(link, announcement));
    link.once('lost', (reason) => this.onLost(link, reason));
    this.options.log(`connected to replica ${replica} (view ${view}) at ${link.address}`);
    this.becomePrimary({ replica, view, address: link.address });
    this.emit('found');
    return link;
  }

  private becomePrimary(primary: PrimaryHint): void {
    const previous = this.primary;
    this.primary = primary;
    if (previous !== null && (previous.replica !== primary.replica || previous.view !== primary.view)) this.emit('failover', primary);
  }

  /** An announcement on the primary's connection: a newer view of the same primary, or a new
   *  primary elsewhere, which we leave this one for. */
  private onAnnouncement(link: Link, announcement: Announcement): void {
    if (link !== this.link || this.primary === null) return;
    const decision = this.options.finder.announced({ replica: this.primary.replica }, announcement);
    if (decision.kind === 'ignore') return this.options.log(`${link.address}: ignored ${decision.why}`);
    if (decision.kind === 'adopt') return this.becomePrimary({ ...this.primary, view: decision.view });
    const why = announced(announcement);
    this.drop(link, why);
    this.emit('lost', why);
  }

  private onLost(link: Link, reason: string): void {
    if (link !== this.link || this.primary === null) return;
    this.link = null;
    this.options.finder.primaryLost(link.address, this.primary);
    this.lastFailure = `lost ${link.address}: ${reason}`;
    this.options.log(this.lastFailure);
    this.emit('lost', reason);
  }

  // -------------------------------------------------------------------------------------------
  // Helpers.

  /** Runs the first preparation step that still has something to do on `link`. */
  private async prepare(link: Link, deadline: number): Promise<Step> {
    for (const preparation of this.preparations) {
      const step = await preparation(link, deadline);
      if (step.kind !== 'done') return step;
    }
    return { kind: 'done' };
  }

  /** After a Retry: a wait before asking a BUSY primary again; none after leaving a connection,
   *  since the finder sets the wait before the next dial. */
  private pauseAfter(retry: Retry, deadline: number, pace: Pace): Promise<void> {
    return this.wait(retry.busy ? this.options.finder.busy(pace) : 0, deadline);
  }

  /** Waits `ms`, or fails with CLOSED (stopped) or UNAVAILABLE (the wait would pass the deadline). */
  private async wait(ms: number, deadline: number): Promise<void> {
    const signal = this.stopping.signal;
    if (signal.aborted) throw closedError(this.lastFailure);
    if (performance.now() + ms >= deadline) {
      throw new ClientError('UNAVAILABLE', `no primary answered within ${this.options.giveUpMs} ms (last: ${this.lastFailure})`);
    }
    if (ms === 0) return;
    try {
      await sleep(ms, undefined, { signal });
    } catch (error) {
      if (!signal.aborted) throw error;
      throw closedError(this.lastFailure);
    }
  }

  private retry(reason: string, busy = false): Retry {
    this.lastFailure = reason;
    this.options.log(`retrying: ${reason}`);
    return { kind: 'retry', reason, busy };
  }

  /** A connection to `address` failed: the finder is told. */
  private failed(address: string, why: string): null {
    this.options.finder.failed(address);
    this.lastFailure = `${address}: ${why}`;
    this.options.log(this.lastFailure);
    return null;
  }

  /** Leaves a connection that is not the primary's. */
  private leave(link: Link, why: string): null {
    this.lastFailure = `${link.address}: ${why}`;
    this.options.log(`leaving ${this.lastFailure}`);
    link.close(why);
    return null;
  }

  /** Ends `link`; if it was the connection to the primary, there is none now. */
  private drop(link: Link, reason: string): void {
    if (this.link === link) this.link = null;
    link.close(reason);
  }

  private emitSearching(parkedAt: string | null): void {
    const finder = this.options.finder;
    this.emit('searching', { known: finder.knownAddresses().length, unreachable: finder.unreachableAddresses().length, parkedAt });
  }

  /** How long to wait for one reply: the request timeout, cut short by the deadline. */
  private timeoutMs(deadline: number): number {
    return Math.max(1, Math.min(this.options.requestTimeoutMs, deadline - performance.now()));
  }
}

/** The value of `work`, or the LinkLost it failed with; any other error is thrown. */
async function unlessLost<T>(work: Promise<T>): Promise<T | LinkLost> {
  try {
    return await work;
  } catch (error) {
    if (error instanceof LinkLost) return error;
    throw error;
  }
}

function announced({ primary }: Announcement): string {
  return `replica ${primary.replica} at ${primary.address} is the primary of view ${primary.view}`;
}

export function closedError(reason: string): ClientError {
  return new ClientError('CLOSED', `the connector was closed before the request was answered (${reason})`);
}
