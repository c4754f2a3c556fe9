// De-duplication of pushed messages, lastSeen, and the acks still owed.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Inbox } from '../../../lib/client/inbox.js';

test('a message is new once; every push of it is owed an ack, each id once', () => {
  const inbox = new Inbox();
  assert.equal(inbox.receive(5), true);
  assert.equal(inbox.receive(5), false);
  assert.equal(inbox.receive(7), true);
  assert.equal(inbox.pendingAcks, 2);
  assert.deepEqual(inbox.takeAcks(100), [5, 7]);
  assert.equal(inbox.receive(5), false, 'a repeat after its ack is still not new');
  assert.deepEqual(inbox.takeAcks(100), [5], 'and is acked again: the server had not recorded it');
});

test('acks are taken in arrival order, at most so many at a time', () => {
  const inbox = new Inbox();
  for (const id of [3, 1, 2]) inbox.receive(id);
  assert.deepEqual(inbox.takeAcks(2), [3, 1]);
  assert.deepEqual(inbox.takeAcks(2), [2]);
  assert.equal(inbox.pendingAcks, 0);
});

test('lastSeen is the highest id shown, by push or by read', () => {
  const inbox = new Inbox();
  assert.equal(inbox.lastSeen, 0);
  inbox.receive(4);
  inbox.noteRead([9, 2]);
  assert.equal(inbox.lastSeen, 9);
  assert.equal(inbox.receive(9), false, 'a message already read is not shown again');
  assert.equal(inbox.pendingAcks, 2, 'but its push is acked');
});

test('reset forgets everything: a new login starts afresh', () => {
  const inbox = new Inbox();
  inbox.receive(4);
  inbox.reset();
  assert.equal(inbox.lastSeen, 0);
  assert.equal(inbox.pendingAcks, 0);
  assert.equal(inbox.receive(4), true);
});

test('memory is bounded: the oldest ids are forgotten past the capacity', () => {
  const inbox = new Inbox(3);
  for (const id of [1, 2, 3, 4]) inbox.receive(id);
  assert.equal(inbox.pendingAcks, 3, 'an id forgotten is no longer owed an ack');
  assert.equal(inbox.receive(1), true, 'id 1 was forgotten');
  assert.equal(inbox.receive(4), false);
  assert.equal(inbox.lastSeen, 4);
});
