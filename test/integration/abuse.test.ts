// The attack run: real replica processes under the floods a hostile stranger can send
// (docs/security.md), while a normal client sends one message at a time. Each attack is aimed at
// the primary. The test reports, for each attack, the view changes it caused (the highest view
// any replica reports, before and after) and the normal client's send latency meanwhile; it
// asserts only what must hold however fast the machine is: every normal send is acknowledged and
// delivered exactly once, and the cluster serves afterwards. Views and latencies are measured,
// never asserted: they depend on the machine.

import { test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { TestCluster } from './harness.js';
import { Connector } from '../../lib/client/connector.js';
import { VERIFIER_ITERATIONS_MIN } from '../../lib/chat/limits.js';
import { encodeJsonFrame, FRAME_HEADER_BYTES } from '../../lib/transport/frame.js';
import { PROTOCOL_VERSION } from '../../lib/protocol/messages.js';

const REPLICAS = 3;
/** How long the normal client keeps sending after an attack's bytes are written: long enough for
 *  a stalled primary to be deposed (the view-change timeout is 20 ticks of 10 ms). */
const AFTERMATH_MS = 2_000;
/** The normal client's pause between sends: a person chatting, not a flood of its own (and the
 *  recipient's mailbox holds 10,000 messages). */
const SEND_GAP_MS = 20;

let cluster: TestCluster;
let sender: Connector;
let reader: Connector;
/** Every text the normal client sent, in order; each must reach the reader exactly once. */
const sent: string[] = [];

before(async () => {
  cluster = await TestCluster.start(REPLICAS);
  sender = new Connector({ servers: cluster.addresses, verifierIterations: VERIFIER_ITERATIONS_MIN });
  reader = new Connector({ servers: cluster.addresses, verifierIterations: VERIFIER_ITERATIONS_MIN });
  assert.ok((await sender.createAccount('steady', 'pw-steady')).ok);
  assert.ok((await reader.createAccount('inbox', 'pw-inbox')).ok);
  assert.ok((await sender.login('steady', 'pw-steady')).ok);
});

after(async () => {
  await sender?.close();
  await reader?.close();
  await cluster?.stop();
});

/** The highest view any running replica reports after this call. */
async function highestView(): Promise<number> {
  const running = cluster.launcher.slots.filter((slot) => slot.process).map((slot) => slot.id);
  const statuses = await Promise.all(running.map((id) => cluster.freshStatus(id)));
  return Math.max(...statuses.map((status) => status.view));
}

/** The primary's client address, and its peer address. */
async function primary(): Promise<{ client: string; peer: string }> {
  const id = await cluster.waitForPrimary();
  return cluster.config.replicas[id]!;
}

function open(address: string): Promise<Socket> {
  const [host, port] = address.split(':');
  const socket = connect({ host: host!, port: Number(port) });
  socket.on('error', () => {}); // the replica may close an attacking connection: that is its right
  socket.resume(); // whatever it answers is read and dropped, so its replies never back up
  return once(socket, 'connect').then(() => socket);
}

/** Writes `bytes` unless the replica has closed the socket; resolves once written or refused. */
function write(socket: Socket, bytes: Buffer): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed || !socket.writable) return resolve();
    socket.write(bytes, () => resolve());
  });
}

const copies = (frame: Buffer, count: number) => Buffer.concat(Array.from({ length: count }, () => frame));
/** `{"id":1}`: 12 bytes on the wire, a frame no request type matches. */
const BAD_REQUEST = encodeJsonFrame({ id: 1 });

/** Sends one message at a time until `until` settles; returns each send's latency in ms. */
async function sendDuring(until: Promise<unknown>): Promise<number[]> {
  let done = false;
  void until.finally(() => (done = true));
  const latencies: number[] = [];
  while (!done) {
    const text = `steady ${sent.length}`;
    const started = performance.now();
    const reply = await sender.call({ kind: 'send', to: 'inbox', text });
    latencies.push(performance.now() - started);
    assert.ok(reply.ok, `send "${text}": ${JSON.stringify(reply)}`);
    sent.push(text);
    await delay(SEND_GAP_MS);
  }
  return latencies;
}

function percentile(sorted: number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))] ?? NaN;
}

/** Runs `attack` while the normal client sends, and reports what it cost. */
async function measure(t: TestContext, name: string, attack: () => Promise<string>): Promise<void> {
  const viewBefore = await highestView();
  const attacked = attack().then(async (outcome) => {
    await delay(AFTERMATH_MS);
    return outcome;
  });
  const latencies = (await sendDuring(attacked)).sort((a, b) => a - b);
  const outcome = await attacked;
  await cluster.waitForPrimary();
  const viewAfter = await highestView();
  const report = `${name}: view changes ${viewAfter - viewBefore} (view ${viewBefore} → ${viewAfter}); ` +
    `normal sends ${latencies.length}, latency p50 ${percentile(latencies, 0.5).toFixed(1)} ms, max ${(latencies.at(-1) ?? NaN).toFixed(1)} ms` +
    (outcome ? `; ${outcome}` : '');
  t.diagnostic(report);
}

/** One connection writes `frames` in one write and half-closes: the replica reads every frame
 *  before it sees the end (a destroy could reset the connection before it has read them). */
async function burst(address: string, frames: Buffer): Promise<string> {
  const socket = await open(address);
  await write(socket, frames);
  socket.end();
  return `${frames.length} bytes in one write`;
}

test('10,000 copies of {"id":1} in one write at the primary', async (t) => {
  await measure(t, '10,000 × {"id":1}', async () => burst((await primary()).client, copies(BAD_REQUEST, 10_000)));
});

test('60,000 hello frames in one write at the primary', async (t) => {
  const hellos = Buffer.concat(Array.from({ length: 60_000 }, (_, i) => encodeJsonFrame({ type: 'hello', id: i + 1, version: PROTOCOL_VERSION })));
  await measure(t, '60,000 × hello', async () => burst((await primary()).client, hellos));
});

test('a 480 KB burst every second at the primary, for 4 s', async (t) => {
  const chunk = copies(BAD_REQUEST, 40_000);
  await measure(t, '480 KB/s × 4 s', async () => {
    const socket = await open((await primary()).client);
    for (let second = 0; second < 4; second++) {
      await write(socket, chunk);
      await delay(1_000);
    }
    const outcome = socket.destroyed ? 'the replica closed the connection' : 'the connection stayed open';
    socket.destroy();
    return outcome;
  });
});

/** Streams the body of one peer-hello of `bytes` bytes, its cluster name all 'x', at the pace
 *  the socket takes it; stops when the replica closes the connection. Returns the bytes written. */
async function streamPeerHello(address: string, bytes: number): Promise<number> {
  const socket = await open(address);
  const header = Buffer.alloc(FRAME_HEADER_BYTES);
  header.writeUInt32BE(bytes);
  await write(socket, Buffer.concat([header, Buffer.from('{"type":"peer-hello","cluster":"')]));
  const piece = Buffer.alloc(64 * 1024, 'x');
  let written = 0;
  while (written < bytes && !socket.destroyed) {
    await write(socket, piece);
    written += piece.length;
  }
  socket.destroy();
  return written;
}

test('4 connections each streaming a 32 MiB peer-hello at the primary\'s peer port', async (t) => {
  await measure(t, '4 × 32 MiB peer-hello', async () => {
    const { peer } = await primary();
    const written = await Promise.all(Array.from({ length: 4 }, () => streamPeerHello(peer, 32 * 1024 * 1024)));
    return `bytes written per connection before the replica closed it (socket buffers included): ${written.map((w) => `${(w / 1024 / 1024).toFixed(1)} MiB`).join(', ')}`;
  });
});

test('2,000 idle connections at the primary', async (t) => {
  const sockets: Socket[] = [];
  await measure(t, '2,000 idle connections', async () => {
    const { client } = await primary();
    const results = await Promise.allSettled(Array.from({ length: 2_000 }, () => open(client)));
    for (const result of results) if (result.status === 'fulfilled') sockets.push(result.value);
    await delay(AFTERMATH_MS);
    const open_ = sockets.filter((socket) => !socket.destroyed).length;
    return `${sockets.length} connected, ${open_} still open after ${AFTERMATH_MS} ms`;
  });
  for (const socket of sockets) socket.destroy();
});

test('every normal send was delivered exactly once, and the cluster serves afterwards', async (t) => {
  assert.ok((await reader.login('inbox', 'pw-inbox')).ok);
  const received: string[] = [];
  for (;;) {
    const reply = await reader.call({ kind: 'read', count: 100 });
    assert.ok(reply.ok, JSON.stringify(reply));
    received.push(...reply.result.messages.map((message) => message.text));
    if (reply.result.remaining === 0) break;
  }
  assert.deepEqual(received, sent);
  assert.ok(sent.length > 0);
  const logBytes = readdirSync(cluster.dir).filter((name) => /^replica-\d+\.log/.test(name)).map((name) => statSync(join(cluster.dir, name)).size);
  t.diagnostic(`replica logs after the run: ${logBytes.reduce((sum, size) => sum + size, 0)} bytes in ${logBytes.length} files`);
});
