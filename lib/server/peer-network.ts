// The replicas' mesh: every replica listens on its peer address and dials every other replica.
// A dialled connection carries messages from the dialer to the acceptor, so each ordered pair of
// replicas has one connection and no tie-breaking is needed. Links reconnect with capped,
// jittered backoff. Delivery is best effort, as the replication core expects (driver duty 4):
// a message for a peer that is down, or whose send buffer is full, is dropped and counted.

import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { describePeer, FramedConnection } from '../transport/connection.js';
import { RateLimitedLog, type Logger } from './logger.js';
import { handshakeMac, macEquals, newPeerNonce, parseHandshakeFrame, peerHello } from './peer-handshake.js';

/** Largest peer frame: state transfer carries log suffixes and snapshots. */
const PEER_FRAME_BYTES_MAX = 256 * 1024 * 1024;
/** Bytes queued to one peer beyond which new messages are dropped rather than buffered. */
const PEER_SEND_BACKLOG_BYTES_MAX = 64 * 1024 * 1024;
const RECONNECT_DELAY_MS_MIN = 50;
const RECONNECT_DELAY_MS_MAX = 1000;
/** Largest frame from the other side before it has proved it knows the cluster secret. The
 *  handshake frames are a few hundred bytes (a cluster name, ids, hex nonces and MACs), so a
 *  stranger on the peer port can make a replica hold no more than this per connection. */
const PEER_HANDSHAKE_FRAME_BYTES_MAX = 4 * 1024;
/** The dialer's connection: it sends replication messages, and receives only the acceptor's
 *  challenge (the other direction has its own connection). The hard cap on its queue is one
 *  maximum frame beyond the point where OutboundLink starts dropping messages. */
const DIALER_CONNECTION_OPTIONS = {
  maxFrameBytes: PEER_HANDSHAKE_FRAME_BYTES_MAX,
  maxSendFrameBytes: PEER_FRAME_BYTES_MAX,
  highWaterBytes: PEER_FRAME_BYTES_MAX + PEER_SEND_BACKLOG_BYTES_MAX,
};
/** The acceptor's connection sends only the challenge, and receives handshake frames until the
 *  dialer has authenticated (then up to PEER_FRAME_BYTES_MAX: see accept). */
const ACCEPTOR_CONNECTION_OPTIONS = { maxFrameBytes: PEER_HANDSHAKE_FRAME_BYTES_MAX };
/** A handshake that has not finished by then is abandoned, by either side. */
const HANDSHAKE_TIMEOUT_MS = 5000;
/** Accepted connections still in their handshake, at most; more are closed at once. A cluster
 *  has at most 6 other replicas, each with one handshake at a time (a few more while a stale
 *  connection of a restarted peer waits for its deadline). */
const PEER_HANDSHAKING_CONNECTIONS_MAX = 16;
/** Faults a stranger on the peer port can cause at will (refused, rejected, timed-out or broken
 *  handshakes) are logged once, then as one count per kind per this interval (RateLimitedLog);
 *  the summaries are written every PEER_FAULT_FLUSH_MS. */
const PEER_FAULT_LOG_INTERVAL_MS = 10_000;
const PEER_FAULT_FLUSH_MS = 1000;

interface PeerNetworkOptions {
  self: number;
  cluster: string;
  secret: string;
  listen: { host: string; port: number };
  peers: Map<number, { host: string; port: number }>;
  logger: Logger;
  /** A message from an authenticated peer, already checked to carry that peer's id in `from`. */
  onMessage: (from: number, message: Record<string, unknown>) => void;
  /** Part of a message from an authenticated peer arrived; the rest is on its way. A message of
   *  tens of MB (a snapshot) takes long enough to arrive that the receiver would otherwise count
   *  the sender as silent. */
  onReceiving?: (from: number) => void;
  /** Tests shorten these; by default HANDSHAKE_TIMEOUT_MS and PEER_HANDSHAKING_CONNECTIONS_MAX. */
  handshakeTimeoutMs?: number;
  handshakingConnectionsMax?: number;
}

export class PeerNetwork {
  private server: Server | null = null;
  private readonly links = new Map<number, OutboundLink>();
  private readonly inbound = new Set<FramedConnection>();
  /** The inbound connections whose dialer has not authenticated yet. */
  private readonly handshaking = new Set<FramedConnection>();
  /** What strangers cause, rate-limited; what an authenticated peer does is logged in full. */
  private readonly faults: RateLimitedLog;
  private faultFlushTimer: NodeJS.Timeout | null = null;
  /** Set by the cluster console's `partition` command: all peer traffic is dropped both ways. */
  private partitioned = false;

  constructor(private readonly options: PeerNetworkOptions) {
    // Every replica's hello must fit the acceptor's pre-handshake limit, or no link ever comes up.
    const highestId = Math.max(options.self, ...options.peers.keys());
    const helloBytes = Buffer.byteLength(JSON.stringify(peerHello(options.cluster, highestId, highestId, newPeerNonce())));
    if (helloBytes > PEER_HANDSHAKE_FRAME_BYTES_MAX) {
      throw new Error(`the cluster name is too long: the peer handshake must fit in ${PEER_HANDSHAKE_FRAME_BYTES_MAX} bytes, and its first frame takes ${helloBytes}`);
    }
    this.faults = new RateLimitedLog(options.logger, { intervalMs: PEER_FAULT_LOG_INTERVAL_MS, now: () => performance.now() });
  }

  async start(): Promise<void> {
    const server = createServer((socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.listen.port, this.options.listen.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.faultFlushTimer = setInterval(() => this.faults.flush(), PEER_FAULT_FLUSH_MS);
    for (const [id, address] of this.options.peers) {
      const link = new OutboundLink(this.options, id, address);
      this.links.set(id, link);
      link.connect();
    }
  }

  /** Sends one frame, already encoded with encodeJsonFrame: a message the core broadcasts is
   *  serialised once for all peers (ReplicaServer.broadcastToPeers). */
  sendFrame(to: number, frame: Buffer): void {
    if (this.partitioned) return;
    this.links.get(to)?.send(frame);
  }

  setPartitioned(partitioned: boolean): void {
    this.partitioned = partitioned;
    this.options.logger.log('warn', partitioned ? 'partitioned' : 'partition-healed');
  }

  /** The port the peer server listens on (the one asked for, or the one chosen for port 0). */
  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? this.options.listen.port;
  }

  /** Ids of peers whose outbound link is authenticated and up. */
  connectedPeers(): number[] {
    return [...this.links].filter(([, link]) => link.ready).map(([id]) => id);
  }

  async close(): Promise<void> {
    if (this.faultFlushTimer) clearInterval(this.faultFlushTimer);
    this.faults.flush();
    for (const link of this.links.values()) link.close();
    for (const connection of this.inbound) connection.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** The acceptor side of the handshake, then a stream of messages from one authenticated peer. */
  private accept(socket: Socket): void {
    if (this.handshaking.size >= this.handshakingMax) {
      this.refuse(socket);
      return;
    }
    const connection = new FramedConnection(socket, ACCEPTOR_CONNECTION_OPTIONS);
    this.inbound.add(connection);
    this.handshaking.add(connection);
    const { logger, self, cluster, secret } = this.options;
    const remote = connection.remoteAddress;
    const authenticated = handshakeDeadline(connection, this.options, () => this.faults.note('warn', 'peer-handshake-timeout', 'acceptor', { remote }));
    let peer: number | null = null;
    let pending: { from: number; dialerNonce: string; acceptorNonce: string } | null = null;
    // What a stranger sent reaches the log only through the fault log, which cuts every string
    // it quotes to LOG_VALUE_CHARS_MAX (docs/security.md, "Limits").
    const reject = (reason: string, details: Record<string, unknown> = {}) => {
      this.faults.note('warn', 'peer-rejected', reason, { remote, reason, ...details });
      connection.destroy();
    };
    connection.on('frame', (value: unknown) => {
      if (peer !== null) return this.receive(peer, value);
      const frame = parseHandshakeFrame(value);
      if (frame?.type === 'peer-hello' && pending === null) {
        if (frame.cluster !== cluster) return reject('wrong-cluster', { cluster: frame.cluster });
        if (frame.to !== self) return reject('wrong-replica', { to: frame.to });
        if (!this.options.peers.has(frame.from)) return reject('unknown-replica', { from: frame.from });
        pending = { from: frame.from, dialerNonce: frame.nonce, acceptorNonce: newPeerNonce() };
        const mac = handshakeMac(secret, 'acceptor', { cluster, dialer: frame.from, acceptor: self, ...pending });
        connection.send({ type: 'peer-challenge', nonce: pending.acceptorNonce, mac });
      } else if (frame?.type === 'peer-auth' && pending !== null) {
        const expected = handshakeMac(secret, 'dialer', { cluster, dialer: pending.from, acceptor: self, ...pending });
        if (!macEquals(frame.mac, expected)) return reject('bad-secret');
        authenticated();
        this.handshaking.delete(connection);
        // Only now may the dialer send what replication needs; with lazy decoding this holds
        // from the very next frame, even one that arrived in the same read as this one.
        connection.setMaxFrameBytes(PEER_FRAME_BYTES_MAX);
        peer = pending.from;
        logger.log('info', 'peer-accepted', { peer, remote });
        // The peer is back (perhaps restarted): dial it now rather than when our backoff says.
        // Otherwise it could hear nothing from us for up to RECONNECT_DELAY_MS_MAX, time out,
        // and pull every replica into a needless view change.
        this.links.get(peer)?.reconnectNow();
      } else {
        reject('malformed');
      }
    });
    connection.on('partial', () => {
      if (peer !== null && !this.partitioned) this.options.onReceiving?.(peer);
    });
    connection.on('error', (error: Error & { code?: string }) => {
      const fields = { remote, peer, error: error.message };
      if (peer !== null) logger.log('warn', 'peer-connection-error', fields);
      else this.faults.note('warn', 'peer-connection-error', error.code ?? error.name, fields);
    });
    connection.on('close', () => {
      this.inbound.delete(connection);
      this.handshaking.delete(connection);
    });
  }

  /** Closes at once a connection past the cap on handshaking ones. */
  private refuse(socket: Socket): void {
    this.faults.note('warn', 'peer-refused', 'TOO_MANY_HANDSHAKES', { remote: describePeer(socket) ?? 'unknown', max: this.handshakingMax });
    socket.destroy();
  }

  private get handshakingMax(): number {
    return this.options.handshakingConnectionsMax ?? PEER_HANDSHAKING_CONNECTIONS_MAX;
  }

  private receive(peer: number, value: unknown): void {
    if (this.partitioned) return;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.options.logger.log('warn', 'peer-message-malformed', { peer });
      return;
    }
    const message = value as Record<string, unknown>;
    if (message.from !== peer || typeof message.type !== 'string' || !Number.isSafeInteger(message.view)) {
      // An authenticated peer that lies about who it is, or sends nonsense, is ignored, not trusted.
      this.options.logger.log('warn', 'peer-message-rejected', { peer, claimedFrom: message.from, type: message.type });
      return;
    }
    this.options.onMessage(peer, message);
  }
}

/** The dialer side: one per peer, reconnecting forever until closed. */
class OutboundLink {
  private connection: FramedConnection | null = null;
  private attempts = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private dropped = 0;
  ready = false;

  constructor(
    private readonly options: PeerNetworkOptions,
    private readonly peer: number,
    private readonly address: { host: string; port: number },
  ) {}

  connect(): void {
    if (this.closed) return;
    const socket = connect({ host: this.address.host, port: this.address.port });
    const connection = new FramedConnection(socket, DIALER_CONNECTION_OPTIONS);
    this.connection = connection;
    const { self, cluster, secret, logger } = this.options;
    const dialerNonce = newPeerNonce();
    const authenticated = handshakeDeadline(connection, this.options, () => logger.log('warn', 'peer-handshake-timeout', { peer: this.peer, role: 'dialer' }));
    socket.once('connect', () => connection.send(peerHello(cluster, self, this.peer, dialerNonce)));
    connection.on('frame', (value: unknown) => {
      const frame = parseHandshakeFrame(value);
      if (this.ready || frame?.type !== 'peer-challenge') {
        logger.log('warn', 'peer-unexpected-frame', { peer: this.peer });
        return connection.destroy();
      }
      const fields = { cluster, dialer: self, acceptor: this.peer, dialerNonce, acceptorNonce: frame.nonce };
      if (!macEquals(frame.mac, handshakeMac(secret, 'acceptor', fields))) {
        logger.log('error', 'peer-impostor', { peer: this.peer, reason: 'bad cluster secret' });
        return connection.destroy();
      }
      connection.send({ type: 'peer-auth', mac: handshakeMac(secret, 'dialer', fields) });
      authenticated();
      this.ready = true;
      this.attempts = 0;
      logger.log('info', 'peer-up', { peer: this.peer, dropped: this.dropped });
    });
    connection.on('error', () => {
      // The close handler below logs and reconnects; refused connections are routine while a
      // peer is down, so they are not worth a line each.
    });
    connection.on('close', () => this.onClose(connection));
  }

  private onClose(connection: FramedConnection): void {
    if (connection !== this.connection) return;
    if (this.ready) this.options.logger.log('warn', 'peer-down', { peer: this.peer });
    this.ready = false;
    this.connection = null;
    if (this.closed) return;
    const ceiling = Math.min(RECONNECT_DELAY_MS_MAX, RECONNECT_DELAY_MS_MIN * 2 ** this.attempts++);
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
  }

  /** Skips the rest of the backoff if the link is down and waiting to retry. */
  reconnectNow(): void {
    if (this.closed || this.connection !== null || this.retryTimer === null) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.attempts = 0;
    this.connect();
  }

  send(frame: Buffer): void {
    const connection = this.connection;
    if (!this.ready || connection === null || connection.writableLength > PEER_SEND_BACKLOG_BYTES_MAX) {
      this.dropped++;
      return;
    }
    connection.sendFrame(frame);
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.connection?.destroy();
  }
}

/** Destroys `connection` when the handshake timeout passes, unless the returned function is
 *  called first: a handshake that stalls would otherwise hold its connection (on the acceptor,
 *  also a handshaking slot) for ever. Both sides keep one. */
function handshakeDeadline(connection: FramedConnection, options: PeerNetworkOptions, onExpire: () => void): () => void {
  const timer = setTimeout(() => {
    onExpire();
    connection.destroy();
  }, options.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS);
  connection.on('close', () => clearTimeout(timer));
  return () => clearTimeout(timer);
}
