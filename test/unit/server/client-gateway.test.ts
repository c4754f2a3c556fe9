// The gateway's part of login on real sockets, in front of a real chat machine: what it submits
// to the log for a login, the decoy it answers for a name without an account, and the
// per-connection throttle. The replica behind it is a stand-in that is always the primary and
// executes each request at once.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { clientProof, DEFAULT_ITERATIONS, makeVerifier, verifierFingerprint } from '../../../lib/auth/scram.js';
import { hashToken, newToken } from '../../../lib/auth/tokens.js';
import { LOGIN_FAILURES_BEFORE_LOCK } from '../../../lib/chat/limits.js';
import { ChatMachine } from '../../../lib/chat/machine.js';
import type { ChatCommand } from '../../../lib/chat/types.js';
import { CLIENT_FRAME_BYTES_MAX, PROTOCOL_VERSION, SERVER_FRAME_BYTES_MAX, type PrimaryHint } from '../../../lib/protocol/messages.js';
import type { ClientRequest } from '../../../lib/replication/types.js';
import { CLIENT_FIRST_REQUEST_MS, CLIENT_FRAME_MS, CLIENT_IDLE_MS, ClientGateway, DESCRIPTORS_RESERVED, type GatewayOptions, type ReplicaHost } from '../../../lib/server/client-gateway.js';
import { createLogger } from '../../../lib/server/logger.js';
import { FramedConnection } from '../../../lib/transport/connection.js';
import { encodeJsonFrame } from '../../../lib/transport/frame.js';

const SECRET = 'the cluster secret, at least this long';
const VERIFIER = makeVerifier('right', 4096);
const CLIENT = { clientId: 'c'.repeat(32), clientSecret: newToken() };
const MEMBERS = ['127.0.0.1:7001', '127.0.0.1:7002', '127.0.0.1:7003'];

/** A primary with one account, alice, that executes every request as it is submitted. */
class Primary implements ReplicaHost {
  readonly chat = ChatMachine.fromSnapshot(null);
  readonly submitted: ClientRequest<ChatCommand>[] = [];
  gateway: ClientGateway | null = null;
  /** Where this stand-in says the primary is: itself, in view 0, at an address it does not know. */
  hint: PrimaryHint = { replica: 0, view: 0, address: null };
  private op = 0;

  constructor() {
    this.chat.apply({ kind: 'create', name: 'alice', verifier: VERIFIER, at: 1, session: null }, { op: ++this.op, clientId: CLIENT.clientId });
  }

  /** False: a new primary that has not yet executed the log its view began with. */
  readsCurrent = true;

  status() {
    return { replica: 0, status: 'normal' as const, view: 0, logView: 0, primary: 0, isPrimary: true, op: 0, commit: 0, executed: 0, readsCurrent: this.readsCurrent, damaged: false };
  }

  primaryHint() {
    return this.hint;
  }

  members() {
    return MEMBERS;
  }

  machine(): ChatMachine {
    return this.chat;
  }

  submit(request: ClientRequest<ChatCommand>): void {
    this.submitted.push(request);
    const reply = request.command === null ? null : this.chat.apply(request.command, { op: ++this.op, clientId: request.clientId }).reply;
    queueMicrotask(() => this.gateway!.deliverReply(request, reply));
  }
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function startGateway(t: TestContext, options: Partial<GatewayOptions> = {}): Promise<{ primary: Primary; port: number; lines: string[] }> {
  const primary = new Primary();
  const lines: string[] = [];
  const logger = createLogger({ context: () => ({}), write: (line) => lines.push(line) });
  primary.gateway = new ClientGateway(primary, logger, { clusterSecret: SECRET, ...options });
  const port = await freePort();
  await primary.gateway.listen('127.0.0.1', port);
  t.after(() => primary.gateway!.close());
  return { primary, port, lines };
}

/** Waits, a turn of the event loop at a time, until `condition` holds (never for a fixed time). */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve));
}

/** A connection that sends nothing (unless a test makes it), and what the replica sent it until
 *  it closed. */
async function openSilent(t: TestContext, port: number): Promise<{ connection: FramedConnection; frames: unknown[]; closed: Promise<unknown> }> {
  const socket = connect(port, '127.0.0.1');
  t.after(() => socket.destroy());
  await once(socket, 'connect');
  const connection = new FramedConnection(socket, { maxFrameBytes: SERVER_FRAME_BYTES_MAX, maxSendFrameBytes: CLIENT_FRAME_BYTES_MAX });
  const frames: unknown[] = [];
  connection.on('frame', (frame) => frames.push(frame));
  connection.on('error', () => {});
  return { connection, frames, closed: once(connection, 'close') };
}

/** One client connection: sends a request and resolves with the reply of the same id. */
class Client {
  private nextId = 1;
  private readonly waiting = new Map<number, (reply: Record<string, unknown>) => void>();
  private requestNumber = 0;
  /** Frames the replica sent unasked (no id): pushes and announcements. */
  readonly unasked: Record<string, unknown>[] = [];

  private constructor(private readonly connection: FramedConnection) {
    connection.on('frame', (value: unknown) => {
      const frame = value as Record<string, unknown>;
      if (frame.id === undefined) this.unasked.push(frame);
      else this.waiting.get(frame.id as number)?.(frame);
    });
  }

  get closed(): Promise<unknown> {
    return once(this.connection, 'close');
  }

  close(): void {
    this.connection.destroy();
  }

  static async open(t: TestContext, port: number): Promise<Client> {
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    const client = new Client(new FramedConnection(socket, { maxFrameBytes: SERVER_FRAME_BYTES_MAX, maxSendFrameBytes: CLIENT_FRAME_BYTES_MAX }));
    t.after(() => client.connection.destroy());
    assert.equal((await client.request({ type: 'register', ...CLIENT })).ok, true);
    return client;
  }

  request(frame: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    const reply = this.replyTo(id);
    this.connection.send({ ...frame, id });
    return reply;
  }

  replyTo(id: number): Promise<Record<string, unknown>> {
    return new Promise<Record<string, unknown>>((resolve) => this.waiting.set(id, resolve));
  }

  /** Raw bytes, for frames cut short on purpose. */
  write(bytes: Buffer): void {
    this.connection.sendFrame(bytes);
  }

  loginStart(name: string): Promise<Record<string, unknown>> {
    return this.request({ type: 'login-start', name, clientNonce: 'clientnonce' });
  }

  /** Both steps of a login with `password`; the reply to the second, and what the client sent. */
  async login(name: string, password: string): Promise<{ reply: Record<string, unknown>; nonce: string; proof: string; tokenHash: string }> {
    const start = await this.loginStart(name);
    assert.equal(start.ok, true, JSON.stringify(start));
    const challenge = start.result as { salt: string; iterations: number; nonce: string };
    const { proof } = clientProof(password, { name, ...challenge });
    const tokenHash = hashToken(newToken());
    const command = { kind: 'login', name, nonce: challenge.nonce, proof, tokenHash };
    const reply = await this.request({ type: 'call', ...CLIENT, requestNumber: ++this.requestNumber, command });
    return { reply, nonce: challenge.nonce, proof, tokenHash };
  }
}

const WRONG = { code: 'AUTH_FAILED', message: 'wrong name or password' };

test('a new primary holds login-start and resume until it has executed the log its view began with, then answers them', async (t) => {
  const { primary, port } = await startGateway(t);
  const client = await Client.open(t, port);
  primary.readsCurrent = false;
  const start = client.loginStart('alice');
  const resume = client.request({ type: 'resume', token: newToken(), lastSeen: 0 });
  let answered = false;
  void Promise.race([start, resume]).then(() => (answered = true));
  // Frames are handled in order: once the hello sent after them is answered, they were held.
  assert.equal((await client.request({ type: 'hello', version: PROTOCOL_VERSION })).ok, true);
  assert.equal(answered, false, 'not refused, not answered from a state that may lack a session just opened');
  const gone = await Client.open(t, port);
  void gone.loginStart('alice');
  await gone.request({ type: 'hello', version: PROTOCOL_VERSION });
  gone.close();
  await until(() => primary.gateway!.connectionCount === 1);
  primary.readsCurrent = true;
  primary.gateway!.answerHeldReads();
  assert.equal((await start).ok, true);
  assert.equal(((await resume).error as { code: string }).code, 'BAD_TOKEN', 'now an unknown token is refused for good');
  primary.gateway!.answerHeldReads();
  assert.equal((await client.loginStart('alice')).ok, true, 'answered at once once current; nothing held is answered twice');
});

test('a connection may have WAITING_PER_CONNECTION_MAX reads held; the next is refused BUSY', async (t) => {
  const { primary, port } = await startGateway(t);
  const client = await Client.open(t, port);
  primary.readsCurrent = false;
  const held = Array.from({ length: 64 }, () => client.request({ type: 'resume', token: newToken(), lastSeen: 0 }));
  const refused = await client.request({ type: 'resume', token: newToken(), lastSeen: 0 });
  assert.equal((refused.error as { code: string }).code, 'BUSY');
  primary.readsCurrent = true;
  primary.gateway!.answerHeldReads();
  for (const reply of await Promise.all(held)) assert.equal((reply.error as { code: string }).code, 'BAD_TOKEN');
});

test('a login enters the log as the outcome of the primary\'s proof check: no nonce, no proof', async (t) => {
  const { primary, port } = await startGateway(t);
  const client = await Client.open(t, port);

  const right = await client.login('alice', 'right');
  assert.equal(right.reply.ok, true, JSON.stringify(right.reply));
  const logged = primary.submitted.at(-1)!.command!;
  const { serverSignature } = right.reply.result as { serverSignature: string };
  assert.deepEqual(logged, {
    kind: 'login',
    name: 'alice',
    tokenHash: right.tokenHash,
    proven: { fingerprint: verifierFingerprint(VERIFIER), serverSignature },
    at: logged.at,
    session: null,
  });

  const wrong = await client.login('alice', 'wrong');
  assert.deepEqual(wrong.reply.error, WRONG);
  assert.equal((primary.submitted.at(-1)!.command as { proven: unknown }).proven, null);
  const unknown = await client.login('ghost', 'right');
  assert.deepEqual(unknown.reply.error, WRONG, 'an unknown name fails exactly like a wrong password');

  const everything = JSON.stringify(primary.submitted);
  for (const attempt of [right, wrong, unknown]) {
    assert.ok(!everything.includes(attempt.nonce) && !everything.includes(attempt.proof), 'a nonce or a proof reached the log');
  }
});

test('the decoy for a name without an account comes from the cluster secret: every replica gives the same', async (t) => {
  const challenge = async (gateway: { port: number }, name: string) => {
    const client = await Client.open(t, gateway.port);
    const { salt, iterations } = (await client.loginStart(name)).result as { salt: string; iterations: number };
    return { salt, iterations };
  };
  const one = await startGateway(t);
  const two = await startGateway(t);
  const other = await startGateway(t, { clusterSecret: 'another cluster secret, just as long' });
  const decoy = await challenge(one, 'ghost');
  assert.deepEqual(await challenge(two, 'Ghost'), decoy, 'the same on another replica of the cluster');
  assert.equal(decoy.iterations, DEFAULT_ITERATIONS, 'like an account made by a client with its default');
  assert.notEqual((await challenge(other, 'ghost')).salt, decoy.salt, 'another cluster, another decoy');
  assert.notEqual((await challenge(one, 'phantom')).salt, decoy.salt);
  assert.deepEqual(await challenge(one, 'alice'), { salt: VERIFIER.salt, iterations: VERIFIER.iterations }, 'a real account');
});

test('a connection with too many failed logins has its login-starts refused for a while', async (t) => {
  let now = 0;
  const { port } = await startGateway(t, { now: () => now });
  const guesser = await Client.open(t, port);
  // Unknown names: no account gets locked, only the connection.
  for (let i = 0; i < LOGIN_FAILURES_BEFORE_LOCK; i++) assert.deepEqual((await guesser.login(`ghost${i}`, 'guess')).reply.error, WRONG);
  now += 999;
  const refused = await guesser.loginStart('alice');
  assert.deepEqual(refused.error, { code: 'LOGIN_THROTTLED', message: 'too many failed logins on this connection; try again in 1 s' });
  const neighbour = await Client.open(t, port);
  assert.equal((await neighbour.login('alice', 'right')).reply.ok, true, 'another connection is not affected');
  now += 1;
  assert.equal((await guesser.login('alice', 'right')).reply.ok, true, 'the lock is over');
});

test('past the connection cap a new connection gets one TOO_MANY_CONNECTIONS frame and is closed; the others go on', { timeout: 30_000 }, async (t) => {
  const { primary, port, lines } = await startGateway(t, { connectionsMax: 2, descriptorLimit: null });
  const first = await Client.open(t, port);
  await Client.open(t, port);
  const refused = await Promise.all([openSilent(t, port), openSilent(t, port)]);
  for (const { frames, closed } of refused) {
    await closed;
    assert.deepEqual(frames, [{ type: 'reply', id: 0, ok: false, error: { code: 'TOO_MANY_CONNECTIONS', message: 'this replica holds 2 client connections, its most; try again later' } }]);
  }
  // A refused peer that never hangs up: the replica's side is gone, not merely half-closed, so
  // what this peer sends now is answered with a reset.
  const stubborn = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  t.after(() => stubborn.destroy());
  stubborn.resume();
  await once(stubborn, 'end');
  stubborn.on('error', () => {});
  // The first write draws the reset; a later one fails on it (a socket past 'end' reads no more).
  await until(() => stubborn.destroyed || (stubborn.writableLength === 0 && stubborn.write('more'), false));
  assert.equal(primary.gateway!.connectionCount, 2);
  assert.equal((await first.loginStart('alice')).ok, true, 'the connections within the cap are served');
  assert.equal(lines.filter((line) => line.includes('event=client-refused')).length, 1, 'a refusal is logged once, then counted');
  primary.gateway!.sweep();
  assert.equal(lines.filter((line) => line.includes('event=client-refused')).length, 1, 'and its count waits for the interval to end');

  first.close();
  await until(() => primary.gateway!.connectionCount === 1);
  await Client.open(t, port); // a slot freed is taken again
});

test('the connection cap stays DESCRIPTORS_RESERVED below the descriptor limit', () => {
  const logger = createLogger({ context: () => ({}), write: () => {} });
  const gateway = (descriptorLimit: number | null) => new ClientGateway(new Primary(), logger, { clusterSecret: SECRET, connectionsMax: 1000, descriptorLimit });
  assert.equal(gateway(null).connectionsMax, 1000);
  assert.equal(gateway(65_536).connectionsMax, 1000);
  assert.equal(gateway(200).connectionsMax, 200 - DESCRIPTORS_RESERVED);
  assert.throws(() => gateway(DESCRIPTORS_RESERVED), /leaves none for clients/);
});

test('a connection is closed when it sends no valid request in time, or idles without a session; a logged-in one stays', async (t) => {
  let now = 0;
  const { primary, port, lines } = await startGateway(t, { now: () => now });
  const silent = await openSilent(t, port);
  const idle = await Client.open(t, port);
  const loggedIn = await Client.open(t, port);
  assert.equal((await loggedIn.login('alice', 'right')).reply.ok, true);
  const garbage = new FramedConnection(connect(port, '127.0.0.1'), { maxFrameBytes: SERVER_FRAME_BYTES_MAX });
  t.after(() => garbage.destroy());
  await until(() => primary.gateway!.connectionCount === 4);
  garbage.send({ id: 1 }); // not a request: it does not count as one
  await once(garbage, 'frame');

  now = CLIENT_FIRST_REQUEST_MS - 1;
  primary.gateway!.sweep();
  assert.equal(primary.gateway!.connectionCount, 4, 'nobody is overdue yet');
  now = CLIENT_FIRST_REQUEST_MS;
  primary.gateway!.sweep();
  assert.equal(primary.gateway!.connectionCount, 2, 'the slots are free at once');
  await Promise.all([silent.closed, once(garbage, 'close')]);
  assert.equal(lines.filter((line) => line.includes('event=client-timed-out')).length, 1, 'two time-outs of one kind: one line, then a count');

  now = CLIENT_IDLE_MS - 1;
  primary.gateway!.sweep();
  assert.equal((await idle.loginStart('alice')).ok, true, 'a request puts the idle deadline off');
  const closed = idle.closed;
  now = CLIENT_IDLE_MS * 2 - 2;
  primary.gateway!.sweep();
  assert.equal(primary.gateway!.connectionCount, 2);
  now = CLIENT_IDLE_MS * 2 - 1;
  primary.gateway!.sweep();
  await closed;
  assert.equal(primary.gateway!.connectionCount, 1, 'the logged-in connection waits for pushes, however quiet');
  assert.equal((await loggedIn.loginStart('alice')).ok, true);
});

test('a connection holding an unfinished frame past CLIENT_FRAME_MS is closed, logged in or not', async (t) => {
  let now = 0;
  const { primary, port, lines } = await startGateway(t, { now: () => now });
  const loris = await Client.open(t, port);
  assert.equal((await loris.login('alice', 'right')).reply.ok, true);
  const other = await Client.open(t, port);
  const closed = loris.closed;
  // A whole hello and, in the same write, the first bytes of a frame that never ends: the hello's
  // reply says both were read.
  const hello = { type: 'hello', id: 99, version: PROTOCOL_VERSION };
  const unfinished = Buffer.concat([encodeJsonFrame(hello), encodeJsonFrame({ type: 'hello', id: 100, version: PROTOCOL_VERSION }).subarray(0, 12)]);
  const replied = loris.replyTo(99);
  loris.write(unfinished);
  assert.equal((await replied).ok, true);

  now = CLIENT_FRAME_MS - 1;
  primary.gateway!.sweep();
  assert.equal(primary.gateway!.connectionCount, 2);
  now = CLIENT_FRAME_MS;
  primary.gateway!.sweep();
  assert.equal(primary.gateway!.connectionCount, 1);
  await closed;
  assert.ok(lines.some((line) => /event=client-timed-out .*reason=slow-frame/.test(line)), lines.join('\n'));
  assert.equal((await other.loginStart('alice')).ok, true, 'a connection without one goes on');
});

test('an announcement of the primary, with the members, goes to every connection open then, and only to those', async (t) => {
  const { primary, port } = await startGateway(t);
  const loggedIn = await Client.open(t, port);
  assert.equal((await loggedIn.login('alice', 'right')).reply.ok, true);
  const anonymous = await Client.open(t, port);
  const silent = await openSilent(t, port); // it has not even said hello: it is told too
  await until(() => primary.gateway!.connectionCount === 3);
  primary.hint = { replica: 2, view: 4, address: '127.0.0.1:7003' };
  primary.gateway!.announce();

  // A hello on each connection after it: frames arrive in order, so by its reply the
  // announcement has arrived too, if it was sent.
  const hello = { type: 'hello', version: PROTOCOL_VERSION };
  const helloResult = { version: PROTOCOL_VERSION, replica: 0, view: 0, primary: primary.hint, members: MEMBERS };
  const announcement = { type: 'primary', primary: { replica: 2, view: 4, address: '127.0.0.1:7003' }, members: MEMBERS };
  for (const client of [loggedIn, anonymous]) {
    assert.deepEqual((await client.request(hello)).result, helloResult);
    assert.deepEqual(client.unasked, [announcement]);
  }
  silent.connection.send({ ...hello, id: 1 });
  await until(() => silent.frames.some((frame) => (frame as { id?: number }).id === 1));
  assert.deepEqual(silent.frames, [announcement, { type: 'reply', id: 1, ok: true, result: helloResult }]);

  const later = await Client.open(t, port);
  assert.deepEqual((await later.request(hello)).result, helloResult, 'a later connection asks');
  assert.deepEqual(later.unasked, [], 'and is sent no announcement of the past');

  primary.hint = { replica: 2, view: 5, address: null };
  assert.throws(() => primary.gateway!.announce(), /an announcement names the primary's address/, 'only a replica in status normal announces');
});

test('accepted counts the connections taken in since start, not those refused at the cap', async (t) => {
  const { primary, port } = await startGateway(t, { connectionsMax: 2, descriptorLimit: null });
  assert.equal(primary.gateway!.acceptedCount, 0);
  const first = await Client.open(t, port);
  await Client.open(t, port);
  await (await openSilent(t, port)).closed; // refused: TOO_MANY_CONNECTIONS
  assert.deepEqual([primary.gateway!.acceptedCount, primary.gateway!.connectionCount], [2, 2]);
  first.close();
  await until(() => primary.gateway!.connectionCount === 1);
  await Client.open(t, port);
  assert.deepEqual([primary.gateway!.acceptedCount, primary.gateway!.connectionCount], [3, 2], 'a connection closed is still counted');
});
