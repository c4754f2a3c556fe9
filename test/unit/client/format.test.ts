// Every line the REPL prints, and that text from others cannot take over the terminal.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  formatDeleted,
  formatError,
  formatHelp,
  formatList,
  formatLogin,
  formatMessage,
  formatRead,
  formatSent,
  formatStatus,
  formatTime,
  printable,
} from '../../../lib/client/format.js';

/** 10:42 local time, whatever the time zone of the machine running the test. */
const AT_10_42 = new Date(2024, 0, 1, 10, 42).getTime();

test('a message: id, sender, local time, text', () => {
  assert.equal(formatMessage({ id: 12, from: 'alice', to: 'bob', text: 'hello', at: AT_10_42 }), '[#12 from alice 10:42] hello');
  assert.equal(formatTime(new Date(2024, 0, 1, 7, 5).getTime()), '07:05');
});

test('control characters in text from others are shown as escapes, not obeyed', () => {
  const text = 'hi\x1b[2J\r\nfake line\u2028\x7f';
  assert.equal(printable(text), 'hi\\u001b[2J\\u000d\\u000afake line\\u2028\\u007f');
  const line = formatMessage({ id: 1, from: 'eve\x1b[1m', to: 'bob', text, at: AT_10_42 });
  assert.doesNotMatch(line, /[\x00-\x1f\x7f]/);
  assert.equal(formatError('BAD_NAME', 'bad \x1b name'), 'error: BAD_NAME: bad \\u001b name');
  assert.equal(printable('héllo wörld ✓'), 'héllo wörld ✓', 'ordinary Unicode is left alone');
});

test('list: names, then the page and the total', () => {
  assert.equal(formatList({ names: ['alice', 'bob'], page: 1, pages: 1, total: 2 }), 'alice, bob (page 1 of 1, 2 accounts)');
  assert.equal(formatList({ names: ['carol'], page: 2, pages: 2, total: 21 }), 'carol (page 2 of 2, 21 accounts)');
  assert.equal(formatList({ names: [], page: 1, pages: 0, total: 0 }), 'no accounts (page 1 of 1, 0 accounts)');
  assert.equal(formatList({ names: ['alice'], page: 1, pages: 1, total: 1 }), 'alice (page 1 of 1, 1 account)');
});

test('read: the messages, then how many more are unread', () => {
  const message = { id: 3, from: 'alice', to: 'bob', text: 'one', at: AT_10_42 };
  assert.deepEqual(formatRead({ messages: [message], remaining: 4 }), ['[#3 from alice 10:42] one', '(4 more unread)']);
  assert.deepEqual(formatRead({ messages: [], remaining: 0 }), ['no unread messages']);
});

test('login, send, delete', () => {
  assert.equal(formatLogin({ name: 'bob', unread: 2, serverSignature: 'x' }), 'logged in as bob (2 unread)');
  assert.equal(formatSent({ id: 12, to: 'bob', at: AT_10_42 }), 'sent #12 to bob');
  assert.equal(formatDeleted({ deleted: [1, 2] }), 'deleted 2 messages');
  assert.equal(formatDeleted({ deleted: [1] }), 'deleted 1 message');
});

test('status: replica, view, address, user and client id, or what is not known yet', () => {
  const clientId = 'ab'.repeat(16);
  assert.deepEqual(formatStatus({ replica: 3, view: 7, address: '127.0.0.1:7004', name: 'alice', clientId }), [
    'replica:   3',
    'view:      7',
    'address:   127.0.0.1:7004',
    'user:      alice',
    `client id: ${clientId}`,
  ]);
  const fresh = formatStatus({ replica: null, view: null, address: null, name: null, clientId });
  assert.deepEqual(fresh.slice(0, 4), ['replica:   (not connected yet)', 'view:      (not connected yet)', 'address:   (not connected yet)', 'user:      (not logged in)']);
});

test('help lists every command with its usage, or one command', () => {
  const lines = formatHelp(null);
  assert.equal(lines.length, 11);
  assert.ok(lines.some((line) => /^ {2}send <name> <text…> +send a message$/.test(line)));
  assert.deepEqual(formatHelp('read'), ['read [n] — show up to n unread messages (default 10)']);
});
