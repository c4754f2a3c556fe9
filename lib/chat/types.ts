// The chat state machine's vocabulary: the commands that enter the replicated log and the
// results they produce. Everything here is plain JSON so that a command can be logged,
// replicated and replayed byte for byte.
//
// Determinism rule: a command carries every value the state machine would otherwise have to
// invent — the time (`at`, chosen by the primary when it admits the request) and the caller's
// session (`session`, the hash of the token the connection logged in with); for a login, the
// primary's verdict on the proof (LoginRecord), since the proof itself is never logged. The
// state machine reads no clock, draws no random number and does no I/O.

import type { Verifier } from '../auth/scram.js';

/** A command as the client asks for it (validated by lib/protocol/codec.ts). A login carries
 *  the SCRAM proof (lib/auth/scram.ts) for the nonce the primary gave this connection. */
export type ClientCommand =
  | { kind: 'create'; name: string; verifier: Verifier }
  | { kind: 'login'; name: string; nonce: string; proof: string; tokenHash: string }
  | { kind: 'logout' }
  | { kind: 'list'; pattern: string; page: number }
  | { kind: 'send'; to: string; text: string }
  | { kind: 'read'; count: number }
  | { kind: 'delete'; ids: number[] }
  | { kind: 'delete-account' }
  | { kind: 'ack'; ids: number[] };

/** A login as the log holds it: the outcome of the primary's proof check (lib/chat/login.ts
 *  recordLogin), never the nonce or the proof — with the account's verifier, a proof gives the
 *  key that logs in as the user. A failed check is logged too, so that every replica counts it
 *  towards the account's throttle. */
export interface LoginRecord {
  kind: 'login';
  /** As the client sent it; folded when applied. */
  name: string;
  /** SHA-256 of the session token (lib/auth/tokens.ts): the session the login opens. */
  tokenHash: string;
  /** null: the proof failed, or the name had no account (one outcome, as in the reply). Else
   *  which verifier the proof matched (lib/auth/scram.ts verifierFingerprint), so that a login
   *  checked against a verifier the account no longer has fails when applied, and the
   *  ServerSignature, public, which the reply carries to the client — so a reply answered again
   *  from the client table after a failover still convinces it. */
  proven: { fingerprint: string; serverSignature: string } | null;
}

/** A client's command as logged: as the client sent it, except a login (LoginRecord). */
export type LoggedCommand = Exclude<ClientCommand, { kind: 'login' }> | LoginRecord;

/** What the primary puts in the log: the command plus the values the primary chose.
 *  `session` is the token hash the connection is bound to, or null before login. */
export type ChatCommand = LoggedCommand & { at: number; session: string | null };

export interface StoredMessage {
  id: number;
  from: string;
  to: string;
  text: string;
  /** Milliseconds since the epoch, as chosen by the primary that admitted the send. */
  at: number;
}

/** The successful result of each command kind. */
export interface ChatResults {
  create: { name: string };
  login: { name: string; unread: number; serverSignature: string };
  logout: Record<string, never>;
  list: { names: string[]; page: number; pages: number; total: number };
  send: { id: number; to: string; at: number };
  read: { messages: StoredMessage[]; remaining: number };
  delete: { deleted: number[] };
  'delete-account': { name: string };
  ack: { acked: number[] };
}

export type ChatErrorCode =
  | 'BAD_NAME' // name breaks the naming rules
  | 'NAME_TAKEN' // account exists (or existed: names are never reused)
  | 'BAD_VERIFIER' // verifier fields malformed or too weak
  | 'AUTH_FAILED' // unknown user or wrong proof: deliberately the same error
  | 'LOGIN_THROTTLED' // too many failed logins for the account (or on the connection); wait
  | 'NOT_LOGGED_IN' // command needs a session and the connection has none (or it was revoked)
  | 'UNKNOWN_USER' // recipient does not exist
  | 'BAD_MESSAGE' // empty or too long
  | 'BAD_PATTERN'
  | 'BAD_ARGUMENT'
  | 'NOT_FOUND' // message id not in the caller's mailbox
  | 'MAILBOX_FULL';

export interface ChatError {
  code: ChatErrorCode;
  message: string;
}

/** The reply the state machine computes for a command: saved in the client table and sent to
 *  the client, so it must be the same on every replica. */
export type ChatReply =
  | { ok: true; result: ChatResults[keyof ChatResults] }
  | { ok: false; error: ChatError };

/** Side effects for the I/O shell, never saved: messages to push to recipients that are
 *  online, sessions whose connections must be unbound. Computed identically everywhere, used
 *  only by the primary. */
export type ChatEvent =
  | { kind: 'deliver'; message: StoredMessage }
  | { kind: 'session-ended'; session: string };

export interface ChatOutcome {
  reply: ChatReply;
  events: ChatEvent[];
}
