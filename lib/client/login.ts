// The client's half of the SCRAM login (lib/auth/scram.ts has the mathematics): check the
// challenge a replica sent, build the login command for a session token, and check the
// replica's signature afterwards. Kept apart from the connector so that the rules are in one
// short place.

import { timingSafeEqual } from 'node:crypto';
import type { ClientCommand } from '../chat/types.js';
import { VERIFIER_ITERATIONS_MAX, VERIFIER_ITERATIONS_MIN } from '../chat/limits.js';
import { clientProof } from '../auth/scram.js';
import { hashToken } from '../auth/tokens.js';
import type { LoginStartResult } from '../protocol/messages.js';
import { ClientError } from './errors.js';

export interface LoginAttempt {
  command: Extract<ClientCommand, { kind: 'login' }>;
  /** The session token; only its hash is in `command`. Kept in memory, never written down. */
  token: string;
  /** What the replica must answer with if it really holds the account's verifier. */
  expectedSignature: string;
}

/** Builds the login command for `challenge`, the answer to a login-start that carried
 *  `clientNonce`. `name` must already be folded to lower case: it is signed as sent. `token` is
 *  the session token (lib/auth/tokens.ts newToken), drawn once per login and used again when the
 *  login starts over after a reconnect: if the first attempt committed and only its reply was
 *  lost, the cluster then answers with that session instead of opening a second one.
 *  Throws ClientError BAD_CHALLENGE for a challenge we must not answer. */
export function prepareLogin(name: string, password: string, token: string, clientNonce: string, challenge: LoginStartResult): LoginAttempt {
  // The nonce must extend ours (RFC 5802 §5.1): otherwise the proof could be for an exchange a
  // third party started. The iteration bound stops a hostile replica from making us spin.
  if (!challenge.nonce.startsWith(clientNonce) || challenge.nonce.length === clientNonce.length) {
    throw new ClientError('BAD_CHALLENGE', 'the login challenge does not extend our nonce');
  }
  if (challenge.iterations < VERIFIER_ITERATIONS_MIN || challenge.iterations > VERIFIER_ITERATIONS_MAX) {
    throw new ClientError('BAD_CHALLENGE', `the login challenge asks for ${challenge.iterations} iterations`);
  }
  const { nonce, salt, iterations } = challenge;
  const { proof, serverSignature } = clientProof(password, { name, nonce, salt, iterations });
  return { command: { kind: 'login', name, nonce, proof, tokenHash: hashToken(token) }, token, expectedSignature: serverSignature };
}

export function signatureMatches(attempt: LoginAttempt, serverSignature: string): boolean {
  const expected = Buffer.from(attempt.expectedSignature);
  const actual = Buffer.from(serverSignature);
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
