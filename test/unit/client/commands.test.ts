// The REPL's command language: what each line means, and what is a usage error.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { READ_COUNT_DEFAULT } from '../../../lib/chat/limits.js';
import { COMMAND_NAMES, completeCommand, parseCommand, type Command } from '../../../lib/client/commands.js';

function parsesTo(line: string, command: Command): void {
  assert.deepEqual(parseCommand(line), { ok: true, command }, line);
}

function isUsageError(line: string, usage: string): void {
  assert.deepEqual(parseCommand(line), { ok: false, code: 'USAGE', message: usage }, line);
}

test('blank lines and # comments mean nothing', () => {
  for (const line of ['', '   ', '\t', '# a comment', '  # indented comment']) assert.equal(parseCommand(line), null, JSON.stringify(line));
});

test('create and login take exactly one name', () => {
  parsesTo('create alice', { name: 'create', account: 'alice' });
  parsesTo('  login   Bob  ', { name: 'login', account: 'Bob' });
  isUsageError('create', 'create <name>');
  isUsageError('login bob extra', 'login <name>');
});

test('send keeps the rest of the line as typed, inner spacing included', () => {
  parsesTo('send bob hello   there,  bob!', { name: 'send', to: 'bob', text: 'hello   there,  bob!' });
  parsesTo('send bob    leading spaces go  ', { name: 'send', to: 'bob', text: 'leading spaces go' });
  isUsageError('send bob', 'send <name> <text…>');
  isUsageError('send bob    ', 'send <name> <text…>');
  isUsageError('send', 'send <name> <text…>');
});

test('list takes an optional pattern and an optional page; a lone number is a page', () => {
  parsesTo('list', { name: 'list', pattern: '*', page: 1 });
  parsesTo('list a*', { name: 'list', pattern: 'a*', page: 1 });
  parsesTo('list 3', { name: 'list', pattern: '*', page: 3 });
  parsesTo('list b?b 2', { name: 'list', pattern: 'b?b', page: 2 });
  isUsageError('list a* two', 'list [pattern] [page]');
  isUsageError('list a* 0', 'list [pattern] [page]');
  isUsageError('list a b 1', 'list [pattern] [page]');
});

test(`read takes an optional positive count, ${READ_COUNT_DEFAULT} by default`, () => {
  parsesTo('read', { name: 'read', count: READ_COUNT_DEFAULT });
  parsesTo('read 3', { name: 'read', count: 3 });
  isUsageError('read 0', 'read [n]');
  isUsageError('read -1', 'read [n]');
  isUsageError('read 1.5', 'read [n]');
  isUsageError('read 1 2', 'read [n]');
});

test('delete takes one or more ids, with or without the # they are shown with', () => {
  parsesTo('delete 12', { name: 'delete', ids: [12] });
  parsesTo('delete #12 13 #14', { name: 'delete', ids: [12, 13, 14] });
  isUsageError('delete', 'delete <id>…');
  isUsageError('delete 12 x', 'delete <id>…');
  isUsageError('delete 012', 'delete <id>…');
});

test('commands without arguments refuse them', () => {
  for (const name of ['logout', 'delete-account', 'status', 'quit'] as const) {
    parsesTo(name, { name } as Command);
    isUsageError(`${name} now`, name);
  }
});

test('help takes an optional command name', () => {
  parsesTo('help', { name: 'help', topic: null });
  parsesTo('help send', { name: 'help', topic: 'send' });
  isUsageError('help frobnicate', 'help [command]');
});

test('command names are not case-sensitive; unknown ones are named back', () => {
  parsesTo('STATUS', { name: 'status' });
  assert.deepEqual(parseCommand('frobnicate now'), { ok: false, code: 'UNKNOWN_COMMAND', message: 'frobnicate (type help for the list)' });
});

test('tab completes command names, and nothing after the first word', () => {
  assert.deepEqual(completeCommand('se'), [['send'], 'se']);
  assert.deepEqual(completeCommand('de'), [['delete', 'delete-account'], 'de']);
  assert.deepEqual(completeCommand('l'), [['login', 'logout', 'list'], 'l']);
  assert.deepEqual(completeCommand(''), [COMMAND_NAMES, '']);
  assert.deepEqual(completeCommand('send bo'), [[], 'send bo']);
});
