import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Letter, Mailbox } from '../../../lib/chat/mailbox.js';

function mailboxWith(ids: number[]): Mailbox {
  const mailbox = new Mailbox();
  for (const id of ids) mailbox.add(new Letter(id, 'bob', 1000 + id, `text ${id}`), true);
  return mailbox;
}

const idsOf = (letters: Letter[]) => letters.map((letter) => letter.id);

test('letters are taken oldest first and then count as read', () => {
  const mailbox = mailboxWith([3, 5, 9]);
  assert.equal(mailbox.unreadCount, 3);
  assert.deepEqual(idsOf(mailbox.takeOldestUnread(2)), [3, 5]);
  assert.equal(mailbox.unreadCount, 1);
  assert.equal(mailbox.size, 3);
  assert.deepEqual(idsOf(mailbox.takeOldestUnread(5)), [9]);
  assert.deepEqual(idsOf(mailbox.takeOldestUnread(5)), []);
  mailbox.invariants();
});

test('marking and removing keep the unread order', () => {
  const mailbox = mailboxWith([1, 2, 3, 4]);
  assert.equal(mailbox.markRead(2), true);
  assert.equal(mailbox.markRead(2), false, 'already read');
  assert.equal(mailbox.markRead(99), false, 'not here');
  assert.equal(mailbox.remove(3), true);
  assert.equal(mailbox.remove(3), false);
  assert.equal(mailbox.has(2), true);
  assert.deepEqual(mailbox.columns().unread, [true, false, true], 'ids 1, 2, 4: 2 is read');
  assert.deepEqual(idsOf(mailbox.takeOldestUnread(10)), [1, 4]);
  assert.deepEqual(idsOf([...mailbox.letters()]), [1, 2, 4]);
  mailbox.invariants();
});

test('unreadAfter skips what the client has seen and stops at the limit', () => {
  const mailbox = mailboxWith([1, 2, 3, 4, 5]);
  mailbox.markRead(4);
  assert.deepEqual(idsOf(mailbox.unreadAfter(0, 10)), [1, 2, 3, 5]);
  assert.deepEqual(idsOf(mailbox.unreadAfter(2, 10)), [3, 5]);
  assert.deepEqual(idsOf(mailbox.unreadAfter(2, 1)), [3]);
  assert.deepEqual(idsOf(mailbox.unreadAfter(5, 10)), []);
  assert.equal(mailbox.unreadCount, 4, 'looking does not read');
});

test('a letter whose id does not grow is a bug', () => {
  const mailbox = mailboxWith([5]);
  assert.throws(() => mailbox.add(new Letter(5, 'bob', 0, 'again'), true), /ids must grow/);
  assert.throws(() => mailbox.add(new Letter(4, 'bob', 0, 'older'), true), /ids must grow/);
});

test('a letter becomes a fresh plain message with its recipient', () => {
  const letter = new Letter(7, 'bob', 1234, 'hi');
  assert.deepEqual(letter.toStored('alice'), { id: 7, from: 'bob', to: 'alice', text: 'hi', at: 1234 });
  assert.equal(Object.getPrototypeOf(letter.toStored('alice')), Object.prototype);
});

test('the snapshot columns follow arrivals, reads and removals, and each copy is the caller\'s', () => {
  const mailbox = mailboxWith([2, 4, 6, 8, 10]);
  const unreadColumn = () => mailbox.columns().unread;
  const first = mailbox.columns();
  assert.deepEqual(first, { ids: [2, 4, 6, 8, 10], from: ['bob', 'bob', 'bob', 'bob', 'bob'], at: [1002, 1004, 1006, 1008, 1010], text: ['text 2', 'text 4', 'text 6', 'text 8', 'text 10'], unread: [true, true, true, true, true] });
  mailbox.takeOldestUnread(2);
  mailbox.markRead(8);
  assert.equal(mailbox.markRead(8), false, 'already read');
  assert.deepEqual(unreadColumn(), [false, false, true, false, true]);
  assert.deepEqual(first.unread, [true, true, true, true, true], 'a copy taken earlier does not change');
  mailbox.invariants();
  mailbox.remove(4);
  mailbox.add(new Letter(12, 'amy', 1012, 'text 12'), false);
  assert.deepEqual(mailbox.columns().ids, [2, 6, 8, 10, 12], 'rebuilt after a removal');
  mailbox.markRead(10);
  mailbox.add(new Letter(14, 'amy', 1014, 'text 14'), true);
  assert.deepEqual(unreadColumn(), [false, true, false, false, false, true], 'and kept up to date again');
  mailbox.invariants();
});
