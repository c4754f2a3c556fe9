// The codec: every valid frame shape passes unchanged; every malformed one gets the right code,
// the right id and a message naming the field. Table-driven: one row per violation.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errorReply, okReply, parseClientFrame, parseServerFrame } from '../../../lib/protocol/codec.js';
import { MEMBERS_MAX, type ErrorCode } from '../../../lib/protocol/messages.js';
import {
  IDS_PER_REQUEST_MAX,
  LIST_PATTERN_LENGTH_MAX,
  MESSAGE_BYTES_MAX,
  NAME_LENGTH_MAX,
  READ_COUNT_MAX,
} from '../../../lib/chat/limits.js';

type Json = Record<string, unknown>;

const CLIENT_ID = '0123456789abcdef0123456789abcdef';
const CLIENT_SECRET = '0123456789abcdef'.repeat(4);
const TOKEN = 'ab'.repeat(32);
const NONCE = 'abcdEFGH1234_-xy';
const VERIFIER = { salt: 'c2FsdA==', iterations: 4096, storedKey: 'a2V5', serverKey: 'a2V5' };

const VALID_COMMANDS: Record<string, Json> = {
  create: { kind: 'create', name: 'alice', verifier: VERIFIER },
  login: { kind: 'login', name: 'alice', nonce: NONCE + NONCE, proof: 'cHJvb2Y=', tokenHash: TOKEN },
  logout: { kind: 'logout' },
  list: { kind: 'list', pattern: 'a*', page: 1 },
  send: { kind: 'send', to: 'bob', text: 'hello' },
  read: { kind: 'read', count: 10 },
  delete: { kind: 'delete', ids: [1, 2, 3] },
  'delete-account': { kind: 'delete-account' },
  ack: { kind: 'ack', ids: [7] },
};

const call = (command: unknown, extra: Json = {}): Json => ({ type: 'call', id: 9, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, requestNumber: 1, command, ...extra });

const VALID_FRAMES: Record<string, Json> = {
  hello: { type: 'hello', id: 0, version: 1 },
  register: { type: 'register', id: 1, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET },
  'login-start': { type: 'login-start', id: 2, name: 'Alice', clientNonce: NONCE },
  resume: { type: 'resume', id: 3, token: TOKEN, lastSeen: 0 },
  call: call(VALID_COMMANDS.send),
};

/** `base` with `field` replaced by `value`, or removed when `value` is REMOVE. */
const REMOVE = Symbol('remove');
function withField(base: Json, field: string, value: unknown): Json {
  const copy = structuredClone(base);
  if (value === REMOVE) delete copy[field];
  else copy[field] = value;
  return copy;
}
const withCommand = (kind: string, field: string, value: unknown): Json => call(withField(VALID_COMMANDS[kind]!, field, value));

test('every valid client frame passes, unchanged', () => {
  for (const [type, frame] of Object.entries(VALID_FRAMES)) {
    const result = parseClientFrame(frame);
    assert.deepEqual(result, { ok: true, value: frame }, type);
  }
});

test('every valid command passes, unchanged', () => {
  for (const [kind, command] of Object.entries(VALID_COMMANDS)) {
    const frame = call(command);
    assert.deepEqual(parseClientFrame(frame), { ok: true, value: frame }, kind);
  }
});

test('values at the edge of every bound pass', () => {
  const edges: Array<[string, Json]> = [
    ['name of 4 × NAME_LENGTH_MAX characters', withCommand('create', 'name', 'a'.repeat(4 * NAME_LENGTH_MAX))],
    ['text of exactly MESSAGE_BYTES_MAX bytes, multi-byte', withCommand('send', 'text', '€'.repeat(1365) + 'a')],
    ['text with an emoji (a valid surrogate pair)', withCommand('send', 'text', 'hi 😀')],
    ['empty text (the chat machine judges emptiness)', withCommand('send', 'text', '')],
    ['pattern of LIST_PATTERN_LENGTH_MAX characters', withCommand('list', 'pattern', '*'.repeat(LIST_PATTERN_LENGTH_MAX))],
    ['count of READ_COUNT_MAX', withCommand('read', 'count', READ_COUNT_MAX)],
    ['count of 1', withCommand('read', 'count', 1)],
    ['IDS_PER_REQUEST_MAX ids', withCommand('delete', 'ids', Array.from({ length: IDS_PER_REQUEST_MAX }, (_, i) => i + 1))],
    ['the largest safe id', withCommand('ack', 'ids', [Number.MAX_SAFE_INTEGER])],
    ['a 64-character client nonce', withField(VALID_FRAMES['login-start']!, 'clientNonce', 'n'.repeat(64))],
    ['a 128-character combined login nonce', withCommand('login', 'nonce', 'n'.repeat(128))],
    ['a proof of 128 base64 characters', withCommand('login', 'proof', 'A'.repeat(126) + '==')],
    ['verifier strings of 128 characters', withCommand('create', 'verifier', { ...VERIFIER, salt: 's'.repeat(128) })],
    ['id 0 and a large lastSeen', withField(VALID_FRAMES.resume!, 'lastSeen', Number.MAX_SAFE_INTEGER)],
    ['a frame with no prototype', Object.assign(Object.create(null) as Json, VALID_FRAMES.hello)],
  ];
  for (const [name, frame] of edges) {
    const result = parseClientFrame(frame);
    assert.ok(result.ok, `${name}: ${JSON.stringify(!result.ok && result.error)}`);
  }
});

interface Bad {
  name: string;
  frame: unknown;
  code: ErrorCode;
  id: number | null;
  /** A fragment the message must contain: the field's path. */
  says: string;
}

/** Frame-level violations, for every frame type. */
function frameViolations(): Bad[] {
  const rows: Bad[] = [
    { name: 'null', frame: null, code: 'BAD_REQUEST', id: null, says: 'JSON object' },
    { name: 'an array', frame: [VALID_FRAMES.hello], code: 'BAD_REQUEST', id: null, says: 'JSON object' },
    { name: 'a string', frame: 'hello', code: 'BAD_REQUEST', id: null, says: 'JSON object' },
    { name: 'a number', frame: 42, code: 'BAD_REQUEST', id: null, says: 'JSON object' },
    { name: 'a class instance', frame: new Date(0), code: 'BAD_REQUEST', id: null, says: 'JSON object' },
    { name: 'type missing', frame: withField(VALID_FRAMES.hello!, 'type', REMOVE), code: 'BAD_REQUEST', id: 0, says: 'type' },
    { name: 'type a number', frame: withField(VALID_FRAMES.hello!, 'type', 1), code: 'BAD_REQUEST', id: 0, says: 'type' },
    { name: 'type unknown', frame: withField(VALID_FRAMES.hello!, 'type', 'goodbye'), code: 'UNKNOWN_TYPE', id: 0, says: '"goodbye"' },
    { name: 'type "push" (a server frame)', frame: withField(VALID_FRAMES.hello!, 'type', 'push'), code: 'UNKNOWN_TYPE', id: 0, says: 'push' },
    { name: 'type "constructor"', frame: withField(VALID_FRAMES.hello!, 'type', 'constructor'), code: 'UNKNOWN_TYPE', id: 0, says: 'constructor' },
    { name: 'type "__proto__"', frame: withField(VALID_FRAMES.hello!, 'type', '__proto__'), code: 'UNKNOWN_TYPE', id: 0, says: '__proto__' },
  ];
  for (const [type, frame] of Object.entries(VALID_FRAMES)) {
    for (const id of [REMOVE, -1, 1.5, '1', null, 2 ** 53, Infinity]) {
      rows.push({ name: `${type}: id ${String(id)}`, frame: withField(frame, 'id', id), code: 'BAD_REQUEST', id: null, says: 'id' });
    }
    rows.push({ name: `${type}: an extra field`, frame: withField(frame, 'extra', 1), code: 'BAD_REQUEST', id: frame.id as number, says: `${type} has unknown field "extra"` });
    rows.push({ name: `${type}: an extra "__proto__" field`, frame: { ...JSON.parse(`{"__proto__":1}`), ...frame }, code: 'BAD_REQUEST', id: frame.id as number, says: '__proto__' });
    for (const field of Object.keys(frame).filter((key) => key !== 'type' && key !== 'id')) {
      rows.push({ name: `${type}: ${field} missing`, frame: withField(frame, field, REMOVE), code: 'BAD_REQUEST', id: frame.id as number, says: `missing field "${field}"` });
    }
  }
  return rows;
}

/** Field values that break each client frame's own fields. */
function fieldViolations(): Bad[] {
  const bad = (type: string, field: string, value: unknown, code: ErrorCode = 'BAD_REQUEST'): Bad => ({
    name: `${type}.${field} = ${JSON.stringify(value)?.slice(0, 40)}`,
    frame: withField(VALID_FRAMES[type]!, field, value),
    code,
    id: VALID_FRAMES[type]!.id as number,
    says: `${type}.${field}`,
  });
  return [
    bad('hello', 'version', 0),
    bad('hello', 'version', 1.5),
    bad('hello', 'version', '1'),
    bad('register', 'clientId', CLIENT_ID.toUpperCase()),
    bad('register', 'clientId', CLIENT_ID.slice(1)),
    bad('register', 'clientId', 123),
    bad('register', 'clientSecret', CLIENT_SECRET.toUpperCase()),
    bad('register', 'clientSecret', CLIENT_SECRET.slice(1)),
    bad('register', 'clientSecret', CLIENT_SECRET + '0'),
    bad('register', 'clientSecret', 'g' + CLIENT_SECRET.slice(1)),
    bad('register', 'clientSecret', Buffer.from(CLIENT_SECRET, 'hex').toString('base64url')),
    bad('register', 'clientSecret', null),
    bad('login-start', 'name', 'a'.repeat(4 * NAME_LENGTH_MAX + 1), 'BAD_NAME'),
    bad('login-start', 'name', null, 'BAD_NAME'),
    bad('login-start', 'clientNonce', 'short'),
    bad('login-start', 'clientNonce', 'n'.repeat(65)),
    bad('login-start', 'clientNonce', 'has,comma'),
    bad('login-start', 'clientNonce', 'has+plus/slash'),
    bad('resume', 'token', TOKEN.toUpperCase()),
    bad('resume', 'token', TOKEN + '0'),
    bad('resume', 'lastSeen', -1),
    bad('resume', 'lastSeen', '0'),
    bad('call', 'clientId', 'nope'),
    bad('call', 'clientSecret', CLIENT_ID),
    bad('call', 'clientSecret', 7),
    bad('call', 'requestNumber', 0),
    bad('call', 'requestNumber', 2 ** 53),
    bad('call', 'command', null),
    bad('call', 'command', []),
    bad('call', 'command', 'send'),
  ];
}

/** Violations inside call.command, for every command kind. */
function commandViolations(): Bad[] {
  const bad = (kind: string, field: string, value: unknown, code: ErrorCode, says = `call.command.${field}`): Bad => ({
    name: `${kind}.${field} = ${JSON.stringify(value)?.slice(0, 40)}`,
    frame: withCommand(kind, field, value),
    code,
    id: 9,
    says,
  });
  const rows: Bad[] = [
    { name: 'kind missing', frame: call({ to: 'bob', text: 'x' }), code: 'BAD_REQUEST', id: 9, says: 'call.command.kind' },
    { name: 'kind a number', frame: call({ kind: 3 }), code: 'BAD_REQUEST', id: 9, says: 'call.command.kind' },
    { name: 'kind unknown', frame: call({ kind: 'shout' }), code: 'UNKNOWN_COMMAND', id: 9, says: '"shout"' },
    { name: 'kind "toString"', frame: call({ kind: 'toString' }), code: 'UNKNOWN_COMMAND', id: 9, says: 'toString' },
    bad('create', 'name', 7, 'BAD_NAME'),
    bad('create', 'name', 'n'.repeat(4 * NAME_LENGTH_MAX + 1), 'BAD_NAME'),
    bad('create', 'verifier', 'secret', 'BAD_VERIFIER'),
    bad('create', 'verifier', [VERIFIER], 'BAD_VERIFIER'),
    bad('create', 'verifier', { ...VERIFIER, iterations: 0 }, 'BAD_VERIFIER', 'call.command.verifier.iterations'),
    bad('create', 'verifier', { ...VERIFIER, iterations: '4096' }, 'BAD_VERIFIER', 'call.command.verifier.iterations'),
    bad('create', 'verifier', { ...VERIFIER, salt: 's'.repeat(129) }, 'BAD_VERIFIER', 'call.command.verifier.salt'),
    bad('create', 'verifier', { ...VERIFIER, storedKey: 1 }, 'BAD_VERIFIER', 'call.command.verifier.storedKey'),
    bad('create', 'verifier', { ...VERIFIER, serverKey: null }, 'BAD_VERIFIER', 'call.command.verifier.serverKey'),
    bad('create', 'verifier', { ...VERIFIER, password: 'oops' }, 'BAD_VERIFIER', 'call.command.verifier has unknown field "password"'),
    bad('create', 'verifier', { salt: 'x', iterations: 4096, storedKey: 'y' }, 'BAD_VERIFIER', 'missing field "serverKey"'),
    bad('login', 'name', ['alice'], 'BAD_NAME'),
    bad('login', 'nonce', 'short', 'BAD_REQUEST'),
    bad('login', 'nonce', 'n'.repeat(129), 'BAD_REQUEST'),
    bad('login', 'nonce', 'comma,in,it', 'BAD_REQUEST'),
    bad('login', 'proof', '', 'BAD_REQUEST'),
    bad('login', 'proof', 'A'.repeat(129), 'BAD_REQUEST'),
    bad('login', 'proof', 'not base64!', 'BAD_REQUEST'),
    bad('login', 'tokenHash', 'AB'.repeat(32), 'BAD_REQUEST'),
    bad('login', 'tokenHash', 'ab'.repeat(31), 'BAD_REQUEST'),
    bad('list', 'pattern', '*'.repeat(LIST_PATTERN_LENGTH_MAX + 1), 'BAD_PATTERN'),
    bad('list', 'pattern', null, 'BAD_PATTERN'),
    bad('list', 'page', 0, 'BAD_ARGUMENT'),
    bad('list', 'page', 1.5, 'BAD_ARGUMENT'),
    bad('list', 'page', '2', 'BAD_ARGUMENT'),
    bad('send', 'to', 5, 'BAD_NAME'),
    bad('send', 'to', 'b'.repeat(4 * NAME_LENGTH_MAX + 1), 'BAD_NAME'),
    bad('send', 'text', 42, 'BAD_MESSAGE'),
    bad('send', 'text', 'a'.repeat(MESSAGE_BYTES_MAX + 1), 'BAD_MESSAGE'),
    bad('send', 'text', '€'.repeat(1366), 'BAD_MESSAGE'), // 1366 characters, 4098 bytes
    bad('send', 'text', 'lone \ud800 surrogate', 'BAD_MESSAGE'),
    bad('read', 'count', 0, 'BAD_ARGUMENT'),
    bad('read', 'count', READ_COUNT_MAX + 1, 'BAD_ARGUMENT'),
    bad('read', 'count', 2.5, 'BAD_ARGUMENT'),
    bad('read', 'count', '10', 'BAD_ARGUMENT'),
  ];
  for (const kind of ['delete', 'ack']) {
    for (const ids of [[], Array.from({ length: IDS_PER_REQUEST_MAX + 1 }, (_, i) => i + 1), [0], [-1], [1.5], ['1'], [2 ** 53], 1, null]) {
      rows.push(bad(kind, 'ids', ids, 'BAD_ARGUMENT'));
    }
  }
  for (const [kind, command] of Object.entries(VALID_COMMANDS)) {
    rows.push(bad(kind, 'extra', true, 'BAD_REQUEST', 'call.command has unknown field "extra"'));
    for (const field of Object.keys(command).filter((key) => key !== 'kind')) {
      rows.push(bad(kind, field, REMOVE, 'BAD_REQUEST', `call.command is missing field "${field}"`));
    }
  }
  return rows;
}

test('every malformed client frame is refused with its code, its id and a message naming the field', () => {
  const rows = [...frameViolations(), ...fieldViolations(), ...commandViolations()];
  for (const row of rows) {
    const result = parseClientFrame(row.frame);
    assert.equal(result.ok, false, `${row.name}: accepted`);
    if (result.ok) continue;
    assert.equal(result.error.code, row.code, `${row.name}: ${result.error.message}`);
    assert.equal(result.id, row.id, `${row.name}: id`);
    assert.ok(result.error.message.includes(row.says), `${row.name}: message "${result.error.message}" lacks "${row.says}"`);
  }
});

test('the error message for an out-of-range count reads as documented', () => {
  const result = parseClientFrame(withCommand('read', 'count', 500));
  assert.deepEqual(result, { ok: false, id: 9, error: { code: 'BAD_ARGUMENT', message: 'call.command.count must be an integer 1..100' } });
});

test('a malformed client secret is refused without being repeated: the message says what a secret looks like', () => {
  const almost = CLIENT_SECRET.slice(0, -1) + 'X';
  for (const type of ['register', 'call']) {
    const result = parseClientFrame(withField(VALID_FRAMES[type]!, 'clientSecret', almost));
    assert.deepEqual(result, { ok: false, id: VALID_FRAMES[type]!.id, error: { code: 'BAD_REQUEST', message: `${type}.clientSecret must be 64 lower-case hex digits` } });
  }
});

test('error messages quote untrusted names only briefly', () => {
  const long = 'x'.repeat(10_000);
  for (const frame of [withField(VALID_FRAMES.hello!, 'type', long), call({ kind: long }), withField(VALID_FRAMES.hello!, long, 1)]) {
    const result = parseClientFrame(frame);
    assert.ok(!result.ok);
    assert.ok(result.error.message.length < 100, result.error.message);
  }
});

// ---------------------------------------------------------------------------------------------
// Server frames.

const PRIMARY = { replica: 2, view: 7, address: '127.0.0.1:7002' };
const MESSAGE = { id: 5, from: 'alice', to: 'bob', text: 'hi', at: 1_700_000_000_000 };
const MEMBERS = ['127.0.0.1:7001', '127.0.0.1:7002', '127.0.0.1:7003'];
/** The longest address a replica may report (ADDRESS_CHARS_MAX in codec.ts). */
const LONGEST_ADDRESS = `${'h'.repeat(295)}:7001`;
const ANNOUNCEMENT = { type: 'primary', primary: PRIMARY, members: MEMBERS };
const VALID_SERVER_FRAMES: Record<string, Json> = {
  'ok reply': { type: 'reply', id: 4, ok: true, result: { name: 'alice', unread: 3 } },
  'ok reply with an empty result': { type: 'reply', id: 0, ok: true, result: {} },
  'error reply': { type: 'reply', id: 4, ok: false, error: { code: 'BAD_NAME', message: 'no' } },
  'error reply with a primary hint': { type: 'reply', id: 4, ok: false, error: { code: 'NOT_PRIMARY', message: 'try 2' }, primary: PRIMARY },
  'error reply with an unknown primary address': { type: 'reply', id: 4, ok: false, error: { code: 'NOT_PRIMARY', message: 'x' }, primary: { ...PRIMARY, address: null } },
  'NOT_OWNER reply': { type: 'reply', id: 4, ok: false, error: { code: 'NOT_OWNER', message: 'another secret' } },
  'CLIENT_TABLE_FULL reply': { type: 'reply', id: 4, ok: false, error: { code: 'CLIENT_TABLE_FULL', message: 'no room' } },
  push: { type: 'push', message: MESSAGE },
  announcement: ANNOUNCEMENT,
  'announcement at the bounds': { type: 'primary', primary: { ...PRIMARY, address: LONGEST_ADDRESS }, members: Array.from({ length: MEMBERS_MAX }, () => LONGEST_ADDRESS) },
  'announcement of a cluster of one': { type: 'primary', primary: { replica: 0, view: 0, address: 'a:1' }, members: ['a:1'] },
};

test('every valid server frame passes, unchanged', () => {
  for (const [name, frame] of Object.entries(VALID_SERVER_FRAMES)) {
    assert.deepEqual(parseServerFrame(frame), { ok: true, value: frame }, name);
  }
});

test('every malformed server frame is refused with its code and id', () => {
  const okReply = VALID_SERVER_FRAMES['ok reply']!;
  const errorFrame = VALID_SERVER_FRAMES['error reply with a primary hint']!;
  const push = VALID_SERVER_FRAMES.push!;
  const rows: Array<[string, unknown, ErrorCode, number | null]> = [
    ['null', null, 'BAD_FRAME', null],
    ['an array', [okReply], 'BAD_FRAME', null],
    ['type unknown', withField(okReply, 'type', 'hello'), 'UNKNOWN_TYPE', null],
    ['type missing', withField(okReply, 'type', REMOVE), 'UNKNOWN_TYPE', null],
    ['reply id negative', withField(okReply, 'id', -1), 'BAD_FRAME', null],
    ['reply id missing', withField(okReply, 'id', REMOVE), 'BAD_FRAME', null],
    ['reply ok not a boolean', withField(okReply, 'ok', 'yes'), 'BAD_FRAME', 4],
    ['reply ok missing', withField(okReply, 'ok', REMOVE), 'BAD_FRAME', 4],
    ['ok reply without result', withField(okReply, 'result', REMOVE), 'BAD_FRAME', 4],
    ['ok reply with an array result', withField(okReply, 'result', [1]), 'BAD_FRAME', 4],
    ['ok reply with an error field', withField(okReply, 'error', { code: 'BUSY', message: 'x' }), 'BAD_FRAME', 4],
    ['error reply with a result', withField(errorFrame, 'result', {}), 'BAD_FRAME', 4],
    ['error reply without error', withField(errorFrame, 'error', REMOVE), 'BAD_FRAME', 4],
    ['error code unknown', withField(errorFrame, 'error', { code: 'OOPS', message: 'x' }), 'BAD_FRAME', 4],
    ['error code "toString"', withField(errorFrame, 'error', { code: 'toString', message: 'x' }), 'BAD_FRAME', 4],
    ['error code missing', withField(errorFrame, 'error', { message: 'x' }), 'BAD_FRAME', 4],
    ['error message missing', withField(errorFrame, 'error', { code: 'BUSY' }), 'BAD_FRAME', 4],
    ['error message a number', withField(errorFrame, 'error', { code: 'BUSY', message: 1 }), 'BAD_FRAME', 4],
    ['error with an extra field', withField(errorFrame, 'error', { code: 'BUSY', message: 'x', stack: 'y' }), 'BAD_FRAME', 4],
    ['primary not an object', withField(errorFrame, 'primary', 2), 'BAD_FRAME', 4],
    ['primary replica negative', withField(errorFrame, 'primary', { ...PRIMARY, replica: -1 }), 'BAD_FRAME', 4],
    ['primary view missing', withField(errorFrame, 'primary', { replica: 1, address: null }), 'BAD_FRAME', 4],
    ['primary address a number', withField(errorFrame, 'primary', { ...PRIMARY, address: 7002 }), 'BAD_FRAME', 4],
    ['reply with an extra field', withField(okReply, 'extra', 1), 'BAD_FRAME', 4],
    ['push without message', withField(push, 'message', REMOVE), 'BAD_FRAME', null],
    ['push with an id', withField(push, 'id', 3), 'BAD_FRAME', null],
    ['push message not an object', withField(push, 'message', 'hi'), 'BAD_FRAME', null],
    ['push message id 0', withField(push, 'message', { ...MESSAGE, id: 0 }), 'BAD_FRAME', null],
    ['push message from a number', withField(push, 'message', { ...MESSAGE, from: 1 }), 'BAD_FRAME', null],
    ['push message to missing', withField(push, 'message', { id: 5, from: 'a', text: 'x', at: 0 }), 'BAD_FRAME', null],
    ['push message text null', withField(push, 'message', { ...MESSAGE, text: null }), 'BAD_FRAME', null],
    ['push message at a string', withField(push, 'message', { ...MESSAGE, at: '2024' }), 'BAD_FRAME', null],
    ['push message with an extra field', withField(push, 'message', { ...MESSAGE, read: true }), 'BAD_FRAME', null],
    ['announcement without primary', withField(ANNOUNCEMENT, 'primary', REMOVE), 'BAD_FRAME', null],
    ['announcement without members', withField(ANNOUNCEMENT, 'members', REMOVE), 'BAD_FRAME', null],
    ['announcement with an id', withField(ANNOUNCEMENT, 'id', 3), 'BAD_FRAME', null],
    ['announcement with an extra field', withField(ANNOUNCEMENT, 'view', 7), 'BAD_FRAME', null],
    ['announcement primary not an object', withField(ANNOUNCEMENT, 'primary', '127.0.0.1:7002'), 'BAD_FRAME', null],
    ['announcement primary with an extra field', withField(ANNOUNCEMENT, 'primary', { ...PRIMARY, status: 'normal' }), 'BAD_FRAME', null],
    ['announcement primary view missing', withField(ANNOUNCEMENT, 'primary', { replica: 2, address: PRIMARY.address }), 'BAD_FRAME', null],
    ['announcement primary replica negative', withField(ANNOUNCEMENT, 'primary', { ...PRIMARY, replica: -1 }), 'BAD_FRAME', null],
    ['announcement primary address null', withField(ANNOUNCEMENT, 'primary', { ...PRIMARY, address: null }), 'BAD_FRAME', null],
    ['announcement primary address empty', withField(ANNOUNCEMENT, 'primary', { ...PRIMARY, address: '' }), 'BAD_FRAME', null],
    ['announcement primary address too long', withField(ANNOUNCEMENT, 'primary', { ...PRIMARY, address: `${LONGEST_ADDRESS}0` }), 'BAD_FRAME', null],
    ['announcement members not a list', withField(ANNOUNCEMENT, 'members', MEMBERS[0]), 'BAD_FRAME', null],
    ['announcement members none', withField(ANNOUNCEMENT, 'members', []), 'BAD_FRAME', null],
    ['announcement members too many', withField(ANNOUNCEMENT, 'members', Array.from({ length: MEMBERS_MAX + 1 }, () => MEMBERS[0])), 'BAD_FRAME', null],
    ['announcement member null', withField(ANNOUNCEMENT, 'members', [...MEMBERS, null]), 'BAD_FRAME', null],
    ['announcement member empty', withField(ANNOUNCEMENT, 'members', [...MEMBERS, '']), 'BAD_FRAME', null],
    ['announcement member too long', withField(ANNOUNCEMENT, 'members', [...MEMBERS, `${LONGEST_ADDRESS}0`]), 'BAD_FRAME', null],
  ];
  for (const [name, frame, code, id] of rows) {
    const result = parseServerFrame(frame);
    assert.equal(result.ok, false, `${name}: accepted`);
    if (result.ok) continue;
    assert.equal(result.error.code, code, `${name}: ${result.error.message}`);
    assert.equal(result.id, id, `${name}: id`);
    assert.ok(result.error.message.length > 0);
  }
});

test('a nested server-frame error names the inner field', () => {
  const frame = withField(VALID_SERVER_FRAMES.push!, 'message', { ...MESSAGE, at: 'x' });
  const result = parseServerFrame(frame);
  assert.ok(!result.ok);
  assert.equal(result.error.message, 'push.message.at must be a non-negative safe integer');
  const announcement = parseServerFrame(withField(ANNOUNCEMENT, 'primary', { ...PRIMARY, address: null }));
  assert.ok(!announcement.ok);
  assert.equal(announcement.error.message, 'primary.primary.address must be a string of 1..300 characters');
});

test('okReply and errorReply build frames that the client-side parser accepts', () => {
  const frames = [
    okReply(3, { name: 'alice', unread: 0 }),
    okReply(0, {}),
    errorReply(4, { code: 'BUSY', message: 'retry' }),
    errorReply(5, { code: 'NOT_PRIMARY', message: 'try 1' }, { replica: 1, view: 6, address: null }),
  ];
  for (const frame of frames) assert.deepEqual(parseServerFrame(frame), { ok: true, value: frame });
  assert.deepEqual(errorReply(4, { code: 'BUSY', message: 'retry' }), { type: 'reply', id: 4, ok: false, error: { code: 'BUSY', message: 'retry' } });
  assert.ok(!('primary' in errorReply(4, { code: 'BUSY', message: 'retry' })), 'no primary field when there is no hint');
});

test('building a reply to an impossible id is a bug', () => {
  assert.throws(() => okReply(-1, {}), assert.AssertionError);
  assert.throws(() => errorReply(1.5, { code: 'BUSY', message: 'x' }), assert.AssertionError);
  assert.throws(() => errorReply(1, { code: 'OOPS' as ErrorCode, message: 'x' }), assert.AssertionError);
});
