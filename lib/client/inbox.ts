// What this client has shown its user and still has to confirm. A message can reach us more
// than once — a push whose ack did not commit before a failover is pushed again by the new
// primary on resume — and the user must see it once. Every push, new or repeated, is acked:
// a repeat means the server has not recorded our confirmation yet.

import assert from 'node:assert/strict';
import { MAILBOX_MESSAGES_MAX } from '../chat/limits.js';

export class Inbox {
  /** Ids shown since login, oldest first (a Set keeps insertion order). Bounded by capacity:
   *  a mailbox never holds more messages than that, so older ids cannot come back. */
  private readonly shown = new Set<number>();
  /** Highest id shown since login: the `lastSeen` a resume sends. 0 before any. */
  private highest = 0;
  /** Ids received but not yet confirmed with an ack. Invariant: each is also in `shown`. */
  private readonly unacked = new Set<number>();

  constructor(private readonly capacity = MAILBOX_MESSAGES_MAX) {
    assert.ok(capacity > 0, 'inbox capacity must be positive');
  }

  /** A pushed message arrived. True if it is new and should be shown. */
  receive(id: number): boolean {
    const fresh = !this.shown.has(id);
    if (fresh) this.remember(id);
    this.unacked.add(id);
    return fresh;
  }

  /** Messages a `read` reply showed. The server marked them read itself, so no ack is due;
   *  they are remembered so that a later push of the same id is not shown again. */
  noteRead(ids: readonly number[]): void {
    for (const id of ids) if (!this.shown.has(id)) this.remember(id);
  }

  /** Whether the user has been shown this message since login. */
  hasShown(id: number): boolean {
    return this.shown.has(id);
  }

  get lastSeen(): number {
    return this.highest;
  }

  get pendingAcks(): number {
    return this.unacked.size;
  }

  /** Up to `max` ids to confirm, in arrival order; they are no longer pending afterwards. */
  takeAcks(max: number): number[] {
    const ids = [...this.unacked].slice(0, max);
    for (const id of ids) this.unacked.delete(id);
    return ids;
  }

  /** A new login (or the end of one): another user's ids mean nothing. */
  reset(): void {
    this.shown.clear();
    this.unacked.clear();
    this.highest = 0;
  }

  private remember(id: number): void {
    this.shown.add(id);
    this.highest = Math.max(this.highest, id);
    if (this.shown.size > this.capacity) {
      const oldest = this.shown.values().next().value as number;
      this.shown.delete(oldest);
      this.unacked.delete(oldest);
    }
  }
}
