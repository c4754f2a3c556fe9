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
import { CLIENT_FRAME_BYTES_MAX, SERVER_FRAME_BYTES_MAX } from '../../../lib/protocol/messages.js';
import type { ClientRequest } from '../../../lib/replication/types.js';
import { ClientGateway, type ReplicaHost } from '../../../lib/server/client-gateway.js';
import { createLogger } from '../../../lib/server/logger.js';
import { FramedConnection } from '../../../lib/transport/connection.js';

const SECRET = 'the cluster secret, at least this long';
const VERIFIER = makeVerifier('right', 4096);
const CLIENT = { clientId: 'c'.repeat(32), clientSecret: newToken() };

/** A primary with one account, alice, that executes every request as it is submitted. */
class Primary implements ReplicaHost {
  readonly chat = ChatMachine.fromSnapshot(null);
  readonly submitted: ClientRequest<ChatCommand>[] = [];
  gateway: ClientGateway | null = null;
  private op = 0;

  constructor() {
    this.chat.apply({ kind: 'create', name: 'alice', verifier: VERIFIER, at: 1, session: null }, { op: ++this.op, clientId: CLIENT.clientId });
  }

  status() {
    return { replica: 0, status: 'normal' as const, view: 0, logView: 0, primary: 0, isPrimary: true, op: 0, commit: 0, executed: 0 };
  }

  primaryHint() {
    return { replica: 0, view: 0, address: null };
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

async function startGateway(t: TestContext, options: { clusterSecret?: string; now?: () => number } = {}): Promise<{ primary: Primary; port: number }> {
  const primary = new Primary();
  const logger = createLogger({ context: () => ({}), write: () => {} });
  primary.gateway = new ClientGateway(primary, logger, { clusterSecret: SECRET, ...options });
  const port = await freePort();
  await primary.gateway.listen('127.0.0.1', port);
  t.after(() => primary.gateway!.close());
  return { primary, port };
}

/** One client connection: sends a request and resolves with the reply of the same id. */
class Client {
  private nextId = 1;
  private readonly waiting = new Map<number, (reply: Record<string, unknown>) => void>();
  private requestNumber = 0;

  private constructor(private readonly connection: FramedConnection) {
    connection.on('frame', (value: unknown) => {
      const frame = value as Record<string, unknown>;
      this.waiting.get(frame.id as number)?.(frame);
    });
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
    const reply = new Promise<Record<string, unknown>>((resolve) => this.waiting.set(id, resolve));
    this.connection.send({ ...frame, id });
    return reply;
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
