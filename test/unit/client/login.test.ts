// The client's half of SCRAM login, checked against the server's half in lib/auth/scram.ts.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeVerifier, verifyProof } from '../../../lib/auth/scram.js';
import { hashToken, newToken } from '../../../lib/auth/tokens.js';
import { ClientError } from '../../../lib/client/errors.js';
import { prepareLogin, signatureMatches } from '../../../lib/client/login.js';

const verifier = makeVerifier('correct horse', 4096);
const challenge = { salt: verifier.salt, iterations: verifier.iterations, nonce: 'client-nonce-server-part' };
const token = newToken();

test('the proof convinces the server, and the server signature convinces the client', () => {
  const attempt = prepareLogin('alice', 'correct horse', token, 'client-nonce', challenge);
  assert.equal(attempt.token, token);
  assert.equal(attempt.command.tokenHash, hashToken(token), 'only the hash of the token is sent');
  const verdict = verifyProof(verifier, 'alice', challenge.nonce, attempt.command.proof);
  assert.ok(verdict.ok);
  assert.equal(signatureMatches(attempt, verdict.serverSignature), true);
  assert.equal(signatureMatches(attempt, Buffer.alloc(32).toString('base64')), false);
  assert.equal(signatureMatches(attempt, ''), false);
});

test('a wrong password gives a proof the server refuses', () => {
  const attempt = prepareLogin('alice', 'wrong', token, 'client-nonce', challenge);
  assert.equal(verifyProof(verifier, 'alice', challenge.nonce, attempt.command.proof).ok, false);
});

test('a login started over keeps its token and answers the new challenge', () => {
  const first = prepareLogin('alice', 'correct horse', token, 'client-nonce', challenge);
  const again = prepareLogin('alice', 'correct horse', token, 'other-nonce', { ...challenge, nonce: 'other-nonce-server-part' });
  assert.equal(again.command.tokenHash, first.command.tokenHash, 'the same session, so no orphan');
  assert.notEqual(again.command.proof, first.command.proof);
  assert.notEqual(again.expectedSignature, first.expectedSignature);
});

function refused(change: Partial<typeof challenge>, reason: RegExp): void {
  assert.throws(
    () => prepareLogin('alice', 'correct horse', token, 'client-nonce', { ...challenge, ...change }),
    (error: unknown) => error instanceof ClientError && error.code === 'BAD_CHALLENGE' && reason.test(error.message),
  );
}

test('a challenge that does not extend our nonce, or asks absurd work, is refused', () => {
  refused({ nonce: 'other-nonce-entirely' }, /does not extend our nonce/);
  refused({ nonce: 'client-nonce' }, /does not extend our nonce/);
  refused({ iterations: 1 }, /asks for 1 iterations/);
  refused({ iterations: 1_000_000_000 }, /asks for 1000000000 iterations/);
});
