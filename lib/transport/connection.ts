// A framed JSON connection: turns a byte stream (a net.Socket, or any Duplex) into a stream of
// JSON values in both directions, with backpressure both ways.
//
//   inbound:  bytes → FrameDecoder → decodeJson → 'frame' events. The owner calls
//             pauseReading() while it is busy; the socket is paused, so TCP flow control pushes
//             back on the peer, and frames already decoded wait in a small inbox (at most one
//             chunk's worth) until resumeReading().
//   outbound: send() encodes and writes. Every write issued in one event-loop turn is corked
//             and leaves as one socket write when the turn ends (one writev, one syscall), which
//             is also what lets a server's replies to a burst of requests share a packet.
//             needsDrain and 'drain' are the soft signal (the socket's own high-water mark);
//             highWaterBytes is the hard bound behind it: a peer that stops reading while we
//             keep sending would otherwise grow this process's memory without limit, so such a
//             peer is cut off (ConnectionError SEND_BUFFER_FULL) and can reconnect and resume.
//
// Errors, as in ws: untrusted bytes that are not a frame (oversize, empty, bad UTF-8, bad JSON)
// fail this one connection — 'error' exactly once with the FrameError, then the socket is
// destroyed and 'close' follows. Socket errors (ECONNRESET) fail it the same way. As with any
// EventEmitter, the owner must listen for 'error'.

import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { decodeJson, encodeJsonFrame, FRAME_HEADER_BYTES, FrameDecoder, FrameError } from './frame.js';

interface FramedConnectionOptions {
  /** Largest frame body accepted from the peer. */
  maxFrameBytes: number;
  /** Largest frame body sent to the peer: the peer's own receive limit, which it would close the
   *  connection over. Defaults to maxFrameBytes (both sides alike, as between replicas); a client
   *  connection differs, since replies such as `read` may be larger than any request. */
  maxSendFrameBytes?: number;
  /** Most bytes this connection queues for a peer that is not reading before cutting it off.
   *  At least one maximum frame; default HIGH_WATER_FRAMES maximum frames. */
  highWaterBytes?: number;
}

/** Default hard bound on queued outbound bytes, in maximum-size frames. */
const HIGH_WATER_FRAMES = 64;

type ConnectionErrorCode = 'SEND_BUFFER_FULL' | 'SEND_FRAME_TOO_LARGE';

/** This side could not send (not the bytes the peer sent, which is a FrameError). */
export class ConnectionError extends Error {
  readonly code: ConnectionErrorCode;

  constructor(code: ConnectionErrorCode, message: string) {
    super(message);
    this.name = 'ConnectionError';
    this.code = code;
  }
}

interface FramedConnectionEvents {
  /** One decoded JSON value per frame, in order. Not yet shape-checked: see codec.ts. */
  frame: [value: unknown];
  /** At most once; the connection is already destroyed when it is emitted. */
  error: [error: Error];
  /** Once, when the socket has closed. */
  close: [];
  /** The socket's buffer emptied after needsDrain was true. */
  drain: [];
  /** Bytes arrived that begin or continue a frame not complete yet: the peer is sending us
   *  something large. Emitted once per socket read that leaves a frame unfinished. */
  partial: [bufferedBytes: number];
}

export class FramedConnection extends EventEmitter<FramedConnectionEvents> {
  private readonly socket: Duplex;
  private readonly decoder: FrameDecoder;
  private readonly maxSendFrameBytes: number;
  private readonly highWaterBytes: number;
  /** "host:port" of the peer, kept once known: a destroyed net.Socket forgets it, and a dialing
   *  one does not know it until connected. */
  private knownRemoteAddress: string | null;
  /** Frames decoded but not yet emitted; only non-empty while the owner has paused reading.
   *  Entries before inboxNext have been emitted. */
  private inbox: unknown[] = [];
  private inboxNext = 0;
  /** The owner asked to pause reading. */
  private paused = false;
  /** deliver() is on the stack: a resumeReading() from a 'frame' listener must not re-enter it. */
  private delivering = false;
  /** The socket is corked and a process.nextTick will uncork it. */
  private corked = false;
  private awaitingDrain = false;
  /** close(), destroy() or a failure happened: send() is a no-op and no frame is emitted. */
  private ended = false;
  private errorEmitted = false;
  private closeEmitted = false;

  constructor(socket: Duplex, options: FramedConnectionOptions) {
    super();
    const maxSendFrameBytes = options.maxSendFrameBytes ?? options.maxFrameBytes;
    const highWaterBytes = options.highWaterBytes ?? HIGH_WATER_FRAMES * maxSendFrameBytes;
    assert.ok(highWaterBytes >= FRAME_HEADER_BYTES + maxSendFrameBytes, 'highWaterBytes must hold one maximum frame');
    this.socket = socket;
    this.decoder = new FrameDecoder(options.maxFrameBytes);
    this.maxSendFrameBytes = maxSendFrameBytes;
    this.highWaterBytes = highWaterBytes;
    this.knownRemoteAddress = describePeer(socket);
    // We batch writes ourselves (cork per turn), so Nagle's algorithm could only add delay:
    // with delayed ACKs on the peer, a small reply could wait tens of milliseconds.
    if (socket instanceof Socket) socket.setNoDelay(true);
    socket.once('connect', () => (this.knownRemoteAddress ??= describePeer(socket)));
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.onDrain());
    socket.on('error', (error: Error) => this.fail(error));
    // The peer has finished sending. Any partial frame it left behind will never complete (it
    // crashed mid-write, or it is broken); finish our side too, so that a Duplex that allows
    // half-open streams does not linger.
    socket.on('end', () => this.close());
    socket.on('close', () => this.onClose());
  }

  /** "host:port" ("[v6]:port") of the peer, or "unknown" (not connected yet, or not a socket). */
  get remoteAddress(): string {
    this.knownRemoteAddress ??= describePeer(this.socket);
    return this.knownRemoteAddress ?? 'unknown';
  }

  /** Bytes queued in the socket and not yet flushed to the kernel (the backpressure signal). */
  get writableLength(): number {
    return this.socket.writableLength;
  }

  /** True after a socket write returned false (its buffer passed its high-water mark), until
   *  'drain'. A polite owner stops sending meanwhile. */
  get needsDrain(): boolean {
    return this.awaitingDrain;
  }

  /** Encodes `value` and queues it. A no-op once the connection is ending or closed: whoever
   *  sends has no way to stop a peer from hanging up first.
   *  Two sends fail the connection instead ('error' with a ConnectionError, emitted before send
   *  returns; the frame is dropped): a frame bigger than maxSendFrameBytes (SEND_FRAME_TOO_LARGE —
   *  the peer would close the connection over it anyway, and this way the log says which side
   *  was at fault), and one that would queue more than highWaterBytes (SEND_BUFFER_FULL).
   *  Neither throws: a reply that turns out too big must not crash the process sending it. */
  send(value: unknown): void {
    if (this.ended || !this.socket.writable) return;
    this.sendFrame(encodeJsonFrame(value));
  }

  /** Like send(), for a frame already encoded with encodeJsonFrame — so that a message going to
   *  several peers is serialised once, not once per peer. */
  sendFrame(frame: Buffer): void {
    if (this.ended || !this.socket.writable) return;
    const bodyBytes = frame.length - FRAME_HEADER_BYTES;
    if (bodyBytes > this.maxSendFrameBytes) {
      this.fail(new ConnectionError('SEND_FRAME_TOO_LARGE', `a frame of ${bodyBytes} bytes for ${this.remoteAddress} exceeds the maximum ${this.maxSendFrameBytes}`));
      return;
    }
    if (this.socket.writableLength + frame.length > this.highWaterBytes) {
      this.fail(new ConnectionError('SEND_BUFFER_FULL', `peer ${this.remoteAddress} is not reading: more than ${this.highWaterBytes} bytes queued`));
      return;
    }
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => this.uncork());
    }
    if (!this.socket.write(frame)) this.awaitingDrain = true;
  }

  /** Stops emitting frames and stops reading the socket until resumeReading(). */
  pauseReading(): void {
    this.paused = true;
    this.socket.pause();
  }

  resumeReading(): void {
    this.paused = false;
    this.deliver();
    // A 'frame' listener may have paused again, or closed, while the inbox was delivered.
    if (!this.paused && !this.ended) this.socket.resume();
  }

  /** Graceful end: what was sent leaves first, then our side of the stream is finished. */
  close(): void {
    if (this.ended) return;
    this.ended = true;
    this.discardInbox();
    this.uncork();
    this.socket.end();
    // Keep reading (and ignoring) until the peer finishes too, or the socket would never see
    // the peer's FIN and close — in particular if the owner had paused reading.
    this.socket.resume();
  }

  /** Immediate end: anything still queued is dropped. */
  destroy(): void {
    this.ended = true;
    this.discardInbox();
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    assert.ok(Buffer.isBuffer(chunk), 'socket must deliver Buffers (no setEncoding)');
    if (this.ended) return;
    let values: unknown[];
    try {
      // Decode the whole chunk before emitting any of it: a chunk holding a bad frame fails
      // the connection without half of it having been acted on.
      values = this.decoder.push(chunk).map(decodeJson);
    } catch (error) {
      if (!(error instanceof FrameError)) throw error; // a bug here, not bad input
      this.fail(error);
      return;
    }
    if (this.inboxNext === this.inbox.length) {
      this.inbox = values;
      this.inboxNext = 0;
    } else {
      for (const value of values) this.inbox.push(value);
    }
    this.deliver();
    if (this.decoder.bufferedBytes > 0 && !this.ended) this.emit('partial', this.decoder.bufferedBytes);
  }

  /** Emits inbox frames until the inbox is empty or the owner pauses or ends the connection. */
  private deliver(): void {
    if (this.delivering) return; // re-entered from a listener: the running loop carries on
    this.delivering = true;
    try {
      while (!this.paused && !this.ended && this.inboxNext < this.inbox.length) {
        const value = this.inbox[this.inboxNext];
        this.inbox[this.inboxNext] = undefined; // let it be collected once handled
        this.inboxNext += 1;
        this.emit('frame', value);
      }
    } finally {
      this.delivering = false;
    }
    if (this.inboxNext === this.inbox.length) this.discardInbox();
  }

  private discardInbox(): void {
    this.inbox = [];
    this.inboxNext = 0;
  }

  private uncork(): void {
    if (!this.corked) return;
    this.corked = false;
    if (!this.socket.destroyed) this.socket.uncork();
  }

  private onDrain(): void {
    if (!this.awaitingDrain) return;
    this.awaitingDrain = false;
    this.emit('drain');
  }

  /** Reports `error` once and destroys the socket; 'close' follows. */
  private fail(error: Error): void {
    if (this.errorEmitted || this.closeEmitted) return;
    this.errorEmitted = true;
    this.destroy();
    this.emit('error', error);
  }

  private onClose(): void {
    if (this.closeEmitted) return;
    this.closeEmitted = true;
    this.ended = true;
    this.discardInbox();
    this.emit('close');
  }
}

function describePeer(socket: Duplex): string | null {
  const { remoteAddress, remotePort } = socket as Partial<Socket>;
  if (remoteAddress === undefined || remotePort === undefined) return null;
  return remoteAddress.includes(':') ? `[${remoteAddress}]:${remotePort}` : `${remoteAddress}:${remotePort}`;
}
