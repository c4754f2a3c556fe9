// The one error type the connector throws. A chat refusal (NAME_TAKEN, AUTH_FAILED, …) is not
// an error here: it comes back as an `ok: false` reply value. A ClientError means the request
// could not be carried out as asked — nobody answered, the connector was closed, the server
// broke the protocol — and its code says which.

import type { ErrorCode } from '../protocol/messages.js';

type ClientErrorCode =
  | ErrorCode
  /** No primary answered within giveUpMs. The connector's own code: no replica sends it. */
  | 'UNAVAILABLE'
  /** close() was called before the request was answered. */
  | 'CLOSED'
  /** The login challenge was malformed (nonce not extending ours, absurd iteration count). */
  | 'BAD_CHALLENGE'
  /** The server's login signature did not match: it does not know our verifier. */
  | 'BAD_SERVER_SIGNATURE';

export class ClientError extends Error {
  override readonly name = 'ClientError';

  constructor(
    readonly code: ClientErrorCode,
    message: string,
  ) {
    super(message);
  }
}
