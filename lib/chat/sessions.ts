// Login sessions: which account each session token belongs to.
//
// Only token *hashes* live here (lib/auth/tokens.ts explains why), so the log and the snapshots
// never hold a secret. The table is replicated like everything else, which is what lets a
// session survive the failover of the primary that created it.

import assert from 'node:assert/strict';
import { SESSIONS_PER_ACCOUNT_MAX } from './limits.js';

export class SessionTable {
  /** Token hash → account name. Invariant: t is a key here ⇔ t is in byAccount.get(name). */
  private readonly owner = new Map<string, string>();
  /** Account name → its token hashes, oldest first. Invariant: never an empty list (the entry
   *  goes when the last session does), at most SESSIONS_PER_ACCOUNT_MAX long. */
  private readonly byAccount = new Map<string, string[]>();

  /** The account a session belongs to, or null if it is not live. Any value may be asked about:
   *  the caller's session comes with the command. */
  nameOf(token: unknown): string | null {
    return typeof token === 'string' ? (this.owner.get(token) ?? null) : null;
  }

  /** The sessions of one account, oldest first. */
  of(name: string): readonly string[] {
    return this.byAccount.get(name) ?? [];
  }

  /** Starts a session and returns the sessions that had to end to keep the account within
   *  SESSIONS_PER_ACCOUNT_MAX: the oldest, because its user is the likeliest to have left. */
  open(token: string, name: string): string[] {
    assert.ok(!this.owner.has(token), 'session token already in use');
    this.owner.set(token, name);
    const tokens = this.byAccount.get(name) ?? [];
    if (tokens.length === 0) this.byAccount.set(name, tokens);
    tokens.push(token);
    const ended = tokens.splice(0, Math.max(0, tokens.length - SESSIONS_PER_ACCOUNT_MAX));
    for (const old of ended) this.owner.delete(old);
    return ended;
  }

  /** Ends one live session. */
  end(token: string): void {
    const name = this.owner.get(token);
    assert.ok(name !== undefined, 'ending a session that is not live');
    this.owner.delete(token);
    const tokens = this.byAccount.get(name);
    assert.ok(tokens !== undefined);
    const index = tokens.indexOf(token);
    assert.ok(index >= 0, 'a live session is missing from its account list');
    tokens.splice(index, 1);
    if (tokens.length === 0) this.byAccount.delete(name);
  }

  /** Ends every session of an account and returns them, oldest first. */
  endAll(name: string): string[] {
    const tokens = this.byAccount.get(name) ?? [];
    this.byAccount.delete(name);
    for (const token of tokens) this.owner.delete(token);
    return tokens;
  }

  /** Throws if a field invariant is broken, or if a session belongs to an account that
   *  `isLive` denies (a deleted user must not keep acting through an old session). */
  invariants(isLive: (name: string) => boolean): void {
    let count = 0;
    for (const [name, tokens] of this.byAccount) {
      assert.ok(isLive(name), `${name} has sessions but no account`);
      assert.ok(tokens.length > 0, `empty session list for ${name}`);
      assert.ok(tokens.length <= SESSIONS_PER_ACCOUNT_MAX, `too many sessions for ${name}`);
      for (const token of tokens) assert.equal(this.owner.get(token), name);
      count += tokens.length;
    }
    assert.equal(count, this.owner.size, 'a session is missing from its account list');
  }
}
