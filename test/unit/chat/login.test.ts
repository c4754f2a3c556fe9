// Login, both halves (lib/chat/login.ts): the primary's proof check and what it logs, and what
// every replica decides when it applies the record — the fingerprint, the throttle, the session.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clientProof, verifierFingerprint } from '../../../lib/auth/scram.js';
import { LOGIN_BACKOFF_MAX_MS, LOGIN_FAILURES_BEFORE_LOCK, SESSIONS_PER_ACCOUNT_MAX } from '../../../lib/chat/limits.js';
import { recordLogin } from '../../../lib/chat/login.js';
import { ChatMachine } from '../../../lib/chat/machine.js';
import { lockAfter } from '../../../lib/chat/throttle.js';
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

test('a login proven against a verifier the account no longer has fails when applied, and counts', () => {
  const h = new Harness();
  h.create('alice', 'new password');
  const stale = recordLogin({ kind: 'login', name: 'alice', nonce: 'n', proof: proofFor('alice', 'old password', 'n'), tokenHash: tokenHash('s') }, verifierFor('old password'));
  assert.notEqual(stale.proven, null, 'the proof was right for the verifier it was checked against');
  assert.deepEqual(h.apply(stale).reply, WRONG);
  assert.equal(h.machine.sessionName(stale.tokenHash), null);
  assert.deepEqual(h.machine.snapshot().loginFailures.map((row) => row.slice(0, 2)), [['alice', 1]]);
});

test('login refuses a bad name, a malformed or foreign token hash and a malformed verdict', () => {
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
  assert.deepEqual(h.machine.snapshot().loginFailures, [], 'none of these was a guess');
});

test('a login retried with its own live token succeeds again without a second session', () => {
  const h = new Harness();
  h.create('alice');
  const bob = h.join('bob');
  h.send(bob, 'alice', 'hi');
  const sessions = [h.login('alice')];
  for (let i = 1; i < SESSIONS_PER_ACCOUNT_MAX; i++) sessions.push(h.login('alice'));
  // The newest login's reply was lost; the client logs in again with the same token.
  const retry = h.loginRecord('alice', 'pw', sessions.at(-1));
  const { result, events } = h.ok(retry);
  assert.deepEqual(result, { name: 'alice', unread: 1, serverSignature: retry.proven!.serverSignature });
  assert.deepEqual(events, [], 'no session revoked: none was opened');
  assert.equal(h.machine.snapshot().accounts[0]![2].length, SESSIONS_PER_ACCOUNT_MAX);
  h.ok({ kind: 'read', count: 1 }, sessions[0]!);
  h.fails('AUTH_FAILED', h.loginRecord('alice', 'wrong', sessions.at(-1)), 'the token alone proves nothing');
  h.machine.invariants();
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

// ---------------------------------------------------------------------------------------------
// Throttling, decided by the `at` of each command (the harness moves it on by `stepMs`).

test('the lock after each failure in a row: none, then doubling, then the cap', () => {
  const locks = Array.from({ length: LOGIN_FAILURES_BEFORE_LOCK + 8 }, (_, i) => lockAfter(i + 1));
  assert.deepEqual(locks, [0, 0, 0, 0, 1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]);
  assert.equal(lockAfter(10_000), LOGIN_BACKOFF_MAX_MS);
});

/** Fails `count` logins for `name`, `stepMs` apart. */
function failLogins(h: Harness, name: string, count: number, stepMs = 1): void {
  for (let i = 0; i < count; i++) h.fails('AUTH_FAILED', h.loginRecord(name, 'wrong'), null, stepMs);
}

test('after the failures before the lock, even the right password waits', () => {
  const h = new Harness();
  h.create('alice');
  h.create('bob');
  failLogins(h, 'alice', LOGIN_FAILURES_BEFORE_LOCK);
  const message = h.fails('LOGIN_THROTTLED', h.loginRecord('alice'), null, 400);
  assert.equal(message, 'too many failed logins for this account; try again in 1 s');
  h.login('bob'); // another account is not affected
  h.machine.invariants();
});

test('attempts refused while locked do not extend the lock', () => {
  const h = new Harness();
  h.create('alice');
  failLogins(h, 'alice', LOGIN_FAILURES_BEFORE_LOCK); // locked for 1000 ms from the last
  for (let i = 0; i < 9; i++) h.fails('LOGIN_THROTTLED', h.loginRecord('alice', 'wrong'), null, 100);
  h.ok(h.loginRecord('alice'), null, 100); // 1000 ms after the last failure: let through
});

test('the lock doubles per further failure up to the cap, and a success ends the run', () => {
  const h = new Harness();
  h.create('alice');
  failLogins(h, 'alice', LOGIN_FAILURES_BEFORE_LOCK);
  for (const lock of [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]) {
    h.fails('LOGIN_THROTTLED', h.loginRecord('alice', 'wrong'), null, lock - 1);
    h.fails('AUTH_FAILED', h.loginRecord('alice', 'wrong'), null, 1); // exactly `lock` after the last failure
  }
  assert.match(h.fails('LOGIN_THROTTLED', h.loginRecord('alice'), null, 1), /try again in 60 s/);
  h.ok(h.loginRecord('alice'), null, 60_000);
  assert.deepEqual(h.machine.snapshot().loginFailures, [], 'the success ended the run');
  failLogins(h, 'alice', LOGIN_FAILURES_BEFORE_LOCK - 1);
  h.login('alice'); // a fresh run: no lock before the count
});

test('the throttle is replicated state: a snapshot carries it and a restored machine agrees', () => {
  const h = new Harness();
  h.create('alice');
  failLogins(h, 'alice', LOGIN_FAILURES_BEFORE_LOCK);
  const snapshot = h.machine.snapshot();
  assert.deepEqual(snapshot.loginFailures, [['alice', LOGIN_FAILURES_BEFORE_LOCK, h.at + 1_000]]);
  const restored = new Harness();
  restored.machine = ChatMachine.fromSnapshot(JSON.parse(JSON.stringify(snapshot)));
  restored.op = h.op;
  restored.at = h.at;
  const record = h.loginRecord('alice');
  assert.deepEqual(restored.apply(record, null, 500), h.apply(record, null, 500));
});
