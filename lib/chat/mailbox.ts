// One account's mailbox: the messages sent to it, read and unread.
//
// The whole service may hold a million messages, so each is one small fixed-shape object (a
// Letter) and the mailbox adds only two hash-table entries per message. Ordering comes free:
// message ids are global and increasing, and a message enters a mailbox exactly once, when it is
// sent — so insertion order is id order. JavaScript's Map and Set iterate in insertion order,
// which makes "the oldest unread" the first entry of a Set, with no sorting and no tree.
//
// The mailbox also keeps itself in the snapshot's shape — one array per field — as letters
// arrive and are read, because a snapshot runs on every replica at once and blocks each of them:
// copying five arrays per mailbox is an order of magnitude faster than walking every letter.

import assert from 'node:assert/strict';
import type { StoredMessage } from './types.js';

/** `{"id":…,"from":"","to":"","text":…,"at":…}` with the longest id, name and timestamp. */
const MESSAGE_JSON_OVERHEAD_BYTES = 128;

/** One mailbox as a snapshot stores it: entry i of every column describes one message; ids
 *  ascend. */
export interface MailboxColumns {
  ids: number[];
  from: string[];
  at: number[];
  text: string[];
  unread: boolean[];
}

const noColumns = (): MailboxColumns => ({ ids: [], from: [], at: [], text: [], unread: [] });

/** A stored message without its recipient, which is the mailbox's owner. */
export class Letter {
  constructor(
    readonly id: number,
    readonly from: string,
    readonly at: number,
    readonly text: string,
  ) {}

  /** An upper bound on this message's size in a JSON reply, computed the same way everywhere:
   *  the escaped text and sender, plus room for the fixed fields and the recipient's name. */
  get jsonBytes(): number {
    return Buffer.byteLength(JSON.stringify(this.text)) + this.from.length + MESSAGE_JSON_OVERHEAD_BYTES;
  }

  /** A fresh plain object for replies and events: they are saved in the client table and
   *  compared across replicas, so they must not share structure with the live state. */
  toStored(to: string): StoredMessage {
    return { id: this.id, from: this.from, to, text: this.text, at: this.at };
  }
}

export class Mailbox {
  /** Every message in the mailbox, by id. Invariant: insertion order is ascending id order. */
  private readonly byId = new Map<number, Letter>();
  /** Ids of the unread letters. Invariant: a subset of byId's keys, in ascending order (a
   *  letter is unread from the moment it arrives and never becomes unread again). */
  private readonly unread = new Set<number>();
  /** The highest id ever added, so that add() can assert ids only grow. */
  private lastId = 0;
  /** The letters as snapshot columns, kept as letters arrive and are read. Null after a
   *  removal (a splice per deleted message would cost O(size)): rebuilt at the next snapshot. */
  private cachedColumns: MailboxColumns | null = noColumns();

  get size(): number {
    return this.byId.size;
  }

  get unreadCount(): number {
    return this.unread.size;
  }

  has(id: number): boolean {
    return this.byId.has(id);
  }

  add(letter: Letter, unread: boolean): void {
    assert.ok(letter.id > this.lastId, `message ids must grow: ${letter.id} after ${this.lastId}`);
    this.lastId = letter.id;
    this.byId.set(letter.id, letter);
    if (unread) this.unread.add(letter.id);
    const columns = this.cachedColumns;
    if (columns === null) return;
    columns.ids.push(letter.id);
    columns.from.push(letter.from);
    columns.at.push(letter.at);
    columns.text.push(letter.text);
    columns.unread.push(unread);
  }

  /** Takes up to `count` oldest unread letters, and no more than fit in `bytesMax` as JSON
   *  (always at least one), and marks them read. O(count). */
  takeOldestUnread(count: number, bytesMax = Infinity): Letter[] {
    const taken: Letter[] = [];
    let bytes = 0;
    for (const id of this.unread) {
      if (taken.length === count) break;
      const letter = this.letter(id);
      bytes += letter.jsonBytes;
      if (taken.length > 0 && bytes > bytesMax) break;
      taken.push(letter);
    }
    for (const letter of taken) this.markRead(letter.id);
    return taken;
  }

  /** Marks one letter read; false if it was not an unread letter of this mailbox. O(log size). */
  markRead(id: number): boolean {
    if (!this.unread.delete(id)) return false;
    if (this.cachedColumns !== null) this.cachedColumns.unread[this.columnIndex(this.cachedColumns, id)] = false;
    return true;
  }

  /** Removes one letter, read or unread; false if it was not here. O(1). */
  remove(id: number): boolean {
    this.unread.delete(id);
    if (!this.byId.delete(id)) return false;
    this.cachedColumns = null;
    return true;
  }

  /** A copy of every letter as snapshot columns: five array copies, or one walk of the letters
   *  after a removal. The copy is the caller's: the mailbox goes on changing. */
  columns(): MailboxColumns {
    const columns = (this.cachedColumns ??= this.walkColumns());
    return { ids: columns.ids.slice(), from: columns.from.slice(), at: columns.at.slice(), text: columns.text.slice(), unread: columns.unread.slice() };
  }

  /** Up to `limit` unread letters with an id above `lastSeen`, oldest first. The walk skips the
   *  unread letters at or below `lastSeen`: a client that resumes has normally acknowledged
   *  what it saw, so that prefix is short, and it can never exceed the mailbox limit. */
  unreadAfter(lastSeen: number, limit: number): Letter[] {
    const found: Letter[] = [];
    for (const id of this.unread) {
      if (found.length === limit) break;
      if (id > lastSeen) found.push(this.letter(id));
    }
    return found;
  }

  /** Every letter, read or unread, in ascending id order. */
  letters(): IterableIterator<Letter> {
    return this.byId.values();
  }

  private walkColumns(): MailboxColumns {
    const columns = noColumns();
    for (const letter of this.byId.values()) {
      columns.ids.push(letter.id);
      columns.from.push(letter.from);
      columns.at.push(letter.at);
      columns.text.push(letter.text);
      columns.unread.push(this.unread.has(letter.id));
    }
    return columns;
  }

  /** Where `id` is in the (ascending) ids column; it must be there. Binary search. */
  private columnIndex(columns: MailboxColumns, id: number): number {
    const ids = columns.ids;
    let low = 0;
    let high = ids.length - 1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const found = ids[middle]!;
      if (found === id) return middle;
      if (found < id) low = middle + 1;
      else high = middle - 1;
    }
    assert.fail(`letter ${id} is not in the mailbox's columns`);
  }

  /** Throws if a field invariant is broken. O(size): for tests and checkers, not every step. */
  invariants(): void {
    let previous = 0;
    for (const [id, letter] of this.byId) {
      assert.equal(letter.id, id);
      assert.ok(id > previous, `mailbox ids out of order: ${id} after ${previous}`);
      previous = id;
    }
    assert.ok(previous <= this.lastId);
    previous = 0;
    for (const id of this.unread) {
      assert.ok(this.byId.has(id), `unread id ${id} is not in the mailbox`);
      assert.ok(id > previous, `unread ids out of order: ${id} after ${previous}`);
      previous = id;
    }
    if (this.cachedColumns !== null) assert.deepEqual(this.cachedColumns, this.walkColumns(), 'the snapshot columns describe the letters');
  }

  private letter(id: number): Letter {
    const letter = this.byId.get(id);
    assert.ok(letter !== undefined, `unread id ${id} is not in the mailbox`);
    return letter;
  }
}
