// The other end of the floor measurements (floor.ts): a separate Node process, so that loopback
// figures include a real process boundary, as replica-to-replica traffic does. It uses raw
// node:net and a bare u32 length prefix — no JSON, no lib/transport — because the floor is what the
// machine and Node can do, not what our framing layer does.
//
//   echo  every frame received is written straight back (the round-trip partner)
//   sink  frames are counted; when the sender ends the stream, the count and the instant the
//         last byte arrived are reported over IPC (the stream-rate partner)
//
// The listening port goes to the parent over IPC; the process exits when the parent goes away.

import { createServer, type Socket } from 'node:net';
import { epochMs } from './stats.js';

const mode = process.argv[2];
if (mode !== 'echo' && mode !== 'sink') throw new Error(`floor-peer: mode must be echo or sink, got ${mode}`);

/** Counts complete frames in a byte stream fed in arbitrary chunks, keeping only what a partial
 *  header needs; bodies are skipped, never copied. */
class FrameCounter {
  frames = 0;
  /** Body bytes still to skip before the next header. */
  private skip = 0;
  private header = Buffer.alloc(4);
  private headerBytes = 0;

  push(chunk: Buffer): number[] {
    const ends: number[] = []; // offsets in `chunk` where a frame ended (for the echo)
    let offset = 0;
    while (offset < chunk.length) {
      if (this.skip > 0) {
        const take = Math.min(this.skip, chunk.length - offset);
        this.skip -= take;
        offset += take;
        if (this.skip === 0) {
          this.frames++;
          ends.push(offset);
        }
        continue;
      }
      const take = Math.min(4 - this.headerBytes, chunk.length - offset);
      chunk.copy(this.header, this.headerBytes, offset, offset + take);
      this.headerBytes += take;
      offset += take;
      if (this.headerBytes === 4) {
        this.headerBytes = 0;
        this.skip = this.header.readUInt32BE(0);
        if (this.skip === 0) throw new Error('floor-peer: empty frame');
      }
    }
    return ends;
  }
}

function onEcho(socket: Socket): void {
  socket.setNoDelay(true);
  const counter = new FrameCounter();
  // Bytes of a frame not yet complete; echoed together with the chunk that completes it, so
  // the sender reads back exactly the frames it sent.
  let pending: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => {
    const ends = counter.push(chunk);
    if (ends.length === 0) {
      pending.push(chunk);
      return;
    }
    const last = ends.at(-1)!;
    pending.push(chunk.subarray(0, last));
    socket.write(pending.length === 1 ? pending[0]! : Buffer.concat(pending));
    pending = last < chunk.length ? [chunk.subarray(last)] : [];
  });
  socket.on('error', () => socket.destroy());
}

function onSink(socket: Socket): void {
  const counter = new FrameCounter();
  let lastByteAt = 0;
  socket.on('data', (chunk: Buffer) => {
    counter.push(chunk);
    lastByteAt = epochMs();
  });
  socket.on('end', () => {
    process.send?.({ type: 'sink-done', frames: counter.frames, lastByteAt });
    socket.end();
  });
  socket.on('error', () => socket.destroy());
}

const server = createServer(mode === 'echo' ? onEcho : onSink);
server.listen(0, '127.0.0.1', () => {
  process.send?.({ type: 'listening', port: (server.address() as { port: number }).port });
});
process.on('disconnect', () => process.exit(0));
