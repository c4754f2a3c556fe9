// Checking the SCRAM verifier a client sends at account creation (lib/auth/scram.ts explains
// what its fields are). The server cannot tell a good password from a bad one — it never sees
// the password — but it can refuse verifiers that are malformed or too cheap to attack, and it
// must refuse anything that would make verifyProof misbehave later.

import type { Verifier } from '../auth/scram.js';
import type { ChatError } from './types.js';
import {
  VERIFIER_ITERATIONS_MAX,
  VERIFIER_ITERATIONS_MIN,
  VERIFIER_SALT_BYTES_MAX,
  VERIFIER_SALT_BYTES_MIN,
} from './limits.js';

/** SHA-256 output: StoredKey and ServerKey are exactly this long. */
const KEY_BYTES = 32;

/** Canonical padded base64 (RFC 4648 §4). Buffer.from(text, 'base64') silently skips junk, so
 *  the text is checked against this first. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The number of bytes `text` decodes to, or null if it is not canonical base64 of at most
 *  `bytesMax` bytes. The length is checked before the pattern so that a huge string is refused
 *  without being scanned. */
function base64Bytes(text: unknown, bytesMax: number): number | null {
  if (typeof text !== 'string' || text.length > 4 * Math.ceil(bytesMax / 3)) return null;
  if (!BASE64.test(text)) return null;
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  const bytes = (text.length / 4) * 3 - padding;
  return bytes <= bytesMax ? bytes : null;
}

function refuse(message: string): { ok: false; error: ChatError } {
  return { ok: false, error: { code: 'BAD_VERIFIER', message } };
}

/** Checks a verifier from a client and returns a fresh copy holding exactly its four fields,
 *  so that stray extra fields never reach the state or the snapshot. */
export function checkVerifier(raw: unknown): { ok: true; verifier: Verifier } | { ok: false; error: ChatError } {
  if (typeof raw !== 'object' || raw === null) return refuse('the verifier must be an object');
  const { salt, iterations, storedKey, serverKey } = raw as Record<string, unknown>;
  if (typeof iterations !== 'number' || !Number.isInteger(iterations) ||
      iterations < VERIFIER_ITERATIONS_MIN || iterations > VERIFIER_ITERATIONS_MAX) {
    return refuse(`iterations must be an integer from ${VERIFIER_ITERATIONS_MIN} to ${VERIFIER_ITERATIONS_MAX}`);
  }
  const saltBytes = base64Bytes(salt, VERIFIER_SALT_BYTES_MAX);
  if (saltBytes === null || saltBytes < VERIFIER_SALT_BYTES_MIN) {
    return refuse(`salt must be base64 of ${VERIFIER_SALT_BYTES_MIN} to ${VERIFIER_SALT_BYTES_MAX} bytes`);
  }
  if (base64Bytes(storedKey, KEY_BYTES) !== KEY_BYTES || base64Bytes(serverKey, KEY_BYTES) !== KEY_BYTES) {
    return refuse(`storedKey and serverKey must each be base64 of exactly ${KEY_BYTES} bytes`);
  }
  // The checks above proved these are strings; the casts only tell the compiler.
  const verifier = { salt: salt as string, iterations, storedKey: storedKey as string, serverKey: serverKey as string };
  return { ok: true, verifier };
}
