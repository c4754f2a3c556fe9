// JSON in pieces: the text of JSON.stringify(value), produced as a sequence of strings whose
// concatenation is exactly that text. It lets a snapshot of hundreds of MB go to disk through a
// small buffer (atomic-file.ts) instead of first becoming one giant string, which would hold
// the state twice in memory and can exceed V8's string length limit (about 512 MiB).
//
// Walking every node in JavaScript would be slower than the native JSON.stringify, so the walk
// stops at "flat" containers — those whose members are all primitives, like a stored message
// or a client-table row — and hands each to JSON.stringify whole. A piece is therefore one flat
// container (or a key, or punctuation): a message, never a mailbox, never the whole state. Only
// a flat container that is itself huge (an array of a million numbers) becomes one big piece.

export function* jsonChunks(value: unknown): Generator<string> {
  if (Array.isArray(value) && value.some(isOpenable)) {
    yield* arrayChunks(value);
  } else if (isPlainObject(value) && Object.values(value).some(isOpenable)) {
    yield* objectChunks(value);
  } else {
    yield stringifyMember(value);
  }
}

/** Worth descending into: a container that JSON.stringify would render as an array or object. */
function isOpenable(value: unknown): boolean {
  return Array.isArray(value) || isPlainObject(value);
}

/** Only arrays and plain objects are opened up: anything else (a Date, an object with toJSON,
 *  a boxed number) has its own serialisation, which JSON.stringify applies. */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || 'toJSON' in value) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function* arrayChunks(array: readonly unknown[]): Generator<string> {
  yield '[';
  for (let i = 0; i < array.length; i++) {
    if (i > 0) yield ',';
    yield* jsonChunks(array[i]);
  }
  yield ']';
}

function* objectChunks(object: Record<string, unknown>): Generator<string> {
  yield '{';
  let first = true;
  for (const key of Object.keys(object)) {
    const member = object[key];
    // JSON.stringify leaves out members it cannot represent (undefined, functions, symbols).
    if (member === undefined || typeof member === 'function' || typeof member === 'symbol') continue;
    yield `${first ? '' : ','}${JSON.stringify(key)}:`;
    first = false;
    yield* jsonChunks(member);
  }
  yield '}';
}

/** As JSON.stringify, except that what it cannot represent becomes null, as it does inside an
 *  array; objectChunks has already dropped such members from objects. */
function stringifyMember(value: unknown): string {
  return JSON.stringify(value) ?? 'null';
}
