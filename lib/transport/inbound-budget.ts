// What all the connections of one server may take in together: bytes held (received, not yet
// handled) and frames handled per event-loop turn. One FramedConnection bounds itself (one
// unfinished frame plus one socket read, framesPerTurn frames a turn); this bounds their sum, so
// that a thousand connections cannot each hold their own maximum at once, nor together fill one
// turn of the event loop. See docs/security.md, "Work per connection".
//
// Bytes: once the connections hold bytesMax, every one of them stops reading at once, and they
// read again when what they hold has fallen to half of it — as frames are handled, or as owners
// drop connections (one that holds an unfinished frame and does not finish it frees its bytes
// only so). Half, so that the stop and the restart, which visit every connection, happen at most
// once per bytesMax / 2 bytes handled rather than at every read. The read that spent the budget
// is counted in full, so the bytes held stay below bytesMax + one socket read.
// Frames: once framesPerTurn frames were counted in this turn, connections wait for the next.

import assert from 'node:assert/strict';

/** Default bytes held by all the connections of one server: 256 client frames of the largest
 *  size, a few MiB beyond what a thousand ordinary clients hold at once. */
export const INBOUND_BYTES_MAX = 16 * 1024 * 1024;
/** Default frames handled by all the connections of one server in one turn: at the tens of
 *  microseconds a client frame costs at worst, about 20 ms, so a turn stays far within the time
 *  a backup waits for a heartbeat (docs/security.md, "Work per connection"). */
export const INBOUND_FRAMES_PER_TURN = 1024;

export interface InboundBudgetOptions {
  /** Bytes all connections may hold before they stop reading. Default INBOUND_BYTES_MAX. */
  bytesMax?: number;
  /** Frames all connections together handle in one event-loop turn. Default
   *  INBOUND_FRAMES_PER_TURN. */
  framesPerTurn?: number;
}

export class InboundBudget {
  readonly bytesMax: number;
  readonly framesPerTurn: number;
  private bytesHeld = 0;
  /** Set when bytesHeld reached bytesMax, cleared when it falls to half of it. */
  private spent = false;
  private framesThisTurn = 0;
  /** Each connection sharing the budget, by the callback that makes it check whether to read. */
  private readonly members = new Set<() => void>();

  constructor(options: InboundBudgetOptions = {}) {
    this.bytesMax = options.bytesMax ?? INBOUND_BYTES_MAX;
    this.framesPerTurn = options.framesPerTurn ?? INBOUND_FRAMES_PER_TURN;
    for (const name of ['bytesMax', 'framesPerTurn'] as const) {
      assert.ok(Number.isSafeInteger(this[name]) && this[name] >= 1, `${name} must be a positive integer`);
    }
  }

  /** Bytes held by all connections now. */
  get heldBytes(): number {
    return this.bytesHeld;
  }

  /** True while connections may read. */
  get hasByteRoom(): boolean {
    return !this.spent;
  }

  /** True while frames may still be handled in this turn. */
  get hasFrameRoom(): boolean {
    return this.framesThisTurn < this.framesPerTurn;
  }

  /** A connection holds `delta` more bytes (fewer, if negative). Spending the budget, or
   *  freeing it again, makes every member check whether to read. */
  hold(delta: number): void {
    this.bytesHeld += delta;
    assert.ok(this.bytesHeld >= 0, 'more bytes released than held');
    const spent = this.spent ? this.bytesHeld > this.bytesMax / 2 : this.bytesHeld >= this.bytesMax;
    if (spent === this.spent) return;
    this.spent = spent;
    for (const checkReading of this.members) checkReading();
  }

  /** One frame was handled in this turn. The count starts again at the next turn: the first
   *  frame of a turn queues the reset, so that it runs before any connection's continuation
   *  queued after it (setImmediate runs in order). */
  countFrame(): void {
    if (this.framesThisTurn === 0) setImmediate(() => (this.framesThisTurn = 0));
    this.framesThisTurn += 1;
  }

  /** A connection shares the budget from now on; `checkReading` is called whenever the budget
   *  is spent or frees, and must only pause or resume its socket (not hold bytes). */
  join(checkReading: () => void): void {
    this.members.add(checkReading);
  }

  /** A closed connection shares it no more. */
  leave(checkReading: () => void): void {
    this.members.delete(checkReading);
  }
}
