// Login, both halves: what the primary checks when a login arrives (recordLogin), and what every
// replica does when it applies what the primary logged (login).
//
// The proof is checked once, by the primary, which issued the nonce and holds the account's
// verifier in its executed state. Only the outcome enters the log (LoginRecord in
// lib/chat/types.ts): next to the verifier, a proof would give away the key that logs in as the
// user (lib/auth/scram.ts). Applying the outcome still decides everything that depends on the
// replicated state at that point of the log: whether the account still exists, whether failed
// logins have locked it (lib/chat/throttle.ts), whether the verifier the proof matched is still
// the account's, and the session.
//
// Unlike the other handlers, a refused login can leave a trace: a failure counts towards the
// account's throttle, so that guessing costs the same on every replica and after a failover.

import { verifierFingerprint, verifyProof, type Verifier } from '../auth/scram.js';
import { TOKEN_HASH_PATTERN } from '../auth/tokens.js';
import type { ChatOutcome, ClientCommand, LoginRecord } from './types.js';
import { foldName } from './names.js';
import { fail, refuse, sessionEnded, succeed, type CommandOf } from './outcome.js';
import type { ChatState } from './state.js';
import { throttled } from './throttle.js';

/** One reply for an unknown name, a wrong password and a verifier that changed, so that a reply
 *  never tells which. */
const AUTH_FAILED = 'wrong name or password';

/** The primary's half: checks the proof of `command` against `verifier` — the account's in the
 *  primary's executed state, null if the name has none — and returns what the log records. The
 *  caller has checked that `command.nonce` is the one it gave this connection. The proof is
 *  checked against the folded name, so a client folds the name (lower-case A-Z) before it builds
 *  its AuthMessage. */
export function recordLogin(command: Extract<ClientCommand, { kind: 'login' }>, verifier: Verifier | null): LoginRecord {
  const { name, nonce, proof, tokenHash } = command;
  const folded = foldName(name);
  if (verifier === null || !folded.ok) return { kind: 'login', name, tokenHash, proven: null };
  const verdict = verifyProof(verifier, folded.name, nonce, proof);
  const proven = verdict.ok ? { fingerprint: verifierFingerprint(verifier), serverSignature: verdict.serverSignature } : null;
  return { kind: 'login', name, tokenHash, proven };
}

/** Every replica's half, in log order. Opens the session `tokenHash` for the account, unless it
 *  is already that account's: then the login is a client's retry after a failover (the first
 *  attempt committed, its reply was lost) and succeeds again without a second session. A token
 *  hash is unguessable, so a live one can belong to nobody else. The command's own `session` is
 *  ignored: logging in again from a logged-in connection just opens another session. */
export function login(state: ChatState, command: CommandOf<'login'>): ChatOutcome {
  const folded = foldName(command.name);
  if (!folded.ok) return refuse(folded.error);
  const { name } = folded;
  const { tokenHash, proven, at } = command;
  if (typeof tokenHash !== 'string' || !TOKEN_HASH_PATTERN.test(tokenHash)) {
    return fail('BAD_ARGUMENT', 'tokenHash must be 64 lower-case hex digits: the SHA-256 of the session token');
  }
  const tokenAccount = state.sessions.nameOf(tokenHash);
  if (tokenAccount !== null && tokenAccount !== name) return fail('BAD_ARGUMENT', 'that session token is already in use; draw a new one');
  if (!isProven(proven)) return fail('BAD_ARGUMENT', 'proven must be null or a verifier fingerprint and a server signature');
  const account = state.accounts.get(name);
  if (account === undefined) return fail('AUTH_FAILED', AUTH_FAILED);
  const wait = state.logins.waitAt(name, at);
  // Refused before the proof counts: a locked account gives no verdict, right or wrong.
  if (wait > 0) return refuse(throttled('for this account', wait));
  if (proven === null || proven.fingerprint !== verifierFingerprint(account.verifier)) {
    state.logins.fail(name, at);
    return fail('AUTH_FAILED', AUTH_FAILED);
  }

  state.logins.clear(name);
  const ended = tokenAccount === name ? [] : state.sessions.open(tokenHash, name);
  const result = { name, unread: account.mailbox.unreadCount, serverSignature: proven.serverSignature };
  return succeed<'login'>(result, ended.map(sessionEnded));
}

/** The shape of LoginRecord.proven. Only a broken primary sends another, but apply never throws
 *  on a command (lib/chat/machine.ts rule 2). */
function isProven(value: unknown): value is LoginRecord['proven'] {
  if (value === null) return true;
  if (typeof value !== 'object') return false;
  const { fingerprint, serverSignature } = value as Record<string, unknown>;
  return typeof fingerprint === 'string' && typeof serverSignature === 'string';
}
