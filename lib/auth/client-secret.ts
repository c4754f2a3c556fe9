// A client's secret: what makes a client id in the replicated client table its own
// (docs/protocol.md, "Exactly once"). The connector draws it beside its random client id and sends
// it on `register` and on every `call`; the replica keeps only a SHA-256 fingerprint of it, the
// *owner*, which goes into the log and the client table. A request whose secret hashes to another
// owner than the one that registered the id is refused, so knowing a client id is not enough to
// read its saved replies or to run commands in its name.
//
// The secret is 256 random bits, like a session token, so the same plain SHA-256 suffices as the
// stored form (no salt or slow hash needed for random secrets) and the same format is used:
// 64 lower-case hex digits.

import { hashToken, newToken, TOKEN_PATTERN } from './tokens.js';

/** A client secret on the wire: 64 lower-case hex digits (32 random bytes). */
export const CLIENT_SECRET_PATTERN = TOKEN_PATTERN;

export function newClientSecret(): string {
  return newToken();
}

/** Hex digits of the owner fingerprint: 128 bits. The owner is only ever compared, so what it
 *  must resist is finding a secret with a given fingerprint — 2^128 tries at 128 bits. Every log
 *  entry and client-table row carries one, so the other half of the hash would only cost bytes
 *  on every PREPARE and journal record. */
const OWNER_HEX_DIGITS = 32;

/** The owner fingerprint the replicas store for a client secret: the first 128 bits of its
 *  SHA-256, 32 hex digits. */
export function ownerOf(clientSecret: string): string {
  return hashToken(clientSecret).slice(0, OWNER_HEX_DIGITS);
}
