// Account names and the wildcard patterns `list` accepts.
//
// Names are case-insensitive: "Alice" and "alice" are one account. We fold on the way in and
// keep only the folded form, so every later comparison is a plain string comparison and every
// replica stores byte-identical names.

import type { ChatError } from './types.js';
import { LIST_PATTERN_CHARS, LIST_PATTERN_LENGTH_MAX, NAME_LENGTH_MAX, NAME_PATTERN } from './limits.js';

type FoldedName = { ok: true; name: string } | { ok: false; error: ChatError };
type FoldedPattern = { ok: true; pattern: string } | { ok: false; error: ChatError };

const NAME_RULE =
  `a name is 1 to ${NAME_LENGTH_MAX} characters: a letter, then letters, digits, '_', '.' or '-' ` +
  `(upper and lower case are the same name)`;

const PATTERN_RULE =
  `a pattern is at most ${LIST_PATTERN_LENGTH_MAX} characters of letters, digits, '_', '.', '-', ` +
  `'*' (any run of characters) and '?' (one character)`;

const ASCII_UPPER = /[A-Z]/g;

/** Lower-cases A-Z only. String.prototype.toLowerCase would also fold some non-ASCII letters
 *  into ASCII (U+212A KELVIN SIGN becomes 'k'), letting a look-alike name reach an existing
 *  account; folding ASCII alone leaves such characters in place, where the pattern refuses them. */
function foldAscii(text: string): string {
  return text.replace(ASCII_UPPER, (letter) => letter.toLowerCase());
}

/** Checks and case-folds an account name. Total over any input: a non-string is refused, not
 *  thrown on, because commands come from clients. */
export function foldName(raw: unknown): FoldedName {
  // Length first: a name is short, so a long string is refused before any scan of it.
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > NAME_LENGTH_MAX) {
    return { ok: false, error: { code: 'BAD_NAME', message: NAME_RULE } };
  }
  const name = foldAscii(raw);
  if (!NAME_PATTERN.test(name)) return { ok: false, error: { code: 'BAD_NAME', message: NAME_RULE } };
  return { ok: true, name };
}

/** Checks and case-folds a `list` pattern; the empty pattern means '*' (everyone). */
export function foldPattern(raw: unknown): FoldedPattern {
  if (typeof raw !== 'string' || raw.length > LIST_PATTERN_LENGTH_MAX) {
    return { ok: false, error: { code: 'BAD_PATTERN', message: PATTERN_RULE } };
  }
  const pattern = foldAscii(raw);
  if (!LIST_PATTERN_CHARS.test(pattern)) {
    return { ok: false, error: { code: 'BAD_PATTERN', message: PATTERN_RULE } };
  }
  return { ok: true, pattern: pattern === '' ? '*' : pattern };
}

/** True if `name` matches `pattern`, where '*' matches any run of characters (even none) and
 *  '?' exactly one. Both must already be folded.
 *
 *  The classic two-pointer glob: walk both strings; on a '*' remember where it was and try
 *  matching it against nothing; on a mismatch, go back to the last '*' and let it swallow one
 *  more character. Only the last '*' is ever revisited: whatever an earlier '*' could have
 *  absorbed, the later one can absorb instead, so earlier choices never need undoing. That
 *  bounds the work by |pattern| x |name| steps, where a recursive matcher is exponential in the
 *  number of stars ('*a*a*a*a*b' against 'aaaa…'). */
export function matchWildcard(pattern: string, name: string): boolean {
  let p = 0; // next pattern character to match
  let n = 0; // next name character to match
  let star = -1; // position of the last '*' seen in the pattern, or -1
  let starFrom = 0; // the name position that '*' currently stops before
  while (n < name.length) {
    const wanted = pattern[p];
    if (wanted === '*') {
      star = p++;
      starFrom = n; // first try: the star matches nothing
    } else if (wanted === '?' || (wanted !== undefined && wanted === name[n])) {
      p++;
      n++;
    } else if (star >= 0) {
      p = star + 1;
      n = ++starFrom; // the star swallows one more character
    } else {
      return false;
    }
  }
  while (pattern[p] === '*') p++; // trailing stars match the empty rest
  return p === pattern.length;
}
