// Pushes once: a message the primary pushes to the connection bound to our session is shown once
// however often it comes (inbox.ts: a push whose ack did not commit before a failover comes again
// on resume), and acked, in batches, so that the cluster marks it read.

import type { ChatResults, StoredMessage } from '../chat/types.js';
import { IDS_PER_REQUEST_MAX } from '../chat/limits.js';
import type { ReplyTo } from './exactly-once.js';
import { Inbox } from './inbox.js';

export interface PushesHooks {
  /** Shows a message to the user. */
  show: (message: StoredMessage) => void;
  /** Queues work behind the call in progress, if any (the connector's queue). */
  schedule: (work: () => Promise<void>) => void;
  /** Acks `ids` through an exactly-once call. */
  ack: (ids: number[]) => Promise<ReplyTo<'ack'>>;
  /** Whether a session is open: acks are for the session's messages only. */
  sessionOpen: () => boolean;
  log: (line: string) => void;
}

export class Pushes {
  private readonly inbox = new Inbox();
  /** An ack batch is queued and will take every id pending when it runs. */
  private acksQueued = false;

  constructor(private readonly hooks: PushesHooks) {}

  /** The highest id shown since login: what a resume sends as `lastSeen`. */
  get lastSeen(): number {
    return this.inbox.lastSeen;
  }

  receive(message: StoredMessage): void {
    if (this.inbox.receive(message.id)) this.hooks.show(message);
    if (this.acksQueued) return;
    this.acksQueued = true;
    this.hooks.schedule(() => this.sendAcks());
  }

  /** A push and a read can race: after a failover the new primary pushes what is unread on
   *  resume, and a read executed before our ack committed returns the same messages. The user
   *  has seen those already, so the read shows only the rest. */
  hideShown(result: ChatResults['read']): void {
    result.messages = result.messages.filter((message) => !this.inbox.hasShown(message.id));
    this.inbox.noteRead(result.messages.map((message) => message.id));
  }

  /** A login began or ended: another user's ids mean nothing. */
  reset(): void {
    this.inbox.reset();
  }

  /** Acks every pending id, in batches. Runs from the queue, so pushes that arrive while a call
   *  is outstanding are confirmed together after it. */
  private async sendAcks(): Promise<void> {
    this.acksQueued = false;
    while (this.inbox.pendingAcks > 0 && this.hooks.sessionOpen()) {
      const ids = this.inbox.takeAcks(IDS_PER_REQUEST_MAX);
      const reply = await this.hooks.ack(ids);
      if (!reply.ok) this.hooks.log(`ack of ${ids.length} messages refused: ${reply.error.code}: ${reply.error.message}`);
    }
  }
}
