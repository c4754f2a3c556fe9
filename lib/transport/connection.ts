// A framed JSON connection: turns a byte stream (a net.Socket, or any Duplex) into a stream of
// JSON values in both directions, with backpressure both ways.
//
//   inbound:  bytes → FrameDecoder → decodeJson → 'frame' events, in bounded slices: at most
//             framesPerTurn frames are taken, decoded and emitted per event-loop turn, and the
//             rest waits for the next turn (setImmediate), so that one connection's burst never
//             keeps timers (the replica's tick) or other sockets (peer traffic) waiting longer
//             than one slice. Frames are decoded one at a time, as they are emitted. The socket
//             is read only while every complete frame received has been emitted: a connection
//             holds at most one socket read of unhandled frames plus one unfinished frame, and
//             otherwise leaves the bytes to TCP flow control, which pushes back on the peer.
//             An optional InboundBudget, shared by all connections of a server, bounds their
//             sum (inbound-budget.ts). The owner calls pauseReading() while it is busy; frames
//             then wait likewise until resumeReading(). See docs/security.md, "Work per
//             connection".
//   outbound: send() encodes and writes. Every write issued in one event-loop turn is corked
//             and leaves as one socket write when the turn ends (one writev, one syscall), which
//             is also what lets a server's replies to a burst of requests share a packet.
//             needsDrain and 'drain' are the soft signal (the socket's own high-water mark);
//             highWaterBytes is the hard bound behind it: a peer that stops reading while we
//             keep sending would otherwise grow this process's memory without limit, so such a
//             peer is cut off (ConnectionError SEND_BUFFER_FULL) and can reconnect and resume.
//
// Errors, as in ws: untrusted bytes that are not a frame (oversize, empty, bad UTF-8, bad JSON)
// fail this one connection when it is reached — the frames before it are emitted, none after
// it — with 'error' exactly once with the FrameError; then the socket is destroyed and 'close'
// follows. Socket errors (ECONNRESET) fail it the same way. As with any
// EventEmitter, the owner must listen for 'error'.

import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { decodeJson, encodeJsonFrame, FRAME_HEADER_BYTES, FrameDecoder, FrameError } from './frame.js';
import type { InboundBudget } from './inbound-budget.js';

interface FramedConnectionOptions {
  /** Largest frame body accepted from the peer (until setMaxFrameBytes). */
  maxFrameBytes: number;
  /** Largest frame body sent to the peer: the peer's own receive limit, which it would close the
   *  connection over. Defaults to maxFrameBytes (both sides alike, as between replicas); a client
   *  connection differs, since replies such as `read` may be larger than any request. */
  maxSendFrameBytes?: number;
  /** Most bytes this connection queues for a peer that is not reading before cutting it off.
   *  At least one maximum frame; default HIGH_WATER_FRAMES maximum frames. */
  highWaterBytes?: number;
  /** Most frames emitted in one event-loop turn. Default FRAMES_PER_TURN. */
  framesPerTurn?: number;
  /** Shared with the other connections of the same server, to bound what they hold and handle
   *  together. None by default: this connection's own bounds only. */
  budget?: InboundBudget;
  /** Milliseconds on a clock that never goes back, for unfinishedFrame: performance.now()
   *  unless a test injects one. */
  now?: () => number;
}

/** Default hard bound on queued outbound bytes, in maximum-size frames. */
const HIGH_WATER_FRAMES = 64;

/** Default frames per slice. Handling a client frame costs microseconds (tens at worst, with a
 *  log line), so a slice of 64 takes about a millisecond — far below the 50 ms heartbeat — while
 *  a client pipelining a normal amount (a few dozen requests) still has them all handled in the
 *  turn they arrive, and the cost of yielding (one setImmediate) is spread over 64 frames. */
export const FRAMES_PER_TURN = 64;

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
   *  something large. Emitted once per socket read that leaves a frame unfinished, when every
   *  frame before it has been emitted. */
  partial: [bufferedBytes: number];
}

/** A frame that has begun to arrive and is not complete. */
export interface UnfinishedFrame {
  /** Bytes of it received so far (its header included while the header is incomplete). */
  bytes: number;
  /** When it was first found unfinished (the `now` clock): every frame before it had been
   *  emitted, and its bytes had not all arrived. */
  since: number;
}

export class FramedConnection extends EventEmitter<FramedConnectionEvents> {
  private readonly socket: Duplex;
  private readonly decoder: FrameDecoder;
  private readonly maxSendFrameBytes: number;
  private readonly highWaterBytes: number;
  private readonly framesPerTurn: number;
  private readonly budget: InboundBudget | null;
  private readonly now: () => number;
  /** "host:port" of the peer, kept once known: a destroyed net.Socket forgets it, and a dialing
   *  one does not know it until connected. */
  private knownRemoteAddress: string | null;
  /** The owner asked to pause reading. */
  private paused = false;
  /** deliver() is on the stack: a resumeReading() from a 'frame' listener must not re-enter it. */
  private delivering = false;
  /** A setImmediate will deliver the next slice. */
  private sliceQueued = false;
  /** The decoder holds no complete frame (the last decoder.next() returned null): only then is
   *  the socket read. */
  private awaitingBytes = true;
  /** Bytes were read since 'partial' was last emitted. */
  private unreportedRead = false;
  /** When the frame the decoder holds unfinished was first found so, or null. */
  private unfinishedSince: number | null = null;
  /** decoder.bufferedBytes as last reported to the budget. */
  private heldBytes = 0;
  private readonly checkReading = () => this.updateReading();
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
    this.framesPerTurn = options.framesPerTurn ?? FRAMES_PER_TURN;
    assert.ok(Number.isSafeInteger(this.framesPerTurn) && this.framesPerTurn >= 1, 'framesPerTurn must be a positive integer');
    this.budget = options.budget ?? null;
    this.budget?.join(this.checkReading);
    this.now = options.now ?? (() => performance.now());
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

  /** Bytes received and not yet emitted as frames: complete frames waiting for their turn,
   *  then at most one unfinished frame. */
  get bufferedBytes(): number {
    return this.decoder.bufferedBytes;
  }

  /** The frame the peer has begun and not finished, or null: what an owner watches to drop a
   *  peer that sends a frame a byte at a time. Null too while complete frames wait to be
   *  emitted, since then the delay is ours. */
  get unfinishedFrame(): UnfinishedFrame | null {
    if (this.unfinishedSince === null) return null;
    return { bytes: this.decoder.bufferedBytes, since: this.unfinishedSince };
  }

  /** Sets the largest frame body accepted from the peer from the next frame on — say a few KiB
   *  before a handshake, then the protocol's maximum once the peer is authenticated. Every frame
   *  not yet emitted whose header has not been read is held to the new limit, including frames
   *  already received in the same read (they are decoded one at a time, as they are emitted),
   *  so a 'frame' listener that raises the limit lets the frame after it through. A frame
   *  found unfinished before the call was admitted under the old limit and completes under it
   *  (FrameDecoder.setMaxFrameBytes). The limit on frames sent (maxSendFrameBytes) is
   *  unchanged. */
  setMaxFrameBytes(maxFrameBytes: number): void {
    this.decoder.setMaxFrameBytes(maxFrameBytes);
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
    this.updateReading();
  }

  /** Emits the frames already received (one slice now, the rest in the turns after), then
   *  reads the socket again. */
  resumeReading(): void {
    this.paused = false;
    this.deliver();
  }

  /** Graceful end: what was sent leaves first, then our side of the stream is finished. */
  close(): void {
    if (this.ended) return;
    this.ended = true;
    this.discardInbound();
    this.uncork();
    this.socket.end();
    // Keep reading (and ignoring) until the peer finishes too, or the socket would never see
    // the peer's FIN and close — in particular if the owner had paused reading.
    this.socket.resume();
  }

  /** Immediate end: anything still queued is dropped. */
  destroy(): void {
    this.ended = true;
    this.discardInbound();
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    assert.ok(Buffer.isBuffer(chunk), 'socket must deliver Buffers (no setEncoding)');
    if (this.ended) return;
    this.decoder.append(chunk);
    this.unreportedRead = true;
    this.awaitingBytes = false;
    // With a slice already queued the bytes wait for it (a stream that emits data while paused
    // must not get a second slice into this turn).
    if (this.sliceQueued) this.holdForBudget();
    else this.deliver();
  }

  /** Emits one slice of frames, queues the next slice if frames may remain, and reads the
   *  socket again only if none do. */
  private deliver(): void {
    if (this.delivering) return; // re-entered from a listener: the running loop carries on
    this.delivering = true;
    try {
      if (this.emitSlice() === 'more') this.queueSlice();
    } finally {
      this.delivering = false;
    }
    this.holdForBudget();
    this.updateReading();
  }

  /** Emits up to framesPerTurn frames. 'more' if it stopped only for want of turn. */
  private emitSlice(): 'more' | 'done' {
    for (let emitted = 0; emitted < this.framesPerTurn; emitted++) {
      if (this.paused || this.ended) return 'done';
      if (this.budget !== null && !this.budget.hasFrameRoom) return 'more';
      const value = this.nextValue();
      if (value === NO_FRAME) return 'done';
      this.budget?.countFrame();
      this.emit('frame', value);
    }
    return 'more';
  }

  /** Takes and decodes the next complete frame, or notes that the decoder needs bytes. A bad
   *  frame fails the connection. */
  private nextValue(): unknown {
    try {
      const body = this.decoder.next();
      if (body === null) {
        this.onAwaitingBytes();
        return NO_FRAME;
      }
      this.unfinishedSince = null;
      return decodeJson(body);
    } catch (error) {
      if (!(error instanceof FrameError)) throw error; // a bug here, not bad input
      this.fail(error);
      return NO_FRAME;
    }
  }

  private onAwaitingBytes(): void {
    this.awaitingBytes = true;
    const buffered = this.decoder.bufferedBytes;
    if (buffered === 0) {
      this.unfinishedSince = null;
    } else {
      this.unfinishedSince ??= this.now();
      if (this.unreportedRead) this.emit('partial', buffered);
    }
    this.unreportedRead = false;
  }

  private queueSlice(): void {
    if (this.sliceQueued) return;
    this.sliceQueued = true;
    setImmediate(() => {
      this.sliceQueued = false;
      this.deliver();
    });
  }

  /** Reads the socket only while it may: not ended, not paused by the owner, no complete frame
   *  waiting, room in the budget. */
  private updateReading(): void {
    if (this.ended) return; // close() keeps reading to see the peer's end; destroy() stops all
    const budgetRoom = this.budget?.hasByteRoom ?? true;
    if (!this.paused && this.awaitingBytes && budgetRoom) this.socket.resume();
    else this.socket.pause();
  }

  /** Tells the budget how many bytes this connection holds now. */
  private holdForBudget(): void {
    const held = this.decoder.bufferedBytes;
    if (held === this.heldBytes) return;
    this.budget?.hold(held - this.heldBytes);
    this.heldBytes = held;
  }

  /** Drops what was received and not emitted: the connection is ending. */
  private discardInbound(): void {
    this.decoder.discard();
    this.unfinishedSince = null;
    this.holdForBudget();
    this.budget?.leave(this.checkReading);
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
    this.discardInbound();
    this.emit('close');
  }
}

/** What nextValue returns when there is no frame to emit (any JSON value is a frame). */
const NO_FRAME: unique symbol = Symbol('no frame');

/** "host:port" ("[v6]:port") of the socket's peer, or null if it has none (not connected, or not
 *  a socket). What FramedConnection.remoteAddress reports; an owner that refuses a socket
 *  without wrapping it names the peer the same way. */
export function describePeer(socket: Duplex): string | null {
  const { remoteAddress, remotePort } = socket as Partial<Socket>;
  if (remoteAddress === undefined || remotePort === undefined) return null;
  return remoteAddress.includes(':') ? `[${remoteAddress}]:${remotePort}` : `${remoteAddress}:${remotePort}`;
}
