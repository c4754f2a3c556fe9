// Every line the REPL prints, and that text from others cannot take over the terminal.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CONTINUATION,
  formatDeleted,
  formatError,
  formatHelp,
  formatList,
  formatLogin,
  formatMessage,
  formatRead,
  formatSent,
  formatSearching,
  formatStatus,
  formatTime,
  printable,
  screenLines,
} from '../../../lib/client/format.js';

/** 10:42 local time, whatever the time zone of the machine running the test. */
const AT_10_42 = new Date(2024, 0, 1, 10, 42).getTime();

test('a message: id, sender, local time, text', () => {
  assert.equal(formatMessage({ id: 12, from: 'alice', to: 'bob', text: 'hello', at: AT_10_42 }), '[#12 from alice 10:42] hello');
  assert.equal(formatTime(new Date(2024, 0, 1, 7, 5).getTime()), '07:05');
});

test('control characters in text from others are shown as escapes, not obeyed', () => {
  const text = 'hi\x1b[2J\r\nfake line\u2028\x7f';
  assert.equal(printable(text), 'hi\\u{001B}[2J\\u{000D}\\u{000A}fake line\\u{2028}\\u{007F}');
  const line = formatMessage({ id: 1, from: 'eve\x1b[1m', to: 'bob', text, at: AT_10_42 });
  assert.doesNotMatch(line, /[\x00-\x1f\x7f]/);
  assert.equal(formatError('BAD_NAME', 'bad \x1b name'), 'error: BAD_NAME: bad \\u{001B} name');
  assert.equal(printable('héllo wörld ✓'), 'héllo wörld ✓', 'ordinary Unicode is left alone');
});

/** Every character that could make text read as something it is not, by class. */
const UNPRINTABLE_BY_CLASS: Record<string, number[]> = {
  'C0 controls and DEL': [0x00, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1b, 0x1f, 0x7f],
  'C1 controls (U+009B is a one-byte CSI)': [0x80, 0x85, 0x8d, 0x9b, 0x9f],
  'bidirectional controls': [0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069, 0x200e, 0x200f, 0x061c],
  'zero-width and other invisible format characters': [0x200b, 0x200c, 0x200d, 0x2060, 0xfeff, 0x00ad, 0x180e, 0xfff9, 0xe0001, 0xe0041],
  'line and paragraph separators': [0x2028, 0x2029],
};

for (const [kind, codePoints] of Object.entries(UNPRINTABLE_BY_CLASS)) {
  test(`${kind} are shown as \\u{…} escapes of their code point`, () => {
    for (const codePoint of codePoints) {
      const hex = codePoint.toString(16).toUpperCase().padStart(4, '0');
      assert.equal(printable(`a${String.fromCodePoint(codePoint)}b`), `a\\u{${hex}}b`, `U+${hex}`);
    }
  });
}

test('a right-to-left override cannot turn a message around, in its text or in the sender\'s name', () => {
  // Shown raw, the sender would read "evealice" and the text "pay I owe you nothing".
  const message = { id: 7, from: 'eve\u202Eecila', to: 'bob', text: 'pay \u202Egnihton uoy ewo I\u202C', at: AT_10_42 };
  assert.equal(formatMessage(message), '[#7 from eve\\u{202E}ecila 10:42] pay \\u{202E}gnihton uoy ewo I\\u{202C}');
  assert.equal(formatLogin({ name: 'bo\u2066b', unread: 0, serverSignature: 'x' }), 'logged in as bo\\u{2066}b (0 unread)');
});

test('letters of every script, emoji and East Asian text are printed as they are; joiners inside emoji show', () => {
  for (const text of ['שלום', 'مرحبا', 'Привет', '你好，世界', 'こんにちは', '👍🏽 🎉', 'e\u0301']) assert.equal(printable(text), text);
  assert.equal(printable('👩\u200D💻'), '👩\\u{200D}💻', 'a zero-width joiner is shown, even between emoji');
});

test('screen lines: a line that fits is one; a longer one breaks one column short of the edge, the rest behind the marker', () => {
  assert.deepEqual(screenLines('short', 80), ['short']);
  assert.deepEqual(screenLines('a'.repeat(79), 80), ['a'.repeat(79)]);
  const long = 'abcdefghij'.repeat(20);
  const lines = screenLines(long, 40);
  assert.deepEqual(lines.slice(0, 2), [long.slice(0, 39), `${CONTINUATION}${long.slice(39, 74)}`]);
  for (const line of lines) assert.ok(line.length <= 39, `${line.length} columns: ${line}`);
  for (const line of lines.slice(1)) assert.ok(line.startsWith(CONTINUATION), line);
  assert.equal(lines.map((line, index) => (index === 0 ? line : line.slice(CONTINUATION.length))).join(''), long, 'nothing is lost');
});

test('screen lines: wide characters count two columns, so the terminal never has to wrap', () => {
  const wide = '你'.repeat(30);
  assert.deepEqual(screenLines(wide, 40), [wide.slice(0, 19), `${CONTINUATION}${wide.slice(19)}`]);
  assert.deepEqual(screenLines('👍'.repeat(3), 6), ['👍👍', `${CONTINUATION}👍`], 'an emoji is one character of two columns');
  assert.deepEqual(screenLines('abc', 1), ['a', `${CONTINUATION}b`, `${CONTINUATION}c`], 'however narrow, each line takes a character');
});

test('a message padded to wrap cannot forge a message line: its tail starts behind the marker', () => {
  const head = '[#12 from eve 10:42] ';
  const forged = '[#999 from alice 10:43] the meeting moved to 3pm';
  // Padded so that, wrapped by an 80-column terminal, the forgery would start the second line.
  const text = `${'x'.repeat(80 - head.length)}${forged}`;
  const lines = screenLines(formatMessage({ id: 12, from: 'eve', to: 'bob', text, at: AT_10_42 }), 80);
  assert.equal(lines.length, 2);
  assert.ok(lines[0]!.startsWith(head));
  assert.equal(lines[1], `${CONTINUATION}x${forged}`);
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

test('status: replica, view, address, user, client id and the replicas known, or what is not known yet', () => {
  const clientId = 'ab'.repeat(16);
  const members = ['127.0.0.1:7001', '127.0.0.1:7004', '127.0.0.1:7005'];
  assert.deepEqual(formatStatus({ replica: 3, view: 7, address: '127.0.0.1:7004', name: 'alice', clientId, members, unreachable: ['127.0.0.1:7005'] }), [
    'replica:   3',
    'view:      7',
    'address:   127.0.0.1:7004',
    'user:      alice',
    `client id: ${clientId}`,
    'replicas:  127.0.0.1:7001, 127.0.0.1:7004, 127.0.0.1:7005 (unreachable)',
  ]);
  const fresh = formatStatus({ replica: null, view: null, address: null, name: null, clientId, members: [], unreachable: [] });
  assert.deepEqual(fresh.slice(0, 4), ['replica:   (not connected yet)', 'view:      (not connected yet)', 'address:   (not connected yet)', 'user:      (not logged in)']);
});

test('searching: where the connector looks, and how many replicas did not answer', () => {
  assert.equal(formatSearching({ known: 5, unreachable: 2, parkedAt: null }), 'looking for the primary… (2 of 5 replicas unreachable)');
  assert.equal(formatSearching({ known: 1, unreachable: 0, parkedAt: '127.0.0.1:7002' }), 'waiting at 127.0.0.1:7002 for the new primary… (0 of 1 replica unreachable)');
  assert.equal(formatSearching({ known: 3, unreachable: 1, parkedAt: 'evil\x1b[2J:1' }), 'waiting at evil\\u{001B}[2J:1 for the new primary… (1 of 3 replicas unreachable)', 'an address a replica sent is printed safely');
});

test('help lists every command with its usage, or one command', () => {
  const lines = formatHelp(null);
  assert.equal(lines.length, 11);
  assert.ok(lines.some((line) => /^ {2}send <name> <text…> +send a message$/.test(line)));
  assert.deepEqual(formatHelp('read'), ['read [n] — show up to n unread messages (default 10)']);
});
