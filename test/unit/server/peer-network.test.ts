// The peer port as a stranger sees it: what it accepts before the handshake (frame size, number
// of connections, time) and what of it reaches the log. Real sockets on 127.0.0.1; every wait is
// for an event (a close, a log line), bounded by the test's timeout.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import { createLogger, LOG_VALUE_CHARS_MAX, truncateForLog, type Logger } from '../../../lib/server/logger.js';
import { newPeerNonce } from '../../../lib/server/peer-handshake.js';
import { PeerNetwork } from '../../../lib/server/peer-network.js';
import { encodeFrame, encodeJsonFrame } from '../../../lib/transport/frame.js';

const HOST = '127.0.0.1';
const CLUSTER = 'peer-network-test';
const SECRET = 's'.repeat(16);
const TIMEOUT = { timeout: 20_000 };

/** A logger that keeps its lines and lets a test wait for one. */
class LogRecorder {
  readonly lines: string[] = [];
  private readonly waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  /** Called with each line as it is logged, before any waiter. */
  onLine: (line: string) => void = () => {};
  readonly logger: Logger = createLogger({ context: () => ({}), write: (line) => this.add(line) });

  waitFor(pattern: RegExp): Promise<string> {
    const line = this.lines.find((l) => pattern.test(l));
    return line !== undefined ? Promise.resolve(line) : new Promise((resolve) => this.waiters.push({ pattern, resolve }));
  }

  count(pattern: RegExp): number {
    return this.lines.filter((l) => pattern.test(l)).length;
  }

  private add(line: string): void {
    this.lines.push(line);
    this.onLine(line);
    for (const waiter of [...this.waiters]) {
      if (!waiter.pattern.test(line)) continue;
      this.waiters.splice(this.waiters.indexOf(waiter), 1);
      waiter.resolve(line);
    }
  }
}

type Options = ConstructorParameters<typeof PeerNetwork>[0];

/** Replica 0, listening on a free port and dialling nobody. It accepts replica 1: the id is added
 *  after start(), so that no link to it is made (this side only accepts). */
async function startAcceptor(log: LogRecorder, overrides: Partial<Options> = {}): Promise<PeerNetwork> {
  const peers = new Map<number, { host: string; port: number }>();
  const network = new PeerNetwork({
    self: 0, cluster: CLUSTER, secret: SECRET, listen: { host: HOST, port: 0 }, peers, logger: log.logger, onMessage: () => {}, ...overrides,
  });
  await network.start();
  peers.set(1, { host: HOST, port: 1 }); // never dialled
  return network;
}

/** Replica 1, dialling replica 0 at `port`. */
async function startDialer(log: LogRecorder, port: number, overrides: Partial<Options> = {}): Promise<PeerNetwork> {
  const network = new PeerNetwork({
    self: 1, cluster: CLUSTER, secret: SECRET, listen: { host: HOST, port: 0 }, peers: new Map([[0, { host: HOST, port }]]), logger: log.logger, onMessage: () => {}, ...overrides,
  });
  await network.start();
  return network;
}

async function openSocket(port: number): Promise<Socket> {
  const socket = connect({ host: HOST, port });
  socket.on('error', () => {}); // a reset by the replica is what some tests expect
  await once(socket, 'connect');
  return socket;
}

function hello(cluster: string): Buffer {
  return encodeJsonFrame({ type: 'peer-hello', cluster, from: 1, to: 0, nonce: newPeerNonce() });
}

/** A replication message from replica 1 whose frame body is about `bytes` long. */
function messageOfSize(bytes: number): Buffer {
  return encodeJsonFrame({ type: 'commit', from: 1, view: 0, padding: 'p'.repeat(bytes) });
}

test('a stranger frame over the handshake limit closes the connection at its header; one at the limit is read', TIMEOUT, async () => {
  const log = new LogRecorder();
  const network = await startAcceptor(log);
  try {
    const oversize = await openSocket(network.port);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(4 * 1024 + 1);
    oversize.write(header); // the body never comes: the header alone is refused
    await once(oversize, 'close');
    assert.match(await log.waitFor(/peer-connection-error/), /exceeds the maximum 4096/);

    // A frame of exactly the limit is read whole, and refused as a handshake.
    const atLimit = await openSocket(network.port);
    atLimit.write(encodeFrame(Buffer.from(JSON.stringify('x'.repeat(4 * 1024 - 2)))));
    await once(atLimit, 'close');
    assert.match(await log.waitFor(/peer-rejected/), /reason=malformed/);
  } finally {
    await network.close();
  }
});

test('once authenticated, a peer sends frames far over the handshake limit, even in the same write as its last handshake frame', TIMEOUT, async () => {
  const acceptorLog = new LogRecorder();
  let deliver: (message: Record<string, unknown>) => void = () => {};
  const arrived = new Promise<Record<string, unknown>>((resolve) => (deliver = resolve));
  const acceptor = await startAcceptor(acceptorLog, { onMessage: (_from, message) => deliver(message) });
  const dialerLog = new LogRecorder();
  // 'peer-up' is logged in the turn that sends peer-auth: a frame sent now shares its write.
  dialerLog.onLine = (line) => {
    if (line.includes('event=peer-up')) dialer?.sendFrame(0, messageOfSize(100 * 1024));
  };
  let dialer: PeerNetwork | undefined = undefined;
  dialer = await startDialer(dialerLog, acceptor.port);
  try {
    // A frame refused by the acceptor fails its connection: fail the test then, not at its timeout.
    const failed = acceptorLog.waitFor(/peer-connection-error|peer-rejected/).then((line) => assert.fail(line));
    const message = await Promise.race([arrived, failed]);
    assert.equal((message.padding as string).length, 100 * 1024);
    assert.equal(acceptorLog.count(/peer-connection-error|peer-rejected/), 0, acceptorLog.lines.join('\n'));
  } finally {
    await dialer.close();
    await acceptor.close();
  }
});

test('connections still in their handshake are capped: past the cap new ones are closed at once, an authenticated link carries on', TIMEOUT, async () => {
  const acceptorLog = new LogRecorder();
  let deliver: (message: Record<string, unknown>) => void = () => {};
  const acceptor = await startAcceptor(acceptorLog, { handshakingConnectionsMax: 2, onMessage: (_from, message) => deliver(message) });
  const dialer = await startDialer(new LogRecorder(), acceptor.port);
  const strangers: Socket[] = [];
  try {
    await acceptorLog.waitFor(/peer-accepted/); // authenticated: it holds no handshaking slot
    // Accepted in the order they connected, so these two take both slots before the others come.
    strangers.push(await openSocket(acceptor.port), await openSocket(acceptor.port));
    for (let i = 0; i < 3; i++) {
      const refused = await openSocket(acceptor.port);
      await once(refused, 'close');
    }
    assert.ok(strangers.every((socket) => !socket.destroyed), 'the connections within the cap stay open');
    assert.equal(acceptorLog.count(/event=peer-refused/), 1, 'refusals are counted, not logged one by one');
    assert.match(acceptorLog.lines.find((line) => line.includes('event=peer-refused'))!, /max=2/);

    const arrived = new Promise<Record<string, unknown>>((resolve) => (deliver = resolve));
    dialer.sendFrame(0, messageOfSize(10));
    assert.equal((await arrived).type, 'commit');
  } finally {
    for (const socket of strangers) socket.destroy();
    await dialer.close();
    await acceptor.close();
  }
});

test('a handshake that stalls is abandoned by the acceptor and by the dialer', TIMEOUT, async () => {
  const acceptorLog = new LogRecorder();
  const acceptor = await startAcceptor(acceptorLog, { handshakeTimeoutMs: 50 });
  // A listener that accepts and never answers the hello, as a stuck or impostor acceptor would.
  const silent = createServer((socket) => {
    socket.on('error', () => {});
    socket.resume(); // reads (and ignores) the hello, so that it sees the dialer hang up
    silentSockets.push(socket);
  });
  const silentSockets: Socket[] = [];
  silent.listen(0, HOST);
  await once(silent, 'listening');
  const dialerLog = new LogRecorder();
  const dialer = await startDialer(dialerLog, (silent.address() as { port: number }).port, { handshakeTimeoutMs: 50 });
  try {
    const mute = await openSocket(acceptor.port);
    await once(mute, 'close');
    assert.match(await acceptorLog.waitFor(/peer-handshake-timeout/), /remote=127\.0\.0\.1:\d+/);

    assert.match(await dialerLog.waitFor(/peer-handshake-timeout/), /peer=0 role=dialer/);
    while (silentSockets.length === 0) await once(silent, 'connection');
    if (!silentSockets[0]!.closed) await once(silentSockets[0]!, 'close'); // the dialer hung up
  } finally {
    await dialer.close();
    await acceptor.close();
    for (const socket of silentSockets) socket.destroy();
    silent.close();
  }
});

test('a rejected hello is logged with its cluster name cut short, and repeats are counted, not logged', TIMEOUT, async () => {
  const log = new LogRecorder();
  const network = await startAcceptor(log);
  try {
    for (let i = 0; i < 3; i++) {
      const socket = await openSocket(network.port);
      socket.write(hello('x'.repeat(3000)));
      await once(socket, 'close');
    }
    assert.equal(log.count(/event=peer-rejected/), 1);
    const line = await log.waitFor(/event=peer-rejected/);
    assert.ok(line.includes(`reason=wrong-cluster cluster="${'x'.repeat(LOG_VALUE_CHARS_MAX)}…(${3000 - LOG_VALUE_CHARS_MAX} more characters)"`), line);
    assert.ok(line.length < 400, `a ${line.length}-character line`);
  } finally {
    await network.close();
  }
});

test('truncateForLog keeps a short value and cuts a long one, saying by how much', () => {
  assert.equal(truncateForLog('replica-cluster'), 'replica-cluster');
  assert.equal(truncateForLog('abcdef', 4), 'abcd…(2 more characters)');
});

test('a cluster name too long for the pre-handshake limit is refused when the network is made, not at every handshake', () => {
  const log = new LogRecorder();
  assert.throws(
    () => new PeerNetwork({ self: 0, cluster: 'c'.repeat(5000), secret: SECRET, listen: { host: HOST, port: 0 }, peers: new Map(), logger: log.logger, onMessage: () => {} }),
    /the cluster name is too long: the peer handshake must fit in 4096 bytes/,
  );
});
