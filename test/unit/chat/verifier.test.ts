import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkVerifier } from '../../../lib/chat/verifier.js';
import { VERIFIER_ITERATIONS_MAX, VERIFIER_ITERATIONS_MIN, VERIFIER_SALT_BYTES_MAX } from '../../../lib/chat/limits.js';
import { verifierFor } from './harness.js';

const good = verifierFor('pw');
const base64 = (bytes: number) => Buffer.alloc(bytes, 7).toString('base64');

function refusal(raw: unknown): string | null {
  const result = checkVerifier(raw);
  if (result.ok) return null;
  assert.equal(result.error.code, 'BAD_VERIFIER');
  return result.error.message;
}

test('a verifier made by lib/auth is accepted and copied field by field', () => {
  const result = checkVerifier({ ...good, extra: 'dropped' });
  assert.ok(result.ok);
  assert.deepEqual(result.verifier, good);
  assert.deepEqual(Object.keys(result.verifier), ['salt', 'iterations', 'storedKey', 'serverKey']);
});

test('iterations must be a whole number within the limits', () => {
  assert.equal(checkVerifier({ ...good, iterations: VERIFIER_ITERATIONS_MAX }).ok, true);
  for (const iterations of [VERIFIER_ITERATIONS_MIN - 1, VERIFIER_ITERATIONS_MAX + 1, 4096.5, '4096', null]) {
    assert.match(refusal({ ...good, iterations }) ?? '', /iterations/);
  }
});

test('the salt must be canonical base64 of 16 to 64 bytes', () => {
  assert.equal(checkVerifier({ ...good, salt: base64(VERIFIER_SALT_BYTES_MAX) }).ok, true);
  for (const salt of [base64(15), base64(VERIFIER_SALT_BYTES_MAX + 1), 'not base64 at all!!!!!!!', good.salt.slice(0, -1), 12, '']) {
    assert.match(refusal({ ...good, salt }) ?? '', /salt/, `accepted salt ${JSON.stringify(salt)}`);
  }
});

test('storedKey and serverKey must be base64 of exactly 32 bytes', () => {
  for (const key of [base64(31), base64(33), base64(32).replace('=', '*'), undefined]) {
    assert.match(refusal({ ...good, storedKey: key }) ?? '', /storedKey/);
    assert.match(refusal({ ...good, serverKey: key }) ?? '', /serverKey/);
  }
});

test('something that is not an object is refused', () => {
  for (const raw of [null, 'verifier', 3, undefined]) assert.ok(refusal(raw) !== null);
});
