// Throughput of the wire layer, measured and reported, never asserted (a benchmark is not a
// test). Run: node --import tsx test/unit/transport/measure.ts
// measureWire() is exported so that `make bench` can put these numbers in its table.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, connect, type AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { FramedConnection } from '../../../lib/transport/connection.js';
import { decodeJson, encodeJsonFrame, FrameDecoder } from '../../../lib/transport/frame.js';

const BODY_BYTES = 200;
const FRAMES = 200_000;
/** What one socket read typically hands over. */
const CHUNK_BYTES = 64 * 1024;
const MAX_FRAME_BYTES = 64 * 1024;

export interface WireMeasurements {
  bodyBytes: number;
  decodeFramesPerSecond: number;
  decodeJsonFramesPerSecond: number;
  encodeFramesPerSecond: number;
  loopbackFramesPerSecond: number;
}

/** A push frame whose JSON body is exactly BODY_BYTES long. */
function sampleValue(id: number): unknown {
  const shell = { type: 'push', message: { id, from: 'alice', to: 'bob', text: '', at: 1_700_000_000_000 } };
  const padding = BODY_BYTES - Buffer.byteLength(JSON.stringify(shell));
  shell.message.text = 'x'.repeat(padding);
  return shell;
}

function perSecond(count: number, run: () => void): number {
  const start = performance.now();
  run();
  return count / ((performance.now() - start) / 1000);
}

function chunked(stream: Buffer): Buffer[] {
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < stream.length; offset += CHUNK_BYTES) chunks.push(stream.subarray(offset, offset + CHUNK_BYTES));
  return chunks;
}

async function loopback(values: unknown[]): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection');
  const sender = new FramedConnection(connect((server.address() as AddressInfo).port, '127.0.0.1'), { maxFrameBytes: MAX_FRAME_BYTES });
  const receiver = new FramedConnection((await accepted)[0], { maxFrameBytes: MAX_FRAME_BYTES });
  let received = 0;
  const done = new Promise<void>((resolve) => receiver.on('frame', () => ++received === values.length && resolve()));
  const start = performance.now();
  let next = 0;
  // Send in bursts of 1,000 per turn, waiting for 'drain' whenever the socket asks for it.
  const pump = (): void => {
    const end = Math.min(next + 1000, values.length);
    while (next < end) sender.send(values[next++]);
    if (next === values.length) return;
    if (sender.needsDrain) sender.once('drain', pump);
    else setImmediate(pump);
  };
  pump();
  await done;
  const rate = values.length / ((performance.now() - start) / 1000);
  sender.destroy();
  receiver.destroy();
  server.close();
  return rate;
}

export async function measureWire(): Promise<WireMeasurements> {
  const values = Array.from({ length: FRAMES }, (_, i) => sampleValue(i));
  assert.equal(encodeJsonFrame(values[0]).length, 4 + BODY_BYTES);
  let frames: Buffer[] = [];
  const encodeFramesPerSecond = perSecond(FRAMES, () => (frames = values.map(encodeJsonFrame)));
  const chunks = chunked(Buffer.concat(frames));
  let decoded = 0;
  const decodeFramesPerSecond = perSecond(FRAMES, () => {
    const decoder = new FrameDecoder(MAX_FRAME_BYTES);
    for (const chunk of chunks) decoded += decoder.push(chunk).length;
  });
  const decodeJsonFramesPerSecond = perSecond(FRAMES, () => {
    const decoder = new FrameDecoder(MAX_FRAME_BYTES);
    for (const chunk of chunks) for (const body of decoder.push(chunk)) decodeJson(body);
  });
  assert.equal(decoded, FRAMES);
  const loopbackFramesPerSecond = await loopback(values);
  return { bodyBytes: BODY_BYTES, decodeFramesPerSecond, decodeJsonFramesPerSecond, encodeFramesPerSecond, loopbackFramesPerSecond };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const results = await measureWire();
  for (const [name, value] of Object.entries(results)) console.log(`${name.padEnd(28)} ${Math.round(value).toLocaleString('en-US')}`);
}
