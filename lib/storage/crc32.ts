// CRC-32 (IEEE 802.3, the polynomial of zip, PNG and Ethernet): the checksum in every record
// header and small-file header. It catches torn and flipped bytes; it is not a defence against
// an adversary, only against the disk.
//
// Node ≥ 20.15 ships zlib.crc32 (native, many times faster than any JavaScript loop); older
// Node 20 releases do not, so the classic table-driven version stays as the fallback and as the
// readable definition. Both take a running value, so a long input can be checksummed in pieces:
// crc32(b, crc32(a)) === crc32(a ++ b).

import * as zlib from 'node:zlib';

/** The reflected form of polynomial 0x04C11DB7, as the table-driven algorithm wants it. */
const POLYNOMIAL_REFLECTED = 0xedb88320;

/** TABLE[n] is the CRC of the single byte n: eight shift-and-xor steps done once, up front. */
const TABLE = buildTable();

function buildTable(): Uint32Array {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let bit = 0; bit < 8; bit++) c = c & 1 ? POLYNOMIAL_REFLECTED ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

/** CRC-32 of `data`, continuing from `running` (the CRC of everything before it; 0 to start). */
export function crc32Portable(data: Uint8Array, running = 0): number {
  let c = (running ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++) c = TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// The type of zlib.crc32 is declared even where the function is missing at run time, hence the
// explicit check rather than trusting the import.
const nativeCrc32 = typeof zlib.crc32 === 'function' ? zlib.crc32 : null;

/** CRC-32 of `data`, continuing from `running`; uses zlib's native implementation if present. */
export const crc32: (data: Uint8Array, running?: number) => number =
  nativeCrc32 === null ? crc32Portable : (data, running = 0) => nativeCrc32(data, running);
