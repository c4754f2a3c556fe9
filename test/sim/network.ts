// The simulated network: every message in flight sits in a priority queue keyed by the virtual
// time it arrives. Faults are drawn from the world's PRNG:
//   - drop: a message is lost with probability dropRate;
//   - delay and reorder: each copy draws its own latency in [latencyMin, latencyMax], so two
//     messages on the same link overtake each other whenever the draws say so;
//   - duplicate: a second copy, with its own latency, with probability duplicateRate;
//   - hold: with probability holdRate a copy is held [holdMsMin, holdMsMax] ms on top of its
//     latency, as a TCP buffer or a paused VM holds a message for seconds and then lets it go —
//     so a message from a view long gone still arrives;
//   - split: with probability splitRate a message between two replicas travels as bytes — a
//     real frame (lib/transport/frame.ts) cut into 2–4 chunks that arrive a few ms apart, in
//     order, as TCP keeps one stream's bytes in order — and the receiver feeds each chunk to a
//     real FrameDecoder: a chunk that leaves the frame unfinished arrives as a partial arrival
//     (for the driver's optional onReceiving, duty 4 in lib/replication/types.ts), the last one
//     as the whole message. Each split message travels as if on a stream of its own, so
//     messages still overtake each other;
//   - partitions: directed links can be cut — symmetric groups (nobody talks across) and one-way
//     links (A hears B but B does not hear A). A cut link drops what is sent on it and what was
//     in flight on it when it arrives; a split message one of whose chunks meets a cut link is
//     lost whole, as a reset connection loses the frame it was carrying. heal() restores every
//     link;
//   - freeze: a frozen address (a stopped process, a paused VM, a long GC) reads nothing: what
//     arrives for it waits, and all of it is delivered at the instant it thaws, in arrival order.
//     The world freezes an address; the network only holds its input.
// A fault is drawn only when its rate is above zero, so a plan without the newer faults (hold,
// split) draws exactly what it drew before they existed, and recorded seeds replay unchanged.
// Payloads are delivered as JSON round-trip copies: no two endpoints ever share an object, and
// anything that would not survive the real wire (a Map, undefined, a class) shows up here.

import assert from 'node:assert/strict';
import { decodeJson, encodeJsonFrame, FRAME_HEADER_BYTES, FrameDecoder } from '../../lib/transport/frame.js';
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
  /** The chance a copy is held on top of its latency (absent: 0). */
  holdRate?: number;
  /** How long a held copy is held, virtual ms, inclusive bounds; needed when holdRate > 0. */
  holdMsMin?: number;
  holdMsMax?: number;
  /** The chance a message between two replicas travels as a frame in chunks (absent: 0). */
  splitRate?: number;
}

export const CALM_NETWORK: NetworkFaults = { dropRate: 0, duplicateRate: 0, latencyMin: 1, latencyMax: 3, holdRate: 0, splitRate: 0 };

const NO_NEWER_FAULTS = { holdRate: 0, holdMsMin: 0, holdMsMax: 0, splitRate: 0 };

/** Chunks of one split message, and the most ms between two of them. */
const CHUNKS_MIN = 2;
const CHUNKS_MAX = 4;
const CHUNK_GAP_MS_MAX = 5;

export interface Envelope<P> {
  from: Address;
  to: Address;
  payload: P;
}

/** What reaches an address: a whole message, or a read of part of one that leaves its frame
 *  unfinished (the driver may call onReceiving(from) for it; the whole follows, or never comes
 *  if a cut resets the stream). The parts of a message arrive strictly before its whole. */
export type Arrival<P> = (Envelope<P> & { partial: false }) | { from: Address; to: Address; partial: true };

export interface NetworkStats {
  sent: number;
  delivered: number;
  dropped: number;
  duplicated: number;
  cut: number;
  /** Copies held on top of their latency. */
  held: number;
  /** Copies sent as a frame in chunks. */
  split: number;
}

/** The receiving end of one split message: a decoder of its own, as if on its own stream. */
interface Stream {
  readonly decoder: FrameDecoder;
  /** A chunk met a cut link: the stream is gone and the rest of the frame with it. */
  reset: boolean;
}

/** One thing in flight: a whole copy, or one chunk of a split one. */
type InFlight<P> =
  | { kind: 'whole'; envelope: Envelope<P> }
  | { kind: 'chunk'; from: Address; to: Address; stream: Stream; bytes: Buffer; last: boolean };

/** A frozen address: until when, and what arrived for it meanwhile, in arrival order. */
interface Freeze<P> {
  until: number;
  readonly waiting: InFlight<P>[];
}

export class Network<P> {
  private readonly inFlight = new TimedHeap<InFlight<P>>();
  /** Directed links that are cut, as "from>to". */
  private readonly cutLinks = new Set<string>();
  private readonly freezes = new Map<Address, Freeze<P>>();
  private faults: Required<NetworkFaults>;
  readonly stats: NetworkStats = { sent: 0, delivered: 0, dropped: 0, duplicated: 0, cut: 0, held: 0, split: 0 };
  /** A scenario's own fault: messages for which this returns true are lost on sending. */
  loseIf: ((envelope: Envelope<P>) => boolean) | null = null;

  constructor(
    private readonly prng: Prng,
    faults: NetworkFaults,
  ) {
    this.faults = Network.checkFaults(faults);
  }

  setFaults(faults: NetworkFaults): void {
    this.faults = Network.checkFaults(faults);
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
    this.enqueue(from, to, payload, wire, now);
    if (this.prng.chance(this.faults.duplicateRate)) {
      this.stats.duplicated++;
      this.enqueue(from, to, payload, wire, now);
    }
  }

  /** The virtual time of the next arrival or thaw that delivers something, or Infinity. */
  nextTime(): number {
    let next = this.inFlight.peekTime();
    for (const freeze of this.freezes.values()) if (freeze.waiting.length > 0) next = Math.min(next, freeze.until);
    return next;
  }

  /** Everything that reaches its address by `now`, in arrival order: whole messages and partial
   *  reads of split ones. Lost are those whose link is cut when they (or one of their chunks)
   *  arrive; what arrives for a frozen address waits for its thaw. */
  arrivalsDue(now: number): Arrival<P>[] {
    const arrived: Arrival<P>[] = [];
    for (const { at, item } of this.inFlight.popDue(now)) {
      this.releaseThawed(at, arrived);
      this.arrive(at, item, arrived);
    }
    this.releaseThawed(now, arrived);
    return arrived;
  }

  /** The whole messages of arrivalsDue, for a world that does not use partial reads. */
  deliverDue(now: number): Envelope<P>[] {
    return this.arrivalsDue(now).filter((arrival): arrival is Envelope<P> & { partial: false } => !arrival.partial);
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
    assert.ok(isReplicaLink(from, to), 'only replica links are cut');
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

  /** `address` reads nothing before `until`; then it gets, at that instant, all that arrived
   *  meanwhile. Freezing a frozen address again can only make the freeze longer (thaw ends it). */
  freeze(address: Address, until: number): void {
    assert.ok(Number.isFinite(until), 'a freeze ends at a finite time');
    const freeze = this.freezes.get(address);
    if (freeze === undefined) this.freezes.set(address, { until, waiting: [] });
    else freeze.until = Math.max(freeze.until, until);
  }

  /** Ends a freeze early, e.g. when the frozen process is killed: what waited is delivered at
   *  `now` (the world drops it if nobody is listening any more). */
  thaw(address: Address, now: number): void {
    const freeze = this.freezes.get(address);
    if (freeze !== undefined) freeze.until = Math.min(freeze.until, now);
  }

  isFrozen(address: Address, now: number): boolean {
    return now < (this.freezes.get(address)?.until ?? -Infinity);
  }

  private enqueue(from: Address, to: Address, payload: P, wire: string, now: number): void {
    let at = now + this.prng.int(this.faults.latencyMin, this.faults.latencyMax);
    if (this.faults.holdRate > 0 && this.prng.chance(this.faults.holdRate)) {
      this.stats.held++;
      at += this.prng.int(this.faults.holdMsMin, this.faults.holdMsMax);
    }
    if (this.faults.splitRate > 0 && isReplicaLink(from, to) && this.prng.chance(this.faults.splitRate)) {
      this.stats.split++;
      this.enqueueChunks(from, to, encodeJsonFrame(payload), at);
      return;
    }
    this.inFlight.push(at, { kind: 'whole', envelope: { from, to, payload: JSON.parse(wire) as P } });
  }

  /** Cuts `frame` at distinct random points into CHUNKS_MIN..CHUNKS_MAX chunks arriving at
   *  strictly increasing times from `firstAt`, so that every partial arrival of a message is due
   *  before its whole and no driver that shuffles one instant's inputs can reorder them. */
  private enqueueChunks(from: Address, to: Address, frame: Buffer, firstAt: number): void {
    const chunks = this.prng.int(CHUNKS_MIN, CHUNKS_MAX);
    assert.ok(frame.length > CHUNKS_MAX, 'a frame has a header and a body: long enough for every cut');
    const cuts = new Set<number>();
    while (cuts.size < chunks - 1) cuts.add(this.prng.int(1, frame.length - 1));
    const bounds = [0, ...[...cuts].sort((a, b) => a - b), frame.length];
    // The decoder admits exactly this frame: the sizes a real peer link allows are lib/server's
    // to test, not the simulator's.
    const stream: Stream = { decoder: new FrameDecoder(frame.length - FRAME_HEADER_BYTES), reset: false };
    let at = firstAt;
    for (let i = 0; i < chunks; i++) {
      const bytes = frame.subarray(bounds[i], bounds[i + 1]);
      this.inFlight.push(at, { kind: 'chunk', from, to, stream, bytes, last: i === chunks - 1 });
      at += this.prng.int(1, CHUNK_GAP_MS_MAX);
    }
  }

  /** Something reaches `to`'s machine at `at`: lost on a cut link, waiting if `to` is frozen,
   *  read otherwise. */
  private arrive(at: number, item: InFlight<P>, arrived: Arrival<P>[]): void {
    const { from, to } = item.kind === 'whole' ? item.envelope : item;
    if (this.isCut(from, to)) return this.loseOnCut(item);
    const freeze = this.freezes.get(to);
    if (freeze !== undefined && at < freeze.until) freeze.waiting.push(item);
    else this.read(item, arrived);
  }

  private loseOnCut(item: InFlight<P>): void {
    if (item.kind === 'chunk') {
      if (item.stream.reset) return; // the message was already counted lost
      item.stream.reset = true;
      item.stream.decoder.discard();
    }
    this.stats.cut++;
  }

  /** The receiving process reads what arrived: a whole copy as it is, a chunk through its
   *  stream's decoder. */
  private read(item: InFlight<P>, arrived: Arrival<P>[]): void {
    if (item.kind === 'whole') {
      this.stats.delivered++;
      arrived.push({ ...item.envelope, partial: false });
      return;
    }
    const { from, to, stream } = item;
    if (stream.reset) return;
    const bodies = stream.decoder.push(item.bytes);
    if (!item.last) {
      assert.equal(bodies.length, 0, 'a chunk before the last one completes no frame');
      arrived.push({ from, to, partial: true });
      return;
    }
    assert.ok(bodies.length === 1 && stream.decoder.bufferedBytes === 0, 'the last chunk completes exactly the frame');
    this.stats.delivered++;
    arrived.push({ from, to, payload: decodeJson(bodies[0]!) as P, partial: false });
  }

  /** Delivers, in arrival order, what waited at every address whose freeze ended by `time`,
   *  earliest thaw first. */
  private releaseThawed(time: number, arrived: Arrival<P>[]): void {
    if (this.freezes.size === 0) return; // the common case, once per arrival
    const thawed = [...this.freezes].filter(([, freeze]) => freeze.until <= time).sort(([, a], [, b]) => a.until - b.until);
    for (const [address, freeze] of thawed) {
      this.freezes.delete(address);
      for (const item of freeze.waiting) this.read(item, arrived);
    }
  }

  private static checkFaults(faults: NetworkFaults): Required<NetworkFaults> {
    const checked = { ...NO_NEWER_FAULTS, ...faults };
    assert.ok(checked.latencyMin >= 1, 'latency must be at least 1 ms: a message never arrives before it is sent');
    assert.ok(checked.latencyMin <= checked.latencyMax, 'latencyMin above latencyMax');
    for (const rate of ['dropRate', 'duplicateRate', 'holdRate', 'splitRate'] as const) {
      assert.ok(checked[rate] >= 0 && checked[rate] <= 1, `${rate} ${checked[rate]} out of [0, 1]`);
    }
    if (checked.holdRate > 0) {
      assert.ok(checked.holdMsMin >= 1, 'holdRate above 0 needs holdMsMin of at least 1 ms');
      assert.ok(checked.holdMsMin <= checked.holdMsMax, 'holdMsMin above holdMsMax');
    }
    return checked;
  }
}

/** Both ends are replicas: the links partitions cut and peer messages travel on. */
function isReplicaLink(from: Address, to: Address): boolean {
  return from < CLIENT_ADDRESS_BASE && to < CLIENT_ADDRESS_BASE;
}
