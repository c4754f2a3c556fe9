// Everything the chat state machine remembers. Commands (lib/chat/accounts.ts, lib/chat/mail.ts)
// change it, lib/chat/snapshot.ts writes and reads it, and nothing else touches it.

import assert from 'node:assert/strict';
import type { Verifier } from '../auth/scram.js';
import { MAILBOX_MESSAGES_MAX } from './limits.js';
import { Mailbox } from './mailbox.js';
import { SessionTable } from './sessions.js';
import { LoginThrottle } from './throttle.js';

export interface Account {
  /** Folded (lib/chat/names.ts); also the account's key in ChatState.accounts. */
  readonly name: string;
  readonly verifier: Verifier;
  readonly mailbox: Mailbox;
}

export class ChatState {
  /** Live accounts by folded name. Invariant: disjoint from `tombstones`. */
  readonly accounts = new Map<string, Account>();
  /** Names of deleted accounts. They stay reserved forever, so that a message "from alice"
   *  always came from the same person. */
  readonly tombstones = new Set<string>();
  /** Invariant: every session belongs to a live account. */
  readonly sessions = new SessionTable();
  /** Failed logins per account since its last success (lib/chat/throttle.ts). Invariant: only
   *  live accounts. */
  readonly logins = new LoginThrottle();
  /** The id the next sent message gets. Invariant: above every id ever assigned; ids start at 1
   *  and are never reused, even after a delete. */
  nextMessageId = 1;
  /** The op of the last command applied, so that apply() can assert that no op is executed
   *  twice or out of order. 0 before the first. */
  lastOp = 0;

  /** Throws if a cross-field invariant is broken. O(state): for tests and simulator checkers. */
  invariants(): void {
    this.sessions.invariants((name) => this.accounts.has(name));
    this.logins.invariants((name) => this.accounts.has(name));
    for (const [name, account] of this.accounts) {
      assert.equal(account.name, name);
      assert.ok(!this.tombstones.has(name), `${name} is both live and deleted`);
      assert.ok(account.mailbox.size <= MAILBOX_MESSAGES_MAX, `${name}'s mailbox is over its limit`);
      account.mailbox.invariants();
      for (const letter of account.mailbox.letters()) {
        assert.ok(letter.id < this.nextMessageId, `message ${letter.id} from the future`);
      }
    }
  }
}
