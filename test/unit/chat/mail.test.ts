import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IDS_PER_REQUEST_MAX, MAILBOX_MESSAGES_MAX, MESSAGE_BYTES_MAX, READ_COUNT_MAX, READ_REPLY_BYTES_MAX } from '../../../lib/chat/limits.js';
import { SERVER_FRAME_BYTES_MAX } from '../../../lib/protocol/messages.js';
import { Harness } from './harness.js';

function pair() {
  const h = new Harness();
  return { h, alice: h.join('alice'), bob: h.join('bob') };
}

test('send stores the message unread, numbers it globally and asks for a push', () => {
  const { h, alice, bob } = pair();
  const { result, events } = h.ok({ kind: 'send', to: 'Bob', text: 'hi bob' }, alice);
  assert.deepEqual(result, { id: 1, to: 'bob', at: h.at });
  assert.deepEqual(events, [{ kind: 'deliver', message: { id: 1, from: 'alice', to: 'bob', text: 'hi bob', at: h.at } }]);
  assert.equal(h.send(bob, 'alice', 'hi alice'), 2, 'ids are global, not per mailbox');
  assert.equal(h.send(alice, 'alice', 'note to self'), 3, 'sending to yourself is allowed');
  assert.equal(h.machine.unreadCount('BOB'), 1);
  assert.equal(h.machine.unreadCount('alice'), 2);
});

test('message ids are never reused, even after a delete', () => {
  const { h, alice, bob } = pair();
  const first = h.send(alice, 'bob', 'one');
  h.ok({ kind: 'delete', ids: [first] }, bob);
  assert.equal(h.send(alice, 'bob', 'two'), first + 1);
});

test('send refuses unknown recipients, bad names and bad text', () => {
  const { h, alice } = pair();
  assert.match(h.fails('UNKNOWN_USER', { kind: 'send', to: 'carol', text: 'hi' }, alice), /no account named carol/);
  h.fails('BAD_NAME', { kind: 'send', to: 'not a name', text: 'hi' }, alice);
  for (const text of ['', '   \n\t ', 'x'.repeat(MESSAGE_BYTES_MAX + 1), 'é'.repeat(MESSAGE_BYTES_MAX / 2 + 1), 5]) {
    h.fails('BAD_MESSAGE', { kind: 'send', to: 'bob', text: text as string }, alice);
  }
  h.ok({ kind: 'send', to: 'bob', text: 'é'.repeat(MESSAGE_BYTES_MAX / 2) }, alice);
  h.ok({ kind: 'send', to: 'bob', text: 'x'.repeat(MESSAGE_BYTES_MAX) }, alice);
  assert.equal(h.machine.unreadCount('bob'), 2);
});

test('a full mailbox refuses more until something is deleted', () => {
  const { h, alice, bob } = pair();
  for (let i = 0; i < MAILBOX_MESSAGES_MAX; i++) h.send(alice, 'bob', `m${i}`);
  h.ok({ kind: 'read', count: READ_COUNT_MAX }, bob); // read messages count towards the limit too
  assert.match(h.fails('MAILBOX_FULL', { kind: 'send', to: 'bob', text: 'one more' }, alice), /full/);
  h.ok({ kind: 'delete', ids: [1] }, bob);
  h.send(alice, 'bob', 'one more');
  h.fails('MAILBOX_FULL', { kind: 'send', to: 'bob', text: 'and another' }, alice);
});

test('read takes the oldest unread in pieces', () => {
  const { h, alice, bob } = pair();
  h.send(alice, 'bob', 'first');
  h.send(alice, 'bob', 'second');
  const one = h.ok({ kind: 'read', count: 1 }, bob).result;
  assert.deepEqual(one.messages.map((m) => m.text), ['first']);
  assert.equal(one.remaining, 1);
  const two = h.ok({ kind: 'read', count: 1 }, bob).result;
  assert.deepEqual(two.messages.map((m) => m.text), ['second']);
  assert.equal(two.remaining, 0);
  assert.deepEqual(h.ok({ kind: 'read', count: 5 }, bob).result, { messages: [], remaining: 0 });
});

test('a read of many large messages stops where one reply frame would overflow', () => {
  const { h, alice, bob } = pair();
  // Control characters are escaped six-fold in JSON: the worst case for a reply's size.
  const heavy = '\u0001'.repeat(MESSAGE_BYTES_MAX);
  for (let i = 0; i < READ_COUNT_MAX; i++) h.send(alice, 'bob', heavy);
  const first = h.ok({ kind: 'read', count: READ_COUNT_MAX }, bob).result;
  const replyBytes = Buffer.byteLength(JSON.stringify({ type: 'reply', id: 1, ok: true, result: first }));
  assert.ok(first.messages.length > 0 && first.messages.length < READ_COUNT_MAX, `took ${first.messages.length}`);
  assert.ok(replyBytes <= READ_REPLY_BYTES_MAX && READ_REPLY_BYTES_MAX < SERVER_FRAME_BYTES_MAX, `reply of ${replyBytes} bytes`);
  assert.equal(first.remaining, READ_COUNT_MAX - first.messages.length);
  let seen = first.messages.length;
  while (seen < READ_COUNT_MAX) seen += h.ok({ kind: 'read', count: READ_COUNT_MAX }, bob).result.messages.length;
  assert.equal(seen, READ_COUNT_MAX, 'every message is read exactly once across the pieces');
});

test('read returns whole messages addressed to the reader', () => {
  const { h, alice, bob } = pair();
  h.send(alice, 'bob', 'hello');
  const at = h.at;
  assert.deepEqual(h.ok({ kind: 'read', count: 1 }, bob).result.messages, [{ id: 1, from: 'alice', to: 'bob', text: 'hello', at }]);
});

test('read refuses a count outside 1..READ_COUNT_MAX', () => {
  const { h, bob } = pair();
  for (const count of [0, -1, READ_COUNT_MAX + 1, 1.5, Number.NaN]) h.fails('BAD_ARGUMENT', { kind: 'read', count }, bob);
  h.ok({ kind: 'read', count: READ_COUNT_MAX }, bob);
});

test('delete removes read and unread messages of the caller, duplicates allowed', () => {
  const { h, alice, bob } = pair();
  const ids = [h.send(alice, 'bob', 'a'), h.send(alice, 'bob', 'b'), h.send(alice, 'bob', 'c')];
  h.ok({ kind: 'read', count: 1 }, bob);
  assert.deepEqual(h.ok({ kind: 'delete', ids: [ids[1]!, ids[0]!, ids[1]!] }, bob).result, { deleted: [ids[0], ids[1]] });
  assert.equal(h.machine.unreadCount('bob'), 1);
  assert.deepEqual(h.ok({ kind: 'read', count: 10 }, bob).result.messages.map((m) => m.text), ['c']);
});

test('delete is all or nothing and names the missing ids', () => {
  const { h, alice, bob } = pair();
  const mine = h.send(alice, 'bob', 'for bob');
  const hers = h.send(bob, 'alice', 'for alice');
  const message = h.fails('NOT_FOUND', { kind: 'delete', ids: [mine, hers, 999] }, bob);
  assert.match(message, new RegExp(`${hers}, 999`));
  assert.equal(h.machine.unreadCount('bob'), 1, 'nothing was deleted');
  h.fails('NOT_FOUND', { kind: 'delete', ids: [mine] }, alice); // nobody deletes another's mail
  assert.equal(h.machine.unreadCount('bob'), 1);
});

test('delete and ack refuse malformed id lists', () => {
  const { h, bob } = pair();
  const bad = [[], Array.from({ length: IDS_PER_REQUEST_MAX + 1 }, (_, i) => i + 1), [0], [-3], [1.5], ['1'], 'all'];
  for (const ids of bad) {
    h.fails('BAD_ARGUMENT', { kind: 'delete', ids: ids as number[] }, bob);
    h.fails('BAD_ARGUMENT', { kind: 'ack', ids: ids as number[] }, bob);
  }
});

test('ack marks pushed messages read and is idempotent', () => {
  const { h, alice, bob } = pair();
  const [a, b, c] = [h.send(alice, 'bob', 'a'), h.send(alice, 'bob', 'b'), h.send(alice, 'bob', 'c')];
  const other = h.send(bob, 'alice', 'not bob\'s');
  assert.deepEqual(h.ok({ kind: 'ack', ids: [c!, a!, other, 12345] }, bob).result, { acked: [a, c] });
  assert.equal(h.machine.unreadCount('bob'), 1);
  assert.deepEqual(h.ok({ kind: 'ack', ids: [a!, c!] }, bob).result, { acked: [] }, 'acking again changes nothing');
  assert.equal(h.machine.unreadCount('alice'), 1, "bob's ack did not touch alice's mail");
  assert.deepEqual(h.ok({ kind: 'read', count: 10 }, bob).result.messages.map((m) => m.id), [b]);
});

test('unreadAfter gives the pushes a resuming connection missed', () => {
  const { h, alice } = pair();
  const ids = [1, 2, 3, 4].map((i) => h.send(alice, 'bob', `m${i}`));
  const bob = h.login('bob');
  h.ok({ kind: 'ack', ids: [ids[2]!] }, bob);
  assert.deepEqual(h.machine.unreadAfter('Bob', ids[0]!, 10).map((m) => m.id), [ids[1], ids[3]]);
  assert.deepEqual(h.machine.unreadAfter('bob', 0, 1).map((m) => m.to), ['bob']);
  assert.deepEqual(h.machine.unreadAfter('nobody', 0, 10), []);
  assert.throws(() => h.machine.unreadAfter('bob', 0, 0), /limit/);
});
