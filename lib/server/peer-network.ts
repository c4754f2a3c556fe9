// The replicas' mesh: every replica listens on its peer address and dials every other replica.
// A dialled connection carries messages from the dialer to the acceptor, so each ordered pair of
// replicas has one connection and no tie-breaking is needed. Links reconnect with capped,
// jittered backoff. Delivery is best effort, as the replication core expects (driver duty 4):
// a message for a peer that is down, or whose send buffer is full, is dropped and counted.

import { createServer, connect, type Server, type Socket } from 'node:net';
import { FramedConnection } from '../transport/connection.js';
import type { Logger } from './logger.js';
import { handshakeMac, macEquals, newPeerNonce, parseHandshakeFrame } from './peer-handshake.js';

/** Largest peer frame: state transfer carries log suffixes and snapshots. */
const PEER_FRAME_BYTES_MAX = 256 * 1024 * 1024;
/** Bytes queued to one peer beyond which new messages are dropped rather than buffered. */
const PEER_SEND_BACKLOG_BYTES_MAX = 64 * 1024 * 1024;
const RECONNECT_DELAY_MS_MIN = 50;
const RECONNECT_DELAY_MS_MAX = 1000;
/** The hard cap on one peer connection's queue: one maximum frame beyond the point where
 *  OutboundLink starts dropping messages. */
const PEER_CONNECTION_OPTIONS = { maxFrameBytes: PEER_FRAME_BYTES_MAX, highWaterBytes: PEER_FRAME_BYTES_MAX + PEER_SEND_BACKLOG_BYTES_MAX };
/** A handshake that has not finished by then is abandoned. */
const HANDSHAKE_TIMEOUT_MS = 5000;

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
}

export class PeerNetwork {
  private server: Server | null = null;
  private readonly links = new Map<number, OutboundLink>();
  private readonly inbound = new Set<FramedConnection>();
  /** Set by the cluster console's `partition` command: all peer traffic is dropped both ways. */
  private partitioned = false;

  constructor(private readonly options: PeerNetworkOptions) {}

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
    for (const [id, address] of this.options.peers) {
      const link = new OutboundLink(this.options, id, address);
      this.links.set(id, link);
      link.connect();
    }
  }

  /** Sends one frame, already encoded with encodeJsonFrame: a message the core broadcasts is
   *  serialised once for all peers (see ReplicaServer.run). */
  sendFrame(to: number, frame: Buffer): void {
    if (this.partitioned) return;
    this.links.get(to)?.send(frame);
  }

  setPartitioned(partitioned: boolean): void {
    this.partitioned = partitioned;
    this.options.logger.log('warn', partitioned ? 'partitioned' : 'partition-healed');
  }

  /** Ids of peers whose outbound link is authenticated and up. */
  connectedPeers(): number[] {
    return [...this.links].filter(([, link]) => link.ready).map(([id]) => id);
  }

  async close(): Promise<void> {
    for (const link of this.links.values()) link.close();
    for (const connection of this.inbound) connection.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** The acceptor side of the handshake, then a stream of messages from one authenticated peer. */
  private accept(socket: Socket): void {
    socket.setNoDelay(true);
    const connection = new FramedConnection(socket, PEER_CONNECTION_OPTIONS);
    this.inbound.add(connection);
    const { logger, self, cluster, secret } = this.options;
    const remote = connection.remoteAddress;
    const timer = setTimeout(() => {
      logger.log('warn', 'peer-handshake-timeout', { remote });
      connection.destroy();
    }, HANDSHAKE_TIMEOUT_MS);
    let peer: number | null = null;
    let pending: { from: number; dialerNonce: string; acceptorNonce: string } | null = null;
    const reject = (reason: string) => {
      logger.log('warn', 'peer-rejected', { remote, reason });
      connection.destroy();
    };
    connection.on('frame', (value: unknown) => {
      if (peer !== null) return this.receive(peer, value);
      const frame = parseHandshakeFrame(value);
      if (frame?.type === 'peer-hello' && pending === null) {
        if (frame.cluster !== cluster) return reject(`cluster "${frame.cluster}" is not "${cluster}"`);
        if (frame.to !== self) return reject(`addressed to replica ${frame.to}, this is ${self}`);
        if (!this.options.peers.has(frame.from)) return reject(`unknown replica id ${frame.from}`);
        pending = { from: frame.from, dialerNonce: frame.nonce, acceptorNonce: newPeerNonce() };
        const mac = handshakeMac(secret, 'acceptor', { cluster, dialer: frame.from, acceptor: self, ...pending });
        connection.send({ type: 'peer-challenge', nonce: pending.acceptorNonce, mac });
      } else if (frame?.type === 'peer-auth' && pending !== null) {
        const expected = handshakeMac(secret, 'dialer', { cluster, dialer: pending.from, acceptor: self, ...pending });
        if (!macEquals(frame.mac, expected)) return reject('bad cluster secret');
        clearTimeout(timer);
        peer = pending.from;
        logger.log('info', 'peer-accepted', { peer, remote });
        // The peer is back (perhaps restarted): dial it now rather than when our backoff says.
        // Otherwise it could hear nothing from us for up to RECONNECT_DELAY_MS_MAX, time out,
        // and pull every replica into a needless view change.
        this.links.get(peer)?.reconnectNow();
      } else {
        reject('malformed handshake');
      }
    });
    connection.on('partial', () => {
      if (peer !== null && !this.partitioned) this.options.onReceiving?.(peer);
    });
    connection.on('error', (error: Error) => logger.log('warn', 'peer-connection-error', { remote, peer, error: error.message }));
    connection.on('close', () => {
      clearTimeout(timer);
      this.inbound.delete(connection);
    });
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
    socket.setNoDelay(true);
    const connection = new FramedConnection(socket, PEER_CONNECTION_OPTIONS);
    this.connection = connection;
    const { self, cluster, secret, logger } = this.options;
    const dialerNonce = newPeerNonce();
    socket.once('connect', () => connection.send({ type: 'peer-hello', cluster, from: self, to: this.peer, nonce: dialerNonce }));
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
