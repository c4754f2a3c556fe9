// Login, both halves (lib/chat/login.ts): the primary's proof check and what it logs, and what
// every replica decides when it applies the record — the fingerprint, the session.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clientProof, verifierFingerprint } from '../../../lib/auth/scram.js';
import { recordLogin } from '../../../lib/chat/login.js';
import type { LoginRecord } from '../../../lib/chat/types.js';
import { Harness, proofFor, tokenHash, verifierFor } from './harness.js';

const WRONG = { ok: false, error: { code: 'AUTH_FAILED', message: 'wrong name or password' } };

test('the primary logs the outcome of its proof check: never the nonce or the proof', () => {
  const verifier = verifierFor('secret');
  const nonce = 'client-nonce+server-nonce';
  const client = clientProof('secret', { name: 'alice', nonce, salt: verifier.salt, iterations: verifier.iterations });
  const command = { kind: 'login' as const, name: 'Alice', nonce, proof: client.proof, tokenHash: tokenHash('t') };
  const record = recordLogin(command, verifier);
  assert.deepEqual(record, {
    kind: 'login',
    name: 'Alice',
    tokenHash: tokenHash('t'),
    proven: { fingerprint: verifierFingerprint(verifier), serverSignature: client.serverSignature },
  });
  const logged = JSON.stringify(record);
  assert.ok(!logged.includes(nonce) && !logged.includes(client.proof), 'neither the nonce nor the proof is logged');

  const failed = { kind: 'login', name: 'Alice', tokenHash: tokenHash('t'), proven: null };
  assert.deepEqual(recordLogin({ ...command, proof: proofFor('alice', 'wrong', nonce, verifier) }, verifier), failed);
  assert.deepEqual(recordLogin({ ...command, proof: 'not base64' }, verifier), failed);
  assert.deepEqual(recordLogin({ ...command, nonce: 'another nonce' }, verifier), failed, 'the proof signs the nonce');
  assert.deepEqual(recordLogin(command, null), failed, 'a name without an account');
  assert.deepEqual(recordLogin({ ...command, name: 'no spaces' }, verifier), { ...failed, name: 'no spaces' });
});

test('a proven login opens a session, reports unread mail and carries the logged signature', () => {
  const h = new Harness();
  h.create('alice');
  const bob = h.join('bob');
  h.send(bob, 'alice', 'one');
  h.send(bob, 'alice', 'two');
  const record = h.loginRecord('Alice');
  const { result, events } = h.ok(record);
  assert.deepEqual(result, { name: 'alice', unread: 2, serverSignature: record.proven!.serverSignature });
  assert.deepEqual(events, []);
  assert.equal(h.machine.sessionName(record.tokenHash), 'alice');
});

test('a wrong password, an unknown user and a deleted account get the identical error', () => {
  const h = new Harness();
  h.create('alice', 'right');
  h.create('gone', 'pw');
  const beforeDeletion = h.loginRecord('gone');
  h.ok({ kind: 'delete-account' }, h.login('gone'));
  assert.deepEqual(h.apply(h.loginRecord('alice', 'wrong')).reply, WRONG);
  assert.deepEqual(h.apply(h.loginRecord('nobody', 'right')).reply, WRONG);
  assert.deepEqual(h.apply(h.loginRecord('gone')).reply, WRONG, 'a deleted account cannot log in');
  assert.deepEqual(h.apply(beforeDeletion).reply, WRONG, 'nor with a proof checked before it was deleted');
});

test('a login proven against a verifier the account no longer has fails when applied', () => {
  const h = new Harness();
  h.create('alice', 'new password');
  const stale = recordLogin({ kind: 'login', name: 'alice', nonce: 'n', proof: proofFor('alice', 'old password', 'n'), tokenHash: tokenHash('s') }, verifierFor('old password'));
  assert.notEqual(stale.proven, null, 'the proof was right for the verifier it was checked against');
  assert.deepEqual(h.apply(stale).reply, WRONG);
  assert.equal(h.machine.sessionName(stale.tokenHash), null);
});

test('login refuses a bad name, a malformed or reused token hash and a malformed verdict', () => {
  const h = new Harness();
  h.create('alice');
  const bob = h.join('bob');
  for (const bad of ['abc', tokenHash('x').toUpperCase(), tokenHash('x') + '0', 42]) {
    h.fails('BAD_ARGUMENT', { ...h.loginRecord('alice'), tokenHash: bad as string });
  }
  assert.match(h.fails('BAD_ARGUMENT', h.loginRecord('alice', 'pw', bob)), /already in use/);
  for (const bad of [undefined, 'yes', { fingerprint: 'f' }, { fingerprint: 1, serverSignature: 's' }]) {
    h.fails('BAD_ARGUMENT', { ...h.loginRecord('alice'), proven: bad as unknown as LoginRecord['proven'] });
  }
  h.fails('BAD_NAME', h.loginRecord('no spaces'));
});

test('login ignores the session the command arrives with', () => {
  const h = new Harness();
  const first = h.join('alice');
  h.create('bob');
  const second = tokenHash('second');
  h.ok(h.loginRecord('bob', 'pw', second), first);
  assert.equal(h.machine.sessionName(first), 'alice', 'the old session lives on');
  assert.equal(h.machine.sessionName(second), 'bob');
});
