// Password login without the password on the wire: a SCRAM-SHA-256-style challenge-response
// (RFC 5802, RFC 7677), reduced to what Chat+ needs.
//
//   create:  the client draws a salt, derives SaltedPassword = PBKDF2(password, salt, i) and
//            sends only StoredKey = H(HMAC(SaltedPassword, "Client Key")) and
//            ServerKey = HMAC(SaltedPassword, "Server Key").
//   login 1: client → name + client nonce; server → salt, iterations, client nonce + server nonce.
//   login 2: client → ClientProof = ClientKey XOR HMAC(StoredKey, AuthMessage);
//            server recomputes ClientKey = proof XOR HMAC(StoredKey, AuthMessage) and checks
//            H(ClientKey) = StoredKey; its answer ServerSignature = HMAC(ServerKey, AuthMessage)
//            proves to the client that the server knew the verifier.
// The server nonce makes every AuthMessage new, so a recorded proof is useless later.
//
// What a replica keeps cannot log in as the user. It keeps the verifier, and a verifier checks
// proofs but cannot make one: that takes ClientKey. ClientKey is in a proof (XOR the HMAC above,
// which StoredKey gives), so whoever holds both a proof and the verifier holds ClientKey — and
// that is why no proof is ever written down. The primary checks the proof in memory when the
// login arrives (lib/chat/login.ts recordLogin) and the replicated log, the snapshots and the
// messages between replicas carry only the outcome: the account, the session's token hash,
// verifierFingerprint() of the verifier that was checked, and the ServerSignature. Only the
// connection from the client carries a proof — plain TCP, so an eavesdropper who also saw the
// account's create could log in (docs/protocol.md says so).

import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

/** The verifier a client derives from its password at account creation (SCRAM, RFC 5802 §3).
 *  The server keeps only this; the password itself never crosses the wire. Binary values are
 *  base64. */
export interface Verifier {
  salt: string;
  iterations: number;
  storedKey: string;
  serverKey: string;
}

/** PBKDF2-HMAC-SHA256 iterations for a verifier the client makes: OWASP's current recommendation
 *  (600,000; RFC 7677's 4096 is the server's minimum, lib/chat/limits.ts). About 0.1 s of one
 *  core per create or login for the user; every guess costs an attacker who stole a verifier the
 *  same. Tests pass fewer (makeVerifier's argument, the connector's verifierIterations). */
export const DEFAULT_ITERATIONS = 600_000;
const SALT_BYTES = 16;
const NONCE_BYTES = 18;

const hmac = (key: Buffer, text: string): Buffer => createHmac('sha256', key).update(text).digest();
const sha256 = (data: Buffer): Buffer => createHash('sha256').update(data).digest();

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

/** The string both sides sign. It binds the proof to this account, this exchange's nonce and
 *  the verifier parameters the server announced. */
export function authMessage(name: string, nonce: string, salt: string, iterations: number): string {
  return `n=${name},r=${nonce},s=${salt},i=${iterations}`;
}

function saltedPassword(password: string, salt: string, iterations: number): Buffer {
  return pbkdf2Sync(password.normalize('NFKC'), Buffer.from(salt, 'base64'), iterations, 32, 'sha256');
}

/** Client side of account creation: the verifier to send instead of the password. */
export function makeVerifier(password: string, iterations = DEFAULT_ITERATIONS, salt = randomBytes(SALT_BYTES)): Verifier {
  const saltText = salt.toString('base64');
  const salted = saltedPassword(password, saltText, iterations);
  const clientKey = hmac(salted, 'Client Key');
  return {
    salt: saltText,
    iterations,
    storedKey: sha256(clientKey).toString('base64'),
    serverKey: hmac(salted, 'Server Key').toString('base64'),
  };
}

/** Client side of login step 2: the proof to send and the server signature to expect back. */
export function clientProof(
  password: string,
  challenge: { name: string; nonce: string; salt: string; iterations: number },
): { proof: string; serverSignature: string } {
  const salted = saltedPassword(password, challenge.salt, challenge.iterations);
  const clientKey = hmac(salted, 'Client Key');
  const storedKey = sha256(clientKey);
  const message = authMessage(challenge.name, challenge.nonce, challenge.salt, challenge.iterations);
  return {
    proof: xor(clientKey, hmac(storedKey, message)).toString('base64'),
    serverSignature: hmac(hmac(salted, 'Server Key'), message).toString('base64'),
  };
}

/** Server side of login step 2: run by the primary alone, when the login arrives. */
export function verifyProof(
  verifier: Verifier,
  name: string,
  nonce: string,
  proof: string,
): { ok: true; serverSignature: string } | { ok: false } {
  const storedKey = Buffer.from(verifier.storedKey, 'base64');
  const proofBytes = Buffer.from(proof, 'base64');
  if (proofBytes.length !== storedKey.length) return { ok: false };
  const message = authMessage(name, nonce, verifier.salt, verifier.iterations);
  const clientKey = xor(proofBytes, hmac(storedKey, message));
  if (!timingSafeEqual(sha256(clientKey), storedKey)) return { ok: false };
  const serverSignature = hmac(Buffer.from(verifier.serverKey, 'base64'), message).toString('base64');
  return { ok: true, serverSignature };
}

/** A fresh random nonce (base64url, no ',' or '='), for either side of the exchange. */
export function newNonce(): string {
  return randomBytes(NONCE_BYTES).toString('base64url');
}

/** Names the verifier a proof was checked against, for the log: SHA-256 over its four fields.
 *  A login is checked at the primary and applied later by every replica; the fingerprint lets
 *  them refuse it if the account's verifier changed in between. It is no secret: the verifier it
 *  digests is in the account's create record already. */
export function verifierFingerprint(verifier: Verifier): string {
  const fields = JSON.stringify([verifier.salt, verifier.iterations, verifier.storedKey, verifier.serverKey]);
  return sha256(Buffer.from(fields, 'utf8')).toString('base64');
}

/** A plausible salt for a name that has no account, so that login step 1 does not reveal
 *  which names exist: derived from the cluster secret, so every replica gives the same answer
 *  for the same name and a failover changes nothing. The "chatplus-decoy-v1" prefix keeps these
 *  HMACs apart from the peer handshake's (lib/server/peer-handshake.ts), made with the same
 *  secret. */
export function decoySalt(clusterSecret: string, name: string): string {
  return hmac(Buffer.from(clusterSecret, 'utf8'), `chatplus-decoy-v1\n${name}`).subarray(0, SALT_BYTES).toString('base64');
}
