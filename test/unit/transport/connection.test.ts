// FramedConnection over real 127.0.0.1 sockets and over a recording Duplex: frames both ways,
// one write per event-loop turn, backpressure both ways, and bad input failing one connection
// exactly once.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { ConnectionError, FRAMES_PER_TURN, FramedConnection } from '../../../lib/transport/connection.js';
import { INBOUND_BYTES_MAX, INBOUND_FRAMES_PER_TURN, InboundBudget } from '../../../lib/transport/inbound-budget.js';
import { encodeFrame, encodeJsonFrame, FRAME_HEADER_BYTES, FrameDecoder, FrameError, decodeJson } from '../../../lib/transport/frame.js';

const MAX = 1024;

/** Lets process.nextTick callbacks (the uncork) and pending I/O callbacks run. Not a sleep:
 *  setImmediate runs after every nextTick queued before it, whatever the machine's load. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Resolves on 'close'. (events.once would reject on an 'error' event, which these tests expect.) */
const closed = (connection: FramedConnection) => new Promise<void>((resolve) => connection.once('close', resolve));

/** A Duplex that records how it was written to, and can hold write callbacks to simulate a
 *  peer that is not reading. */
class RecordingDuplex extends Duplex {
  writeCalls = 0;
  writevCalls: Buffer[][] = [];
  /** Every byte written, whichever way. */
  readonly written: Buffer[] = [];
  holdWrites = false;
  readonly heldCallbacks: Array<() => void> = [];

  constructor(writableHighWaterMark = 16 * 1024) {
    super({ writableHighWaterMark, allowHalfOpen: true });
  }

  override _read(): void {}

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.writeCalls += 1;
    this.written.push(chunk);
    this.#complete(callback);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: () => void): void {
    this.writevCalls.push(chunks.map(({ chunk }) => chunk));
    this.written.push(...chunks.map(({ chunk }) => chunk));
    this.#complete(callback);
  }

  /** The JSON values written so far, decoded. */
  writtenValues(): unknown[] {
    return new FrameDecoder(1 << 20).push(Buffer.concat(this.written)).map(decodeJson);
  }

  releaseWrites(): void {
    this.holdWrites = false;
    for (const callback of this.heldCallbacks.splice(0)) callback();
  }

  #complete(callback: () => void): void {
    if (this.holdWrites) this.heldCallbacks.push(callback);
    else callback();
  }
}

/** Every event a connection emits, in order, with 'frame' values. */
function record(connection: FramedConnection) {
  const events: Array<[string, unknown?]> = [];
  connection.on('frame', (value) => events.push(['frame', value]));
  connection.on('error', (error) => events.push(['error', error]));
  connection.on('close', () => events.push(['close']));
  connection.on('drain', () => events.push(['drain']));
  const frames = () => events.filter(([name]) => name === 'frame').map(([, value]) => value);
  const errors = () => events.filter(([name]) => name === 'error').map(([, error]) => error as Error);
  return { events, frames, errors };
}

/** Resolves with the next `n` frames `connection` emits. */
function nextFrames(connection: FramedConnection, n: number): Promise<unknown[]> {
  return new Promise((resolve) => {
    const frames: unknown[] = [];
    const onFrame = (value: unknown) => {
      frames.push(value);
      if (frames.length < n) return;
      connection.off('frame', onFrame);
      resolve(frames);
    };
    connection.on('frame', onFrame);
  });
}

/** A listening server on 127.0.0.1 port 0 that hands each accepted socket to `onSocket`. */
async function listen(onSocket: (socket: Socket) => void): Promise<{ server: Server; port: number }> {
  const server = createServer(onSocket);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  return { server, port: address.port };
}

async function dial(port: number): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  return socket;
}

/** A server that wraps every accepted socket in a FramedConnection echoing each frame back. */
async function echoServer() {
  const accepted: FramedConnection[] = [];
  const events = new EventEmitter();
  const { server, port } = await listen((socket) => {
    const connection = new FramedConnection(socket, { maxFrameBytes: MAX });
    accepted.push(connection);
    events.emit('accepted');
    connection.on('frame', (value) => connection.send({ echo: value }));
    connection.on('error', () => {}); // recorded per test where it matters
  });
  const close = async () => {
    for (const connection of accepted) connection.destroy();
    server.close();
    await once(server, 'close');
  };
  /** Resolves once the server has accepted `n` connections in all. */
  const waitForAccepted = async (n: number) => {
    while (accepted.length < n) await once(events, 'accepted');
  };
  return { port, accepted, waitForAccepted, close };
}

test('frames travel both ways over a real socket, in order', async () => {
  const { port, close } = await echoServer();
  const client = new FramedConnection(await dial(port), { maxFrameBytes: MAX });
  const replies = nextFrames(client, 3);
  client.send({ n: 1 });
  client.send({ n: 2, text: 'é😀' });
  client.send([null, true]);
  assert.deepEqual(await replies, [{ echo: { n: 1 } }, { echo: { n: 2, text: 'é😀' } }, { echo: [null, true] }]);
  client.destroy();
  await close();
});

test('remoteAddress names the peer as host:port, and "unknown" for a stream that is not a socket', async () => {
  const { port, accepted, waitForAccepted, close } = await echoServer();
  const socket = await dial(port);
  const client = new FramedConnection(socket, { maxFrameBytes: MAX });
  assert.equal(client.remoteAddress, `127.0.0.1:${port}`);
  await waitForAccepted(1);
  assert.equal(accepted[0]!.remoteAddress, `127.0.0.1:${socket.localPort}`);
  client.destroy();
  assert.equal(client.remoteAddress, `127.0.0.1:${port}`, 'still known after destroy');
  assert.equal(new FramedConnection(new RecordingDuplex(), { maxFrameBytes: MAX }).remoteAddress, 'unknown');
  await close();
});

test('100 sends in one turn leave as one write, after the turn', async () => {
  const duplex = new RecordingDuplex();
  const connection = new FramedConnection(duplex, { maxFrameBytes: MAX });
  for (let i = 0; i < 100; i++) connection.send({ i });
  assert.equal(duplex.writeCalls + duplex.writevCalls.length, 0, 'nothing written before the turn ends');
  assert.ok(connection.writableLength > 0, 'the frames are queued');
  await nextTurn();
  assert.equal(duplex.writeCalls, 0);
  assert.equal(duplex.writevCalls.length, 1, 'one write for the whole turn');
  const bodies = new FrameDecoder(MAX).push(Buffer.concat(duplex.writevCalls[0]!));
  assert.deepEqual(bodies.map(decodeJson), Array.from({ length: 100 }, (_, i) => ({ i })));
  // A send in a later turn is a write of its own.
  connection.send({ later: true });
  await nextTurn();
  assert.equal(duplex.writeCalls + duplex.writevCalls.length, 2);
  connection.destroy();
});

test('an oversize frame from the peer fails that connection once, closes it, and leaves the others working', async () => {
  const { port, accepted, waitForAccepted, close } = await echoServer();
  const good = new FramedConnection(await dial(port), { maxFrameBytes: MAX });
  await waitForAccepted(1);
  const bad = await dial(port);
  await waitForAccepted(2);
  const victim = record(accepted[1]!);
  const victimClosed = closed(accepted[1]!);
  const header = Buffer.alloc(FRAME_HEADER_BYTES);
  header.writeUInt32BE(MAX + 1, 0);
  bad.write(header);
  await Promise.all([victimClosed, once(bad, 'close')]);
  assert.deepEqual(victim.events.map(([name]) => name), ['error', 'close']);
  const [error] = victim.errors();
  assert.ok(error instanceof FrameError);
  assert.equal(error.code, 'FRAME_TOO_LARGE');
  // The other connection carries on.
  const reply = nextFrames(good, 1);
  good.send({ still: 'here' });
  assert.deepEqual(await reply, [{ echo: { still: 'here' } }]);
  good.destroy();
  await close();
});

test('garbled frames fail the connection with their code, exactly once', async () => {
  const cases: Array<[string, Buffer, string]> = [
    ['invalid JSON', encodeFrame(Buffer.from('{nope')), 'BAD_JSON'],
    ['invalid UTF-8', encodeFrame(Buffer.from([0x22, 0xff, 0x22])), 'BAD_UTF8'],
    ['an empty frame', Buffer.alloc(FRAME_HEADER_BYTES), 'FRAME_EMPTY'],
    ['an oversize header', Buffer.from([0xff, 0xff, 0xff, 0xff]), 'FRAME_TOO_LARGE'],
  ];
  for (const [name, bytes, code] of cases) {
    const duplex = new RecordingDuplex();
    const connection = new FramedConnection(duplex, { maxFrameBytes: MAX });
    const seen = record(connection);
    duplex.push(bytes);
    duplex.push(bytes); // more garbage after the first: still one error
    await closed(connection);
    assert.deepEqual(seen.events.map(([event]) => event), ['error', 'close'], name);
    assert.equal((seen.errors()[0] as FrameError).code, code, name);
    assert.ok(duplex.destroyed, name);
  }
});

// Frames are decoded one at a time, as they are emitted (so that setMaxFrameBytes applies from
// the next frame), so a bad frame is found where it stands: what came before it was emitted,
// nothing after it is. Where a read happens to end is the network's choice, not the sender's.
test('a bad frame fails the connection where it stands: the frames before it are emitted, none after it', async () => {
  const duplex = new RecordingDuplex();
  const connection = new FramedConnection(duplex, { maxFrameBytes: MAX });
  const seen = record(connection);
  duplex.push(encodeJsonFrame({ before: 'earlier chunk' }));
  duplex.push(Buffer.concat([encodeJsonFrame({ same: 'chunk' }), encodeFrame(Buffer.from('{')), encodeJsonFrame({ after: 'bad' })]));
  await closed(connection);
  assert.deepEqual(seen.frames(), [{ before: 'earlier chunk' }, { same: 'chunk' }]);
  assert.equal(seen.errors().length, 1);
});

test('a stream that emits several errors is still reported once', async () => {
  const duplex = new RecordingDuplex();
  const connection = new FramedConnection(duplex, { maxFrameBytes: MAX });
  const seen = record(connection);
  duplex.emit('error', new Error('first'));
  duplex.emit('error', new Error('second'));
  await closed(connection);
  assert.deepEqual(seen.errors().map((error) => error.message), ['first']);
});

test('a socket error is reported once, then close', async () => {
  const duplex = new RecordingDuplex();
  const connection = new FramedConnection(duplex, { maxFrameBytes: MAX });
  const seen = record(connection);
  const boom = new Error('boom');
  duplex.destroy(boom);
  await closed(connection);
  assert.deepEqual(seen.events, [['error', boom], ['close']]);
});

test('send after close, after destroy and after the close event is a harmless no-op', async () => {
  const duplex = new RecordingDuplex();
  const connection = new FramedConnection(duplex, { maxFrameBytes: MAX });
  connection.on('error', assert.fail);
  connection.send({ last: 'word' });
  connection.close();
  connection.send({ too: 'late' });
  await nextTurn();
  assert.deepEqual(duplex.writtenValues(), [{ last: 'word' }], 'close() flushed what was sent before it, and nothing after');
  assert.ok(duplex.writableEnded);
  connection.destroy();
  connection.send({ after: 'destroy' });
  await closed(connection);
  connection.send({ after: 'close' });
  connection.close();
  connection.destroy();
  assert.deepEqual(duplex.writtenValues(), [{ last: 'word' }]);
});

test('close() delivers what was sent in the same turn, then the peer sees the end', async () => {
  const { server, port } = await listen((socket) => {
    const connection = new FramedConnection(socket, { maxFrameBytes: MAX });
    connection.send({ goodbye: 1 });
    connection.send({ goodbye: 2 });
    connection.close();
  });
  const client = new FramedConnection(await dial(port), { maxFrameBytes: MAX });
  const seen = record(client);
  await once(client, 'close');
  assert.deepEqual(seen.frames(), [{ goodbye: 1 }, { goodbye: 2 }]);
  assert.deepEqual(seen.errors(), []);
  server.close();
  await once(server, 'close');
});

test('close() while reading is paused still drains the peer\'s unread bytes, sees its end, and closes', { timeout: 10_000 }, async () => {
  let accepted: (accepted: { socket: Socket; connection: FramedConnection }) => void;
  const acceptedPromise = new Promise<{ socket: Socket; connection: FramedConnection }>((resolve) => (accepted = resolve));
  const { server, port } = await listen((socket) => accepted({ socket, connection: new FramedConnection(socket, { maxFrameBytes: MAX }) }));
  const client = new FramedConnection(await dial(port), { maxFrameBytes: MAX });
  const { socket, connection } = await acceptedPromise;
  const seen = record(connection);
  connection.pauseReading();
  client.send({ unread: true });
  // Wait (on a condition, not a clock) until the client's frame sits unread in the paused socket.
  while (socket.readableLength === 0) await nextTurn();
  const connectionClosed = closed(connection);
  connection.close(); // the client answers our FIN with its own, behind the unread frame
  await Promise.all([connectionClosed, closed(client)]);
  assert.deepEqual(seen.events, [['close']], 'the unread frame is discarded, not emitted after close()');
  server.close();
  await once(server, 'close');
});

test('the peer ending its side closes the connection', async () => {
  let accepted: (connection: FramedConnection) => void;
  const connectionPromise = new Promise<FramedConnection>((resolve) => (accepted = resolve));
  const { server, port } = await listen((socket) => accepted(new FramedConnection(socket, { maxFrameBytes: MAX })));
  const socket = await dial(port);
  const connection = await connectionPromise;
  const seen = record(connection);
  const connectionClosed = closed(connection);
  socket.end();
  await connectionClosed;
  assert.deepEqual(seen.events, [['close']]);
  socket.destroy();
  server.close();
  await once(server, 'close');
});

/** A connection over a RecordingDuplex whose 'frame' listener records every value and pauses
 *  reading at the value 1. */
function pausingAtOne() {
  const duplex = new RecordingDuplex();
  const connection = new FramedConnection(duplex, { maxFrameBytes: MAX });
  const seen: unknown[] = [];
  connection.on('frame', (value) => {
    seen.push(value);
    if (value === 1) connection.pauseReading();
  });
  return { duplex, connection, seen };
}

test('pausing in a frame listener holds the rest of the chunk until resumeReading', () => {
  const { duplex, connection, seen } = pausingAtOne();
  duplex.emit('data', Buffer.concat([1, 2, 3].map(encodeJsonFrame)));
  assert.deepEqual(seen, [1]);
  assert.ok(duplex.isPaused(), 'the socket is paused too, so TCP pushes back on the peer');
  connection.resumeReading();
  assert.deepEqual(seen, [1, 2, 3]);
  assert.ok(!duplex.isPaused());
  connection.destroy();
});

test('data that still arrives while paused queues behind the held frames, in order', () => {
  const { duplex, connection, seen } = pausingAtOne();
  duplex.emit('data', Buffer.concat([1, 2].map(encodeJsonFrame)));
  // A standard Readable stops emitting once paused; a stream that does not must not reorder.
  duplex.emit('data', Buffer.concat([3, 4].map(encodeJsonFrame)));
  assert.deepEqual(seen, [1]);
  connection.resumeReading();
  assert.deepEqual(seen, [1, 2, 3, 4]);
  connection.destroy();
});

test('resuming from inside a frame listener keeps frames in order, each emitted once', () => {
  const duplex = new RecordingDuplex();
  // One slice for the whole chunk: enough frames in one turn that re-entering the delivery loop
  // once per frame would overflow the stack.
  const values = Array.from({ length: 20_000 }, (_, i) => i);
  const connection = new FramedConnection(duplex, { maxFrameBytes: MAX, framesPerTurn: values.length });
  const seen: unknown[] = [];
  connection.on('frame', (value) => {
    seen.push(value);
    connection.pauseReading();
    connection.resumeReading();
  });
  duplex.emit('data', Buffer.concat(values.map(encodeJsonFrame)));
  assert.deepEqual(seen, values);
  connection.destroy();
});

test('needsDrain turns true when the socket buffer fills and false again with drain', async () => {
  const duplex = new RecordingDuplex(64);
  duplex.holdWrites = true;
  const connection = new FramedConnection(duplex, { maxFrameBytes: MAX });
  const seen = record(connection);
  connection.send({ small: true });
  assert.equal(connection.needsDrain, false);
  connection.send({ padding: 'x'.repeat(100) });
  assert.equal(connection.needsDrain, true);
  await nextTurn();
  assert.ok(connection.writableLength > 64);
  duplex.releaseWrites();
  await nextTurn();
  assert.equal(connection.needsDrain, false);
  assert.equal(connection.writableLength, 0);
  assert.deepEqual(seen.events, [['drain']]);
  connection.destroy();
});

test('a peer that stops reading is cut off at highWaterBytes, once', async () => {
  const duplex = new RecordingDuplex(64);
  duplex.holdWrites = true;
  const connection = new FramedConnection(duplex, { maxFrameBytes: 100, highWaterBytes: 500 });
  const seen = record(connection);
  const value = 'y'.repeat(90); // 92 bytes of JSON, 96 with the header
  for (let i = 0; i < 5; i++) connection.send(value); // 480 bytes: within the bound
  assert.deepEqual(seen.errors(), []);
  connection.send(value); // 576 bytes would be queued: cut off
  connection.send(value); // and then a no-op
  await closed(connection);
  assert.equal(seen.errors().length, 1);
  assert.ok(seen.errors()[0] instanceof ConnectionError);
  assert.equal((seen.errors()[0] as ConnectionError).code, 'SEND_BUFFER_FULL');
  assert.deepEqual(seen.events.map(([name]) => name), ['error', 'close']);
});

test('a frame bigger than the peer accepts fails the connection at send, without throwing or writing it', async () => {
  const duplex = new RecordingDuplex();
  const connection = new FramedConnection(duplex, { maxFrameBytes: 10 });
  const seen = record(connection);
  connection.send('x'.repeat(8)); // exactly 10 bytes of JSON: fine
  connection.send('x'.repeat(9)); // 11 bytes: refused
  connection.send('x'); // and the connection is gone
  await closed(connection);
  assert.deepEqual(seen.events.map(([name]) => name), ['error', 'close']);
  const [error] = seen.errors();
  assert.ok(error instanceof ConnectionError);
  assert.equal(error.code, 'SEND_FRAME_TOO_LARGE');
  assert.deepEqual(duplex.writtenValues(), [], 'destroyed before the turn ended, so nothing was flushed');
});

test('highWaterBytes must hold at least one maximum frame', () => {
  assert.throws(() => new FramedConnection(new RecordingDuplex(), { maxFrameBytes: 100, highWaterBytes: 100 }), assert.AssertionError);
});

test("'partial' is emitted for each read that leaves a frame unfinished, and only then", async () => {
  const duplex = new RecordingDuplex();
  const connection = new FramedConnection(duplex, { maxFrameBytes: MAX });
  const partials: number[] = [];
  const frames: unknown[] = [];
  connection.on('partial', (buffered) => partials.push(buffered));
  connection.on('frame', (value) => frames.push(value));
  const large = encodeJsonFrame({ text: 'x'.repeat(500) });
  duplex.push(encodeJsonFrame({ small: 1 })); // whole: nothing partial
  await nextTurn();
  duplex.push(large.subarray(0, 100));
  await nextTurn();
  duplex.push(large.subarray(100, 300));
  await nextTurn();
  duplex.push(Buffer.concat([large.subarray(300), encodeJsonFrame({ small: 2 })])); // completes it
  await nextTurn();
  assert.deepEqual(partials, [100 - FRAME_HEADER_BYTES, 300 - FRAME_HEADER_BYTES], 'one per read that left the frame unfinished, with the body bytes held');
  assert.deepEqual(frames, [{ small: 1 }, { text: 'x'.repeat(500) }, { small: 2 }]);
  connection.destroy();
});

/** `count` frames holding 0 .. count-1, in one buffer. */
const burst = (count: number, first = 0) => Buffer.concat(Array.from({ length: count }, (_, i) => encodeJsonFrame(first + i)));

/** Resolves once `connection` has emitted `n` frames in all, counted from now. */
const framesEmitted = (connection: FramedConnection, n: number) => nextFrames(connection, n);

/** Lengths of the runs of frames between two 'turn' marks in `events`. */
function runLengths(events: string[]): number[] {
  const runs = [0];
  for (const event of events) {
    if (event === 'turn') runs.push(0);
    else runs[runs.length - 1]! += 1;
  }
  return runs.filter((run) => run > 0);
}

/** Appends 'turn' to `events` once every event-loop turn (a setImmediate that queues itself
 *  again), until stop() is called. */
function markTurns(events: string[]) {
  let running = true;
  const mark = () => {
    if (!running) return;
    events.push('turn');
    setImmediate(mark);
  };
  setImmediate(mark);
  return { stop: () => (running = false) };
}

test('a burst in one read is emitted in slices of framesPerTurn, with the event loop turning in between', async () => {
  const duplex = new RecordingDuplex();
  const connection = new FramedConnection(duplex, { maxFrameBytes: MAX, framesPerTurn: 10 });
  const events: string[] = [];
  connection.on('frame', () => events.push('frame'));
  const all = framesEmitted(connection, 1000);
  const turns = markTurns(events); // queued first, so it marks the turn before each later slice
  duplex.emit('data', burst(1000));
  assert.equal(events.length, 10, 'the first slice is emitted at once, the rest left for later turns');
  assert.ok(duplex.isPaused(), 'the socket is not read while frames received wait');
  await all;
  turns.stop();
  const runs = runLengths(events);
  assert.equal(runs.reduce((sum, run) => sum + run, 0), 1000);
  assert.ok(runs.every((run) => run <= 10), `at most 10 frames between two turns, saw ${Math.max(...runs)}`);
  assert.ok(runs.length >= 100, 'one turn or more after every slice');
  await nextTurn(); // the slice after the last finds no frame
  assert.ok(!duplex.isPaused(), 'every frame emitted: reading again');
  connection.destroy();
});

test('the default slice is FRAMES_PER_TURN frames', () => {
  const duplex = new RecordingDuplex();
  const connection = new FramedConnection(duplex, { maxFrameBytes: MAX });
  let frames = 0;
  connection.on('frame', () => (frames += 1));
  duplex.emit('data', burst(FRAMES_PER_TURN * 3));
  assert.equal(frames, FRAMES_PER_TURN);
  connection.destroy();
});

test('a timer that falls due during a burst runs between two slices, before the burst ends', async () => {
  const duplex = new RecordingDuplex();
  const connection = new FramedConnection(duplex, { maxFrameBytes: MAX, framesPerTurn: 10 });
  const events: string[] = [];
  const timerSet = performance.now();
  const timer = new Promise<void>((resolve) => setTimeout(() => (events.push('timer'), resolve()), 1));
  connection.on('frame', (value) => {
    // Let the clock pass the timer's due time inside the first slice (this makes the timer due;
    // nothing waits on it): from then on, any turn of the event loop runs it.
    if (value === 0) while (performance.now() < timerSet + 2);
    events.push('frame');
  });
  const all = framesEmitted(connection, 1000);
  duplex.emit('data', burst(1000));
  await Promise.all([all, timer]);
  const framesBeforeTimer = events.indexOf('timer');
  assert.ok(framesBeforeTimer < 1000, 'the timer ran before the burst was over');
  assert.equal(framesBeforeTimer % 10, 0, 'and between two slices');
  connection.destroy();
});

test('the frames received and not emitted never exceed one read, and the rest waits in the socket', async () => {
  const duplex = new RecordingDuplex();
  const connection = new FramedConnection(duplex, { maxFrameBytes: MAX, framesPerTurn: 10 });
  const reads = Array.from({ length: 20 }, (_, i) => burst(100, 100 * i));
  const largestRead = Math.max(...reads.map((read) => read.length));
  let mostBuffered = 0;
  let mostWaitingInSocket = 0;
  connection.on('frame', () => {
    mostBuffered = Math.max(mostBuffered, connection.bufferedBytes);
    mostWaitingInSocket = Math.max(mostWaitingInSocket, duplex.readableLength);
  });
  const all = framesEmitted(connection, 2000);
  for (const read of reads) duplex.push(read);
  assert.deepEqual(await all, Array.from({ length: 2000 }, (_, i) => i), 'in order, each once');
  assert.ok(mostBuffered > 0 && mostBuffered <= largestRead, `at most one read held, saw ${mostBuffered} bytes`);
  assert.ok(mostWaitingInSocket > largestRead, 'the rest stayed in the stream: back-pressure');
  connection.destroy();
});

test('a shared budget: while its bytes are spent no connection reads, and they resume when it frees', async () => {
  const budget = new InboundBudget({ bytesMax: 500, framesPerTurn: 1000 });
  const [slowDuplex, otherDuplex] = [new RecordingDuplex(), new RecordingDuplex()];
  const slow = new FramedConnection(slowDuplex, { maxFrameBytes: MAX, budget });
  const other = new FramedConnection(otherDuplex, { maxFrameBytes: MAX, budget });
  const otherFrames: unknown[] = [];
  other.on('frame', (value) => otherFrames.push(value));
  slow.on('error', assert.fail);
  const large = encodeJsonFrame('x'.repeat(800));
  slowDuplex.emit('data', large.subarray(0, 600)); // an unfinished frame, its body held
  assert.equal(budget.heldBytes, 600 - FRAME_HEADER_BYTES);
  assert.ok(slowDuplex.isPaused() && otherDuplex.isPaused(), 'budget spent: nobody reads');
  otherDuplex.push(encodeJsonFrame('waits'));
  await nextTurn();
  assert.deepEqual(otherFrames, [], 'the bytes stay in the socket');
  slow.destroy(); // what an owner does to a connection that does not finish its frame
  assert.equal(budget.heldBytes, 0);
  assert.deepEqual(await framesEmitted(other, 1), ['waits']);
  other.destroy();
});

test('a shared budget frees as a backlog is emitted, and bounds the frames of all connections in one turn', async () => {
  const budget = new InboundBudget({ bytesMax: 1000, framesPerTurn: 15 });
  const [aDuplex, bDuplex] = [new RecordingDuplex(), new RecordingDuplex()];
  const a = new FramedConnection(aDuplex, { maxFrameBytes: MAX, framesPerTurn: 10, budget });
  const b = new FramedConnection(bDuplex, { maxFrameBytes: MAX, framesPerTurn: 10, budget });
  const events: string[] = [];
  a.on('frame', () => events.push('frame'));
  b.on('frame', () => events.push('frame'));
  const chunk = burst(300);
  assert.ok(chunk.length > 1000, 'one read spends the budget');
  const all = Promise.all([framesEmitted(a, 300), framesEmitted(b, 300)]);
  const turns = markTurns(events);
  aDuplex.emit('data', chunk);
  assert.ok(bDuplex.isPaused(), 'a holds the budget: b does not read');
  bDuplex.push(chunk);
  await all;
  turns.stop();
  const runs = runLengths(events);
  assert.ok(runs.every((run) => run <= 15), `at most 15 frames of both connections per turn, saw ${Math.max(...runs)}`);
  assert.ok(runs.includes(15), 'both connections had frames in the same turn, and were held to 15 together');
  assert.equal(budget.heldBytes, 0);
  a.destroy();
  b.destroy();
});

test('setMaxFrameBytes raised by a frame listener lets the next frame of the same read through', async () => {
  const big = encodeJsonFrame('y'.repeat(500));
  const read = Buffer.concat([encodeJsonFrame('authenticated'), big]);
  for (const raise of [true, false]) {
    const duplex = new RecordingDuplex();
    const connection = new FramedConnection(duplex, { maxFrameBytes: 100, maxSendFrameBytes: MAX });
    const seen = record(connection);
    connection.on('frame', (value) => {
      if (value === 'authenticated' && raise) connection.setMaxFrameBytes(MAX);
    });
    duplex.emit('data', read);
    if (raise) {
      assert.deepEqual(seen.frames(), ['authenticated', 'y'.repeat(500)]);
      assert.deepEqual(seen.errors(), []);
      connection.destroy();
    } else {
      await closed(connection);
      assert.deepEqual(seen.frames(), ['authenticated']);
      assert.equal((seen.errors()[0] as FrameError).code, 'FRAME_TOO_LARGE');
    }
  }
});

test('setMaxFrameBytes lowered holds the next frames to it; a frame already begun completes', async () => {
  const duplex = new RecordingDuplex();
  const connection = new FramedConnection(duplex, { maxFrameBytes: MAX });
  const seen = record(connection);
  const begun = encodeJsonFrame('z'.repeat(500));
  duplex.emit('data', begun.subarray(0, 100));
  connection.setMaxFrameBytes(100);
  duplex.emit('data', Buffer.concat([begun.subarray(100), encodeJsonFrame('small'), encodeJsonFrame('w'.repeat(200))]));
  await closed(connection);
  assert.deepEqual(seen.frames(), ['z'.repeat(500), 'small']);
  assert.equal((seen.errors()[0] as FrameError).code, 'FRAME_TOO_LARGE');
});

test('unfinishedFrame tells since when a frame has been unfinished, on the injected clock', () => {
  let now = 1000;
  const duplex = new RecordingDuplex();
  const connection = new FramedConnection(duplex, { maxFrameBytes: MAX, now: () => now });
  connection.on('frame', () => {});
  const frame = encodeJsonFrame('s'.repeat(100));
  assert.equal(connection.unfinishedFrame, null);
  duplex.emit('data', frame.subarray(0, 3)); // not even a whole header
  assert.deepEqual(connection.unfinishedFrame, { bytes: 3, since: 1000 });
  now = 2000;
  duplex.emit('data', frame.subarray(3, 50));
  assert.deepEqual(connection.unfinishedFrame, { bytes: 50 - FRAME_HEADER_BYTES, since: 1000 }, 'the same frame: same since');
  now = 3000;
  duplex.emit('data', Buffer.concat([frame.subarray(50), frame.subarray(0, 10)])); // done, and the next begun
  assert.deepEqual(connection.unfinishedFrame, { bytes: 10 - FRAME_HEADER_BYTES, since: 3000 });
  duplex.emit('data', frame.subarray(10));
  assert.equal(connection.unfinishedFrame, null);
  connection.pauseReading();
  duplex.emit('data', Buffer.concat([frame, frame.subarray(0, 10)]));
  assert.equal(connection.unfinishedFrame, null, 'while a complete frame waits to be emitted, any delay is ours');
  connection.destroy();
});

test('an InboundBudget has named defaults and refuses limits that are not positive integers', () => {
  const budget = new InboundBudget();
  assert.equal(budget.bytesMax, INBOUND_BYTES_MAX);
  assert.equal(budget.framesPerTurn, INBOUND_FRAMES_PER_TURN);
  assert.throws(() => new InboundBudget({ bytesMax: 0 }), assert.AssertionError);
  assert.throws(() => new InboundBudget({ framesPerTurn: 1.5 }), assert.AssertionError);
  assert.throws(() => new FramedConnection(new RecordingDuplex(), { maxFrameBytes: MAX, framesPerTurn: 0 }), assert.AssertionError);
});
