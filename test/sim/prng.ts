// The simulator's only source of randomness: a small seeded generator, so that one number (the
// seed) replays a whole run event for event. Nothing in test/sim may call Math.random or read a
// clock; every choice — latencies, drops, crashes, client think times, ids — is drawn here.
//
// The generator is sfc32 (Chris Doty-Humphrey's Small Fast Counting generator, from PractRand):
// 128 bits of state, passes BigCrush, and is four 32-bit additions and shifts per draw, which
// matters when a soak draws billions of numbers. Its state is seeded through splitmix32 so that
// neighbouring seeds (1, 2, 3, ...) give unrelated streams.

import assert from 'node:assert/strict';

function splitmix32(state: number): { value: number; state: number } {
  const next = (state + 0x9e3779b9) | 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return { value: (z ^ (z >>> 16)) >>> 0, state: next };
}

export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    assert.ok(Number.isSafeInteger(seed), `seed must be a safe integer, got ${seed}`);
    // Fold the high bits in too, so seeds above 2^32 differ from their low halves.
    let state = (seed ^ Math.floor(seed / 0x1_0000_0000)) | 0;
    const words: number[] = [];
    for (let i = 0; i < 4; i++) {
      const drawn = splitmix32(state);
      words.push(drawn.value);
      state = drawn.state;
    }
    [this.a, this.b, this.c, this.d] = words as [number, number, number, number];
    // The first outputs of a freshly seeded generator are its weakest; discard a few.
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  /** A uniformly distributed 32-bit unsigned integer. */
  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** A float in [0, 1). */
  float(): number {
    return this.nextUint32() / 0x1_0000_0000;
  }

  /** An integer in [min, max], both inclusive. */
  int(min: number, max: number): number {
    assert.ok(Number.isSafeInteger(min) && Number.isSafeInteger(max), 'int bounds must be integers');
    assert.ok(min <= max, `int: empty range [${min}, ${max}]`);
    return min + Math.floor(this.float() * (max - min + 1));
  }

  /** True with probability p. chance(0) never draws true, chance(1) always does. */
  chance(p: number): boolean {
    assert.ok(p >= 0 && p <= 1, `chance: probability ${p} out of [0, 1]`);
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    assert.ok(items.length > 0, 'pick from an empty list');
    return items[this.int(0, items.length - 1)]!;
  }

  /** A new array with the items in random order (Fisher–Yates). */
  shuffle<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }

  /** `digits` lower-case hex digits, e.g. a client id. */
  hex(digits: number): string {
    let out = '';
    while (out.length < digits) out += this.nextUint32().toString(16).padStart(8, '0');
    return out.slice(0, digits);
  }

  /** An independent generator seeded from this one. Giving each subsystem its own stream means
   *  that, say, sampling a checker more often does not change what the network does. */
  fork(): Prng {
    return new Prng(this.nextUint32() * 0x1_0000 + (this.nextUint32() & 0xffff));
  }
}
