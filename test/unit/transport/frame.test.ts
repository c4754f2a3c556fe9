// FrameDecoder and the JSON frame helpers: any split of the byte stream gives the same frames,
// limits are enforced before a body is buffered, and no input makes the decoder do anything but
// return frames or throw a FrameError.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeJson,
  encodeFrame,
  encodeJsonFrame,
  FRAME_HEADER_BYTES,
  FrameDecoder,
  FrameError,
  type FrameErrorCode,
} from '../../../lib/transport/frame.js';

const MAX = 1024;

const frameOf = (text: string): Buffer => encodeFrame(Buffer.from(text, 'utf8'));
const header = (length: number): Buffer => {
  const bytes = Buffer.alloc(FRAME_HEADER_BYTES);
  bytes.writeUInt32BE(length, 0);
  return bytes;
};
const texts = (bodies: Buffer[]): string[] => bodies.map((body) => body.toString('utf8'));

/** Feeds `chunks` to a fresh decoder and returns every body, as text. */
function decodeAll(chunks: Buffer[], max = MAX): string[] {
  const decoder = new FrameDecoder(max);
  const out = chunks.flatMap((chunk) => texts(decoder.push(chunk)));
  assert.equal(decoder.bufferedBytes, 0, 'every byte fed belonged to a complete frame');
  return out;
}

function isFrameError(code: FrameErrorCode) {
  return (error: unknown) => error instanceof FrameError && error.code === code;
}

/** mulberry32: a tiny seeded PRNG, so that a failing fuzz case can be replayed from its seed. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const STREAM_TEXTS = ['{"a":1}', 'é', '[true,null,"x"]'];
const STREAM = Buffer.concat(STREAM_TEXTS.map(frameOf));

test('a frame is its length, big-endian, then its body', () => {
  assert.deepEqual([...frameOf('hi')], [0, 0, 0, 2, 0x68, 0x69]);
  assert.deepEqual(decodeAll([frameOf('hi')]), ['hi']);
});

test('several frames in one chunk come out in order', () => {
  assert.deepEqual(decodeAll([STREAM]), STREAM_TEXTS);
});

test('a stream split at any one byte position gives the same frames', () => {
  for (let cut = 0; cut <= STREAM.length; cut++) {
    assert.deepEqual(decodeAll([STREAM.subarray(0, cut), STREAM.subarray(cut)]), STREAM_TEXTS, `cut at ${cut}`);
  }
});

test('a stream split at any two byte positions gives the same frames', () => {
  for (let first = 0; first <= STREAM.length; first++) {
    for (let second = first; second <= STREAM.length; second++) {
      const chunks = [STREAM.subarray(0, first), STREAM.subarray(first, second), STREAM.subarray(second)];
      assert.deepEqual(decodeAll(chunks), STREAM_TEXTS, `cuts at ${first} and ${second}`);
    }
  }
});

test('a stream fed one byte at a time gives the same frames, each when its last byte arrives', () => {
  const decoder = new FrameDecoder(MAX);
  const ends = new Set<number>();
  let end = 0;
  for (const text of STREAM_TEXTS) ends.add((end += FRAME_HEADER_BYTES + Buffer.byteLength(text)) - 1);
  const out: string[] = [];
  for (let i = 0; i < STREAM.length; i++) {
    const bodies = decoder.push(STREAM.subarray(i, i + 1));
    assert.equal(bodies.length, ends.has(i) ? 1 : 0, `byte ${i}`);
    out.push(...texts(bodies));
  }
  assert.deepEqual(out, STREAM_TEXTS);
});

test('a header split across chunks is reassembled', () => {
  const frame = frameOf('split header');
  for (const cut of [1, 2, 3]) {
    const decoder = new FrameDecoder(MAX);
    assert.deepEqual(decoder.push(frame.subarray(0, cut)), []);
    assert.equal(decoder.bufferedBytes, cut);
    assert.deepEqual(texts(decoder.push(frame.subarray(cut))), ['split header']);
  }
  // And a header spread over three chunks, with the body arriving with its last byte.
  assert.deepEqual(decodeAll([frame.subarray(0, 1), frame.subarray(1, 2), frame.subarray(2)]), ['split header']);
});

test('an empty chunk changes nothing', () => {
  const decoder = new FrameDecoder(MAX);
  assert.deepEqual(decoder.push(Buffer.alloc(0)), []);
  assert.deepEqual(texts(decoder.push(frameOf('x'))), ['x']);
});

test('10,000 frames in one chunk all come out, as views of that chunk (no copy per frame)', () => {
  const values = Array.from({ length: 10_000 }, (_, i) => ({ n: i, text: 'x'.repeat(i % 50) }));
  const chunk = Buffer.concat(values.map(encodeJsonFrame));
  const bodies = new FrameDecoder(MAX).push(chunk);
  assert.equal(bodies.length, values.length);
  assert.deepEqual(bodies.map(decodeJson), values);
  // Zero-copy is what keeps one big chunk linear: each body is a window on the input buffer.
  assert.ok(bodies.every((body) => body.buffer === chunk.buffer));
});

test('a maximum-size frame in many small chunks is copied once, and the decoder never holds more than one frame', () => {
  const body = Buffer.alloc(MAX, 0x61);
  const frame = encodeFrame(body);
  const decoder = new FrameDecoder(MAX);
  const out: Buffer[] = [];
  for (let offset = 0; offset < frame.length; offset += 7) {
    out.push(...decoder.push(frame.subarray(offset, offset + 7)));
    assert.ok(decoder.bufferedBytes < FRAME_HEADER_BYTES + MAX);
  }
  assert.equal(out.length, 1);
  assert.ok(out[0]!.equals(body));
});

test('a frame of exactly the maximum size is accepted', () => {
  assert.deepEqual(decodeAll([encodeFrame(Buffer.alloc(MAX, 0x62))]), ['b'.repeat(MAX)]);
});

test('a frame one byte over the maximum is refused as soon as its header is complete', () => {
  const decoder = new FrameDecoder(MAX);
  assert.deepEqual(decoder.push(header(MAX + 1).subarray(0, 3)), []);
  assert.throws(() => decoder.push(header(MAX + 1).subarray(3)), isFrameError('FRAME_TOO_LARGE'));
  assert.equal(decoder.bufferedBytes, 0, 'what was buffered is released');
});

test('the header of a huge frame is refused without buffering its body', () => {
  const decoder = new FrameDecoder(64 * 1024);
  // 4 GiB announced, and a first slice of body in the same chunk: none of it is kept.
  assert.throws(() => decoder.push(Buffer.concat([header(0xffff_ffff), Buffer.alloc(1000)])), isFrameError('FRAME_TOO_LARGE'));
  assert.equal(decoder.bufferedBytes, 0);
  const fresh = new FrameDecoder(64 * 1024);
  assert.throws(() => fresh.push(header(64 * 1024 + 1)), isFrameError('FRAME_TOO_LARGE'));
  assert.equal(fresh.bufferedBytes, 0);
});

test('a valid frame before an oversize header in the same stream is returned by the push that completed it', () => {
  const decoder = new FrameDecoder(MAX);
  assert.deepEqual(texts(decoder.push(frameOf('ok'))), ['ok']);
  assert.throws(() => decoder.push(header(MAX + 1)), isFrameError('FRAME_TOO_LARGE'));
});

test('a zero-length frame is refused', () => {
  assert.throws(() => new FrameDecoder(MAX).push(header(0)), isFrameError('FRAME_EMPTY'));
  assert.throws(() => new FrameDecoder(MAX).push(Buffer.concat([frameOf('x'), header(0)])), isFrameError('FRAME_EMPTY'));
});

test('feeding a decoder after it threw is a bug and throws an AssertionError', () => {
  const decoder = new FrameDecoder(MAX);
  assert.throws(() => decoder.push(header(0)), FrameError);
  assert.throws(() => decoder.push(frameOf('x')), assert.AssertionError);
});

test('a decoder must be built with a maximum a u32 length can state', () => {
  assert.throws(() => new FrameDecoder(0), assert.AssertionError);
  assert.throws(() => new FrameDecoder(2 ** 32), assert.AssertionError);
  assert.throws(() => new FrameDecoder(1.5), assert.AssertionError);
  assert.throws(() => new FrameDecoder(MAX).setMaxFrameBytes(0), assert.AssertionError);
});

test('append then next takes the frames one at a time, leaving the rest buffered', () => {
  const decoder = new FrameDecoder(MAX);
  decoder.append(Buffer.concat([frameOf('one'), frameOf('two'), frameOf('thr')]));
  assert.equal(decoder.next()?.toString(), 'one');
  assert.equal(decoder.bufferedBytes, 2 * (FRAME_HEADER_BYTES + 3), 'the frames not taken stay buffered');
  assert.deepEqual(texts(decoder.push(Buffer.alloc(0))), ['two', 'thr']);
  assert.equal(decoder.next(), null);
});

test('setMaxFrameBytes applies from the next header read; a frame already admitted completes', () => {
  const decoder = new FrameDecoder(4);
  decoder.append(Buffer.concat([frameOf('auth'), frameOf('longer')]));
  assert.equal(decoder.next()?.toString(), 'auth');
  decoder.setMaxFrameBytes(MAX); // raised between two frames of one chunk
  assert.equal(decoder.next()?.toString(), 'longer');
  const begun = frameOf('x'.repeat(100));
  assert.deepEqual(decoder.push(begun.subarray(0, 10)), []);
  decoder.setMaxFrameBytes(8); // lowered while a frame of 100 is awaited
  assert.deepEqual(texts(decoder.push(Buffer.concat([begun.subarray(10), frameOf('small')]))), ['x'.repeat(100), 'small']);
  assert.throws(() => decoder.push(frameOf('nine byte')), isFrameError('FRAME_TOO_LARGE'));
});

test('discard drops what is buffered, and the decoder is not fed again', () => {
  const decoder = new FrameDecoder(MAX);
  decoder.append(frameOf('abandoned').subarray(0, 6));
  decoder.discard();
  assert.equal(decoder.bufferedBytes, 0);
  assert.throws(() => decoder.append(frameOf('x')), assert.AssertionError);
});

/** Bytes that look like frames often enough to reach every outcome: a mostly plausible length
 *  (sometimes 0 or too large) followed by bytes drawn from JSON punctuation, ASCII, and anything. */
function garbage(random: () => number, max: number): Buffer {
  const JSONISH = Buffer.from('{}[]":,0123456789 truefalsenull\\u00e9');
  const parts: Buffer[] = [];
  for (let frames = 0; frames < 8; frames++) {
    const roll = random();
    const length = roll < 0.04 ? 0 : roll < 0.1 ? max + 1 + Math.floor(random() * 1e6) : 1 + Math.floor(random() * max);
    const body = Buffer.alloc(Math.min(length, max));
    for (let i = 0; i < body.length; i++) {
      const pick = random();
      body[i] = pick < 0.7 ? JSONISH[Math.floor(random() * JSONISH.length)]! : Math.floor(random() * 256);
    }
    parts.push(header(length), body);
  }
  return Buffer.concat(parts);
}

test('fuzz: random frame-like bytes in random chunks give frames within the limit or a FrameError, nothing else', () => {
  const outcomes = new Map<string, number>();
  const count = (outcome: string) => outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
  for (let seed = 1; seed <= 500; seed++) {
    const random = prng(seed);
    const max = 1 + Math.floor(random() * 16);
    const bytes = garbage(random, max);
    const decoder = new FrameDecoder(max);
    try {
      for (let offset = 0; offset < bytes.length; ) {
        const size = 1 + Math.floor(random() * 40);
        for (const body of decoder.push(bytes.subarray(offset, offset + size))) {
          assert.ok(body.length >= 1 && body.length <= max, `seed ${seed}: body within limits`);
          try {
            decodeJson(body);
            count('json');
          } catch (error) {
            assert.ok(error instanceof FrameError, `seed ${seed}: decodeJson threw ${String(error)}`);
            count(error.code);
          }
        }
        offset += size;
      }
      count('stream-ok');
    } catch (error) {
      assert.ok(error instanceof FrameError, `seed ${seed}: push threw ${String(error)}`);
      count(error.code);
    }
  }
  // The generator must reach every outcome, or this test proves less than it claims.
  for (const outcome of ['json', 'BAD_JSON', 'BAD_UTF8', 'FRAME_TOO_LARGE', 'FRAME_EMPTY', 'stream-ok']) {
    assert.ok((outcomes.get(outcome) ?? 0) > 0, `fuzzing never produced ${outcome}`);
  }
});

test('fuzz: valid frames cut into random chunks always decode to exactly the frames sent', () => {
  for (let seed = 1; seed <= 200; seed++) {
    const random = prng(seed);
    const values = Array.from({ length: 1 + Math.floor(random() * 30) }, (_, i) => ({ i, pad: 'é'.repeat(Math.floor(random() * 20)) }));
    const stream = Buffer.concat(values.map(encodeJsonFrame));
    const chunks: Buffer[] = [];
    for (let offset = 0; offset < stream.length; ) {
      const size = Math.floor(random() * 60); // zero-length chunks included
      chunks.push(stream.subarray(offset, offset + size));
      offset += size;
    }
    assert.deepEqual(decodeAll(chunks).map((text) => JSON.parse(text)), values, `seed ${seed}`);
  }
});

test('encodeJsonFrame writes the UTF-8 byte length, not the string length', () => {
  const frame = encodeJsonFrame({ text: 'héllo 😀' });
  const json = '{"text":"héllo 😀"}';
  assert.equal(frame.readUInt32BE(0), Buffer.byteLength(json));
  assert.equal(frame.subarray(FRAME_HEADER_BYTES).toString('utf8'), json);
});

test('encodeJsonFrame keeps a lone surrogate as an escape, so the body is still valid UTF-8', () => {
  const frame = encodeJsonFrame({ text: 'a\ud800b' });
  assert.deepEqual(decodeJson(frame.subarray(FRAME_HEADER_BYTES)), { text: 'a\ud800b' });
});

test('encoding nothing is a bug: an empty body or a value with no JSON form', () => {
  assert.throws(() => encodeFrame(Buffer.alloc(0)), assert.AssertionError);
  assert.throws(() => encodeJsonFrame(undefined), assert.AssertionError);
});

test('decodeJson refuses invalid UTF-8', () => {
  const cases: Array<[string, number[]]> = [
    ['a lone continuation byte', [0x22, 0x80, 0x22]],
    ['an overlong encoding of "/"', [0x22, 0xc0, 0xaf, 0x22]],
    ['a truncated three-byte sequence', [0x22, 0xe2, 0x82, 0x22]],
    ['an encoded surrogate', [0x22, 0xed, 0xa0, 0x80, 0x22]],
    ['a code point above U+10FFFF', [0x22, 0xf4, 0x90, 0x80, 0x80, 0x22]],
    ['a 0xFF byte', [0xff]],
  ];
  for (const [name, bytes] of cases) {
    assert.throws(() => decodeJson(Buffer.from(bytes)), isFrameError('BAD_UTF8'), name);
  }
  assert.equal(decodeJson(Buffer.from('"€😀"')), '€😀');
});

test('decodeJson refuses text that is not JSON', () => {
  for (const text of ['{', '{"a":1', "{'a':1}", 'undefined', '{"a":1}x', '\ufeff{}', 'NaN', '']) {
    assert.throws(() => decodeJson(Buffer.from(text, 'utf8')), isFrameError('BAD_JSON'), JSON.stringify(text));
  }
  assert.deepEqual(decodeJson(Buffer.from(' {"a":[1,2]} ')), { a: [1, 2] });
});

test('decodeJson keeps "__proto__" as an ordinary own field, so it cannot change a prototype', () => {
  const value = decodeJson(Buffer.from('{"__proto__":{"polluted":true}}')) as Record<string, unknown>;
  assert.ok(Object.hasOwn(value, '__proto__'));
  assert.equal(Object.getPrototypeOf(value), Object.prototype);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});
