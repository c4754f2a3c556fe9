// A simulated client, behaving as the real connector (lib/client) will: it registers
// (request number 0) with a secret of its own, then sends requests with increasing numbers and
// the same secret, one outstanding at a time (VRR §4). A NOT_PRIMARY answer sends it to the
// replica named in the hint; a timeout sends the same request — same number, same command — to
// the next replica, with a backoff; so does a view change that has not ended within a timeout. Because the client table deduplicates by (client id,
// request number), a retry never runs twice (§4.1), and the client's record of what was
// acknowledged is what the checkers hold the cluster to.

import assert from 'node:assert/strict';
import type { Effect, ReplicaId } from '../../lib/replication/types.js';
import { SafetyViolation } from './checkers.js';
import type { Prng } from './prng.js';
import type { ClientScript } from './workload.js';

export type ReplyAnswer<R> = Extract<Effect<never, R, never, never>, { type: 'reply' }>;
export type RejectAnswer = Extract<Effect<never, never, never, never>, { type: 'reject' }>;
export type Answer<R> = ReplyAnswer<R> | RejectAnswer;

/** A request as a client puts it on the wire: with its secret, which the replica's driver turns
 *  into the owner the core sees, as the gateway does (cluster.ts). */
export interface SimRequest<C> {
  clientId: string;
  clientSecret: string;
  requestNumber: number;
  /** null for a register (request 0). */
  command: C | null;
}

/** A request this client had acknowledged: the op it committed at and the reply it got. */
export interface Acknowledged<C, R> {
  clientId: string;
  requestNumber: number;
  command: C | null;
  op: number;
  reply: R | null;
}

export interface ClientTiming {
  /** Virtual ms before an unanswered request is sent again, to another replica. */
  requestTimeoutMs: number;
  /** Upper bound of the backoff that grows with consecutive failed attempts. */
  backoffMaxMs: number;
  /** Pause between an answer and the next request, inclusive bounds. */
  thinkMinMs: number;
  thinkMaxMs: number;
}

interface Outstanding<C> {
  request: SimRequest<C>;
  attempts: number;
}

export class SimClient<C, R> {
  readonly clientId: string;
  /** 64 hex digits, drawn with the client id and sent with every request. */
  readonly clientSecret: string;
  /** Every request sent, by request number: the command is fixed at first send. */
  readonly sent = new Map<number, C | null>();
  readonly acknowledged: Acknowledged<C, R>[] = [];
  /** When the client next acts (sends or retries); Infinity when it is idle for good. */
  wakeAt: number;
  /** In the liveness phase clients finish what they started and send nothing new. */
  stopping = false;
  /** Scenarios hold a client still: it sends nothing (not even retries) until resumed. */
  private paused = false;

  private outstanding: Outstanding<C> | null = null;
  /** Whether the pending wake-up is a timeout (rather than a retry we chose after an answer). */
  private wasTimeout = false;
  private nextRequestNumber = 0;
  private target: ReplicaId;
  /** The highest view any answer has named: hints from lower views are stale. */
  private viewSeen = 0;
  /** The replica whose silence last made us time out, and the view we knew then. A hint back
   *  to it from no newer view is not followed, or two replicas cut off together (a deposed
   *  primary and a backup that still believes in it) could bounce the client between them. */
  private suspect: { replica: ReplicaId; view: number } | null = null;
  /** Since when every answer has been VIEW_CHANGE, or null. */
  private viewChangeSince: number | null = null;

  constructor(
    readonly index: number,
    private readonly replicaCount: number,
    private readonly script: ClientScript<C, R>,
    private readonly prng: Prng,
    private readonly timing: ClientTiming,
    now: number,
  ) {
    this.clientId = prng.hex(32);
    this.clientSecret = prng.hex(64);
    this.target = prng.int(0, replicaCount - 1);
    this.wakeAt = now + prng.int(0, timing.thinkMaxMs);
  }

  get busy(): boolean {
    return this.outstanding !== null;
  }

  /** The request number of the outstanding request, or null. */
  get outstandingNumber(): number | null {
    return this.outstanding?.request.requestNumber ?? null;
  }

  pause(): void {
    this.paused = true;
    this.wakeAt = Infinity;
  }

  /** Scenarios choose where the client's next send goes. */
  aimAt(replica: ReplicaId): void {
    this.target = this.outstanding === null ? replica : (replica + this.replicaCount - 1) % this.replicaCount;
  }

  resume(now: number): void {
    this.paused = false;
    this.wakeAt = now;
  }

  /** The timer fired: send the next request, or resend the one that went unanswered. */
  wake(now: number): { to: ReplicaId; request: SimRequest<C> } | null {
    assert.ok(now >= this.wakeAt, 'client woken early');
    if (this.paused) {
      this.wakeAt = Infinity;
      return null;
    }
    if (this.outstanding === null) {
      if (this.stopping) {
        this.wakeAt = Infinity;
        return null;
      }
      this.outstanding = { request: this.newRequest(), attempts: 0 };
    } else {
      // Timed out (or told to retry): the connector moves on to another replica.
      if (this.wasTimeout) this.suspect = { replica: this.target, view: this.viewSeen };
      this.target = (this.target + 1) % this.replicaCount;
    }
    this.outstanding.attempts++;
    this.wasTimeout = true;
    this.wakeAt = now + this.timing.requestTimeoutMs + this.backoff();
    return { to: this.target, request: this.outstanding.request };
  }

  /** An answer arrived from `from`. Returns what the client acknowledged, if anything. */
  onAnswer(answer: Answer<R>, from: ReplicaId, now: number): Acknowledged<C, R> | null {
    const current = this.outstanding;
    if (current === null || answer.requestNumber !== current.request.requestNumber) return null; // late or duplicate
    if (answer.type !== 'reject' || answer.code !== 'VIEW_CHANGE') this.viewChangeSince = null;
    if (answer.type === 'reply') return this.acknowledge(current.request, answer, now);
    const fresh = answer.view >= this.viewSeen;
    this.viewSeen = Math.max(this.viewSeen, answer.view);
    const hint = fresh && this.trusted(answer.primary, answer.view) ? answer.primary : null;
    switch (answer.code) {
      case 'NOT_PRIMARY':
        // Follow a fresh hint at once; otherwise try the replica after the one that answered.
        this.retrySoon(hint !== null && hint !== from ? hint : (from + 1) % this.replicaCount, now);
        return null;
      case 'VIEW_CHANGE':
        this.viewChangeSince ??= now;
        if (now - this.viewChangeSince >= this.timing.requestTimeoutMs) return this.leaveViewChange(from, now);
        this.retrySoon(hint ?? from, now + this.backoff());
        return null;
      case 'BUSY':
        this.retrySoon(hint ?? from, now + this.backoff());
        return null;
      case 'SESSION_EXPIRED':
        // A deposed primary that has not heard of a client registered since it lost touch
        // answers this too; the world checks whether the answer could be true (cluster.ts).
        // So a lone SESSION_EXPIRED is not final: the connector tries elsewhere.
        this.retrySoon((from + 1) % this.replicaCount, now + this.backoff());
        return null;
      case 'STALE_REQUEST':
        // No replica can hold a request number above the outstanding one: numbers are sent in
        // order, one at a time, each only after the one before was answered.
        throw new SafetyViolation(
          '(d) client table',
          `client ${this.index} got STALE_REQUEST for its outstanding request #${answer.requestNumber} from replica ${from}`,
        );
      case 'NOT_OWNER':
      case 'CLIENT_TABLE_FULL':
        // Nobody else registers our id (a thief only uses ids already registered), and the
        // simulator's client table has room for every client.
        throw new SafetyViolation('(h) a client id is its owner\'s', `client ${this.index} got ${answer.code} for request #${answer.requestNumber} from replica ${from}`);
    }
  }

  private newRequest(): SimRequest<C> {
    const requestNumber = this.nextRequestNumber++;
    const command = requestNumber === 0 ? null : this.script.next();
    this.sent.set(requestNumber, command);
    return { clientId: this.clientId, clientSecret: this.clientSecret, requestNumber, command };
  }

  private acknowledge(request: SimRequest<C>, answer: ReplyAnswer<R>, now: number): Acknowledged<C, R> {
    assert.equal(answer.clientId, this.clientId, 'reply routed to the wrong client');
    const acked: Acknowledged<C, R> = {
      clientId: this.clientId,
      requestNumber: request.requestNumber,
      command: request.command,
      op: answer.op,
      reply: answer.reply,
    };
    this.acknowledged.push(acked);
    if (request.command !== null) this.script.onReply(request.command, answer.reply as R);
    this.outstanding = null;
    this.suspect = null;
    this.wakeAt = this.paused ? Infinity : now + this.prng.int(this.timing.thinkMinMs, this.timing.thinkMaxMs);
    return acked;
  }

  /** A view change that has not ended within a request timeout may never end where we ask: a
   *  primary cut off from the majority steps down (check-quorum, lib/replication/normal.ts), and
   *  it and the replicas cut off with it stay in a view change that can never complete, naming
   *  one of themselves as its primary. So leave, as after a timeout — as the connector leaves a
   *  replica in a view change that announces no primary within its park (lib/client). */
  private leaveViewChange(from: ReplicaId, now: number): null {
    this.viewChangeSince = null;
    this.suspect = { replica: from, view: this.viewSeen };
    this.retrySoon((from + 1) % this.replicaCount, now + this.backoff());
    return null;
  }

  private trusted(replica: ReplicaId, view: number): boolean {
    return this.suspect === null || this.suspect.replica !== replica || view > this.suspect.view;
  }

  private retrySoon(replica: ReplicaId, at: number): void {
    this.wasTimeout = false;
    // wake() moves to target + 1, so aim one before the replica we want.
    this.target = (replica + this.replicaCount - 1) % this.replicaCount;
    this.wakeAt = this.paused ? Infinity : at + this.prng.int(1, 5);
  }

  /** Exponential in consecutive attempts, capped, with jitter so clients do not move in step. */
  private backoff(): number {
    const attempts = this.outstanding?.attempts ?? 0;
    const ceiling = Math.min(this.timing.backoffMaxMs, 10 * 2 ** Math.min(attempts, 10));
    return this.prng.int(0, ceiling);
  }
}
