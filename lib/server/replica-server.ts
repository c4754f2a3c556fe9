// One replica process: the I/O shell around the replication core. ReplicaDriver
// (lib/replication/driver.ts) carries out the driver duties of lib/replication/types.ts, for any
// host; what is left here is wiring it to the world, port by port:
//
//   peers    PeerNetwork; its messages and partial reads go to the driver. A message is encoded
//            here, a broadcast once for all its peers, and a NEW-STATE or LOG-SUFFIX that carries
//            a snapshot is framed around the snapshot file the store wrote (duty 4);
//   store    the ReplicaStore: records in seq order, its onDurable to the driver (duty 2), and
//            its onFailure to driver.fail, after which the process exits (duty 3);
//   clients  the ClientGateway: requests to the driver; replies, rejects and pushes back, every
//            connection closed when this replica is deposed (duty 5), and told where the primary
//            is when this replica reaches status normal;
//   time     a timer that calls tick() every tickMs (duty 6), setImmediate for the flush the
//            driver asks for (duty 7: one per event-loop turn), performance.now() for its
//            warnings;
//   log      the logger.
//
// Start-up opens the store, which refuses an unformatted directory, and the driver rebuilds the
// replica from the journal the store read back (duty 8).

import { ReplicaDriver, type DriverPorts } from '../replication/driver.js';
import type { ReplicaOptions } from '../replication/replica.js';
import type { ReplicationMessage } from '../replication/messages.js';
import type { ReplicaId, ReplicaStatusReport } from '../replication/types.js';
import { ChatMachine, createChatMachine } from '../chat/machine.js';
import type { ChatCommand, ChatEvent, ChatReply } from '../chat/types.js';
import { ReplicaStore } from '../storage/replica-store.js';
import { parseHostPort, replicaById, type ClusterConfig } from './config.js';
import type { PrimaryHint } from '../protocol/messages.js';
import { ClientGateway } from './client-gateway.js';
import { PeerNetwork } from './peer-network.js';
import { encodeJsonFrame } from '../transport/frame.js';
import { carriesSnapshot, frameWithSnapshotJson, type SnapshotMessage } from './snapshot-frames.js';
import { createLogger, type Level, type Logger } from './logger.js';

type ChatMessage = ReplicationMessage<ChatCommand, ChatReply>;
type ChatDriver = ReplicaDriver<ChatCommand, ChatReply, ChatEvent>;

interface ReplicaServerOptions {
  config: ClusterConfig;
  id: number;
  logLevel?: Level;
  /** Overrides for the core's timeouts and limits (tests, benchmarks). */
  replicaOptions?: Partial<ReplicaOptions>;
  writeLog?: (line: string) => void;
  /** Called once if the replica must stop (storage failure); the process should exit. */
  onFatal?: (error: Error) => void;
  /** Called after a step that changed the replica's status, view or role, so that an observer
   *  (bin/cluster, tests, the bench) learns of it at once rather than at its next poll. */
  onRoleChange?: () => void;
}

/** What bin/server reports to its parent (lib/cluster/launcher.ts): the core's status, the peers
 *  connected, the client connections open now and those accepted since start. */
export type ReplicaServerStatus = ReplicaStatusReport & { peersUp: number[]; clients: number; accepted: number };

export class ReplicaServer {
  private driver: ChatDriver | null = null;
  private store: ReplicaStore<ChatCommand, ChatReply> | null = null;
  private peers: PeerNetwork | null = null;
  private gateway: ClientGateway | null = null;
  private tickTimer: NodeJS.Timeout | null = null;
  /** Snapshot-carrying messages being framed from the snapshot file, by peer, type, after and
   *  op: a resend of the same request while one is under way is dropped. */
  private readonly snapshotSends = new Set<string>();
  readonly logger: Logger;

  constructor(private readonly options: ReplicaServerOptions) {
    this.logger = createLogger({
      context: () => ({ replica: options.id, view: this.driver?.statusReport().view ?? '-' }),
      minLevel: options.logLevel ?? 'info',
      ...(options.writeLog ? { write: options.writeLog } : {}),
    });
  }

  async start(): Promise<void> {
    const { config, id } = this.options;
    const self = replicaById(config, id);
    const { store, journal } = await ReplicaStore.open<ChatCommand, ChatReply>(self.data, { cluster: config.cluster, replica: id }, {
      onDurable: (seq) => this.replica().onDurable(seq),
      onFailure: (error) => this.replica().fail(error),
      log: (event, fields) => this.logger.log('warn', event, fields),
    });
    this.store = store;
    const driverOptions = { replica: id, replicaCount: config.replicas.length, ...this.options.replicaOptions, tickMs: config.tickMs };
    this.driver = new ReplicaDriver(journal, driverOptions, createChatMachine, this.ports());

    const peers = new Map(config.replicas.filter((r) => r.id !== id).map((r) => [r.id, parseHostPort(r.peer)!]));
    this.peers = new PeerNetwork({
      self: id, cluster: config.cluster, secret: config.secret, listen: parseHostPort(self.peer)!, peers, logger: this.logger,
      onMessage: (_from, message) => this.replica().onMessage(message as unknown as ChatMessage),
      onReceiving: (from) => this.replica().onReceiving(from),
    });
    this.gateway = new ClientGateway({
      status: () => this.replica().statusReport(),
      primaryHint: () => this.primaryHint(),
      members: () => config.replicas.map((r) => r.client),
      machine: () => this.replica().stateMachine() as ChatMachine,
      submit: (request) => this.replica().onRequest(request),
    }, this.logger, { clusterSecret: config.secret, connectionsMax: config.clientConnectionsMax });
    await this.peers.start();
    const client = parseHostPort(self.client)!;
    await this.gateway.listen(client.host, client.port);
    this.logger.log('info', 'listening', { client: self.client, peer: self.peer, replicas: config.replicas.length });
    this.replica().start();
    this.tickTimer = setInterval(() => this.replica().tick(), config.tickMs);
  }

  status(): ReplicaServerStatus {
    const gateway = this.gateway;
    return { ...this.replica().statusReport(), peersUp: this.peers?.connectedPeers() ?? [], clients: gateway?.connectionCount ?? 0, accepted: gateway?.acceptedCount ?? 0 };
  }

  setPartitioned(partitioned: boolean): void {
    this.peers?.setPartitioned(partitioned);
  }

  async stop(): Promise<void> {
    if (this.tickTimer) clearInterval(this.tickTimer);
    this.driver?.halt(); // accept no more inputs
    await this.gateway?.close();
    await this.peers?.close();
    await this.store?.close();
  }

  /** The replica, through its driver. */
  private replica(): ChatDriver {
    if (!this.driver) throw new Error('replica used before start()');
    return this.driver;
  }

  private primaryHint(): PrimaryHint {
    const status = this.replica().statusReport();
    const primary = this.options.config.replicas[status.primary];
    return { replica: status.primary, view: status.view, address: status.status === 'normal' ? primary?.client ?? null : null };
  }

  /** The driver's ports. Only the log is used before start() has built the rest: the driver
   *  writes its first line (replica-loaded) as it is built. */
  private ports(): DriverPorts<ChatCommand, ChatReply, ChatEvent> {
    return {
      peers: {
        send: (to, message) => this.sendToPeer(to, message),
        broadcast: (to, message) => this.broadcastToPeers(to, message),
      },
      store: { persist: (seq, record) => this.store!.persist(seq, record) },
      clients: {
        reply: (answer) => this.gateway!.deliverReply(answer, answer.reply),
        reject: (answer) => this.gateway!.deliverReject(answer, answer.code),
        push: (events) => this.gateway!.deliverEvents(events),
        connections: () => this.gateway!.connectionCount,
        disconnectAll: () => this.gateway!.disconnectAll(),
        announce: () => this.gateway!.announce(),
        answerHeldReads: () => this.gateway!.answerHeldReads(),
      },
      log: (level, event, fields, context) => this.logger.log(level, event, fields, context),
      scheduleFlush: () => setImmediate(() => this.replica().flush()),
      now: () => performance.now(),
      onFatal: (error) => this.fatal(error),
      onRoleChange: () => this.options.onRoleChange?.(),
    };
  }

  private sendToPeer(to: ReplicaId, message: ChatMessage): void {
    if (carriesSnapshot(message)) return this.sendWithStoredSnapshot(to, message);
    this.peers!.sendFrame(to, encodeJsonFrame(message));
  }

  /** One message to several peers: encoded once. */
  private broadcastToPeers(to: readonly ReplicaId[], message: ChatMessage): void {
    const frame = encodeJsonFrame(message);
    for (const peer of to) this.peers!.sendFrame(peer, frame);
  }

  /** Sends a NEW-STATE or LOG-SUFFIX with its snapshot's JSON read back from the snapshot file
   *  rather than encoded here (lib/server/snapshot-frames.ts): the event loop stays free for
   *  heartbeats. The message leaves a little later than the sends after it, which the protocol
   *  allows (the network may reorder). If the snapshot's file is not there (skipped for a newer
   *  one, or unreadable), the message is encoded here after all. */
  private sendWithStoredSnapshot(to: number, message: SnapshotMessage & { snapshot: { op: number } }): void {
    const key = `${to}:${message.type}:${message.after}:${message.snapshot.op}`;
    if (this.snapshotSends.has(key)) return;
    this.snapshotSends.add(key);
    const startedAt = performance.now();
    void this.store!.snapshotJson(message.snapshot.op)
      .then((json) => {
        if (this.replica().stopped) return;
        const frame = json === null ? encodeJsonFrame(message) : frameWithSnapshotJson(message, json);
        this.peers!.sendFrame(to, frame);
        this.logger.log('info', 'snapshot-sent', { to, message: message.type, op: message.snapshot.op, bytes: frame.length, fromFile: json !== null, ms: Math.round(performance.now() - startedAt) });
      })
      .finally(() => this.snapshotSends.delete(key));
  }

  /** Driver duty 3: the driver has stopped taking inputs; the timer stops too, and the owner
   *  exits the process. Peers carry on without this replica. */
  private fatal(error: Error): void {
    if (this.tickTimer) clearInterval(this.tickTimer);
    this.options.onFatal?.(error);
  }
}
