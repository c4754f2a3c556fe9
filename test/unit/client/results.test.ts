// Shape checks of what a replica answers: a result that does not fit is refused, not used.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkCallResult, checkHelloResult, checkLoginStartResult, checkResumeResult } from '../../../lib/client/results.js';

const message = { id: 1, from: 'alice', to: 'bob', text: 'hi', at: 0 };

test('every kind of call result is checked against its own shape', () => {
  assert.deepEqual(checkCallResult('send', { id: 3, to: 'bob', at: 5 }), { id: 3, to: 'bob', at: 5 });
  assert.equal(checkCallResult('send', { id: '3', to: 'bob', at: 5 }), null);
  assert.equal(checkCallResult('read', { messages: [message], remaining: 0 })?.messages.length, 1);
  assert.equal(checkCallResult('read', { messages: [{ ...message, at: -1 }], remaining: 0 }), null);
  assert.equal(checkCallResult('list', { names: ['a', 1], page: 1, pages: 1, total: 2 }), null);
  assert.equal(checkCallResult('delete', { deleted: [1.5] }), null);
  assert.equal(checkCallResult('ack', { acked: [] })?.acked.length, 0);
  assert.equal(checkCallResult('login', { name: 'a', unread: 0 }), null, 'no signature');
  assert.deepEqual(checkCallResult('logout', {}), {});
  assert.equal(checkCallResult('create', []), null);
  assert.equal(checkCallResult('delete-account', null), null);
});

test('hello, login-start and resume results', () => {
  const hello = { version: 2, replica: 0, view: 3, primary: { replica: 1, view: 3, address: null }, members: ['127.0.0.1:7001'] };
  assert.deepEqual(checkHelloResult(hello), hello);
  assert.equal(checkHelloResult({ ...hello, members: [] }), null, 'a cluster has at least one member');
  assert.equal(checkHelloResult({ ...hello, members: Array(17).fill('127.0.0.1:7001') }), null, 'more members than MEMBERS_MAX');
  assert.equal(checkHelloResult({ ...hello, members: [7001] }), null);
  assert.equal(checkHelloResult({ ...hello, primary: { ...hello.primary, address: 7 } }), null);
  assert.equal(checkHelloResult({ ...hello, primary: null }), null);
  assert.equal(checkHelloResult({ ...hello, view: -1 }), null);
  assert.deepEqual(checkLoginStartResult({ salt: 's', iterations: 4096, nonce: 'n' }), { salt: 's', iterations: 4096, nonce: 'n' });
  assert.equal(checkLoginStartResult({ salt: 's', iterations: '4096', nonce: 'n' }), null);
  assert.deepEqual(checkResumeResult({ name: 'bob', unread: 2 }), { name: 'bob', unread: 2 });
  assert.equal(checkResumeResult({ name: 'bob' }), null);
});
