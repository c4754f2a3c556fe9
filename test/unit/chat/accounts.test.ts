import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LIST_PAGE_SIZE, SESSIONS_PER_ACCOUNT_MAX } from '../../../lib/chat/limits.js';
import type { LoggedCommand } from '../../../lib/chat/types.js';
import { Harness, tokenHash, verifierFor } from './harness.js';

test('create folds the name and makes a live account', () => {
  const h = new Harness();
  assert.deepEqual(h.ok({ kind: 'create', name: 'Alice', verifier: verifierFor('pw') }).result, { name: 'alice' });
  assert.deepEqual(h.machine.verifierOf('ALICE'), verifierFor('pw'));
  assert.equal(h.machine.verifierOf('bob'), null);
  assert.equal(h.machine.verifierOf('not a name'), null);
});

test('create refuses a bad name, a taken name (in any case) and a bad verifier', () => {
  const h = new Harness();
  h.create('alice');
  h.fails('BAD_NAME', { kind: 'create', name: '9lives', verifier: verifierFor('pw') });
  assert.match(h.fails('NAME_TAKEN', { kind: 'create', name: 'ALICE', verifier: verifierFor('pw') }), /already taken/);
  h.fails('BAD_VERIFIER', { kind: 'create', name: 'bob', verifier: { ...verifierFor('pw'), iterations: 1 } });
  assert.equal(h.machine.verifierOf('bob'), null, 'a refused create leaves no account');
});

test('create works from a logged-in connection too', () => {
  const h = new Harness();
  const alice = h.join('alice');
  h.ok({ kind: 'create', name: 'bob', verifier: verifierFor('pw') }, alice);
  assert.notEqual(h.machine.verifierOf('bob'), null);
});

test('every command but create and login needs a live session', () => {
  const h = new Harness();
  h.create('alice');
  const commands: LoggedCommand[] = [
    { kind: 'logout' },
    { kind: 'list', pattern: '', page: 1 },
    { kind: 'send', to: 'alice', text: 'hi' },
    { kind: 'read', count: 1 },
    { kind: 'delete', ids: [1] },
    { kind: 'ack', ids: [1] },
    { kind: 'delete-account' },
  ];
  for (const command of commands) {
    h.fails('NOT_LOGGED_IN', command);
    h.fails('NOT_LOGGED_IN', command, tokenHash('never issued'));
  }
});

test('logout ends only its own session', () => {
  const h = new Harness();
  const phone = h.join('alice');
  const laptop = h.login('alice');
  const { result, events } = h.ok({ kind: 'logout' }, phone);
  assert.deepEqual(result, {});
  assert.deepEqual(events, [{ kind: 'session-ended', session: phone }]);
  h.fails('NOT_LOGGED_IN', { kind: 'read', count: 1 }, phone);
  h.ok({ kind: 'read', count: 1 }, laptop);
});

test('one login too many revokes the oldest session', () => {
  const h = new Harness();
  const sessions = [h.join('alice')];
  for (let i = 1; i < SESSIONS_PER_ACCOUNT_MAX; i++) sessions.push(h.login('alice'));
  const newest = tokenHash('newest');
  const { events } = h.ok(h.loginRecord('alice', 'pw', newest));
  assert.deepEqual(events, [{ kind: 'session-ended', session: sessions[0] }]);
  h.fails('NOT_LOGGED_IN', { kind: 'read', count: 1 }, sessions[0]!);
  h.ok({ kind: 'read', count: 1 }, sessions[1]!);
  h.ok({ kind: 'read', count: 1 }, newest);
  h.machine.invariants();
});

test('delete-account ends every session and failed-login run, keeps sent mail, and reserves the name forever', () => {
  const h = new Harness();
  const bob = h.join('bob');
  const phone = h.join('alice');
  const laptop = h.login('alice');
  h.fails('AUTH_FAILED', h.loginRecord('alice', 'wrong'));
  h.send(phone, 'bob', 'from alice');
  h.send(bob, 'alice', 'to alice');
  const { result, events } = h.ok({ kind: 'delete-account' }, laptop);
  assert.deepEqual(result, { name: 'alice' });
  assert.deepEqual(events, [
    { kind: 'session-ended', session: phone },
    { kind: 'session-ended', session: laptop },
  ]);
  h.fails('NOT_LOGGED_IN', { kind: 'read', count: 1 }, phone);
  assert.equal(h.machine.verifierOf('alice'), null);
  assert.equal(h.machine.unreadCount('alice'), 0);
  assert.deepEqual(h.ok({ kind: 'read', count: 10 }, bob).result.messages.map((m) => m.from), ['alice']);
  assert.match(h.fails('NAME_TAKEN', { kind: 'create', name: 'Alice', verifier: verifierFor('pw') }), /deleted account/);
  assert.match(h.fails('UNKNOWN_USER', { kind: 'send', to: 'alice', text: 'hello?' }, bob), /deleted/);
  assert.deepEqual(h.machine.snapshot().loginFailures, [], "alice's failed login went with her");
  h.machine.invariants();
});

test('list pages through live accounts sorted by name', () => {
  const h = new Harness();
  const me = h.join('me');
  const names = Array.from({ length: 2 * LIST_PAGE_SIZE + 5 }, (_, i) => `user${String(i).padStart(2, '0')}`);
  for (const name of [...names].reverse()) h.create(name);
  h.create('gone');
  h.ok({ kind: 'delete-account' }, h.login('gone'));

  const page = (pattern: string, n: number) => h.ok({ kind: 'list', pattern, page: n }, me).result;
  assert.deepEqual(page('USER*', 1), { names: names.slice(0, LIST_PAGE_SIZE), page: 1, pages: 3, total: names.length });
  assert.deepEqual(page('user*', 3).names, names.slice(2 * LIST_PAGE_SIZE));
  assert.deepEqual(page('user*', 4), { names: [], page: 4, pages: 3, total: names.length }, 'past the end is empty');
  assert.deepEqual(page('', 1).total, names.length + 1, "'' means everyone live: the users and me, not gone");
  assert.deepEqual(page('user0?', 1).names, names.slice(0, 10));
  assert.deepEqual(page('nobody*', 1), { names: [], page: 1, pages: 1, total: 0 });
  assert.deepEqual(page('g*', 1).names, [], 'deleted accounts are not listed');
});

test('list refuses a bad pattern or page', () => {
  const h = new Harness();
  const me = h.join('me');
  h.fails('BAD_PATTERN', { kind: 'list', pattern: 'a b', page: 1 }, me);
  h.fails('BAD_PATTERN', { kind: 'list', pattern: '*'.repeat(65), page: 1 }, me);
  for (const page of [0, -1, 1.5, Number.NaN]) h.fails('BAD_ARGUMENT', { kind: 'list', pattern: '', page }, me);
});

test('an unknown command kind is refused, not thrown on', () => {
  const h = new Harness();
  const me = h.join('me');
  const bogus = { kind: 'explode' } as unknown as { kind: 'logout' };
  h.fails('BAD_ARGUMENT', bogus, me);
  h.fails('BAD_ARGUMENT', bogus);
});
