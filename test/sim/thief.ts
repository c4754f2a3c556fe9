// A simulated adversary: a client that has learnt the other clients' ids (the REPL prints its own
// on `status`, the journal holds them all) but not their secrets. It sends requests under those
// ids with a secret of its own — a register, the victim's latest request number (to be given
// the saved reply), the one it has outstanding, or the next (to run its own command in the
// victim's name) — and must learn nothing but NOT_OWNER: no reply, and no STALE_REQUEST about
// the victim's numbers. (A deposed primary that does not know the victim may let the thief's
// own requests in, where they can never commit; STALE_REQUEST below a number the thief itself
// sent under that id tells it nothing about the victim.)
// Checker (h) watches the replicas' side of the same promise: no reply for a client id goes to
// another owner, so nothing a thief sends ever runs (docs/protocol.md, "Exactly once").

import type { ReplicaId } from '../../lib/replication/types.js';
import { SafetyViolation } from './checkers.js';
import type { Answer, SimClient, SimRequest } from './client.js';
import type { Prng } from './prng.js';
import type { ClientScript } from './workload.js';

/** Virtual ms between a thief's attempts, at most. */
const PAUSE_MAX_MS = 50;

/** The answers a request under someone else's id may get: refused, or sent elsewhere. */
const HARMLESS = new Set(['NOT_OWNER', 'NOT_PRIMARY', 'VIEW_CHANGE', 'BUSY']);

export class SimThief<C, R> {
  /** Its own secret: the one thing it cannot learn is the victims'. */
  readonly clientSecret: string;
  wakeAt: number;
  /** In the liveness phase the thief gives up. */
  stopping = false;
  private target: ReplicaId;
  /** Per victim id, the highest request number the thief has sent under it. */
  private readonly highestSent = new Map<string, number>();

  constructor(
    readonly index: number,
    private readonly replicaCount: number,
    /** Where its commands come from; it never gets a reply to pass on. */
    private readonly script: ClientScript<C, R>,
    private readonly prng: Prng,
    now: number,
  ) {
    this.clientSecret = prng.hex(64);
    this.target = prng.int(0, replicaCount - 1);
    this.wakeAt = now + prng.int(0, PAUSE_MAX_MS);
  }

  /** Picks a client whose register was acknowledged, and a request number it has used or is
   *  about to, and sends a request under its id. */
  wake(now: number, clients: readonly SimClient<C, R>[]): { to: ReplicaId; request: SimRequest<C> } | null {
    this.wakeAt = this.stopping ? Infinity : now + this.prng.int(1, PAUSE_MAX_MS);
    const victims = clients.filter((client) => client.acknowledged.length > 0);
    if (this.stopping || victims.length === 0) return null;
    const victim = this.prng.pick(victims);
    const latest = victim.acknowledged.at(-1)!.requestNumber;
    const requestNumber = this.prng.pick([0, latest, latest + 1, victim.outstandingNumber ?? latest + 1]);
    const command = requestNumber === 0 ? null : this.script.next();
    this.highestSent.set(victim.clientId, Math.max(this.highestSent.get(victim.clientId) ?? 0, requestNumber));
    return { to: this.target, request: { clientId: victim.clientId, clientSecret: this.clientSecret, requestNumber, command } };
  }

  onAnswer(answer: Answer<R>, from: ReplicaId): void {
    const aboutItself = answer.type === 'reject' && answer.code === 'STALE_REQUEST' && answer.requestNumber < (this.highestSent.get(answer.clientId) ?? 0);
    if (answer.type === 'reply' || (!HARMLESS.has(answer.code) && !aboutItself)) {
      const what = answer.type === 'reply' ? `a reply (op ${answer.op})` : answer.code;
      throw new SafetyViolation("(h) a client id is its owner's", `thief ${this.index} got ${what} to ${answer.clientId.slice(0, 8)}#${answer.requestNumber} from replica ${from}`);
    }
    // Where a backup says the primary is; after any other answer, the next replica.
    this.target = answer.code === 'NOT_PRIMARY' && answer.primary !== from ? answer.primary : (from + 1) % this.replicaCount;
  }
}
