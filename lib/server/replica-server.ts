// One replica process: the I/O shell around the pure replication core. It owns the sockets
// (PeerNetwork, ClientGateway), the disk (ReplicaStore) and the clock (a tick timer), and
// carries out the core's effects according to the driver duties in lib/replication/types.ts:
//
//   duty 1  effects are carried out in order (`run`);
//   duty 2  persist records go to the store in seq order; its onDurable(seq) becomes onPersisted;
//   duty 3  a storage failure stops the process before anything more is acknowledged;
//   duty 4  sends are best effort through PeerNetwork;
//   duty 5  replies and rejects go to the waiting connection through ClientGateway;
//   duty 6  tick() every tickMs;
//   duty 7  flush() once per event-loop turn after inputs arrived (setImmediate);
//   duty 8  start-up rebuilds the core from the journal; an unformatted directory is refused.
//
// Inputs can arrive while effects of an earlier input are being carried out (a store callback,
// for instance); `step` queues them so the core always sees one input at a time.

import { Replica, type ReplicaOptions } from '../replication/replica.js';
import { recover } from '../replication/journal.js';
import type { ReplicationMessage } from '../replication/messages.js';
import type { Effect, ReplicaStatusReport } from '../replication/types.js';
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

/** A tick this much later than due, or a persist not durable after this long, is logged as a
 *  warning: either makes peers see silence, and view changes follow. */
const STALL_WARN_MS = 100;
const SLOW_DISK_WARN_MS = 100;

type ChatEffect = Effect<ChatCommand, ChatReply, ChatEvent, ReplicationMessage<ChatCommand, ChatReply>>;
type ChatReplica = Replica<ChatCommand, ChatReply, ChatEvent>;

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

export class ReplicaServer {
  private replica: ChatReplica | null = null;
  private store: ReplicaStore<ChatCommand, ChatReply> | null = null;
  private peers: PeerNetwork | null = null;
  private gateway: ClientGateway | null = null;
  private tickTimer: NodeJS.Timeout | null = null;
  private flushScheduled = false;
  private running = false;
  private readonly inputs: Array<() => ChatEffect[]> = [];
  private failed = false;
  /** Status, view and role after the last input: a change is reported to onRoleChange, and a
   *  primary that is no longer one was deposed. */
  private lastRole = { status: '', view: -1, isPrimary: false };
  /** When the last tick ran (performance.now()), to notice a starved event loop. */
  private lastTickAt: number | null = null;
  /** Snapshot-carrying messages being framed from the snapshot file, by peer, type, after and
   *  op: a resend of the same request while one is under way is dropped. */
  private readonly snapshotSends = new Set<string>();
  /** The first persist not yet durable and when it was issued, to notice a slow disk. */
  private oldestPending: { seq: number; at: number } | null = null;
  readonly logger: Logger;

  constructor(private readonly options: ReplicaServerOptions) {
    this.logger = createLogger({
      context: () => ({ replica: options.id, view: this.replica?.statusReport().view ?? '-' }),
      minLevel: options.logLevel ?? 'info',
      ...(options.writeLog ? { write: options.writeLog } : {}),
    });
  }

  async start(): Promise<void> {
    const { config, id } = this.options;
    const self = replicaById(config, id);
    const { store, journal } = await ReplicaStore.open<ChatCommand, ChatReply>(self.data, { cluster: config.cluster, replica: id }, {
      onDurable: (seq) => {
        this.noticeSlowDisk(seq);
        this.step(() => this.core().onPersisted(seq));
      },
      onFailure: (error) => this.fatal(error),
      log: (event, fields) => this.logger.log('warn', event, fields),
    });
    this.store = store;
    const durable = recover(journal);
    this.replica = new Replica({ replica: id, replicaCount: config.replicas.length, ...this.options.replicaOptions }, durable, createChatMachine);
    this.logger.log('info', 'replica-loaded', { op: durable.entries.at(-1)?.op ?? durable.snapshot?.op ?? 0, snapshot: durable.snapshot?.op ?? 0, logView: durable.logView });

    const peers = new Map(config.replicas.filter((r) => r.id !== id).map((r) => [r.id, parseHostPort(r.peer)!]));
    this.peers = new PeerNetwork({
      self: id, cluster: config.cluster, secret: config.secret, listen: parseHostPort(self.peer)!, peers, logger: this.logger,
      onMessage: (_from, message) => this.step(() => this.core().onMessage(message as unknown as ReplicationMessage<ChatCommand, ChatReply>)),
      onReceiving: (from) => this.step(() => this.core().onReceiving(from)),
    });
    this.gateway = new ClientGateway({
      status: () => this.core().statusReport(),
      primaryHint: () => this.primaryHint(),
      machine: () => this.core().stateMachine() as ChatMachine,
      submit: (request) => this.step(() => this.core().onRequest(request)),
    }, this.logger, { clusterSecret: config.secret, connectionsMax: config.clientConnectionsMax });
    await this.peers.start();
    const client = parseHostPort(self.client)!;
    await this.gateway.listen(client.host, client.port);
    this.logger.log('info', 'listening', { client: self.client, peer: self.peer, replicas: config.replicas.length });
    this.step(() => this.core().start());
    this.tickTimer = setInterval(() => {
      this.noticeStall(config.tickMs);
      this.step(() => this.core().tick());
    }, config.tickMs);
  }

  status(): ReplicaStatusReport & { peersUp: number[]; clients: number } {
    return { ...this.core().statusReport(), peersUp: this.peers?.connectedPeers() ?? [], clients: this.gateway?.connectionCount ?? 0 };
  }

  setPartitioned(partitioned: boolean): void {
    this.peers?.setPartitioned(partitioned);
  }

  async stop(): Promise<void> {
    if (this.tickTimer) clearInterval(this.tickTimer);
    this.failed = true; // accept no more inputs
    await this.gateway?.close();
    await this.peers?.close();
    await this.store?.close();
  }

  private core(): ChatReplica {
    if (!this.replica) throw new Error('replica used before start()');
    return this.replica;
  }

  private primaryHint(): PrimaryHint {
    const status = this.core().statusReport();
    const primary = this.options.config.replicas[status.primary];
    return { replica: status.primary, view: status.view, address: status.status === 'normal' ? primary?.client ?? null : null };
  }

  /** Feeds one input to the core and carries out its effects; inputs that arrive meanwhile wait. */
  private step(input: () => ChatEffect[], isFlush = false): void {
    if (this.failed) return;
    this.inputs.push(input);
    if (this.running) return;
    this.running = true;
    try {
      for (let next = this.inputs.shift(); next && !this.failed; next = this.inputs.shift()) this.run(next());
    } finally {
      this.running = false;
    }
    this.noticeRoleChange();
    if (!isFlush && !this.flushScheduled && !this.failed) {
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        this.step(() => this.core().flush(), true);
      });
    }
  }

  private run(effects: ChatEffect[]): void {
    // Whether this replica is primary after the step that produced these effects; asked once.
    let isPrimary: boolean | null = null;
    for (const effect of effects) {
      switch (effect.type) {
        case 'send':
          if (carriesSnapshot(effect.message)) {
            this.sendWithStoredSnapshot(effect.to, effect.message);
            break;
          }
          this.peers!.sendFrame(effect.to, encodeJsonFrame(effect.message));
          break;
        case 'broadcast': {
          const frame = encodeJsonFrame(effect.message); // once, for every peer
          for (const to of effect.to) this.peers!.sendFrame(to, frame);
          break;
        }
        case 'persist':
          this.oldestPending ??= { seq: effect.seq, at: performance.now() };
          this.store!.persist(effect.seq, effect.record);
          break;
        case 'reply':
          this.gateway!.deliverReply(effect, effect.reply);
          break;
        case 'reject':
          this.gateway!.deliverReject(effect, effect.code);
          break;
        case 'applied':
          if (effect.events.length === 0) break;
          isPrimary ??= this.core().statusReport().isPrimary;
          if (isPrimary) this.gateway!.deliverEvents(effect.events);
          break;
        case 'log': {
          const { replica, view, ...fields } = effect.fields ?? {};
          this.logger.log(effect.level, effect.event, fields, { replica, view });
          break;
        }
      }
    }
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
        if (this.failed) return;
        const frame = json === null ? encodeJsonFrame(message) : frameWithSnapshotJson(message, json);
        this.peers!.sendFrame(to, frame);
        this.logger.log('info', 'snapshot-sent', { to, message: message.type, op: message.snapshot.op, bytes: frame.length, fromFile: json !== null, ms: Math.round(performance.now() - startedAt) });
      })
      .finally(() => this.snapshotSends.delete(key));
  }

  /** Logs a tick that came late: the event loop was busy (a large message, a slow step) or the
   *  process got no CPU. Peers hear nothing from us meanwhile. */
  private noticeStall(tickMs: number): void {
    const now = performance.now();
    const late = this.lastTickAt === null ? 0 : now - this.lastTickAt - tickMs;
    this.lastTickAt = now;
    if (late > STALL_WARN_MS) this.logger.log('warn', 'event-loop-stalled', { ms: Math.round(late) });
  }

  /** Logs a persist that took long to become durable: everything waiting on it (PREPARE-OK,
   *  START-VIEW, commits) waited as long. */
  private noticeSlowDisk(seq: number): void {
    const pending = this.oldestPending;
    if (pending === null || seq < pending.seq) return;
    this.oldestPending = null;
    const ms = performance.now() - pending.at;
    if (ms > SLOW_DISK_WARN_MS) this.logger.log('warn', 'slow-disk', { ms: Math.round(ms), seq });
  }

  /** Once per step, after its inputs ran (one status read serves both): tells onRoleChange of a
   *  change of status, view or role, and hangs up on every client if this replica was primary and
   *  is no more. Otherwise an idle client, still connected here, would never receive the pushes
   *  the new primary sends: closing the connection makes its connector find the new primary and
   *  resume its session there. */
  private noticeRoleChange(): void {
    if (!this.replica) return;
    const { status, view, isPrimary } = this.replica.statusReport();
    const last = this.lastRole;
    if (status === last.status && view === last.view && isPrimary === last.isPrimary) return;
    this.lastRole = { status, view, isPrimary };
    if (last.isPrimary && !isPrimary) {
      this.logger.log('info', 'deposed', { clients: this.gateway?.connectionCount ?? 0 });
      this.gateway?.disconnectAll();
    }
    this.options.onRoleChange?.();
  }

  /** Driver duty 3: after a storage failure nothing more may be acknowledged, so the replica stops
   *  taking inputs at once and the owner exits the process. Peers carry on without it. */
  private fatal(error: Error): void {
    if (this.failed) return;
    this.failed = true;
    this.logger.log('error', 'storage-failed', { error: error.message, code: (error as { code?: string }).code });
    if (this.tickTimer) clearInterval(this.tickTimer);
    this.options.onFatal?.(error);
  }
}
