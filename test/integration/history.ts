// A history checker for fault tests: every client records what it sent and what the cluster
// acknowledged; at the end, each recipient's whole mailbox is read back and compared with it.
// The verdict is about the history, not a count: every acknowledged send is present exactly once,
// nothing unacknowledged appears twice, and each sender's messages keep the order they were sent in.

import assert from 'node:assert/strict';
import { Connector } from '../../lib/client/connector.js';
import type { StoredMessage } from '../../lib/chat/types.js';

export interface SendRecord {
  from: string;
  to: string;
  text: string;
  /** The message id from the acknowledgement, or null if the outcome is unknown (error, timeout). */
  ackedId: number | null;
}

export class History {
  readonly sends: SendRecord[] = [];

  /** Sends and records; never throws for a failed send (its outcome is then unknown). */
  async send(connector: Connector, from: string, to: string, text: string): Promise<void> {
    const record: SendRecord = { from, to, text, ackedId: null };
    this.sends.push(record);
    try {
      const reply = await connector.call({ kind: 'send', to, text });
      if (reply.ok) record.ackedId = (reply.result as { id: number }).id;
    } catch {
      // Unknown outcome: the send may or may not have been executed (once at most, checked below).
    }
  }

  get acknowledged(): number {
    return this.sends.filter((s) => s.ackedId !== null).length;
  }

  /** Checks one recipient's complete mailbox against the history. */
  check(recipient: string, mailbox: StoredMessage[]): void {
    const byText = new Map<string, StoredMessage[]>();
    for (const message of mailbox) byText.set(message.text, [...(byText.get(message.text) ?? []), message]);
    for (const [text, copies] of byText) assert.equal(copies.length, 1, `"${text}" was delivered ${copies.length} times`);
    const mine = this.sends.filter((s) => s.to === recipient);
    for (const send of mine) {
      const found = byText.get(send.text)?.[0];
      if (send.ackedId !== null) {
        assert.ok(found, `acknowledged send #${send.ackedId} "${send.text}" from ${send.from} is missing`);
        assert.equal(found.id, send.ackedId, `"${send.text}" has id ${found.id}, acknowledged as ${send.ackedId}`);
        assert.equal(found.from, send.from);
      }
    }
    const senders = new Set(mine.map((s) => s.from));
    for (const sender of senders) {
      const sentOrder = mine.filter((s) => s.from === sender).map((s) => s.text);
      const ids = sentOrder.map((text) => byText.get(text)?.[0]?.id).filter((id): id is number => id !== undefined);
      assert.deepEqual(ids, [...ids].sort((a, b) => a - b), `messages from ${sender} out of order`);
    }
  }
}

/** Reads a whole mailbox (every unread message) through a logged-in connector. */
export async function readAll(connector: Connector): Promise<StoredMessage[]> {
  const messages: StoredMessage[] = [];
  for (;;) {
    const reply = await connector.call({ kind: 'read', count: 100 });
    assert.ok(reply.ok, `read failed: ${JSON.stringify(reply)}`);
    const result = reply.result as { messages: StoredMessage[]; remaining: number };
    messages.push(...result.messages);
    if (result.remaining === 0) return messages;
  }
}
