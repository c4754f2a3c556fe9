// The simulated world: N replicas of the code Chat+ ships — the replication core driven by the
// one driver (lib/replication/driver.ts), each over the real store (lib/storage) on a simulated
// faulty disk of its own (sim-fs.ts) — a simulated network between them and the clients (and
// thieves, thief.ts), and one virtual clock. What this file adds is only what a host adds: the
// ports the driver calls (peers, store, clients) wired to the simulated network and disk, the
// tick, the end of a burst, start-up, and the crashes.
//
// Time advances in steps. A step jumps the clock to the next moment anything is due — a message
// arriving, an fsync completing, a replica's tick, a client's timer, the fault injector — and
// hands all of it to the replicas in a random order (inputs at the same instant have no order).
// Storage works in promises: after the inputs, the world drains the microtasks (so the store's
// promise chains run to their next fsync, deterministically: no real I/O or timer is involved),
// flushes every replica that asked for it (duty 7: the end of a burst), drains again, runs every
// live replica's invariants() and lets the checkers look at what happened.

import assert from 'node:assert/strict';
import { ownerOf } from '../../lib/auth/client-secret.js';
import { ReplicaDriver, type DriverPorts } from '../../lib/replication/driver.js';
import type { ReplicationMessage } from '../../lib/replication/messages.js';
import type { ReplicaOptions } from '../../lib/replication/replica.js';
import type { CoreEffect } from '../../lib/replication/state.js';
import type { ClientRequest, ReplicaId, ReplicaStatusReport } from '../../lib/replication/types.js';
import { formatDataDir, ReplicaStore, StorageError } from '../../lib/storage/replica-store.js';
import { Checker, SafetyViolation } from './checkers.js';
import { type Answer, type ClientTiming, SimClient, type SimRequest } from './client.js';
import { type Address, CLIENT_ADDRESS_BASE, type Envelope, Network, type NetworkFaults } from './network.js';
import { Prng } from './prng.js';
import { type DiskLatency, FAST_DISK, SimFs } from './sim-fs.js';
import { SimThief } from './thief.js';
import { describeMessage, describeRecord, Trace } from './trace.js';
import type { Workload } from './workload.js';

export type Payload<C, R> =
  /** `toRun`: the receiver's incarnation when it was sent. A message for an earlier run of a
   *  replica never reaches a later one (duty 4): the connection it was sent on died with it. */
  | { channel: 'peer'; message: ReplicationMessage<C, R>; toRun: number }
  | { channel: 'request'; request: SimRequest<C> }
  | { channel: 'answer'; answer: Answer<R> };

export interface WorldOptions<C, R, E> {
  seed: number;
  replicaCount: number;
  workload: Workload<C, R, E>;
  clientCount: number;
  /** Adversaries sending under the clients' ids with secrets of their own (thief.ts). */
  thiefCount?: number;
  /** Passed to every Replica (replica and replicaCount are filled in). */
  replicaOptions?: Omit<Partial<ReplicaOptions>, 'replica' | 'replicaCount'>;
  /** Virtual ms between a replica's ticks (each tick drifts by up to ±1 ms: clocks differ). */
  tickMs?: number;
  network?: NetworkFaults;
  disk?: DiskLatency;
  clientTiming?: Partial<ClientTiming>;
  /** The chance a peer message is garbled on the wire into one no replica may accept (a bad
   *  view, sender or type): the receiver must refuse it, never throw (untrusted input). */
  garbleRate?: number;
  /** Sample every replica's state hash (checker e) every this many steps. */
  stateSampleEverySteps?: number;
  verbose?: boolean;
}

/** One replica's machine: its disk, which outlives every crash, and the process while it runs. */
export interface Node<C, R, E> {
  readonly id: ReplicaId;
  /** The replica process: null while it is down or still opening its store. */
  driver: ReplicaDriver<C, R, E> | null;
  readonly fs: SimFs;
  /** Opening its store (start-up takes fsyncs, so virtual time). */
  booting: boolean;
  nextTickAt: number;
  /** Clients whose requests reached this incarnation, by client id and owner: where duty 5
   *  routes their answers (a thief's never reach the owner of the id it used, nor the reverse). */
  readonly connections: Map<string, Address>;
  /** The driver asked for a flush (duty 7): it gets one at the end of the step. */
  flushAsked: boolean;
  incarnation: number;
  lastStatus: string;
  /** Frozen (SIGSTOP, a VM pause) until this virtual time: no ticks, no disk completions seen. */
  frozenUntil: number;
  /** Persist seqs handed to the store and reported durable: a send while the first is ahead of
   *  the second went out while state was not yet durable (a crash may be aimed just after it). */
  persisted: number;
  durable: number;
  /** Rot on this replica's disk that it has not repaired yet (a bit flipped in synced data while
   *  it was down, see FaultInjector.damage). Storage must notice it at the next start — opening
   *  the log as damaged, or mending a view record copy from the other — and the replica counts
   *  as out until its status report says it is whole again (repaired from its peers). */
  damaged: Damage | null;
  /** A file lost from its disk. Storage cannot always notice (a lost newest segment only looks
   *  like a shorter log), so the replica stays out for the rest of the run, counted among the f
   *  faulty ones: the protocol owes nothing to a replica that lost what it acknowledged. */
  lost: string | null;
}

/** A bit flipped on a down replica's disk, and in what. */
export interface Damage {
  what: string;
  in: 'log' | 'snapshot' | 'view';
  /** Storage has noticed it: a store opened the journal as damaged (from then on the disk says
   *  so until the repair is), or logged the mending of the view copy. */
  detected?: boolean;
}

/** Something the fault injector wants to do at a given time. */
export interface Nemesis {
  nextAt: number;
  act(now: number): void;
}

/** Where the fault injector may aim a crash: part way through a broadcast of that type, or just
 *  after a send of that type (or after any send while the sender's state was not yet durable). */
export type CrashAim = 'prepare' | 'start-view' | 'after-do-view-change' | 'after-prepare-ok' | 'after-send-while-writing';

const DEFAULT_TIMING: ClientTiming = { requestTimeoutMs: 300, backoffMaxMs: 400, thinkMinMs: 0, thinkMaxMs: 40 };

/** What a replica's wall clock reads at virtual time 0 (ms since the epoch)... */
const EPOCH_MS = 1_700_000_000_000;
/** ...and they disagree: replica i's reads (i − f) × this many ms off, so a new primary's clock
 *  is often behind its predecessor's, and the core must keep the entry times it writes
 *  (ClientRequest.at) from going back along the log. */
const CLOCK_SKEW_MS = 1000;

/** Every replica's data directory, each on its own simulated machine. */
export const DATA_DIR = '/data';
const CLUSTER_NAME = 'sim';
/** The events storage logs when it notices a damaged copy of the view record: it mends it from
 *  the other, or drops it when the other was never written (view-record.ts). */
const VIEW_COPY_NOTICED = new Set(['view-record-repaired', 'view-record-dropped']);

/** A step's flushes can make more persists durable at once (a snapshot the replica took itself
 *  needs no fsync), which asks for another flush: this many rounds means a loop. */
const FLUSH_ROUNDS_MAX = 100;

/** Lets every promise chain that can run, run: storage's, to its next fsync. Deterministic, for
 *  nothing in the simulator waits on real I/O or a timer (setImmediate runs after the whole
 *  microtask queue is empty). */
function drainMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class World<C, R, E> {
  readonly replicaCount: number;
  readonly nodes: Node<C, R, E>[] = [];
  readonly clients: SimClient<C, R>[] = [];
  readonly thieves: SimThief<C, R>[] = [];
  readonly network: Network<Payload<C, R>>;
  readonly checker: Checker;
  readonly trace: Trace;
  /** Fault kinds this run actually exercised, for coverage of the fixed seed set. */
  readonly faultsSeen = new Set<string>();
  now = 0;
  steps = 0;
  nemesis: Nemesis | null = null;
  /** Armed crashes, each taken by the next replica to make a send it names (CrashAim). */
  readonly crashDuring: CrashAim[] = [];
  /** Scenarios may watch every effect a replica emits, before it is carried out. */
  watch: ((replica: ReplicaId, effect: CoreEffect<C, R, E>) => void) | null = null;
  /** Per replica: how often it installed state it did not execute (snapshot transfer). */
  readonly stateInstalls: number[];

  private readonly prng: Prng;
  private readonly order: Prng;
  private readonly tickMs: number;
  private readonly replicaOptions: Omit<ReplicaOptions, 'replica'>;
  /** An error thrown where the step loop cannot catch it (in a promise chain of the store, which
   *  calls the driver): kept, and thrown by the step, so that the seed fails with it. */
  private asyncError: unknown = null;

  /** A world whose replicas' disks are formatted (D7) and whose replicas are starting. */
  static async create<C, R, E>(options: WorldOptions<C, R, E>): Promise<World<C, R, E>> {
    const world = new World(options);
    await world.formatDisks();
    for (const node of world.nodes) world.restart(node.id);
    return world;
  }

  private constructor(readonly options: WorldOptions<C, R, E>) {
    assert.ok(options.replicaCount % 2 === 1, 'replicaCount must be odd (N = 2f+1)');
    this.replicaCount = options.replicaCount;
    this.prng = new Prng(options.seed);
    this.order = this.prng.fork();
    this.tickMs = options.tickMs ?? 10;
    this.replicaOptions = { clientTableMax: 1024, ...options.replicaOptions, replicaCount: options.replicaCount };
    this.network = new Network(this.prng.fork(), options.network ?? { dropRate: 0, duplicateRate: 0, latencyMin: 1, latencyMax: 5 });
    this.checker = new Checker(options.replicaCount);
    this.stateInstalls = Array.from({ length: options.replicaCount }, () => 0);
    this.trace = new Trace(options.verbose ?? false);
    for (let id = 0; id < options.replicaCount; id++) this.addNode(id, options.disk ?? FAST_DISK);
    const timing = { ...DEFAULT_TIMING, ...options.clientTiming };
    for (let k = 0; k < options.clientCount; k++) {
      const clientPrng = this.prng.fork();
      const script = options.workload.newClient(k, clientPrng.fork());
      const client = new SimClient(k, options.replicaCount, script, clientPrng, timing, this.now);
      this.clients.push(client);
      this.checker.onClient(client.clientId, ownerOf(client.clientSecret));
    }
    for (let k = 0; k < (options.thiefCount ?? 0); k++) {
      const thiefPrng = this.prng.fork();
      const script = options.workload.newClient(options.clientCount + k, thiefPrng.fork());
      this.thieves.push(new SimThief(k, options.replicaCount, script, thiefPrng, this.now));
    }
  }

  get f(): number {
    return (this.replicaCount - 1) / 2;
  }

  // ---- the step loop -------------------------------------------------------------------------

  /** Advances to the next instant anything is due and processes all of it. False if idle. */
  async step(): Promise<boolean> {
    const at = this.nextEventTime();
    if (at === Infinity) return false;
    assert.ok(at >= this.now, 'virtual time went backwards');
    this.now = at;
    this.steps++;
    for (const input of this.order.shuffle(this.dueInputs(at))) input();
    await this.settle();
    this.checkAfterStep();
    return true;
  }

  /** Steps until `stop()` holds or virtual time passes `until`; returns whether stop() held. */
  async runUntil(until: number, stop: () => boolean = () => false): Promise<boolean> {
    while (!stop()) {
      if (this.nextEventTime() > until) {
        this.now = Math.max(this.now, until);
        return stop();
      }
      await this.step();
    }
    return true;
  }

  /** The end of a step: storage's promise chains run, then the flushes asked for (duty 7),
   *  until nothing more is asked. */
  private async settle(): Promise<void> {
    await this.drain();
    for (let round = 0; ; round++) {
      const asked = this.nodes.filter((node) => node.flushAsked && node.driver !== null);
      if (asked.length === 0) return;
      assert.ok(round < FLUSH_ROUNDS_MAX, `flushes still asked for after ${FLUSH_ROUNDS_MAX} rounds in one step`);
      for (const node of asked) {
        node.flushAsked = false;
        node.driver!.flush();
      }
      await this.drain();
    }
  }

  private async drain(): Promise<void> {
    await drainMicrotasks();
    if (this.asyncError !== null) {
      const error = this.asyncError;
      this.asyncError = null;
      throw error;
    }
  }

  private nextEventTime(): number {
    let at = Math.min(this.network.nextTime(), this.nemesis?.nextAt ?? Infinity);
    for (const node of this.nodes) {
      if (node.frozenUntil > this.now) {
        at = Math.min(at, node.frozenUntil);
        continue;
      }
      at = Math.min(at, node.fs.nextTime());
      if (node.driver !== null) at = Math.min(at, node.nextTickAt);
    }
    for (const actor of [...this.clients, ...this.thieves]) at = Math.min(at, actor.wakeAt);
    return at;
  }

  private dueInputs(at: number): Array<() => void> {
    const inputs: Array<() => void> = [];
    for (const arrival of this.network.arrivalsDue(at)) {
      inputs.push(() => (arrival.partial ? this.receiving(arrival.from, arrival.to) : this.deliver(arrival)));
    }
    for (const node of this.nodes) {
      if (node.frozenUntil > at) continue;
      // The disk works on while the process is frozen; the process sees it when it resumes.
      if (node.fs.nextTime() <= at) inputs.push(() => void node.fs.runDue(this.now));
      if (node.driver !== null && node.nextTickAt <= at) inputs.push(() => this.tickReplica(node));
    }
    for (const client of this.clients) if (client.wakeAt <= at) inputs.push(() => this.wakeClient(client));
    for (const thief of this.thieves) if (thief.wakeAt <= at) inputs.push(() => this.wakeThief(thief));
    const nemesis = this.nemesis;
    if (nemesis !== null && nemesis.nextAt <= at) inputs.push(() => nemesis.act(at));
    return inputs;
  }

  // ---- inputs --------------------------------------------------------------------------------

  private deliver(envelope: Envelope<Payload<C, R>>): void {
    const payload = envelope.payload;
    if (payload.channel === 'answer') {
      const thief = this.thieves[envelope.to - this.thiefAddressBase];
      if (thief !== undefined) {
        this.trace.add(this.now, `t${thief.index} ← r${envelope.from} ${describeAnswer(payload.answer)}`);
        thief.onAnswer(payload.answer, envelope.from);
        if (payload.answer.type === 'reject' && payload.answer.code === 'NOT_OWNER') this.faultsSeen.add('stolen-client-id-refused');
        return;
      }
      const client = this.clients[envelope.to - CLIENT_ADDRESS_BASE]!;
      const acked = client.onAnswer(payload.answer, envelope.from, this.now);
      const answer = payload.answer;
      this.trace.add(this.now, `c${client.index} ← r${envelope.from} ${describeAnswer(answer)}`);
      if (acked !== null) this.checker.onAcknowledged(acked);
      return;
    }
    const node = this.nodes[envelope.to]!;
    const driver = node.driver;
    if (driver === null) return; // Nobody listening: the crashed process's socket is gone.
    if (payload.channel === 'peer') {
      if (payload.toRun !== node.incarnation) {
        this.faultsSeen.add('message-for-an-earlier-run-lost');
        return;
      }
      this.trace.add(this.now, `r${envelope.to} ← r${envelope.from} ${describeMessage(payload.message)}`);
      driver.onMessage(payload.message);
    } else {
      const request = this.coreRequest(node, payload.request);
      node.connections.set(connectionKey(request), envelope.from);
      this.trace.add(this.now, `r${envelope.to} ← ${this.actorName(envelope.from)} request #${request.requestNumber}`);
      driver.onRequest(request);
    }
  }

  /** Part of a message arrived and the rest is on its way (duty 4, onReceiving). */
  private receiving(from: Address, to: Address): void {
    this.faultsSeen.add('partial-frame');
    this.nodes[to]?.driver?.onReceiving(from);
  }

  /** What the gateway makes of a request (lib/server/client-gateway.ts): the secret becomes the
   *  owner it hashes to, and the replica's wall clock gives the time. */
  private coreRequest(node: Node<C, R, E>, wire: SimRequest<C>): ClientRequest<C> {
    const { clientId, clientSecret, requestNumber, command } = wire;
    const at = EPOCH_MS + this.now + (node.id - this.f) * CLOCK_SKEW_MS;
    return { clientId, owner: ownerOf(clientSecret), at, requestNumber, command } as ClientRequest<C>;
  }

  /** Thieves live at the addresses after the clients'. */
  private get thiefAddressBase(): Address {
    return CLIENT_ADDRESS_BASE + this.clients.length;
  }

  private actorName(address: Address): string {
    const index = address - CLIENT_ADDRESS_BASE;
    return index < this.clients.length ? `c${index}` : `t${index - this.clients.length}`;
  }

  /** Duty 6: a steady tick, with a little drift per replica. After a freeze the tick comes once,
   *  late, as a timer does (it does not fire once per missed interval). */
  private tickReplica(node: Node<C, R, E>): void {
    node.nextTickAt = this.now + this.tickMs + this.prng.int(-1, 1);
    node.driver?.tick();
  }

  private wakeClient(client: SimClient<C, R>): void {
    // An answer earlier in this same instant may have reset the client's timer.
    if (client.wakeAt > this.now) return;
    const sending = client.wake(this.now);
    if (sending === null) return;
    this.trace.add(this.now, `c${client.index} → r${sending.to} request #${sending.request.requestNumber}`);
    this.network.send(CLIENT_ADDRESS_BASE + client.index, sending.to, { channel: 'request', request: sending.request }, this.now);
  }

  private wakeThief(thief: SimThief<C, R>): void {
    const sending = thief.wake(this.now, this.clients);
    if (sending === null) return;
    this.trace.add(this.now, `t${thief.index} → r${sending.to} request ${sending.request.clientId.slice(0, 6)}#${sending.request.requestNumber} (not its own)`);
    this.network.send(this.thiefAddressBase + thief.index, sending.to, { channel: 'request', request: sending.request }, this.now);
  }

  // ---- the ports: what the driver reaches the simulated world through --------------------------

  private ports(node: Node<C, R, E>, store: ReplicaStore<C, R>, incarnation: number): DriverPorts<C, R, E> {
    const live = () => node.incarnation === incarnation;
    return {
      peers: {
        send: (to, message) => this.sendPeer(node, to, message),
        broadcast: (to, message) => {
          for (const peer of to) if (live()) this.sendPeer(node, peer, message);
        },
      },
      store: {
        persist: (seq, record) => {
          this.trace.add(this.now, `r${node.id} persist #${seq} ${describeRecord(record)}`);
          if (record.kind === 'snapshot' && this.checker.onSnapshot(node.id, record.snapshot)) this.noteStateInstall(node.id);
          node.persisted = seq;
          store.persist(seq, record);
        },
      },
      clients: {
        reply: (answer) => {
          this.checker.onReply(node.id, answer);
          this.answer(node, answer);
        },
        reject: (answer) => {
          if (answer.code === 'SESSION_EXPIRED') this.checkSessionExpired(node, answer.clientId);
          this.answer(node, answer);
        },
        push: () => {}, // The simulated clients take no pushes.
        connections: () => node.connections.size,
        // Hung up: answers to what they sent here are lost; they time out and ask elsewhere.
        disconnectAll: () => node.connections.clear(),
        announce: () => {}, // The simulated clients find the primary by asking.
        answerHeldReads: () => {}, // Simulated clients read nothing outside the log.
      },
      log: (level, event, fields) => {
        if (level === 'warn' || level === 'error') this.trace.add(this.now, `r${node.id} ${level} ${event} ${JSON.stringify(fields)}`);
        if (event === 'primary stepping down') this.faultsSeen.add('primary-stepped-down');
      },
      scheduleFlush: () => (node.flushAsked = true),
      now: () => this.now,
      onFatal: (error) => this.storageFailed(node, incarnation, error),
      observe: (effect) => {
        if (effect.type === 'applied') {
          this.trace.add(this.now, `r${node.id} applied op ${effect.op} (${effect.clientId.slice(0, 6)}#${effect.requestNumber})`);
          this.checker.onApplied(node.id, effect);
        }
        this.watch?.(node.id, effect);
      },
    };
  }

  private sendPeer(node: Node<C, R, E>, to: ReplicaId, message: ReplicationMessage<C, R>): void {
    if (this.takeAim(node, message, 'during')) return;
    this.checker.onSend(node.id, message);
    const garbleRate = this.options.garbleRate ?? 0;
    // Draw only when garbling is on, so that worlds without it keep their random streams.
    const garbled = garbleRate > 0 && this.prng.chance(garbleRate) ? this.garble(message) : message;
    this.network.send(node.id, to, { channel: 'peer', message: garbled, toRun: this.nodes[to]!.incarnation }, this.now);
    this.takeAim(node, message, 'after');
  }

  /** Crashes `node` if an armed crash aims at this send (and a coin says so): 'during' before
   *  it leaves (a broadcast cut part way), 'after' once it has. Returns whether it crashed. */
  private takeAim(node: Node<C, R, E>, message: ReplicationMessage<C, R>, when: 'during' | 'after'): boolean {
    if (this.crashDuring.length === 0 || node.driver === null) return false;
    const aims: CrashAim[] =
      when === 'during'
        ? [message.type as CrashAim]
        : [`after-${message.type}` as CrashAim, ...(node.persisted > node.durable ? (['after-send-while-writing'] as const) : [])];
    const armed = this.crashDuring.findIndex((aim) => aims.includes(aim));
    if (armed < 0 || !this.prng.chance(0.5)) return false;
    const aim = this.crashDuring.splice(armed, 1)[0]!;
    this.faultsSeen.add(aim === 'prepare' || aim === 'start-view' ? `crash-primary-mid-${aim}` : `crash-${aim}`);
    this.crash(node.id, when === 'during' ? `while sending ${message.type}` : `just after sending ${message.type}`);
    return true;
  }

  private garble(message: ReplicationMessage<C, R>): ReplicationMessage<C, R> {
    this.faultsSeen.add('garbled-message');
    const broken: Record<string, unknown> = { ...message };
    const how = this.prng.int(0, 3);
    if (how === 0) broken.view = -1;
    else if (how === 1) broken.from = this.replicaCount + 3;
    else if (how === 2) broken.type = 'garbled';
    else broken.view = 'seven';
    return broken as unknown as ReplicationMessage<C, R>;
  }

  /** The simulator never evicts (its client table is larger than its client count), so
   *  SESSION_EXPIRED for a registered client is a lost registration — or a replica answering
   *  from a stale table, as a deposed primary would (FINDINGS F2): "unknown client" must be
   *  decided in log order, like everything else. */
  private checkSessionExpired(node: Node<C, R, E>, clientId: string): void {
    const registered = [...this.checker.history.values()].some((id) => id.clientId === clientId && id.requestNumber === 0);
    if (registered) throw new SafetyViolation('(d) client table', `replica ${node.id} answered SESSION_EXPIRED to registered client ${clientId.slice(0, 8)}`);
  }

  /** Duty 5: to the client connected to this replica for that request, if any. */
  private answer(node: Node<C, R, E>, answer: Answer<R>): void {
    const address = node.connections.get(connectionKey(answer));
    if (address === undefined) return;
    this.network.send(node.id, address, { channel: 'answer', answer }, this.now);
  }

  /** Duty 3: the store failed (EIO, ENOSPC). The driver has stopped taking inputs; the process
   *  exits, its machine stays up (the page cache with it). */
  private storageFailed(node: Node<C, R, E>, incarnation: number, error: Error): void {
    if (node.incarnation !== incarnation) return;
    // The errno storage got from the file system, under the StorageError it made of it.
    const code = ((error.cause ?? error) as { code?: string }).code ?? 'unknown';
    this.faultsSeen.add(code === 'EIO' ? 'fsync-failed' : code === 'ENOSPC' ? 'disk-full' : `storage-failed-${code}`);
    this.stop(node, `storage failed: ${error.message}`, 'process');
  }

  // ---- checks after every step ---------------------------------------------------------------

  private checkAfterStep(): void {
    const sample = this.steps % (this.options.stateSampleEverySteps ?? 16) === 0;
    for (const node of this.nodes) {
      const driver = node.driver;
      if (driver === null) continue;
      driver.invariants();
      const report = driver.statusReport();
      const machine = (): unknown => driver.stateMachine().snapshot();
      if (this.checker.onStatus(node.id, report.executed, machine)) this.noteStateInstall(node.id);
      if (sample) this.checker.onState(node.id, report.executed, machine);
      this.traceStatus(node, report);
    }
    this.trackRepairs();
    this.checker.afterStep();
  }

  private noteStateInstall(id: ReplicaId): void {
    this.stateInstalls[id]!++;
    this.faultsSeen.add('state-transfer-snapshot');
    this.trace.add(this.now, `r${id} installed a snapshot from a peer`);
  }

  private traceStatus(node: Node<C, R, E>, report: ReplicaStatusReport): void {
    const status = `${report.status} v${report.view}${report.isPrimary ? ' primary' : ''}`;
    if (status === node.lastStatus) return;
    node.lastStatus = status;
    this.trace.add(this.now, `r${node.id} is ${status} (op ${report.op} commit ${report.commit} executed ${report.executed})`);
  }

  // ---- machines: start-up, crashes, faults ---------------------------------------------------

  private addNode(id: ReplicaId, latency: DiskLatency): void {
    const fs = new SimFs({ prng: this.prng.fork(), latency: { ...latency }, now: () => this.now });
    this.nodes.push({
      id, driver: null, fs, booting: false, nextTickAt: 0, connections: new Map(), flushAsked: false, incarnation: 0,
      lastStatus: 'down', frozenUntil: 0, persisted: 0, durable: 0, damaged: null, lost: null,
    });
  }

  /** D7: a replica's storage is created by an explicit format step, never by accident. Done
   *  before virtual time starts: the fsyncs it takes complete in a loop of their own. */
  private async formatDisks(): Promise<void> {
    for (const node of this.nodes) {
      let formatted = false;
      void formatDataDir(DATA_DIR, { cluster: CLUSTER_NAME, replica: node.id }, node.fs).then(() => (formatted = true));
      await drainMicrotasks();
      while (!formatted) {
        assert.ok(node.fs.nextTime() < Infinity, 'formatting waits for an fsync that never comes');
        node.fs.runDue(node.fs.nextTime());
        await drainMicrotasks();
      }
    }
  }

  isUp(id: ReplicaId): boolean {
    return this.nodes[id]!.driver !== null;
  }

  /** Up, or starting: what the fault injector must count as not down. */
  isRunning(id: ReplicaId): boolean {
    const node = this.nodes[id]!;
    return node.driver !== null || node.booting;
  }

  get upCount(): number {
    return this.nodes.filter((node) => node.driver !== null).length;
  }

  /** Replicas running or starting. */
  get runningCount(): number {
    return this.nodes.filter((node) => this.isRunning(node.id)).length;
  }

  /** Kills replica `id` (running or starting): its memory and connections are gone. 'machine'
   *  (power loss, a kernel crash) also loses what its disk had not made durable, or some of it;
   *  'process' (kill -9) leaves the page cache to the next process. */
  crash(id: ReplicaId, why: string, kind: 'machine' | 'process' = 'machine'): void {
    const node = this.nodes[id]!;
    assert.ok(this.isRunning(id), `crash of replica ${id}, which is down`);
    this.stop(node, why, kind);
  }

  private stop(node: Node<C, R, E>, why: string, kind: 'machine' | 'process'): void {
    node.driver?.halt();
    node.driver = null;
    node.booting = false;
    node.incarnation++;
    node.connections.clear();
    node.flushAsked = false;
    node.lastStatus = 'down';
    if (node.frozenUntil > this.now) {
      node.frozenUntil = 0;
      this.network.thaw(node.id, this.now);
    }
    if (kind === 'process') {
      node.fs.killProcess();
      this.trace.add(this.now, `r${node.id} STOP (${why}): process gone, page cache kept`);
      return;
    }
    const lost = node.fs.crashMachine();
    if (lost.writesKept > 0) this.faultsSeen.add('unsynced-writes-survive');
    if (lost.writesTorn > 0) this.faultsSeen.add('torn-write');
    if (lost.namespaceOpsLost > 0) this.faultsSeen.add('unsynced-names-lost');
    this.trace.add(
      this.now,
      `r${node.id} CRASH (${why}): unsynced writes ${lost.writesKept} kept, ${lost.writesLost} lost, ${lost.writesTorn} torn; ` +
        `names ${lost.namespaceOpsKept} kept, ${lost.namespaceOpsLost} lost`,
    );
  }

  /** Duty 8: a new process opens the store (which takes fsyncs: virtual time) and, from what it
   *  loads, the driver rebuilds the replica and starts it (D4). A replica whose store refuses to
   *  open stays down. */
  restart(id: ReplicaId): void {
    const node = this.nodes[id]!;
    assert.ok(!this.isRunning(id), `restart of replica ${id}, which is up`);
    node.booting = true;
    node.incarnation++;
    const incarnation = node.incarnation;
    this.trace.add(this.now, `r${id} STARTING`);
    this.boot(node, incarnation).catch((error: unknown) => this.bootFailed(node, incarnation, error));
  }

  private async boot(node: Node<C, R, E>, incarnation: number): Promise<void> {
    const live = () => node.incarnation === incarnation;
    const { store, journal } = await ReplicaStore.open<C, R>(DATA_DIR, { cluster: CLUSTER_NAME, replica: node.id }, {
      fs: node.fs.forProcess(),
      onDurable: (seq) => {
        if (!live()) return;
        node.durable = seq;
        this.trace.add(this.now, `r${node.id} persisted to #${seq}`);
        this.guard(() => node.driver?.onDurable(seq));
      },
      onFailure: (error) => {
        if (live()) this.guard(() => node.driver?.fail(error));
      },
      log: (event, fields) => {
        if (!live()) return;
        if (event === 'torn-tail-cut') this.faultsSeen.add('torn-tail-cut');
        // Noticed; mended on disk once this open completes (a crash first, and the next open
        // mends it again), so the replica stays damaged for the fault budget until then.
        if (VIEW_COPY_NOTICED.has(event) && node.damaged?.in === 'view') node.damaged.detected = true;
        this.trace.add(this.now, `r${node.id} storage ${event} ${JSON.stringify(fields)}`);
      },
    });
    if (!live()) return; // Crashed while opening.
    node.booting = false;
    node.persisted = 0;
    node.durable = 0;
    const options = { ...this.replicaOptions, replica: node.id, tickMs: this.tickMs };
    const driver = new ReplicaDriver(journal, options, this.options.workload.createMachine, this.ports(node, store, incarnation));
    this.trace.add(this.now, `r${node.id} START view ${journal.view?.view ?? 0} logView ${journal.view?.logView ?? 0} snapshot ${journal.snapshot?.op ?? '-'} records ${journal.log.length}`);
    if (node.lost !== null) {
      this.faultsSeen.add('lost-file-opened');
      this.stop(node, `a file of its disk was lost (${node.lost}) and storage opened it`, 'process');
      return;
    }
    if (node.damaged !== null && !this.damageNoticed(node, node.damaged, journal.view?.damaged ?? false)) return;
    node.driver = driver;
    node.nextTickAt = this.now + this.prng.int(1, this.tickMs);
    this.checker.onIncarnation(node.id, journal.snapshot?.op ?? 0);
    this.guard(() => driver.start());
  }

  /** Once a store has opened after rot, storage must have noticed it. Rot in the log or the
   *  snapshot opens as a damaged journal (the replica then repairs from its peers, see
   *  trackRepairs); rot in one copy of the view record is mended from the other during an open
   *  (the log callback above notes it), and is gone once an open completes. Anything else is a
   *  durability violation: the replica would vote with what it may have lost. Returns whether
   *  the replica may run. */
  private damageNoticed(node: Node<C, R, E>, damage: Damage, journalDamaged: boolean): boolean {
    if (damage.in === 'view' && damage.detected === true) {
      this.faultsSeen.add('view-copy-mended');
      node.damaged = null;
      return true;
    }
    if (damage.in !== 'view' && journalDamaged) {
      this.faultsSeen.add('damage-detected');
      damage.detected = true;
      return true;
    }
    if (damage.in !== 'view' && damage.detected === true) {
      // A store noticed it before, and the repair reached the disk (the repaired log, then the
      // view record saying whole, in copy A at least) though a crash came before it was
      // reported durable: the replica is whole.
      this.repairedFrom(node, damage);
      return true;
    }
    this.asyncError = new SafetyViolation('(d) durability', `replica ${node.id}'s disk rotted (${damage.what}) and storage opened it as whole`);
    return false;
  }

  /** A replica that opened a damaged journal is whole again once its status report says so: it
   *  fetched a log from a primary that holds everything it may have acknowledged. */
  private trackRepairs(): void {
    for (const node of this.nodes) {
      if (node.damaged !== null && node.driver !== null && !node.driver.statusReport().damaged) this.repairedFrom(node, node.damaged);
    }
  }

  private repairedFrom(node: Node<C, R, E>, damage: Damage): void {
    this.faultsSeen.add('damage-repaired');
    this.trace.add(this.now, `r${node.id} REPAIRED from its peers (${damage.what})`);
    node.damaged = null;
  }

  /** The store refused to open, or its journal does not make a log. For a disk that lost a file
   *  that may be the detection we want; for any other it is a bug (a crash must never leave a
   *  disk that does not open, and rot must be repaired without an operator). A full disk may
   *  refuse too: the replica stays down and is started again later. */
  private bootFailed(node: Node<C, R, E>, incarnation: number, error: unknown): void {
    if (node.incarnation !== incarnation) return;
    node.booting = false;
    node.incarnation++;
    node.fs.killProcess();
    const message = error instanceof Error ? error.message : String(error);
    const code = error instanceof StorageError ? error.code : null;
    this.trace.add(this.now, `r${node.id} REFUSED to start: ${message}`);
    if (node.lost !== null) {
      this.faultsSeen.add('lost-file-refused');
      return;
    }
    if (code === 'IO') return; // The disk is full or failing; a later start may succeed.
    const damage = node.damaged === null ? 'undamaged' : `rotted (${node.damaged.what}) but repairable`;
    this.asyncError = new SafetyViolation('(d) durability', `replica ${node.id}'s store, ${damage}, refused to open: ${message}`);
  }

  /** Runs `action` (a call into the driver from a promise chain of the store), keeping any error
   *  for the step loop to throw. */
  private guard(action: () => void): void {
    try {
      action();
    } catch (error) {
      this.asyncError ??= error;
    }
  }

  /** Freezes replica `id` until `until` (SIGSTOP, a VM pause, a long GC): no ticks, its input
   *  waits, its disk's completions are seen when it resumes. */
  freeze(id: ReplicaId, until: number): void {
    const node = this.nodes[id]!;
    node.frozenUntil = Math.max(node.frozenUntil, until);
    this.network.freeze(id, node.frozenUntil);
    this.trace.add(this.now, `r${id} FROZEN until ${node.frozenUntil}`);
  }

  /** Marks a down replica's disk rotted (the fault injector flipped a bit of synced data). */
  markDamaged(id: ReplicaId, damage: Damage): void {
    const node = this.nodes[id]!;
    assert.ok(!this.isRunning(id) && node.damaged === null, `rot on replica ${id}'s disk while it runs or is still damaged`);
    node.damaged = damage;
    this.trace.add(this.now, `r${id} DISK ROT: ${damage.what}`);
  }

  /** Marks a down replica's disk as having lost a file. */
  markLost(id: ReplicaId, what: string): void {
    const node = this.nodes[id]!;
    assert.ok(!this.isRunning(id), `a file lost from replica ${id}'s disk while it runs`);
    node.lost ??= what;
    this.trace.add(this.now, `r${id} DISK LOST A FILE: ${what}`);
  }

  /** The replica that the highest-viewed normal replica believes is primary, if it is up. */
  believedPrimary(): ReplicaId | null {
    let best: ReplicaStatusReport | null = null;
    for (const node of this.nodes) {
      const report = node.driver?.statusReport();
      if (report !== undefined && report.status === 'normal' && (best === null || report.view > best.view)) best = report;
    }
    return best !== null && this.isUp(best.primary) ? best.primary : null;
  }

  reports(): ReplicaStatusReport[] {
    return this.nodes.flatMap((node) => (node.driver === null ? [] : [node.driver.statusReport()]));
  }

  /** All live replicas normal in one view, with every op committed and executed everywhere, and
   *  none still starting. */
  converged(): boolean {
    if (this.nodes.some((node) => node.booting)) return false;
    const reports = this.reports();
    const first = reports[0];
    if (first === undefined) return false;
    return reports.every(
      (r) => r.status === 'normal' && r.view === first.view && r.op === first.op && r.commit === first.op && r.executed === first.op,
    );
  }
}

/** Routes answers by client id and owner, as the gateway does. */
function connectionKey(request: { clientId: string; owner: string }): string {
  return `${request.clientId}#${request.owner}`;
}

function describeAnswer<R>(answer: Answer<R>): string {
  return answer.type === 'reply' ? `reply #${answer.requestNumber} op ${answer.op}` : `${answer.code} #${answer.requestNumber} (primary ${answer.primary})`;
}
