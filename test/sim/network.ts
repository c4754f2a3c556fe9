// The simulated network: every message in flight sits in a priority queue keyed by the virtual
// time it arrives. Faults are drawn from the world's PRNG:
//   - drop: a message is lost with probability dropRate;
//   - delay and reorder: each copy draws its own latency in [latencyMin, latencyMax], so two
//     messages on the same link overtake each other whenever the draws say so;
//   - duplicate: a second copy, with its own latency, with probability duplicateRate;
//   - partitions: directed links can be cut — symmetric groups (nobody talks across) and one-way
//     links (A hears B but B does not hear A). A cut link drops what is sent on it and what was
//     in flight on it when it arrives. heal() restores every link.
// Payloads are delivered as JSON round-trip copies: no two endpoints ever share an object, and
// anything that would not survive the real wire (a Map, undefined, a class) shows up here.

import assert from 'node:assert/strict';
import { TimedHeap } from './heap.js';
import type { Prng } from './prng.js';

/** Replicas are addresses 0..N-1; clients live at CLIENT_ADDRESS_BASE + k and are never cut off
 *  by a partition (only drops and delays reach them). */
export type Address = number;
export const CLIENT_ADDRESS_BASE = 1000;

export interface NetworkFaults {
  dropRate: number;
  duplicateRate: number;
  /** Virtual milliseconds, inclusive bounds. */
  latencyMin: number;
  latencyMax: number;
}

export const CALM_NETWORK: NetworkFaults = { dropRate: 0, duplicateRate: 0, latencyMin: 1, latencyMax: 3 };

export interface Envelope<P> {
  from: Address;
  to: Address;
  payload: P;
}

export interface NetworkStats {
  sent: number;
  delivered: number;
  dropped: number;
  duplicated: number;
  cut: number;
}

export class Network<P> {
  private readonly inFlight = new TimedHeap<Envelope<P>>();
  /** Directed links that are cut, as "from>to". */
  private readonly cutLinks = new Set<string>();
  readonly stats: NetworkStats = { sent: 0, delivered: 0, dropped: 0, duplicated: 0, cut: 0 };
  /** A scenario's own fault: messages for which this returns true are lost on sending. */
  loseIf: ((envelope: Envelope<P>) => boolean) | null = null;

  constructor(
    private readonly prng: Prng,
    private faults: NetworkFaults,
  ) {
    Network.checkFaults(faults);
  }

  setFaults(faults: NetworkFaults): void {
    Network.checkFaults(faults);
    this.faults = faults;
  }

  send(from: Address, to: Address, payload: P, now: number): void {
    this.stats.sent++;
    if (this.isCut(from, to)) {
      this.stats.cut++;
      return;
    }
    if (this.prng.chance(this.faults.dropRate) || this.loseIf?.({ from, to, payload }) === true) {
      this.stats.dropped++;
      return;
    }
    const wire = JSON.stringify(payload);
    this.enqueue(from, to, wire, now);
    if (this.prng.chance(this.faults.duplicateRate)) {
      this.stats.duplicated++;
      this.enqueue(from, to, wire, now);
    }
  }

  /** The virtual time of the next arrival, or Infinity. */
  nextTime(): number {
    return this.inFlight.peekTime();
  }

  /** Every message due by `now`, in arrival order, minus those whose link is cut by then. */
  deliverDue(now: number): Envelope<P>[] {
    const arrived: Envelope<P>[] = [];
    for (const { item } of this.inFlight.popDue(now)) {
      if (this.isCut(item.from, item.to)) {
        this.stats.cut++;
        continue;
      }
      this.stats.delivered++;
      arrived.push(item);
    }
    return arrived;
  }

  /** Cuts every link between replicas of different groups (replicas in no group are cut from
   *  all). Links already cut stay cut. */
  partition(groups: Address[][], replicaCount: number): void {
    const groupOf = new Map<Address, number>();
    groups.forEach((group, index) => group.forEach((address) => groupOf.set(address, index)));
    for (let a = 0; a < replicaCount; a++) {
      for (let b = 0; b < replicaCount; b++) {
        if (a !== b && (groupOf.get(a) ?? -1 - a) !== (groupOf.get(b) ?? -1 - b)) this.cut(a, b);
      }
    }
  }

  /** Cuts one direction only: `to` stops hearing `from`. */
  cut(from: Address, to: Address): void {
    assert.ok(from < CLIENT_ADDRESS_BASE && to < CLIENT_ADDRESS_BASE, 'only replica links are cut');
    this.cutLinks.add(`${from}>${to}`);
  }

  heal(): void {
    this.cutLinks.clear();
  }

  isCut(from: Address, to: Address): boolean {
    return this.cutLinks.has(`${from}>${to}`);
  }

  get cutCount(): number {
    return this.cutLinks.size;
  }

  private enqueue(from: Address, to: Address, wire: string, now: number): void {
    const latency = this.prng.int(this.faults.latencyMin, this.faults.latencyMax);
    this.inFlight.push(now + latency, { from, to, payload: JSON.parse(wire) as P });
  }

  private static checkFaults(faults: NetworkFaults): void {
    assert.ok(faults.latencyMin >= 1, 'latency must be at least 1 ms: a message never arrives before it is sent');
    assert.ok(faults.latencyMin <= faults.latencyMax, 'latencyMin above latencyMax');
  }
}
