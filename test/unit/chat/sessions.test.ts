import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SessionTable } from '../../../lib/chat/sessions.js';
import { SESSIONS_PER_ACCOUNT_MAX } from '../../../lib/chat/limits.js';

const live = () => true;

test('a session maps to its account until it ends', () => {
  const table = new SessionTable();
  assert.deepEqual(table.open('t1', 'alice'), []);
  assert.deepEqual(table.open('t2', 'alice'), []);
  assert.equal(table.nameOf('t1'), 'alice');
  assert.deepEqual(table.of('alice'), ['t1', 't2']);
  table.end('t1');
  assert.equal(table.nameOf('t1'), null);
  assert.deepEqual(table.of('alice'), ['t2']);
  table.invariants(live);
});

test('anything that is not a live token is nobody', () => {
  const table = new SessionTable();
  for (const token of ['t', null, undefined, 3, {}]) assert.equal(table.nameOf(token), null);
});

test('opening one session too many ends the oldest', () => {
  const table = new SessionTable();
  for (let i = 0; i < SESSIONS_PER_ACCOUNT_MAX; i++) assert.deepEqual(table.open(`t${i}`, 'alice'), []);
  assert.deepEqual(table.open('newest', 'alice'), ['t0']);
  assert.equal(table.nameOf('t0'), null);
  assert.equal(table.of('alice').length, SESSIONS_PER_ACCOUNT_MAX);
  assert.equal(table.open('bob-1', 'bob').length, 0, 'the limit is per account');
  table.invariants(live);
});

test('ending all of an account leaves others alone', () => {
  const table = new SessionTable();
  table.open('a1', 'alice');
  table.open('b1', 'bob');
  table.open('a2', 'alice');
  assert.deepEqual(table.endAll('alice'), ['a1', 'a2']);
  assert.deepEqual(table.endAll('alice'), []);
  assert.equal(table.nameOf('b1'), 'bob');
  table.invariants((name) => name === 'bob');
  assert.throws(() => table.invariants(() => false), /has sessions but no account/);
});

test('reusing a live token or ending a dead one is a bug', () => {
  const table = new SessionTable();
  table.open('t', 'alice');
  assert.throws(() => table.open('t', 'bob'), /already in use/);
  assert.throws(() => table.end('nope'), /not live/);
});
