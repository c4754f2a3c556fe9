// Login session tokens. The client draws the token and sends only its hash when it logs in, so
// the replicated log, the snapshots and every reply hold hashes alone; the token itself crosses
// the wire only when a connection resumes the session. A token is 256 random bits, so a plain
// SHA-256 is enough as the stored form (no salt or slow hash needed for random secrets).

import { createHash, randomBytes } from 'node:crypto';

const TOKEN_BYTES = 32;
/** Hex SHA-256: 64 lower-case hex digits. */
export const TOKEN_HASH_PATTERN = /^[0-9a-f]{64}$/;
/** Hex token: 64 lower-case hex digits. */
export const TOKEN_PATTERN = /^[0-9a-f]{64}$/;

export function newToken(): string {
  return randomBytes(TOKEN_BYTES).toString('hex');
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}
