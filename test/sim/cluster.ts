// The simulated world: N replicas of the real replication core (lib/replication, unchanged), each
// with its own simulated disk, a simulated network between them and the clients (and thieves,
// thief.ts), and one virtual clock. This file is the simulator's driver of the core: it carries
// out every effect the way lib/server does, duty by duty (lib/replication/types.ts).
//
// Time advances in steps. A step jumps the clock to the next moment anything is due — a message
// arriving, an fsync completing, a replica's tick, a client's timer, the fault injector — and
// hands all of it to the replicas in a random order (inputs at the same instant have no order).
// Then every replica that received something is flushed (duty 7: the end of a burst), every live
// replica's invariants() run, and the checkers look at what happened.

import assert from 'node:assert/strict';
import { ownerOf } from '../../lib/auth/client-secret.js';
import { emptyDurableState, recover } from '../../lib/replication/journal.js';
import type { ReplicationMessage } from '../../lib/replication/messages.js';
import { Replica, type ReplicaOptions } from '../../lib/replication/replica.js';
import type { ClientRequest, DurableState, Effect, ReplicaId, ReplicaStatusReport } from '../../lib/replication/types.js';
import { Checker, SafetyViolation } from './checkers.js';
import { type Answer, type ClientTiming, SimClient, type SimRequest } from './client.js';
import { type DiskLatency, FAST_DISK, SimDisk } from './disk.js';
import { type Address, CLIENT_ADDRESS_BASE, type Envelope, Network, type NetworkFaults } from './network.js';
import { Prng } from './prng.js';
import { SimThief } from './thief.js';
import { describeMessage, describeRecord, Trace } from './trace.js';
import type { Workload } from './workload.js';

export type Payload<C, R> =
  | { channel: 'peer'; message: ReplicationMessage<C, R> }
  | { channel: 'request'; request: SimRequest<C> }
  | { channel: 'answer'; answer: Answer<R> };

type CoreEffect<C, R, E> = Effect<C, R, E, ReplicationMessage<C, R>>;

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

/** One replica slot: the core object while it runs, and what outlives a crash. */
export interface Node<C, R, E> {
  readonly id: ReplicaId;
  replica: Replica<C, R, E> | null;
  readonly disk: SimDisk<C, R>;
  nextTickAt: number;
  /** Clients whose requests reached this incarnation, by client id and owner: where duty 5
   *  routes their answers (a thief's never reach the owner of the id it used, nor the reverse). */
  readonly connections: Map<string, Address>;
  /** Received input this step, so it is flushed at the end of the step. */
  touched: boolean;
  incarnation: number;
  lastStatus: string;
}

/** Something the fault injector wants to do at a given time. */
export interface Nemesis {
  nextAt: number;
  act(now: number): void;
}

const DEFAULT_TIMING: ClientTiming = { requestTimeoutMs: 300, backoffMaxMs: 400, thinkMinMs: 0, thinkMaxMs: 40 };

/** What a replica's wall clock reads at virtual time 0 (ms since the epoch)... */
const EPOCH_MS = 1_700_000_000_000;
/** ...and they disagree: replica i's reads (i − f) × this many ms off, so a new primary's clock
 *  is often behind its predecessor's, and the core must keep the entry times it writes
 *  (ClientRequest.at) from going back along the log. */
const CLOCK_SKEW_MS = 1000;

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
  /** Armed crashes: the next replica to send a message of this type dies part way through the
   *  burst — a primary mid-PREPARE, or a new primary mid-START-VIEW — so that some peers got
   *  the message and others did not. */
  readonly crashDuring: Array<'prepare' | 'start-view'> = [];
  /** Scenarios may watch every effect a replica emits, before it is carried out. */
  watch: ((replica: ReplicaId, effect: CoreEffect<C, R, E>) => void) | null = null;
  /** Per replica: how often it installed state it did not execute (snapshot transfer). */
  readonly stateInstalls: number[];

  private readonly prng: Prng;
  private readonly order: Prng;
  private readonly tickMs: number;
  private readonly replicaOptions: Omit<ReplicaOptions, 'replica'>;

  constructor(readonly options: WorldOptions<C, R, E>) {
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
    for (const node of this.nodes) this.restart(node.id);
  }

  get f(): number {
    return (this.replicaCount - 1) / 2;
  }

  // ---- the step loop -------------------------------------------------------------------------

  /** Advances to the next instant anything is due and processes all of it. False if idle. */
  step(): boolean {
    const at = this.nextEventTime();
    if (at === Infinity) return false;
    assert.ok(at >= this.now, 'virtual time went backwards');
    this.now = at;
    this.steps++;
    for (const input of this.order.shuffle(this.dueInputs(at))) input();
    for (const node of this.nodes) {
      if (node.touched && node.replica !== null) this.call(node, (replica) => replica.flush());
      node.touched = false;
    }
    this.checkAfterStep();
    return true;
  }

  /** Steps until `stop()` holds or virtual time passes `until`; returns whether stop() held. */
  runUntil(until: number, stop: () => boolean = () => false): boolean {
    while (!stop()) {
      if (this.nextEventTime() > until) {
        this.now = Math.max(this.now, until);
        return stop();
      }
      this.step();
    }
    return true;
  }

  private nextEventTime(): number {
    let at = Math.min(this.network.nextTime(), this.nemesis?.nextAt ?? Infinity);
    for (const node of this.nodes) {
      if (node.replica === null) continue;
      at = Math.min(at, node.nextTickAt, node.disk.nextTime());
    }
    for (const actor of [...this.clients, ...this.thieves]) at = Math.min(at, actor.wakeAt);
    return at;
  }

  private dueInputs(at: number): Array<() => void> {
    const inputs: Array<() => void> = [];
    for (const envelope of this.network.deliverDue(at)) inputs.push(() => this.deliver(envelope));
    for (const node of this.nodes) {
      if (node.replica === null) continue;
      if (node.disk.nextTime() <= at) inputs.push(() => this.completeFsyncs(node));
      if (node.nextTickAt <= at) inputs.push(() => this.tickReplica(node));
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
    if (node.replica === null) return; // Nobody listening: the crashed process's socket is gone.
    if (payload.channel === 'peer') {
      this.trace.add(this.now, `r${envelope.to} ← r${envelope.from} ${describeMessage(payload.message)}`);
      this.call(node, (replica) => replica.onMessage(payload.message));
    } else {
      const request = this.coreRequest(node, payload.request);
      node.connections.set(connectionKey(request), envelope.from);
      this.trace.add(this.now, `r${envelope.to} ← ${this.actorName(envelope.from)} request #${request.requestNumber}`);
      this.call(node, (replica) => replica.onRequest(request));
    }
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

  /** Duty 2: report the highest seq whose record, and every earlier one, is durable. */
  private completeFsyncs(node: Node<C, R, E>): void {
    const seq = node.disk.syncDue(this.now);
    if (seq === null) return;
    this.trace.add(this.now, `r${node.id} persisted to #${seq}`);
    this.call(node, (replica) => replica.onPersisted(seq));
  }

  /** Duty 6: a steady tick, with a little drift per replica. */
  private tickReplica(node: Node<C, R, E>): void {
    node.nextTickAt = this.now + this.tickMs + this.prng.int(-1, 1);
    this.call(node, (replica) => replica.tick());
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

  // ---- effects (the driver duties) -------------------------------------------------------------

  private call(node: Node<C, R, E>, input: (replica: Replica<C, R, E>) => CoreEffect<C, R, E>[]): void {
    const replica = node.replica;
    if (replica === null) return;
    node.touched = true;
    const incarnation = node.incarnation;
    // Duty 1: in the order returned. A crash part way through (see crashDuring)
    // leaves the rest undone, as a process killed mid-burst would.
    for (const effect of input(replica)) {
      if (node.incarnation !== incarnation) return;
      this.carryOut(node, effect);
    }
  }

  private carryOut(node: Node<C, R, E>, effect: CoreEffect<C, R, E>): void {
    this.watch?.(node.id, effect);
    switch (effect.type) {
      case 'send':
        return this.sendPeer(node, effect.to, effect.message);
      case 'broadcast':
        for (const to of effect.to) if (node.replica !== null) this.sendPeer(node, to, effect.message); // unless crashDuring struck
        return;
      case 'persist':
        this.trace.add(this.now, `r${node.id} persist #${effect.seq} ${describeRecord(effect.record)}`);
        if (effect.record.kind === 'snapshot' && this.checker.onSnapshot(node.id, effect.record.snapshot)) this.noteStateInstall(node.id);
        return node.disk.write(effect.seq, effect.record, this.now);
      case 'reply':
        this.checker.onReply(node.id, effect);
        return this.answer(node, effect);
      case 'reject':
        if (effect.code === 'SESSION_EXPIRED') this.checkSessionExpired(node, effect.clientId);
        return this.answer(node, effect);
      case 'applied':
        this.trace.add(this.now, `r${node.id} applied op ${effect.op} (${effect.clientId.slice(0, 6)}#${effect.requestNumber})`);
        return this.checker.onApplied(node.id, effect);
      case 'log':
        if (effect.level === 'warn' || effect.level === 'error') this.trace.add(this.now, `r${node.id} ${effect.level} ${effect.event} ${JSON.stringify(effect.fields ?? {})}`);
        return;
    }
  }

  private sendPeer(node: Node<C, R, E>, to: ReplicaId, message: ReplicationMessage<C, R>): void {
    const armed = this.crashDuring.indexOf(message.type as 'prepare' | 'start-view');
    if (armed >= 0 && this.prng.chance(0.5)) {
      this.crashDuring.splice(armed, 1);
      this.faultsSeen.add(`crash-primary-mid-${message.type}`);
      this.crash(node.id, `while sending ${message.type}`);
      return;
    }
    this.checker.onSend(node.id, message);
    const garbleRate = this.options.garbleRate ?? 0;
    // Draw only when garbling is on, so that worlds without it keep their random streams.
    const garbled = garbleRate > 0 && this.prng.chance(garbleRate) ? this.garble(message) : message;
    this.network.send(node.id, to, { channel: 'peer', message: garbled }, this.now);
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

  // ---- checks after every step ---------------------------------------------------------------

  private checkAfterStep(): void {
    const sample = this.steps % (this.options.stateSampleEverySteps ?? 16) === 0;
    for (const node of this.nodes) {
      const replica = node.replica;
      if (replica === null) continue;
      replica.invariants();
      const report = replica.statusReport();
      const machine = (): unknown => replica.stateMachine().snapshot();
      if (this.checker.onStatus(node.id, report.executed, machine)) this.noteStateInstall(node.id);
      if (sample) this.checker.onState(node.id, report.executed, machine);
      this.traceStatus(node, report);
    }
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

  // ---- faults and what the harness may do ----------------------------------------------------

  private addNode(id: ReplicaId, latency: DiskLatency): void {
    const disk = new SimDisk<C, R>(this.prng.fork(), { ...latency });
    // D7: a replica's storage is created by an explicit format step, never by accident.
    disk.format(emptyDurableState<C, R>());
    this.nodes.push({ id, replica: null, disk, nextTickAt: 0, connections: new Map(), touched: false, incarnation: 0, lastStatus: 'down' });
  }

  isUp(id: ReplicaId): boolean {
    return this.nodes[id]!.replica !== null;
  }

  get upCount(): number {
    return this.nodes.filter((node) => node.replica !== null).length;
  }

  /** Kills replica `id`: its memory, its connections and its unsynced writes (some) are gone. */
  crash(id: ReplicaId, why: string): void {
    const node = this.nodes[id]!;
    assert.ok(node.replica !== null, `crash of replica ${id}, which is down`);
    node.replica = null;
    node.incarnation++;
    node.connections.clear();
    node.lastStatus = 'down';
    const outcome = node.disk.crash();
    if (outcome.kept > 0) this.faultsSeen.add('unsynced-writes-survive');
    if (outcome.torn) this.faultsSeen.add('torn-tail');
    if (outcome.snapshotFilesLost > 0) this.faultsSeen.add('snapshot-file-not-written');
    const filesLost = outcome.snapshotFilesLost > 0 ? `, ${outcome.snapshotFilesLost} snapshot file(s) not written` : '';
    this.trace.add(this.now, `r${id} CRASH (${why}): ${outcome.kept} unsynced records kept, ${outcome.lost} lost${outcome.torn ? ', tail torn' : ''}${filesLost}`);
  }

  /** Duty 8: a new Replica from what the disk recovers, then start() (D4). */
  restart(id: ReplicaId): void {
    const node = this.nodes[id]!;
    assert.equal(node.replica, null, `restart of replica ${id}, which is up`);
    node.disk.reopen();
    const durable: DurableState<C, R> = recover(node.disk.load());
    node.replica = new Replica({ ...this.replicaOptions, replica: id }, durable, this.options.workload.createMachine);
    node.nextTickAt = this.now + this.prng.int(1, this.tickMs);
    this.checker.onIncarnation(id, durable.snapshot?.op ?? 0);
    this.trace.add(this.now, `r${id} START view ${durable.view} logView ${durable.logView} snapshot ${durable.snapshot?.op ?? '-'} entries ${durable.entries.length}`);
    this.call(node, (replica) => replica.start());
  }

  /** The replica that the highest-viewed normal replica believes is primary, if it is up. */
  believedPrimary(): ReplicaId | null {
    let best: ReplicaStatusReport | null = null;
    for (const node of this.nodes) {
      const report = node.replica?.statusReport();
      if (report !== undefined && report.status === 'normal' && (best === null || report.view > best.view)) best = report;
    }
    return best !== null && this.isUp(best.primary) ? best.primary : null;
  }

  reports(): ReplicaStatusReport[] {
    return this.nodes.flatMap((node) => (node.replica === null ? [] : [node.replica.statusReport()]));
  }

  /** All live replicas normal in one view, with every op committed and executed everywhere. */
  converged(): boolean {
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
