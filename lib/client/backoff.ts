// How long to wait before trying again after a failed attempt: exponential backoff with jitter
// (the TigerBeetle client does the same). Doubling spaces retries out while the cluster sorts
// itself out; the jitter keeps clients that failed together from retrying together.

import assert from 'node:assert/strict';

interface BackoffOptions {
  baseMs: number;
  maxMs: number;
  /** A number in [0, 1); injectable so that tests can replay a sequence of delays. */
  random: () => number;
}

export class Backoff {
  /** Consecutive failures since the last success (or since construction). */
  private failures = 0;

  constructor(private readonly options: BackoffOptions) {
    assert.ok(options.baseMs > 0, 'backoff base must be positive');
    assert.ok(options.maxMs >= options.baseMs, 'backoff maximum must be at least the base');
  }

  /** The delay before the next attempt. The ceiling is base·2^failures, capped at max; the delay
   *  is drawn from the upper half of it ("equal jitter"), so it never collapses to zero. */
  nextDelayMs(): number {
    const { baseMs, maxMs, random } = this.options;
    const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(this.failures, 30));
    this.failures++;
    const draw = random();
    assert.ok(draw >= 0 && draw < 1, `random() must return a number in [0, 1), got ${draw}`);
    return ceiling / 2 + (draw * ceiling) / 2;
  }

  reset(): void {
    this.failures = 0;
  }
}
