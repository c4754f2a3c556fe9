import { test } from 'node:test';
import assert from 'node:assert/strict';
import { authMessage, clientProof, decoySalt, DEFAULT_ITERATIONS, makeVerifier, newNonce, verifierFingerprint, verifyProof } from '../../../lib/auth/scram.js';
import { VERIFIER_ITERATIONS_MAX, VERIFIER_ITERATIONS_MIN } from '../../../lib/chat/limits.js';
import { hashToken, newToken, TOKEN_HASH_PATTERN, TOKEN_PATTERN } from '../../../lib/auth/tokens.js';

const ITERATIONS = 4096;

function login(password: string, verifierPassword: string, nonce = newNonce()) {
  const verifier = makeVerifier(verifierPassword, ITERATIONS);
  const { proof, serverSignature } = clientProof(password, { name: 'alice', nonce, salt: verifier.salt, iterations: verifier.iterations });
  return { verifier, nonce, proof, serverSignature, verdict: verifyProof(verifier, 'alice', nonce, proof) };
}

test('the right password proves itself and the server signature matches what the client expects', () => {
  const { verdict, serverSignature } = login('correct horse', 'correct horse');
  assert.equal(verdict.ok, true);
  assert.equal(verdict.ok && verdict.serverSignature, serverSignature);
});

test('a wrong password is refused', () => {
  assert.equal(login('wrong', 'correct horse').verdict.ok, false);
});

test('the verifier does not contain the password and differs per salt', () => {
  const a = makeVerifier('secret', ITERATIONS);
  const b = makeVerifier('secret', ITERATIONS);
  assert.ok(!JSON.stringify(a).includes('secret'));
  assert.notEqual(a.storedKey, b.storedKey);
});

test('a replayed proof fails against a new server nonce', () => {
  const first = login('pw', 'pw');
  assert.equal(first.verdict.ok, true);
  const replay = verifyProof(first.verifier, 'alice', newNonce(), first.proof);
  assert.equal(replay.ok, false);
});

test('a proof is bound to the account name', () => {
  const { verifier, nonce, proof } = login('pw', 'pw');
  assert.equal(verifyProof(verifier, 'mallory', nonce, proof).ok, false);
});

test('a malformed proof is refused, not thrown', () => {
  const { verifier, nonce } = login('pw', 'pw');
  assert.equal(verifyProof(verifier, 'alice', nonce, 'short').ok, false);
  assert.equal(verifyProof(verifier, 'alice', nonce, '').ok, false);
});

test('the auth message names every parameter', () => {
  assert.equal(authMessage('bob', 'n1', 's1', 4096), 'n=bob,r=n1,s=s1,i=4096');
});

test('decoy salts are stable per name and cluster secret, and differ between names and secrets', () => {
  const secret = 'the cluster secret, shared by every replica';
  assert.equal(decoySalt(secret, 'ghost'), decoySalt(secret, 'ghost'));
  assert.notEqual(decoySalt(secret, 'ghost'), decoySalt(secret, 'phantom'));
  assert.notEqual(decoySalt(secret, 'ghost'), decoySalt('another cluster secret, just as long', 'ghost'));
  assert.equal(Buffer.from(decoySalt(secret, 'ghost'), 'base64').length, 16, 'as long as a real salt');
});

test('the client makes verifiers with a current iteration count that any replica accepts', () => {
  assert.ok(DEFAULT_ITERATIONS >= 600_000, "OWASP's recommendation for PBKDF2-HMAC-SHA256");
  assert.ok(DEFAULT_ITERATIONS >= VERIFIER_ITERATIONS_MIN && DEFAULT_ITERATIONS <= VERIFIER_ITERATIONS_MAX);
});

test('a verifier fingerprint names the verifier: any field changed, another fingerprint', () => {
  const verifier = makeVerifier('pw', ITERATIONS);
  const fingerprint = verifierFingerprint(verifier);
  assert.equal(verifierFingerprint({ ...verifier }), fingerprint);
  for (const field of ['salt', 'storedKey', 'serverKey'] as const) {
    assert.notEqual(verifierFingerprint({ ...verifier, [field]: makeVerifier('other', ITERATIONS)[field] }), fingerprint, field);
  }
  assert.notEqual(verifierFingerprint({ ...verifier, iterations: verifier.iterations + 1 }), fingerprint);
});


test('tokens are random 256-bit hex and hash to 64 hex digits', () => {
  const t1 = newToken();
  const t2 = newToken();
  assert.match(t1, TOKEN_PATTERN);
  assert.notEqual(t1, t2);
  assert.match(hashToken(t1), TOKEN_HASH_PATTERN);
  assert.equal(hashToken(t1), hashToken(t1));
});
