// The chat state machine's error codes as a run-time value, for the code that must tell them
// apart from other codes on the wire (the codec, the client). A Record over the ChatErrorCode
// union makes the compiler insist this stays complete when the machine gains a code.

import type { ChatErrorCode } from './types.js';

export const CHAT_ERROR_CODES: Readonly<Record<ChatErrorCode, true>> = {
  BAD_NAME: true,
  NAME_TAKEN: true,
  BAD_VERIFIER: true,
  AUTH_FAILED: true,
  LOGIN_THROTTLED: true,
  NOT_LOGGED_IN: true,
  UNKNOWN_USER: true,
  BAD_MESSAGE: true,
  BAD_PATTERN: true,
  BAD_ARGUMENT: true,
  NOT_FOUND: true,
  MAILBOX_FULL: true,
};

export function isChatErrorCode(code: string): code is ChatErrorCode {
  return Object.hasOwn(CHAT_ERROR_CODES, code);
}
