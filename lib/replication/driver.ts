// The driver of the replication core: it carries out the driver duties of types.ts, for any host.
// Whatever driving the core takes that is not I/O lives here — rebuilding the replica from its
// journal, the input queue, the end of a burst, the one dispatch of effects, pushes on the
// primary only, hanging up on clients when deposed, telling them where the primary is when the
// replica reaches status normal, the slow-disk and late-tick warnings — and the world is reached
// only through the small ports below. The replica server (lib/server) wires
// sockets, a timer and the real store to them; a simulator wires simulated ones, and then what
// the server does around the core is what the simulator tests.
//
// Pure, like the rest of lib/replication: no I/O, no timer, no clock. Time is ports.now(), the
// host calls tick() and, when asked to by ports.scheduleFlush(), flush().

import assert from 'node:assert/strict';
import { recover } from './journal.js';
import type { ReplicationMessage } from './messages.js';
import { Replica, type ReplicaOptions } from './replica.js';
import type { CoreEffect } from './state.js';
import type {
  ClientRequest,
  Effect,
  JournalRecord,
  LoadedJournal,
  ReplicaId,
  ReplicaStatusReport,
  StateMachine,
  StateMachineFactory,
} from './types.js';

/** A tick this much later than due, or a persist not durable after this long, is logged as a
 *  warning: either makes peers see silence, and view changes follow. */
export const STALL_WARN_MS = 100;
export const SLOW_DISK_WARN_MS = 100;

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type ReplyEffect<R> = Extract<Effect<unknown, R, unknown, unknown>, { type: 'reply' }>;
export type RejectEffect = Extract<Effect<unknown, unknown, unknown, unknown>, { type: 'reject' }>;

/** Duty 4: the other replicas, best effort (a message may be dropped, delayed or reordered). */
export interface PeerPort<C, R> {
  send(to: ReplicaId, message: ReplicationMessage<C, R>): void;
  /** The same message to each of `to`, in order: encode it once. */
  broadcast(to: readonly ReplicaId[], message: ReplicationMessage<C, R>): void;
}

/** Duty 2: the journal. */
export interface StorePort<C, R> {
  /** Writes `record` durably, after every record of a lower seq. The host reports progress with
   *  driver.onDurable(seq) — never early — and a failure with driver.fail(error) (duty 3). */
  persist(seq: number, record: JournalRecord<C, R>): void;
}

/** Duty 5, and the primary's pushes: the clients connected to this replica. */
export interface ClientPort<R, E> {
  /** To the connection waiting for (clientId, owner, requestNumber), if there is one. */
  reply(answer: ReplyEffect<R>): void;
  reject(answer: RejectEffect): void;
  /** The events of an op the primary executed (chat: messages for their recipients). */
  push(events: E[]): void;
  /** How many clients are connected (the `deposed` line reports it). */
  connections(): number;
  /** This replica was primary and is no more: hang up on every client, so that an idle one does
   *  not wait here for pushes that the new primary sends. Its connector finds the new primary. */
  disconnectAll(): void;
  /** This primary's reads have just become current (ReplicaStatusReport.readsCurrent): answer the
   *  reads of its state that arrived before and were held. */
  answerHeldReads(): void;
  /** This replica has just reached status normal in a view (as its primary or as a backup): tell
   *  every connected client where the primary now is, so a client waiting here for a new primary
   *  goes straight to it (docs/protocol.md, "Protocol version 2"). */
  announce(): void;
}

export interface DriverPorts<C, R, E> {
  peers: PeerPort<C, R>;
  store: StorePort<C, R>;
  clients: ClientPort<R, E>;
  /** A line for the operator's log; `context` names the replica and its view when the line was
   *  written (for the core's lines, when the core wrote them). */
  log(level: LogLevel, event: string, fields: Record<string, unknown>, context: { replica: unknown; view: unknown }): void;
  /** Duty 7: call driver.flush() once the inputs that arrived together have all been fed (the
   *  server: at the next event-loop turn). Asked at most once until flush() is called. */
  scheduleFlush(): void;
  /** Milliseconds on a clock that never goes back, for the warnings only. */
  now(): number;
  /** Duty 3: storage failed; the replica takes no more inputs and the host must stop it. */
  onFatal(error: Error): void;
  /** The replica's status, view or role changed, or its reads became current (told after the
   *  burst that changed it). */
  onRoleChange?(): void;
  /** Sees every effect just before it is carried out (the simulator's checkers). */
  observe?(effect: CoreEffect<C, R, E>): void;
}

export interface DriverOptions extends ReplicaOptions {
  /** How often the host calls tick(), in ms: a tick later than this by STALL_WARN_MS is logged. */
  tickMs: number;
}

type Input<C, R, E> = { run: (core: Replica<C, R, E>) => CoreEffect<C, R, E>[]; isFlush: boolean };
type Role = Pick<ReplicaStatusReport, 'status' | 'view' | 'isPrimary' | 'readsCurrent'>;

export class ReplicaDriver<C, R, E> {
  private readonly core: Replica<C, R, E>;
  /** Inputs not fed to the core yet: one runs at a time, with all its effects, before the next. */
  private readonly inputs: Input<C, R, E>[] = [];
  private started = false;
  /** The queue is being worked through: an input arriving now, from inside a port, waits. */
  private running = false;
  /** ports.scheduleFlush() was called and flush() has not come yet. */
  private flushAsked = false;
  /** fail() or halt() was called: nothing more goes in or out. */
  private halted = false;
  /** Status, view and role after the last burst: a change is told to onRoleChange, and a primary
   *  that is no longer one was deposed. */
  private lastRole: Role | null = null;
  /** When the last tick came (ports.now()), to notice a starved host. */
  private lastTickAt: number | null = null;
  /** The first persist not yet durable and when it was issued, to notice a slow disk. */
  private oldestPending: { seq: number; at: number } | null = null;

  /** Duty 8: the replica is rebuilt from what its journal holds. A journal that does not make a
   *  log (a gap, a view going back) throws: a damaged log must not vote (D6). */
  constructor(
    journal: LoadedJournal<C, R>,
    private readonly options: DriverOptions,
    createMachine: StateMachineFactory<C, R, E>,
    private readonly ports: DriverPorts<C, R, E>,
  ) {
    assert.ok(options.tickMs > 0, 'tickMs must be positive');
    const durable = recover(journal);
    const { tickMs: _tickMs, ...replicaOptions } = options;
    this.core = new Replica(replicaOptions, durable, createMachine);
    const snapshotOp = durable.snapshot?.op ?? 0;
    this.log('info', 'replica-loaded', { op: durable.entries.at(-1)?.op ?? snapshotOp, snapshot: snapshotOp, logView: durable.logView });
  }

  // ---- inputs --------------------------------------------------------------------------------

  /** Once: the replica rejoins the cluster (D4). Its effects are carried out before any input
   *  that arrived earlier, which waited for it. */
  start(): void {
    assert.ok(!this.started, 'start() is called once');
    this.started = true;
    this.inputs.unshift({ run: (core) => core.start(), isFlush: false });
    this.drain();
  }

  /** Duty 4: a message from a peer, as it came. */
  onMessage(message: ReplicationMessage<C, R>): void {
    this.feed((core) => core.onMessage(message));
  }

  /** Duty 4: part of a message from `from` arrived, the rest is on its way. */
  onReceiving(from: ReplicaId): void {
    this.feed((core) => core.onReceiving(from));
  }

  onRequest(request: ClientRequest<C>): void {
    this.feed((core) => core.onRequest(request));
  }

  /** Duty 2: every record up to `seq` is durable. */
  onDurable(seq: number): void {
    if (this.halted) return;
    this.noticeSlowDisk(seq);
    this.feed((core) => core.onPersisted(seq));
  }

  /** Duty 6. */
  tick(): void {
    if (this.halted) return;
    this.noticeLateTick();
    this.feed((core) => core.tick());
  }

  /** Duty 7: the end of a burst, as asked by ports.scheduleFlush(). */
  flush(): void {
    this.flushAsked = false;
    this.feed((core) => core.flush(), true);
  }

  /** Duty 3: storage failed, so nothing more may be acknowledged: the replica takes no more
   *  inputs at once — the rest of the effects being carried out are dropped, and no later
   *  onDurable is passed on — and the host is told to stop it. */
  fail(error: Error): void {
    if (this.halted) return;
    this.halt();
    this.log('error', 'storage-failed', { error: error.message, code: (error as { code?: string }).code });
    this.ports.onFatal(error);
  }

  /** The host stops the replica (a shutdown; the simulator's crash, even from inside a port):
   *  no more inputs, and the rest of the effects being carried out are dropped, as a process
   *  killed part way through a burst would. */
  halt(): void {
    this.halted = true;
    this.inputs.length = 0;
  }

  /** True once fail() or halt() was called: the host should send nothing more for it either. */
  get stopped(): boolean {
    return this.halted;
  }

  // ---- what the host may read ----------------------------------------------------------------

  statusReport(): ReplicaStatusReport {
    return this.core.statusReport();
  }

  /** Asserts the core's invariants (replica.ts): the simulator runs them after every step. */
  invariants(): void {
    this.core.invariants();
  }

  /** The executed state, for read-only queries (the gateway's) and checkers. */
  stateMachine(): StateMachine<C, R, E> {
    return this.core.stateMachine();
  }

  // ---- the queue and the effects -------------------------------------------------------------

  private feed(run: Input<C, R, E>['run'], isFlush = false): void {
    if (this.halted) return;
    this.inputs.push({ run, isFlush });
    if (this.started && !this.running) this.drain();
  }

  /** Feeds the queued inputs to the core one at a time, each one's effects carried out before the
   *  next (duty 1); inputs that arrive meanwhile join the queue. Then, once per burst: tell of a
   *  role change, and ask for a flush if anything but a flush ran (duty 7). */
  private drain(): void {
    this.running = true;
    let flushDue = false;
    try {
      for (let next = this.inputs.shift(); next !== undefined; next = this.inputs.shift()) {
        flushDue ||= !next.isFlush;
        this.carryOut(next.run(this.core));
      }
    } finally {
      this.running = false;
    }
    if (this.halted) return;
    this.noticeRoleChange();
    if (flushDue && !this.flushAsked) {
      this.flushAsked = true;
      this.ports.scheduleFlush();
    }
  }

  /** The one dispatch of effects to the ports, in order (duty 1). */
  private carryOut(effects: CoreEffect<C, R, E>[]): void {
    // Whether this replica is primary after the step that produced these effects; asked once.
    let isPrimary: boolean | null = null;
    for (const effect of effects) {
      if (this.halted) return; // by a port, part way through
      this.ports.observe?.(effect);
      switch (effect.type) {
        case 'send':
          this.ports.peers.send(effect.to, effect.message);
          break;
        case 'broadcast':
          this.ports.peers.broadcast(effect.to, effect.message);
          break;
        case 'persist':
          this.oldestPending ??= { seq: effect.seq, at: this.ports.now() };
          this.ports.store.persist(effect.seq, effect.record);
          break;
        case 'reply':
          this.ports.clients.reply(effect);
          break;
        case 'reject':
          this.ports.clients.reject(effect);
          break;
        case 'applied':
          if (effect.events.length === 0) break;
          isPrimary ??= this.core.statusReport().isPrimary;
          if (isPrimary) this.ports.clients.push(effect.events);
          break;
        case 'log': {
          const { replica, view, ...fields } = effect.fields ?? {};
          this.ports.log(effect.level, effect.event, fields, { replica, view });
          break;
        }
      }
    }
  }

  /** After a burst: tells onRoleChange of a change of status, view or role; has the reads held
   *  for this primary answered once they are current; hangs up on every client if this replica was
   *  primary and is no more (ClientPort.disconnectAll says why), or else announces the primary if
   *  this replica has just reached status normal. */
  private noticeRoleChange(): void {
    const { status, view, isPrimary, readsCurrent } = this.core.statusReport();
    const last = this.lastRole;
    if (last !== null && status === last.status && view === last.view && isPrimary === last.isPrimary && readsCurrent === last.readsCurrent) return;
    this.lastRole = { status, view, isPrimary, readsCurrent };
    if (readsCurrent && !last?.readsCurrent) this.ports.clients.answerHeldReads();
    if (last?.isPrimary && !isPrimary) {
      this.log('info', 'deposed', { clients: this.ports.clients.connections() });
      // No announcement as well: these connections are being closed, and a frame sent on a
      // closing one is dropped. Their clients ask the other replicas.
      this.ports.clients.disconnectAll();
    } else if (reachedNormal(last, status, view)) {
      this.ports.clients.announce();
    }
    this.ports.onRoleChange?.();
  }

  /** Logs a tick that came late: the host was busy (a large message, a slow step) or got no CPU.
   *  Peers heard nothing from us meanwhile. */
  private noticeLateTick(): void {
    const now = this.ports.now();
    const late = this.lastTickAt === null ? 0 : now - this.lastTickAt - this.options.tickMs;
    this.lastTickAt = now;
    if (late > STALL_WARN_MS) this.log('warn', 'event-loop-stalled', { ms: Math.round(late) });
  }

  /** Logs a persist that took long to become durable: everything waiting on it (PREPARE-OK,
   *  START-VIEW, commits) waited as long. */
  private noticeSlowDisk(seq: number): void {
    const pending = this.oldestPending;
    if (pending === null || seq < pending.seq) return;
    this.oldestPending = null;
    const ms = this.ports.now() - pending.at;
    if (ms > SLOW_DISK_WARN_MS) this.log('warn', 'slow-disk', { ms: Math.round(ms), seq });
  }

  private log(level: LogLevel, event: string, fields: Record<string, unknown>): void {
    this.ports.log(level, event, fields, { replica: this.options.replica, view: this.core.statusReport().view });
  }
}

/** Whether a replica whose role was `last` before a burst and is (`status`, `view`) after it has
 *  just reached status normal: in a new view, or again in the same one after recovering. Not at
 *  start-up (no role before): a host has no clients connected before it starts the replica, and
 *  a client that connects later learns the primary from its hello. */
function reachedNormal(last: Role | null, status: Role['status'], view: number): boolean {
  if (last === null || status !== 'normal') return false;
  return last.status !== 'normal' || last.view !== view;
}
