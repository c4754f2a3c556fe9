// The client protocol: every frame a client and a replica exchange. Each frame is one JSON
// object inside a length-prefixed frame (lib/transport/frame.ts). docs/protocol.md describes each
// one for people; lib/protocol/codec.ts checks each one for machines.
//
// Every request has a numeric `id` chosen by the client; the reply names the same id. Pushes
// (`type: 'push'`, a message for the logged-in user) and announcements (`type: 'primary'`, where
// the primary now is) are sent by the replica unasked and carry no id.

import type { ChatReply, ClientCommand, StoredMessage } from '../chat/types.js';

/** 2: hello answers with the cluster's members, and replicas announce a new primary. */
export const PROTOCOL_VERSION = 2;

/** Most members a hello answer or an announcement may list (the largest cluster is 7 replicas;
 *  the rest is room for a later change of membership). A client refuses a longer list. */
export const MEMBERS_MAX = 16;

/** Largest frame a client may send. Checked before the body is buffered. */
export const CLIENT_FRAME_BYTES_MAX = 64 * 1024;
/** Largest frame a replica sends a client. Larger than any request, because a `read` reply
 *  carries up to READ_REPLY_BYTES_MAX of messages (lib/chat/limits.ts) plus the envelope. */
export const SERVER_FRAME_BYTES_MAX = 1024 * 1024;

export type ClientFrame =
  /** First frame on a connection: checks the version and learns who the primary is. */
  | { type: 'hello'; id: number; version: number }
  /** Registers a client session in the replicated client table (VR §4). `clientId` is 32 hex
   *  digits the client drew at random; its request numbers then start at 1. `clientSecret` is
   *  64 hex digits (32 random bytes) drawn with it and kept by the client: the id is registered
   *  to the secret's SHA-256 (lib/auth/client-secret.ts), and every call must carry the same
   *  secret. The replica never logs, stores or forwards the secret itself. */
  | { type: 'register'; id: number; clientId: string; clientSecret: string }
  /** Step 1 of login: asks for the account's salt and iteration count and a server nonce.
   *  Answered by the primary from its state, not through the log. */
  | { type: 'login-start'; id: number; name: string; clientNonce: string }
  /** Binds this connection to an existing login session (after a reconnect or failover) and
   *  asks for pushes of unread messages with an id above `lastSeen`. */
  | { type: 'resume'; id: number; token: string; lastSeen: number }
  /** A command that goes through the replicated log, exactly once per (clientId, requestNumber),
   *  with the secret the clientId was registered with. */
  | { type: 'call'; id: number; clientId: string; clientSecret: string; requestNumber: number; command: ClientCommand };

export type ErrorCode =
  // Framing and shape: the frame was not a valid request.
  | 'BAD_FRAME'
  | 'BAD_REQUEST'
  | 'UNKNOWN_TYPE'
  | 'UNKNOWN_COMMAND'
  | 'BAD_VERSION'
  // Replication: the request did not reach a primary that could order it.
  | 'NOT_PRIMARY' // try `primary` (a replica id and its client address) instead
  | 'VIEW_CHANGE' // no primary right now; retry shortly
  | 'SESSION_EXPIRED' // clientId unknown to the client table (never registered, or evicted)
  | 'STALE_REQUEST' // requestNumber below the latest one the client table has for this client
  | 'BUSY' // too many requests in flight; retry shortly
  | 'NOT_OWNER' // clientId is registered with another clientSecret
  | 'CLIENT_TABLE_FULL' // register refused: every row of the client table is in use
  | 'TOO_MANY_CONNECTIONS' // the replica holds as many client connections as it may; this one is closed
  // Session binding.
  | 'BAD_TOKEN'
  // The chat state machine's own errors (lib/chat/types.ts ChatErrorCode).
  | import('../chat/types.js').ChatErrorCode;

export interface ErrorBody {
  code: ErrorCode;
  message: string;
}

/** Where the primary is, as far as the answering replica knows. */
export interface PrimaryHint {
  replica: number;
  view: number;
  /** "host:port" of the primary's client listener, or null if unknown. */
  address: string | null;
}

export type ServerFrame =
  | { type: 'reply'; id: number; ok: true; result: HelloResult | RegisterResult | LoginStartResult | ResumeResult | CallResult }
  | { type: 'reply'; id: number; ok: false; error: ErrorBody; primary?: PrimaryHint }
  | { type: 'push'; message: StoredMessage }
  | Announcement;

/** Sent unasked by a replica to every client connected to it as soon as it reaches status normal
 *  in a view — as that view's primary or as a backup — so that a client waiting there for a new
 *  primary goes straight to it instead of searching. `primary.address` is never null here. */
export interface Announcement {
  type: 'primary';
  primary: PrimaryHint;
  /** The client addresses of the cluster's members, as in HelloResult. */
  members: string[];
}

export interface HelloResult {
  version: number;
  replica: number;
  view: number;
  primary: PrimaryHint;
  /** The client addresses ("host:port") of every replica in the cluster, this one included: a
   *  client given one address learns the rest here. A later change of membership is a new list. */
  members: string[];
}
type RegisterResult = Record<string, never>;
export interface LoginStartResult {
  salt: string;
  iterations: number;
  /** The client's nonce followed by the server's (RFC 5802 §5.1 "r="). */
  nonce: string;
}
export interface ResumeResult {
  name: string;
  unread: number;
}
/** A `call` reply carries the chat state machine's reply unchanged. */
type CallResult = Extract<ChatReply, { ok: true }>['result'];
