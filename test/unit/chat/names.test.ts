import { test } from 'node:test';
import assert from 'node:assert/strict';
import { foldName, foldPattern, matchWildcard } from '../../../lib/chat/names.js';
import { LIST_PATTERN_LENGTH_MAX, NAME_LENGTH_MAX } from '../../../lib/chat/limits.js';

function folded(raw: unknown): string | null {
  const result = foldName(raw);
  return result.ok ? result.name : null;
}

test('names fold to lower case', () => {
  assert.equal(folded('Alice'), 'alice');
  assert.equal(folded('BOB_2.x-y'), 'bob_2.x-y');
  assert.equal(folded('a'), 'a');
  assert.equal(folded('A'.repeat(NAME_LENGTH_MAX)), 'a'.repeat(NAME_LENGTH_MAX));
});

test('a bad name is refused with BAD_NAME and the rule', () => {
  for (const raw of ['', 'a'.repeat(NAME_LENGTH_MAX + 1), '1abc', '_abc', 'al ice', 'ali!ce', 'élan', 'a\n', 42, null, undefined, {}]) {
    const result = foldName(raw);
    assert.equal(result.ok, false, `accepted ${JSON.stringify(raw)}`);
    assert.equal(!result.ok && result.error.code, 'BAD_NAME');
    assert.match(!result.ok ? result.error.message : '', /1 to 32 characters/);
  }
});

test('only A-Z fold: a non-ASCII letter that lower-cases to ASCII is refused, not folded', () => {
  // U+212A KELVIN SIGN lower-cases to 'k'; folding it would let "\u212Aim" log in as "kim".
  assert.equal('\u212Aim'.toLowerCase(), 'kim');
  assert.equal(folded('\u212Aim'), null);
  assert.equal(folded('\u0130van'), null); // İ
});

test('patterns fold, and the empty pattern means everyone', () => {
  assert.deepEqual(foldPattern('A*'), { ok: true, pattern: 'a*' });
  assert.deepEqual(foldPattern(''), { ok: true, pattern: '*' });
  assert.deepEqual(foldPattern('?' + '*'.repeat(LIST_PATTERN_LENGTH_MAX - 1)).ok, true);
});

test('a bad pattern is refused with BAD_PATTERN', () => {
  for (const raw of ['a b', 'a[bc]', 'x'.repeat(LIST_PATTERN_LENGTH_MAX + 1), 'a+', 7, null]) {
    const result = foldPattern(raw);
    assert.equal(!result.ok && result.error.code, 'BAD_PATTERN', `accepted ${JSON.stringify(raw)}`);
  }
});

test("'*' matches any name, including the shortest", () => {
  for (const name of ['a', 'alice', 'b'.repeat(32)]) assert.ok(matchWildcard('*', name));
  assert.ok(matchWildcard('**', 'a'));
});

test("'?' matches exactly one character", () => {
  assert.ok(matchWildcard('?', 'a'));
  assert.ok(!matchWildcard('?', 'ab'));
  assert.ok(matchWildcard('a?c', 'abc'));
  assert.ok(!matchWildcard('a?c', 'ac'));
  assert.ok(matchWildcard('??*', 'ab'));
  assert.ok(!matchWildcard('??*', 'a'));
});

test("'a*b*c' needs a, then b, then c, with anything between", () => {
  assert.ok(matchWildcard('a*b*c', 'abc'));
  assert.ok(matchWildcard('a*b*c', 'axxbyyc'));
  assert.ok(matchWildcard('a*b*c', 'abcbc'));
  assert.ok(!matchWildcard('a*b*c', 'acb'));
  assert.ok(!matchWildcard('a*b*c', 'abcd'));
  assert.ok(!matchWildcard('a*b*c', 'xabc'));
});

test('no wildcard means an exact match; no match is false', () => {
  assert.ok(matchWildcard('alice', 'alice'));
  assert.ok(!matchWildcard('alice', 'alicia'));
  assert.ok(!matchWildcard('alice', 'alic'));
  assert.ok(!matchWildcard('z*', 'alice'));
  assert.ok(!matchWildcard('*z', 'alice'));
  assert.ok(matchWildcard('*ice', 'alice'));
  assert.ok(matchWildcard('al*', 'al'));
});

test('a pattern of many stars against a long name finishes (no exponential backtracking)', () => {
  // A recursive matcher tries every way to split the name among the stars: here that is
  // C(63, 31) ≈ 10^18 attempts. The two-pointer matcher does at most |pattern| × |name| steps.
  const pattern = '*a'.repeat(31) + '*b'; // 64 characters, the longest pattern allowed
  assert.equal(pattern.length, LIST_PATTERN_LENGTH_MAX);
  const name = 'a'.repeat(NAME_LENGTH_MAX);
  assert.ok(!matchWildcard(pattern, name));
  assert.ok(matchWildcard(pattern, 'a'.repeat(NAME_LENGTH_MAX - 1) + 'b'));
});
