// The message codec: the only door from untrusted JSON to the typed frames of messages.ts.
//
// A decoded frame body is `unknown`. parseClientFrame (used by the server) and parseServerFrame
// (used by the client) check every field of it and either hand back the same value, now typed,
// or a coded error whose message names the offending field ("call.command.count must be an
// integer 1..100"). Past this door nobody re-checks types, so the checks are strict: exactly
// the fields messages.ts lists, no more and no fewer, each of the right type and within bounds.
//
// The codec checks shape and bounds; it does not apply the chat rules. A name is only bounded
// here (the chat state machine folds and validates it), an empty message text passes (the chat
// machine refuses it), and the codec never fills `at` or `session` (the server does).
//
// Which code a client frame's error gets:
//   - the frame itself is malformed (not an object, a missing or extra field, a bad id,
//     clientId, clientSecret, requestNumber, token or nonce): BAD_REQUEST — or UNKNOWN_TYPE /
//     UNKNOWN_COMMAND when `type` / `command.kind` is a string we do not know;
//   - a command argument that a person typed is out of bounds: the chat machine's own code for
//     that argument (BAD_NAME, BAD_MESSAGE, BAD_PATTERN, BAD_ARGUMENT, BAD_VERIFIER), so the
//     REPL shows the same code whether the codec or the chat machine caught it.

import assert from 'node:assert/strict';
import { MEMBERS_MAX, type ClientFrame, type ErrorBody, type ErrorCode, type PrimaryHint, type ServerFrame } from './messages.js';
import {
  IDS_PER_REQUEST_MAX,
  LIST_PATTERN_LENGTH_MAX,
  MESSAGE_BYTES_MAX,
  NAME_LENGTH_MAX,
  READ_COUNT_MAX,
} from '../chat/limits.js';
import { TOKEN_HASH_PATTERN, TOKEN_PATTERN } from '../auth/tokens.js';
import { CLIENT_SECRET_PATTERN } from '../auth/client-secret.js';
import { CHAT_ERROR_CODES } from '../chat/errors.js';

type ParseResult<T> = { ok: true; value: T } | { ok: false; error: ErrorBody; id: number | null };

/** What a successful reply may carry. */
export type OkResult = Extract<ServerFrame, { ok: true }>['result'];

// ---------------------------------------------------------------------------------------------
// Schemas. A Field pairs a predicate with the words that finish "<path> must be ..." and the
// code a failure gets; a Field with `fields` holds an object checked by that nested schema.

interface Field {
  check: (value: unknown) => boolean;
  expect: string;
  code: ErrorCode;
  optional?: boolean;
  fields?: Schema;
}
type Schema = Record<string, Field>;

const CLIENT_ID_PATTERN = /^[0-9a-f]{32}$/;
/** SCRAM nonces are base64url: no ',' that would break the auth message (RFC 5802 §5.1). */
const NONCE_PATTERN = /^[A-Za-z0-9_-]{8,64}$/;
/** The login nonce is the client's nonce followed by the server's, so up to twice as long. */
const COMBINED_NONCE_PATTERN = /^[A-Za-z0-9_-]{8,128}$/;
const PROOF_CHARS_MAX = 128;
const PROOF_PATTERN = /^[A-Za-z0-9+/]+={0,2}$/;
const VERIFIER_STRING_CHARS_MAX = 128;
/** A name may shrink when the chat machine folds it, so leave slack before refusing it here. */
const NAME_CHARS_MAX = 4 * NAME_LENGTH_MAX;
/** How much of an unknown field, type or kind an error message quotes back. */
const QUOTE_CHARS_MAX = 32;
/** A lone surrogate (legal in a JSON "\ud800" escape) has no UTF-8 form: refuse it rather than
 *  let it turn into U+FFFD somewhere downstream. */
const LONE_SURROGATE = /\p{Cs}/u;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function isInteger(value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): value is number {
  return Number.isSafeInteger(value) && (value as number) >= min && (value as number) <= max;
}

function isMessageText(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  // Every UTF-16 unit is at least one UTF-8 byte, so a long string fails without being measured.
  if (value.length > MESSAGE_BYTES_MAX) return false;
  return Buffer.byteLength(value, 'utf8') <= MESSAGE_BYTES_MAX && !LONE_SURROGATE.test(value);
}

function isIdList(value: unknown): boolean {
  if (!Array.isArray(value) || value.length < 1 || value.length > IDS_PER_REQUEST_MAX) return false;
  return value.every((id) => isInteger(id, 1));
}

const integer = (code: ErrorCode, min: number, max?: number): Field => ({
  check: (v) => isInteger(v, min, max),
  expect: max === undefined ? (min === 0 ? 'a non-negative safe integer' : 'a positive safe integer') : `an integer ${min}..${max}`,
  code,
});
const boundedString = (code: ErrorCode, charsMax: number): Field => ({
  check: (v) => typeof v === 'string' && v.length <= charsMax,
  expect: `a string of at most ${charsMax} characters`,
  code,
});
const anyString = (code: ErrorCode): Field => ({ check: (v) => typeof v === 'string', expect: 'a string', code });
const matching = (code: ErrorCode, regex: RegExp, expect: string, charsMax = Infinity): Field => ({
  check: (v) => typeof v === 'string' && v.length <= charsMax && regex.test(v),
  expect,
  code,
});
const literal = (code: ErrorCode, value: string | boolean): Field => ({
  check: (v) => v === value,
  expect: JSON.stringify(value),
  code,
});
const nested = (code: ErrorCode, fields: Schema, optional = false): Field => ({
  check: isPlainObject,
  expect: 'an object',
  code,
  optional,
  fields,
});

/** The first way `object` breaks `schema`, or null. Field names are checked before values so
 *  that an unexpected field is reported even when a value is also wrong. */
function checkFields(object: Record<string, unknown>, path: string, schema: Schema, shapeCode: ErrorCode): ErrorBody | null {
  for (const key of Object.keys(object)) {
    if (!Object.hasOwn(schema, key)) return { code: shapeCode, message: `${path} has unknown field ${quote(key)}` };
  }
  for (const [key, field] of Object.entries(schema)) {
    if (!Object.hasOwn(object, key)) {
      if (field.optional) continue;
      return { code: shapeCode, message: `${path} is missing field "${key}"` };
    }
    const value = object[key];
    if (!field.check(value)) return { code: field.code, message: `${path}.${key} must be ${field.expect}` };
    if (field.fields !== undefined) {
      const error = checkFields(value as Record<string, unknown>, `${path}.${key}`, field.fields, field.code);
      if (error !== null) return error;
    }
  }
  return null;
}

/** Quotes untrusted text for an error message, cut short so that a reply cannot be made huge. */
function quote(text: string): string {
  return text.length <= QUOTE_CHARS_MAX ? JSON.stringify(text) : `${JSON.stringify(text.slice(0, QUOTE_CHARS_MAX))}...`;
}

/** Looks `key` up as an own property only: "constructor" or "__proto__" must not find anything. */
function lookup<T>(table: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

// ---------------------------------------------------------------------------------------------
// Client frames.

const frameId = integer('BAD_REQUEST', 0);
const clientId = matching('BAD_REQUEST', CLIENT_ID_PATTERN, '32 lower-case hex digits');
const clientSecret = matching('BAD_REQUEST', CLIENT_SECRET_PATTERN, '64 lower-case hex digits');
const name = boundedString('BAD_NAME', NAME_CHARS_MAX);
const messageIds: Field = {
  check: isIdList,
  expect: `a list of 1..${IDS_PER_REQUEST_MAX} positive safe integers`,
  code: 'BAD_ARGUMENT',
};

const verifierSchema: Schema = {
  salt: boundedString('BAD_VERIFIER', VERIFIER_STRING_CHARS_MAX),
  iterations: integer('BAD_VERIFIER', 1),
  storedKey: boundedString('BAD_VERIFIER', VERIFIER_STRING_CHARS_MAX),
  serverKey: boundedString('BAD_VERIFIER', VERIFIER_STRING_CHARS_MAX),
};

const commandSchemas: Record<string, Schema> = {
  create: { kind: literal('BAD_REQUEST', 'create'), name, verifier: nested('BAD_VERIFIER', verifierSchema) },
  login: {
    kind: literal('BAD_REQUEST', 'login'),
    name,
    nonce: matching('BAD_REQUEST', COMBINED_NONCE_PATTERN, '8..128 base64url characters'),
    proof: matching('BAD_REQUEST', PROOF_PATTERN, `base64 of at most ${PROOF_CHARS_MAX} characters`, PROOF_CHARS_MAX),
    tokenHash: matching('BAD_REQUEST', TOKEN_HASH_PATTERN, '64 lower-case hex digits'),
  },
  logout: { kind: literal('BAD_REQUEST', 'logout') },
  list: {
    kind: literal('BAD_REQUEST', 'list'),
    pattern: boundedString('BAD_PATTERN', LIST_PATTERN_LENGTH_MAX),
    page: integer('BAD_ARGUMENT', 1),
  },
  send: {
    kind: literal('BAD_REQUEST', 'send'),
    to: name,
    text: { check: isMessageText, expect: `a string of at most ${MESSAGE_BYTES_MAX} UTF-8 bytes`, code: 'BAD_MESSAGE' },
  },
  read: { kind: literal('BAD_REQUEST', 'read'), count: integer('BAD_ARGUMENT', 1, READ_COUNT_MAX) },
  delete: { kind: literal('BAD_REQUEST', 'delete'), ids: messageIds },
  'delete-account': { kind: literal('BAD_REQUEST', 'delete-account') },
  ack: { kind: literal('BAD_REQUEST', 'ack'), ids: messageIds },
};

const clientFrameSchemas: Record<string, Schema> = {
  hello: { type: literal('BAD_REQUEST', 'hello'), id: frameId, version: integer('BAD_REQUEST', 1) },
  register: { type: literal('BAD_REQUEST', 'register'), id: frameId, clientId, clientSecret },
  'login-start': {
    type: literal('BAD_REQUEST', 'login-start'),
    id: frameId,
    name,
    clientNonce: matching('BAD_REQUEST', NONCE_PATTERN, '8..64 base64url characters'),
  },
  resume: {
    type: literal('BAD_REQUEST', 'resume'),
    id: frameId,
    token: matching('BAD_REQUEST', TOKEN_PATTERN, '64 lower-case hex digits'),
    lastSeen: integer('BAD_REQUEST', 0),
  },
  call: {
    type: literal('BAD_REQUEST', 'call'),
    id: frameId,
    clientId,
    clientSecret,
    requestNumber: integer('BAD_REQUEST', 1),
    command: { check: isPlainObject, expect: 'an object', code: 'BAD_REQUEST' },
  },
};

/** Checks a decoded frame from a client. On failure `id` is the frame's id when that much was
 *  valid (so that the server can answer it), else null. */
export function parseClientFrame(value: unknown): ParseResult<ClientFrame> {
  if (!isPlainObject(value)) return failure(null, 'BAD_REQUEST', 'frame must be a JSON object');
  if (!frameId.check(value.id)) return failure(null, 'BAD_REQUEST', `id must be ${frameId.expect}`);
  const id = value.id as number;
  const type = value.type;
  if (typeof type !== 'string') return failure(id, 'BAD_REQUEST', 'type must be a string');
  const schema = lookup(clientFrameSchemas, type);
  if (schema === undefined) return failure(id, 'UNKNOWN_TYPE', `unknown frame type ${quote(type)}`);
  const error = checkFields(value, type, schema, 'BAD_REQUEST') ?? (type === 'call' ? checkCommand(value.command) : null);
  if (error !== null) return { ok: false, error, id };
  return { ok: true, value: value as ClientFrame };
}

/** Checks call.command, whose schema depends on its `kind`. */
function checkCommand(command: unknown): ErrorBody | null {
  assert.ok(isPlainObject(command), 'call.command was checked to be an object');
  const kind = command.kind;
  if (typeof kind !== 'string') return { code: 'BAD_REQUEST', message: 'call.command.kind must be a string' };
  const schema = lookup(commandSchemas, kind);
  if (schema === undefined) return { code: 'UNKNOWN_COMMAND', message: `unknown command kind ${quote(kind)}` };
  return checkFields(command, 'call.command', schema, 'BAD_REQUEST');
}

function failure(id: number | null, code: ErrorCode, message: string): ParseResult<never> {
  return { ok: false, error: { code, message }, id };
}

// ---------------------------------------------------------------------------------------------
// Server frames. The client trusts a replica no more than a replica trusts it: a buggy or
// foreign peer must not put a number where a string is typed. A reply's `result` is checked only
// to be an object — what it holds depends on the request, which the client knows and the codec
// does not. Failures are BAD_FRAME (UNKNOWN_TYPE for an unknown `type`).

/** Every ErrorCode at run time. A Record over the union makes the compiler insist that this
 *  stays complete when messages.ts or the chat machine add a code. */
const ERROR_CODES: Record<ErrorCode, true> = {
  BAD_FRAME: true,
  BAD_REQUEST: true,
  UNKNOWN_TYPE: true,
  UNKNOWN_COMMAND: true,
  BAD_VERSION: true,
  NOT_PRIMARY: true,
  VIEW_CHANGE: true,
  SESSION_EXPIRED: true,
  STALE_REQUEST: true,
  BUSY: true,
  NOT_OWNER: true,
  CLIENT_TABLE_FULL: true,
  TOO_MANY_CONNECTIONS: true,
  BAD_TOKEN: true,
  ...CHAT_ERROR_CODES,
};

const replyId = integer('BAD_FRAME', 0);
const replySchemas: Record<'true' | 'false', Schema> = {
  true: {
    type: literal('BAD_FRAME', 'reply'),
    id: replyId,
    ok: literal('BAD_FRAME', true),
    result: { check: isPlainObject, expect: 'an object', code: 'BAD_FRAME' },
  },
  false: {
    type: literal('BAD_FRAME', 'reply'),
    id: replyId,
    ok: literal('BAD_FRAME', false),
    error: nested('BAD_FRAME', {
      code: { check: (v) => typeof v === 'string' && Object.hasOwn(ERROR_CODES, v), expect: 'a known error code', code: 'BAD_FRAME' },
      message: anyString('BAD_FRAME'),
    }),
    primary: nested(
      'BAD_FRAME',
      {
        replica: integer('BAD_FRAME', 0),
        view: integer('BAD_FRAME', 0),
        address: { check: (v) => v === null || typeof v === 'string', expect: 'a string or null', code: 'BAD_FRAME' },
      },
      true,
    ),
  },
};
/** A "host:port" a replica reports: bounded, so that a replica cannot make a client hold much. */
const ADDRESS_CHARS_MAX = 300;
const isAddress = (v: unknown): boolean => typeof v === 'string' && v.length > 0 && v.length <= ADDRESS_CHARS_MAX;
const announcementSchema: Schema = {
  type: literal('BAD_FRAME', 'primary'),
  primary: nested('BAD_FRAME', {
    replica: integer('BAD_FRAME', 0),
    view: integer('BAD_FRAME', 0),
    address: { check: isAddress, expect: `a string of 1..${ADDRESS_CHARS_MAX} characters`, code: 'BAD_FRAME' },
  }),
  members: {
    check: (v) => Array.isArray(v) && v.length >= 1 && v.length <= MEMBERS_MAX && v.every(isAddress),
    expect: `a list of 1..${MEMBERS_MAX} addresses`,
    code: 'BAD_FRAME',
  },
};
const pushSchema: Schema = {
  type: literal('BAD_FRAME', 'push'),
  message: nested('BAD_FRAME', {
    id: integer('BAD_FRAME', 1),
    from: anyString('BAD_FRAME'),
    to: anyString('BAD_FRAME'),
    text: anyString('BAD_FRAME'),
    at: integer('BAD_FRAME', 0),
  }),
};

/** Checks a decoded frame from a replica. On failure `id` is the reply's id when that much was
 *  valid, else null (pushes have no id). */
export function parseServerFrame(value: unknown): ParseResult<ServerFrame> {
  if (!isPlainObject(value)) return failure(null, 'BAD_FRAME', 'frame must be a JSON object');
  if (value.type === 'push' || value.type === 'primary') {
    const [name, schema] = value.type === 'push' ? ['push', pushSchema] : ['primary', announcementSchema];
    const error = checkFields(value, name, schema, 'BAD_FRAME');
    return error === null ? { ok: true, value: value as ServerFrame } : { ok: false, error, id: null };
  }
  if (value.type !== 'reply') {
    const type = typeof value.type === 'string' ? quote(value.type) : 'missing or not a string';
    return failure(null, 'UNKNOWN_TYPE', `unknown frame type ${type}`);
  }
  if (!replyId.check(value.id)) return failure(null, 'BAD_FRAME', `reply.id must be ${replyId.expect}`);
  const id = value.id as number;
  if (typeof value.ok !== 'boolean') return failure(id, 'BAD_FRAME', 'reply.ok must be true or false');
  const error = checkFields(value, 'reply', replySchemas[value.ok ? 'true' : 'false'], 'BAD_FRAME');
  return error === null ? { ok: true, value: value as ServerFrame } : { ok: false, error, id };
}

/** A refusal of request `id`, with where the primary is when the refusal is NOT_PRIMARY. */
export function errorReply(id: number, error: ErrorBody, primary?: PrimaryHint): ServerFrame {
  assert.ok(isInteger(id, 0), 'a reply answers a request id the codec accepted');
  assert.ok(Object.hasOwn(ERROR_CODES, error.code), 'an error reply carries a known code');
  return primary === undefined
    ? { type: 'reply', id, ok: false, error }
    : { type: 'reply', id, ok: false, error, primary };
}

/** The successful answer to request `id`. */
export function okReply(id: number, result: OkResult): ServerFrame {
  assert.ok(isInteger(id, 0), 'a reply answers a request id the codec accepted');
  return { type: 'reply', id, ok: true, result };
}
