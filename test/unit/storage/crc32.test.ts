import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { crc32, crc32Portable } from '../../../lib/storage/crc32.js';

// Published check values for CRC-32/ISO-HDLC (the zip/PNG/Ethernet CRC).
const VECTORS: Array<[string, number]> = [
  ['', 0x00000000],
  ['a', 0xe8b7be43],
  ['abc', 0x352441c2],
  ['123456789', 0xcbf43926],
  ['The quick brown fox jumps over the lazy dog', 0x414fa339],
];

for (const [text, expected] of VECTORS) {
  test(`crc32(${JSON.stringify(text)}) = 0x${expected.toString(16).padStart(8, '0')} in both implementations`, () => {
    assert.equal(crc32(Buffer.from(text)), expected);
    assert.equal(crc32Portable(Buffer.from(text)), expected);
  });
}

test('the table version agrees with the exported one on random data of many lengths', () => {
  for (let length = 0; length < 300; length += 7) {
    const data = randomBytes(length);
    assert.equal(crc32Portable(data), crc32(data));
  }
});

test('a CRC can be computed in pieces by passing the running value on', () => {
  const data = randomBytes(1000);
  for (const cut of [0, 1, 500, 999, 1000]) {
    const whole = crc32(data);
    assert.equal(crc32(data.subarray(cut), crc32(data.subarray(0, cut))), whole);
    assert.equal(crc32Portable(data.subarray(cut), crc32Portable(data.subarray(0, cut))), whole);
  }
});

test('a single flipped bit changes the CRC', () => {
  const data = Buffer.from('123456789');
  data[4]! ^= 0x01;
  assert.notEqual(crc32(data), 0xcbf43926);
});
