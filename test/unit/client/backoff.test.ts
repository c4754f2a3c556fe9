// Jittered exponential backoff: the ceiling doubles to the cap, every delay is in its upper half.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Backoff } from '../../../lib/client/backoff.js';

test('the ceiling doubles from the base to the cap; a success starts again from the base', () => {
  const highest = new Backoff({ baseMs: 50, maxMs: 1000, random: () => 0.999999 });
  const ceilings = Array.from({ length: 7 }, () => Math.round(highest.nextDelayMs()));
  assert.deepEqual(ceilings, [50, 100, 200, 400, 800, 1000, 1000]);
  highest.reset();
  assert.equal(Math.round(highest.nextDelayMs()), 50);
});

test('the jitter draws from the upper half of the ceiling, so no delay collapses to zero', () => {
  const draws = [0, 0.5];
  const backoff = new Backoff({ baseMs: 100, maxMs: 100, random: () => draws.shift()! });
  assert.equal(backoff.nextDelayMs(), 50);
  assert.equal(backoff.nextDelayMs(), 75);
});

test('many failures neither overflow nor pass the cap', () => {
  const backoff = new Backoff({ baseMs: 1, maxMs: 30_000, random: () => 0.5 });
  for (let i = 0; i < 2000; i++) assert.ok(backoff.nextDelayMs() <= 30_000);
});

test('a random source outside [0, 1) or a nonsensical range is a bug, caught at once', () => {
  assert.throws(() => new Backoff({ baseMs: 0, maxMs: 10, random: Math.random }), /base must be positive/);
  assert.throws(() => new Backoff({ baseMs: 10, maxMs: 5, random: Math.random }), /at least the base/);
  assert.throws(() => new Backoff({ baseMs: 10, maxMs: 10, random: () => 1 }).nextDelayMs(), /\[0, 1\)/);
});
