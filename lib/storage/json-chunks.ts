// JSON in pieces: the text of JSON.stringify(value), produced as a sequence of strings whose
// concatenation is exactly that text. It lets a snapshot of hundreds of MB go to disk through a
// small buffer (atomic-file.ts) instead of first becoming one giant string, which would hold
// the state twice in memory and can exceed V8's string length limit (about 512 MiB).
//
// Walking every node in JavaScript would be slower than the native JSON.stringify, so the walk
// stops at "flat" containers — those whose members are all primitives, like a stored message
// or a client-table row — and hands each to JSON.stringify whole. Consecutive flat members are
// gathered into pieces of about PIECE_CHARS, so a piece is at most that plus one flat container:
// a few messages, never a mailbox, never the whole state. Only a flat container that is itself
// huge (an array of a million numbers) becomes one big piece.

/** Flat members are gathered into pieces of about this many characters before being yielded:
 *  fewer, larger pieces are cheaper to write than one per message. */
const PIECE_CHARS = 64 * 1024;

export function* jsonChunks(value: unknown): Generator<string> {
  if (Array.isArray(value) && hasOpenableMember(value)) yield* arrayChunks(value);
  else if (isPlainObject(value) && hasOpenableMember(value)) yield* objectChunks(value);
  else yield stringifyMember(value);
}

/** Worth descending into: a container that JSON.stringify would render as an array or object. */
function isOpenable(value: unknown): boolean {
  return Array.isArray(value) || isPlainObject(value);
}

function hasOpenableMember(container: readonly unknown[] | Record<string, unknown>): boolean {
  if (Array.isArray(container)) return container.some(isOpenable);
  for (const key in container) if (isOpenable((container as Record<string, unknown>)[key])) return true;
  return false;
}

/** Only arrays and plain objects are opened up: anything else (a Date, an object with toJSON,
 *  a boxed number) has its own serialisation, which JSON.stringify applies. */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || 'toJSON' in value) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function* arrayChunks(array: readonly unknown[]): Generator<string> {
  let piece = '[';
  for (let i = 0; i < array.length; i++) {
    if (i > 0) piece += ',';
    piece = yield* memberChunks(array[i], piece);
  }
  yield `${piece}]`;
}

function* objectChunks(object: Record<string, unknown>): Generator<string> {
  let piece = '{';
  let first = true;
  for (const key of Object.keys(object)) {
    const member = object[key];
    // JSON.stringify leaves out members it cannot represent (undefined, functions, symbols).
    if (member === undefined || typeof member === 'function' || typeof member === 'symbol') continue;
    piece += `${first ? '' : ','}${JSON.stringify(key)}:`;
    first = false;
    piece = yield* memberChunks(member, piece);
  }
  yield `${piece}}`;
}

/** Appends `member` to the piece being gathered, or descends into it; yields whatever piece is
 *  complete and returns the one to continue. */
function* memberChunks(member: unknown, piece: string): Generator<string, string> {
  if (isOpenable(member) && hasOpenableMember(member as Record<string, unknown>)) {
    yield piece;
    yield* jsonChunks(member);
    return '';
  }
  piece += stringifyMember(member);
  if (piece.length < PIECE_CHARS) return piece;
  yield piece;
  return '';
}

/** As JSON.stringify, except that what it cannot represent becomes null, as it does inside an
 *  array; objectChunks has already dropped such members from objects. */
function stringifyMember(value: unknown): string {
  return JSON.stringify(value) ?? 'null';
}
