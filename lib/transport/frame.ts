// Length-prefixed framing: how one byte stream (a TCP connection) carries separate messages.
//
//   frame = [u32 big-endian length][body of `length` bytes]
//
// TCP delivers bytes, not messages: one `data` event may hold half a header, or ten thousand
// frames. FrameDecoder is a pure state machine over the chunks it is fed (the shape of ws's
// lib/receiver.js): each step returns early when too few bytes are buffered, and the length is
// checked against the maximum the moment the header is read — before a single body byte is
// kept — so a peer cannot make us buffer more than one maximum frame by announcing a huge one.
// Chunks can be appended and frames taken one at a time (append, next), so that a reader works
// through a large read at its own pace and a new limit (setMaxFrameBytes) applies from the very
// next frame it takes; push does both at once.
//
// The body of a Chat+ frame is UTF-8 JSON; encodeJsonFrame and decodeJson are that layer.

import assert from 'node:assert/strict';

/** Bytes in the length prefix. */
export const FRAME_HEADER_BYTES = 4;
/** The largest length a u32 prefix can state. */
const FRAME_LENGTH_LIMIT = 0xffff_ffff;

export type FrameErrorCode = 'FRAME_TOO_LARGE' | 'FRAME_EMPTY' | 'BAD_UTF8' | 'BAD_JSON';

/** Untrusted bytes that are not a valid frame. The owner closes the connection they came from. */
export class FrameError extends Error {
  readonly code: FrameErrorCode;

  constructor(code: FrameErrorCode, message: string) {
    super(message);
    this.name = 'FrameError';
    this.code = code;
  }
}

export class FrameDecoder {
  private maxFrameBytes: number;
  /** Bytes pushed but not yet consumed, oldest first. Only chunks[0] is partly consumed. */
  private chunks: Buffer[] = [];
  /** How many bytes of chunks[0] are already consumed. Invariant: < chunks[0].length. */
  private offset = 0;
  /** Unconsumed bytes over all chunks: the sum of their lengths minus offset. */
  private buffered = 0;
  /** Length of the body being awaited, or null while awaiting a header. Once set it is always
   *  within 1..maxFrameBytes: it is checked before it is stored. */
  private bodyLength: number | null = null;
  /** Set once push has thrown: the stream is out of step and nothing after it means anything. */
  private failed = false;

  constructor(maxFrameBytes: number) {
    this.maxFrameBytes = checkedMaxFrameBytes(maxFrameBytes);
  }

  /** Bytes appended and not yet taken as frames: complete frames not taken yet, then at most one
   *  unfinished frame. Right after push (or after next returned null) it is only the unfinished
   *  frame, so below FRAME_HEADER_BYTES + the largest length admitted: more would have
   *  completed it. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** Sets the largest frame body accepted from now on: every frame whose header is read after
   *  this call is checked against `maxFrameBytes`. A frame whose header was already read (next
   *  returned null waiting for its body) was admitted under the old limit and completes under
   *  it, whether the limit rose or fell: lowering the limit never fails a frame retroactively. */
  setMaxFrameBytes(maxFrameBytes: number): void {
    this.maxFrameBytes = checkedMaxFrameBytes(maxFrameBytes);
  }

  /** Feeds bytes; returns the complete frame bodies they finish (zero or more), in order.
   *  Throws FrameError as soon as a header announces a length of 0 or above the maximum; the
   *  decoder then drops what it holds and must not be fed again.
   *  The bodies may share memory with the chunks pushed: copy one before keeping it long. */
  push(chunk: Buffer): Buffer[] {
    this.append(chunk);
    const bodies: Buffer[] = [];
    for (let body = this.next(); body !== null; body = this.next()) bodies.push(body);
    assert.ok(this.buffered < (this.bodyLength ?? FRAME_HEADER_BYTES), 'decoder holds more than one unfinished frame');
    return bodies;
  }

  /** Feeds bytes without taking any frame from them: next does that, one frame at a time. */
  append(chunk: Buffer): void {
    assert.ok(!this.failed, 'FrameDecoder fed after a FrameError');
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** The next complete frame body, or null if the bytes appended so far do not complete one.
   *  Throws FrameError as push does. The body may share memory with the chunks appended. */
  next(): Buffer | null {
    assert.ok(!this.failed, 'FrameDecoder read after a FrameError');
    if (this.bodyLength === null) {
      if (this.buffered < FRAME_HEADER_BYTES) return null;
      this.bodyLength = this.checkLength(this.readLength());
    }
    if (this.buffered < this.bodyLength) return null;
    const body = this.consume(this.bodyLength);
    this.bodyLength = null;
    return body;
  }

  /** Drops every byte held, as when the stream is abandoned. The decoder must not be fed again. */
  discard(): void {
    this.failed = true;
    this.chunks = [];
    this.offset = 0;
    this.buffered = 0;
    this.bodyLength = null;
  }

  private checkLength(length: number): number {
    if (length === 0) this.fail(new FrameError('FRAME_EMPTY', 'frame length is 0'));
    if (length > this.maxFrameBytes) {
      this.fail(new FrameError('FRAME_TOO_LARGE', `frame length ${length} exceeds the maximum ${this.maxFrameBytes}`));
    }
    return length;
  }

  private fail(error: FrameError): never {
    this.discard();
    throw error;
  }

  /** Reads the u32 length prefix, without copying when the head chunk holds all of it. */
  private readLength(): number {
    const head = this.chunks[0]!;
    if (head.length - this.offset >= FRAME_HEADER_BYTES) {
      const length = head.readUInt32BE(this.offset);
      this.advance(FRAME_HEADER_BYTES);
      return length;
    }
    return this.consume(FRAME_HEADER_BYTES).readUInt32BE(0);
  }

  /** Takes the next `n` buffered bytes. A view into the head chunk when it holds them all (the
   *  common case, and what keeps 10,000 frames in one chunk linear); otherwise one copy. */
  private consume(n: number): Buffer {
    assert.ok(n >= 1 && n <= this.buffered, 'consume within the buffered bytes');
    const head = this.chunks[0]!;
    if (head.length - this.offset >= n) {
      const view = head.subarray(this.offset, this.offset + n);
      this.advance(n);
      return view;
    }
    const out = Buffer.allocUnsafe(n);
    let copied = 0;
    let index = 0;
    let offset = this.offset;
    while (copied < n) {
      const chunk = this.chunks[index]!;
      const take = Math.min(chunk.length - offset, n - copied);
      chunk.copy(out, copied, offset, offset + take);
      copied += take;
      offset += take;
      if (offset === chunk.length) {
        index += 1;
        offset = 0;
      }
    }
    // One splice for all the chunks used up: shifting them one by one would be quadratic when
    // a large frame arrives in many small chunks.
    this.chunks.splice(0, index);
    this.offset = offset;
    this.buffered -= n;
    return out;
  }

  /** Marks `n` bytes of the head chunk consumed (n never exceeds what it has left). */
  private advance(n: number): void {
    this.offset += n;
    this.buffered -= n;
    if (this.offset === this.chunks[0]!.length) {
      this.chunks.shift();
      this.offset = 0;
    }
  }
}

function checkedMaxFrameBytes(maxFrameBytes: number): number {
  assert.ok(Number.isSafeInteger(maxFrameBytes), 'maxFrameBytes must be an integer');
  assert.ok(maxFrameBytes >= 1 && maxFrameBytes <= FRAME_LENGTH_LIMIT, 'maxFrameBytes must fit a u32 length');
  return maxFrameBytes;
}

/** A frame of `bodyBytes` with its header written and its body left for the caller to fill,
 *  from offset FRAME_HEADER_BYTES on. Every frame sent is built here, so the header format is
 *  written in one place; building the body in place spares a copy of it. */
export function allocateFrame(bodyBytes: number): Buffer {
  assert.ok(bodyBytes >= 1, 'an empty frame is refused by every decoder');
  assert.ok(bodyBytes <= FRAME_LENGTH_LIMIT, 'frame body too long for a u32 length');
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + bodyBytes);
  frame.writeUInt32BE(bodyBytes, 0);
  return frame;
}

/** Header and body in one buffer, so that they leave in one write. */
export function encodeFrame(body: Buffer): Buffer {
  const frame = allocateFrame(body.length);
  body.copy(frame, FRAME_HEADER_BYTES);
  return frame;
}

/** JSON.stringify → UTF-8 → frame, writing the text straight after the header (one copy).
 *  JSON.stringify escapes lone surrogates, so the body is always valid UTF-8. */
export function encodeJsonFrame(value: unknown): Buffer {
  const json = JSON.stringify(value);
  assert.equal(typeof json, 'string', 'value has no JSON form (undefined or a function)');
  const frame = allocateFrame(Buffer.byteLength(json, 'utf8'));
  frame.write(json, FRAME_HEADER_BYTES, 'utf8');
  return frame;
}

// `fatal` makes malformed UTF-8 an error instead of silently becoming U+FFFD; `ignoreBOM` keeps
// a byte-order mark in the text, where JSON.parse refuses it, instead of quietly dropping it.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Strict UTF-8 then JSON.parse. Any failure is a FrameError (BAD_UTF8 or BAD_JSON). */
export function decodeJson(body: Buffer): unknown {
  let text: string;
  try {
    text = strictUtf8.decode(body);
  } catch {
    throw new FrameError('BAD_UTF8', 'frame body is not valid UTF-8');
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    // V8's parse messages quote a short excerpt of the input; that is useful, and bounded.
    throw new FrameError('BAD_JSON', `frame body is not JSON: ${(error as Error).message}`);
  }
}
