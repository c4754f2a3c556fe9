// Login throttling: a run of failed logins locks further attempts for a while. The rule and its
// constants are in lib/chat/limits.ts. Time is an input — for an account, the `at` the primary
// chose for the login command — so every replica applying the same log reaches the same
// verdicts. The gateway applies the same rule to each connection, with its own clock.

import assert from 'node:assert/strict';
import { LOGIN_BACKOFF_FIRST_MS, LOGIN_BACKOFF_MAX_MS, LOGIN_FAILURES_BEFORE_LOCK } from './limits.js';
import type { ChatError } from './types.js';

/** How long logins stay locked after the `failures`-th failure in a row (0 below the count). */
export function lockAfter(failures: number): number {
  if (failures < LOGIN_FAILURES_BEFORE_LOCK) return 0;
  return Math.min(LOGIN_BACKOFF_FIRST_MS * 2 ** (failures - LOGIN_FAILURES_BEFORE_LOCK), LOGIN_BACKOFF_MAX_MS);
}

/** The failed logins in a row of one account or one connection. */
export class FailureRun {
  constructor(
    /** Failures since the last success. */
    public failures = 0,
    /** No attempt before this time (ms since the epoch) is taken; 0 before the first lock. */
    public lockedUntil = 0,
  ) {}

  /** How long an attempt at `at` must still wait; 0 if it may go ahead. */
  waitAt(at: number): number {
    return Math.max(0, this.lockedUntil - at);
  }

  /** Counts a failed attempt at `at`. Only an attempt that was let through can fail: one refused
   *  while locked must not extend the lock, or a guesser could keep the real user out forever. */
  fail(at: number): void {
    assert.equal(this.waitAt(at), 0, 'an attempt refused while locked counted as a failure');
    this.failures += 1;
    const lock = lockAfter(this.failures);
    if (lock > 0) this.lockedUntil = at + lock;
  }
}

/** The refusal for an attempt that must wait `waitMs`; `whose` says which run locked it. */
export function throttled(whose: 'for this account' | 'on this connection', waitMs: number): ChatError {
  return { code: 'LOGIN_THROTTLED', message: `too many failed logins ${whose}; try again in ${Math.ceil(waitMs / 1000)} s` };
}

/** The accounts with failed logins since their last success. Part of the replicated state. */
export class LoginThrottle {
  /** Account name → its run. Invariant: only live accounts, each with at least one failure. */
  private readonly runs = new Map<string, FailureRun>();

  waitAt(name: string, at: number): number {
    return this.runs.get(name)?.waitAt(at) ?? 0;
  }

  fail(name: string, at: number): void {
    const run = this.runs.get(name) ?? new FailureRun();
    run.fail(at);
    this.runs.set(name, run);
  }

  /** Ends an account's run: it logged in, or it is gone. */
  clear(name: string): void {
    this.runs.delete(name);
  }

  /** Every run as [name, failures, lockedUntil], ascending by name (the snapshot's order). */
  rows(): [name: string, failures: number, lockedUntil: number][] {
    return [...this.runs.keys()].sort().map((name) => {
      const run = this.runs.get(name)!;
      return [name, run.failures, run.lockedUntil];
    });
  }

  /** Puts back a run read from a snapshot (lib/chat/snapshot.ts checks the values first). */
  restore(name: string, failures: number, lockedUntil: number): void {
    assert.ok(!this.runs.has(name), `${name}'s failed logins restored twice`);
    this.runs.set(name, new FailureRun(failures, lockedUntil));
  }

  invariants(isLive: (name: string) => boolean): void {
    for (const [name, run] of this.runs) {
      assert.ok(isLive(name), `${name} has failed logins but no account`);
      assert.ok(run.failures >= 1, `${name} has a run of no failed logins`);
    }
  }
}
