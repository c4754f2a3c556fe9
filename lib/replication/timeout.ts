// A timeout in logical time (TigerBeetle's Timeout): the core has no clock, only tick() calls, so
// a timeout is a counter that fires after `after` ticks of not being reset.

import assert from 'node:assert/strict';

export class Timeout {
  /** Ticks since the timeout was started or last reset; always below `after`. */
  private ticks = 0;

  constructor(
    readonly name: string,
    readonly after: number,
  ) {
    assert.ok(Number.isInteger(after) && after >= 1, `timeout ${name} needs a whole number of ticks`);
  }

  /** Starts counting again from zero: the awaited thing just happened. */
  reset(): void {
    this.ticks = 0;
  }

  /** Counts one tick; true when the timeout fires, after which it counts again from zero. */
  tick(): boolean {
    this.ticks += 1;
    if (this.ticks < this.after) return false;
    this.ticks = 0;
    return true;
  }
}
