// Every limit of the chat service, named in one place and documented in docs/protocol.md.
// Each exists so that one client cannot grow a replica's memory, disk or a reply without bound.

/** Account names: lower-case letter first, then letters, digits, '_', '-', '.'; case-folded. */
export const NAME_PATTERN = /^[a-z][a-z0-9_.-]*$/;
export const NAME_LENGTH_MAX = 32;

/** Wildcard patterns for `list`: name characters plus '*' and '?'. */
export const LIST_PATTERN_CHARS = /^[a-z0-9_.*?-]*$/;
export const LIST_PATTERN_LENGTH_MAX = 64;
export const LIST_PAGE_SIZE = 20;

/** A message body, measured in UTF-8 bytes. */
export const MESSAGE_BYTES_MAX = 4096;
/** Unread and read messages kept per mailbox; a send to a full mailbox is refused. */
export const MAILBOX_MESSAGES_MAX = 10_000;

export const READ_COUNT_DEFAULT = 10;
export const READ_COUNT_MAX = 100;
/** A `read` reply stops before its messages pass this many bytes of JSON (at least one message is
 *  always returned), so that it fits in one frame to the client (SERVER_FRAME_BYTES_MAX). */
export const READ_REPLY_BYTES_MAX = 512 * 1024;
/** Message ids in one `delete` or `ack`. */
export const IDS_PER_REQUEST_MAX = 100;

/** Live login sessions per account; the oldest is revoked when a new login would exceed it. */
export const SESSIONS_PER_ACCOUNT_MAX = 16;

/** A verifier's salt, in bytes once base64-decoded: at least 128 random bits (RFC 5802 leaves the
 *  size open; 16 bytes is what lib/auth draws), and small enough that one account cannot make a
 *  replica keep and replicate kilobytes of salt. */
export const VERIFIER_SALT_BYTES_MIN = 16;
export const VERIFIER_SALT_BYTES_MAX = 64;

/** PBKDF2 iterations a verifier must have at least (RFC 7677 recommends 4096 or more). The
 *  client makes its verifiers with more (lib/auth/scram.ts DEFAULT_ITERATIONS); accounts made
 *  with fewer stay valid. */
export const VERIFIER_ITERATIONS_MIN = 4096;
export const VERIFIER_ITERATIONS_MAX = 1_000_000;

/** Login throttling per account (lib/chat/throttle.ts). Once LOGIN_FAILURES_BEFORE_LOCK logins
 *  in a row have failed, each failure locks the account's logins for a backoff:
 *  LOGIN_BACKOFF_FIRST_MS after the failure that reaches the count, doubling with every further
 *  one, at most LOGIN_BACKOFF_MAX_MS. A success ends the run; an attempt refused while locked is
 *  no failure and extends nothing. The cap is the trade: a guesser gets a dozen guesses in the
 *  first two minutes and one a minute after that, and can never lock the real user out for more
 *  than a minute after its last guess. The gateway throttles each connection by the same rule. */
export const LOGIN_FAILURES_BEFORE_LOCK = 5;
export const LOGIN_BACKOFF_FIRST_MS = 1_000;
export const LOGIN_BACKOFF_MAX_MS = 60_000;
