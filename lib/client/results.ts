// Shape checks for what a replica answers. The codec (lib/protocol/codec.ts) checks that a frame is
// a reply or a push; only the connector knows which request a reply answers, so the shape of
// each result is checked here. A result that does not fit is the server breaking the protocol:
// the caller drops that connection rather than act on it.

import type { ChatResults, StoredMessage } from '../chat/types.js';
import { MEMBERS_MAX, type HelloResult, type LoginStartResult, type ResumeResult } from '../protocol/messages.js';

type Fields = Record<string, unknown>;

const isFields = (value: unknown): value is Fields => typeof value === 'object' && value !== null && !Array.isArray(value);
const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;
const isText = (value: unknown): value is string => typeof value === 'string';
const isCounts = (value: unknown): value is number[] => Array.isArray(value) && value.every(isCount);
const isTexts = (value: unknown): value is string[] => Array.isArray(value) && value.every(isText);

function isStoredMessage(value: unknown): value is StoredMessage {
  return isFields(value) && isCount(value.id) && isText(value.from) && isText(value.to) && isText(value.text) && isCount(value.at);
}

/** One check per command kind; the Record type makes the compiler insist on all of them. */
const CALL_RESULT_CHECKS: { [K in keyof ChatResults]: (result: Fields) => boolean } = {
  create: (r) => isText(r.name),
  login: (r) => isText(r.name) && isCount(r.unread) && isText(r.serverSignature),
  logout: () => true,
  list: (r) => isTexts(r.names) && isCount(r.page) && isCount(r.pages) && isCount(r.total),
  send: (r) => isCount(r.id) && isText(r.to) && isCount(r.at),
  read: (r) => Array.isArray(r.messages) && r.messages.every(isStoredMessage) && isCount(r.remaining),
  delete: (r) => isCounts(r.deleted),
  'delete-account': (r) => isText(r.name),
  ack: (r) => isCounts(r.acked),
};

/** The result of a `call` of the given kind, or null if it does not have that shape. */
export function checkCallResult<K extends keyof ChatResults>(kind: K, result: unknown): ChatResults[K] | null {
  return isFields(result) && CALL_RESULT_CHECKS[kind](result) ? (result as ChatResults[K]) : null;
}

export function checkHelloResult(result: unknown): HelloResult | null {
  if (!isFields(result) || !isCount(result.version) || !isCount(result.replica) || !isCount(result.view)) return null;
  const primary = result.primary;
  if (!isFields(primary) || !isCount(primary.replica) || !isCount(primary.view)) return null;
  if (primary.address !== null && !isText(primary.address)) return null;
  const members = result.members;
  if (!isTexts(members) || members.length === 0 || members.length > MEMBERS_MAX) return null;
  return result as unknown as HelloResult;
}

export function checkLoginStartResult(result: unknown): LoginStartResult | null {
  if (!isFields(result) || !isText(result.salt) || !isCount(result.iterations) || !isText(result.nonce)) return null;
  return result as unknown as LoginStartResult;
}

export function checkResumeResult(result: unknown): ResumeResult | null {
  if (!isFields(result) || !isText(result.name) || !isCount(result.unread)) return null;
  return result as unknown as ResumeResult;
}
