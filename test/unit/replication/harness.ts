// A tiny in-test cluster for the replication core: N replicas, a message queue delivered by hand
// (synchronously, in order, with optional cuts), a disk per replica that holds records and makes
// them durable when told to, and a toy state machine (an append-only list of strings). No
// timers, no randomness: each test says exactly what happens.

import assert from 'node:assert/strict';
import { emptyDurableState, recover } from '../../../lib/replication/journal.js';
import type { ReplicationMessage } from '../../../lib/replication/messages.js';
import { Replica, type ReplicaOptions } from '../../../lib/replication/replica.js';
import type { ClientRequest, DurableState, Effect, JournalRecord, LoadedJournal, ReplicaId, StateMachine } from '../../../lib/replication/types.js';

export type Command = string;
/** The toy's reply: the list's length after the append. */
export type Reply = number;
export type Event = string;
export type Message = ReplicationMessage<Command, Reply>;
export type CoreEffect = Effect<Command, Reply, Event, Message>;

/** The toy state machine: appends each command to a list. */
export function toyMachine(snapshot: unknown): StateMachine<Command, Reply, Event> & { items: string[] } {
  const items: string[] = snapshot === null ? [] : [...(snapshot as string[])];
  return {
    items,
    apply(command) {
      items.push(command);
      return { reply: items.length, events: [command] };
    },
    snapshot: () => [...items],
    size: () => items.length,
  };
}

export class Disk {
  /** Every record written, in seq order. */
  records: Array<{ seq: number; record: JournalRecord<Command, Reply> }> = [];
  durableSeq = 0;

  /** What survives a crash: durable records only (writeback of the rest is lost). */
  crash(): void {
    this.records = this.records.filter((r) => r.seq <= this.durableSeq);
  }

  /** A restarted replica numbers its records from 1 again: what is on the disk already is durable. */
  reopen(): void {
    for (const r of this.records) r.seq = 0;
    this.durableSeq = 0;
  }

  /** What storage does when it finds the log damaged at open (docs/storage.md): it keeps the log
   *  records before the damage — here the first record holding an op above `keptOp` — drops that
   *  one and every later one, and writes the view record as it was, with damaged: true. */
  damage(keptOp: number): void {
    const holdsLostOp = ({ record }: Disk['records'][number]) => record.kind !== 'view' && record.kind !== 'snapshot' && record.entries.some((e) => e.op > keptOp);
    const at = this.records.findIndex(holdsLostOp);
    if (at >= 0) this.records = this.records.filter(({ record }, i) => i < at || record.kind === 'view' || record.kind === 'snapshot');
    const view = this.loaded().view ?? { view: 0, logView: 0 };
    this.records.push({ seq: 0, record: { kind: 'view', view: view.view, logView: view.logView, damaged: true } });
  }

  /** Whether the newest durable view record says the log is damaged: what a restart would find. */
  durablyDamaged(): boolean {
    const views = this.records.filter((r) => r.seq <= this.durableSeq && r.record.kind === 'view');
    const newest = views.at(-1)?.record;
    return newest?.kind === 'view' && newest.damaged;
  }

  loaded(): LoadedJournal<Command, Reply> {
    let view: LoadedJournal<Command, Reply>['view'] = null;
    let snapshot: LoadedJournal<Command, Reply>['snapshot'] = null;
    const log: LoadedJournal<Command, Reply>['log'] = [];
    for (const { record } of this.records) {
      if (record.kind === 'view') view = { view: record.view, logView: record.logView, damaged: record.damaged };
      else if (record.kind === 'snapshot') snapshot = record.snapshot;
      else log.push(record);
    }
    return { view, snapshot, log };
  }
}

export interface Envelope {
  from: ReplicaId;
  to: ReplicaId;
  message: Message;
}

export class Cluster {
  readonly replicas: Array<Replica<Command, Reply, Event> | null> = [];
  readonly disks: Disk[] = [];
  /** Messages sent and not yet delivered, oldest first. */
  queue: Envelope[] = [];
  /** Every effect each replica emitted but sends and broadcasts, in order. */
  readonly effects: CoreEffect[][] = [];
  /** Every message each replica sent (a broadcast once), in order, with whether its disk said
   *  then that its log is damaged (Disk.durablyDamaged). */
  readonly sent: Array<Array<{ message: Message; damaged: boolean }>> = [];
  /** When true, each persist is reported durable as soon as it is issued. */
  autoPersist: boolean[] = [];
  /** Replicas cut off from everyone: messages to or from them are dropped. */
  readonly isolated = new Set<ReplicaId>();

  constructor(
    readonly replicaCount: number,
    readonly options: Partial<ReplicaOptions> = {},
  ) {
    for (let id = 0; id < replicaCount; id++) {
      this.disks.push(new Disk());
      this.effects.push([]);
      this.sent.push([]);
      this.autoPersist.push(true);
      this.replicas.push(null);
    }
    for (let id = 0; id < replicaCount; id++) this.boot(id, emptyDurableState());
  }

  replica(id: ReplicaId): Replica<Command, Reply, Event> {
    const replica = this.replicas[id];
    assert.ok(replica, `replica ${id} is down`);
    return replica;
  }

  private boot(id: ReplicaId, durable: DurableState<Command, Reply>): void {
    const replica = new Replica<Command, Reply, Event>({ ...this.options, replica: id, replicaCount: this.replicaCount }, durable, toyMachine);
    this.replicas[id] = replica;
    this.handle(id, replica.start());
  }

  /** Carries out effects: sends go to the queue (a broadcast as one send per peer, in order),
   *  persists to the disk (durable at once if autoPersist), the rest are recorded. */
  handle(id: ReplicaId, effects: CoreEffect[]): void {
    let lastSeq = 0;
    for (const effect of effects) {
      if (effect.type === 'send' || effect.type === 'broadcast') {
        this.sent[id]!.push({ message: effect.message, damaged: this.disks[id]!.durablyDamaged() });
        for (const to of [effect.to].flat()) {
          if (!this.isolated.has(id) && !this.isolated.has(to)) this.queue.push({ from: id, to, message: effect.message });
        }
      } else if (effect.type === 'persist') {
        this.disks[id]!.records.push({ seq: effect.seq, record: structuredClone(effect.record) });
        lastSeq = effect.seq;
      } else {
        this.effects[id]!.push(effect);
      }
    }
    if (lastSeq > 0 && this.autoPersist[id]) this.persisted(id, lastSeq);
  }

  /** The disk of `id` reports records up to `seq` durable. */
  persisted(id: ReplicaId, seq = this.disks[id]!.records.at(-1)?.seq ?? 0): void {
    const replica = this.replicas[id];
    if (!replica) return;
    this.disks[id]!.durableSeq = Math.max(this.disks[id]!.durableSeq, seq);
    this.handle(id, replica.onPersisted(seq));
  }

  request(to: ReplicaId, request: ClientRequest<Command>): CoreEffect[] {
    const before = this.effects[to]!.length;
    this.handle(to, this.replica(to).onRequest(request));
    this.handle(to, this.replica(to).flush());
    return this.effects[to]!.slice(before);
  }

  /** Delivers queued messages (and whatever they cause) until none are left. Messages to a down
   *  replica are lost. */
  deliverAll(filter: (envelope: Envelope) => boolean = () => true): void {
    for (let delivered = 0; this.queue.length > 0; delivered++) {
      assert.ok(delivered < 100_000, 'the cluster did not settle');
      const envelope = this.queue.shift()!;
      const replica = this.replicas[envelope.to];
      if (!replica || !filter(envelope)) continue;
      this.handle(envelope.to, replica.onMessage(structuredClone(envelope.message)));
      this.handle(envelope.to, replica.flush());
    }
  }

  /** Delivers the oldest queued message (to a live replica) and returns it, or null if none. */
  deliverOne(): Envelope | null {
    const envelope = this.queue.shift();
    if (envelope === undefined) return null;
    const replica = this.replicas[envelope.to];
    if (replica) {
      this.handle(envelope.to, replica.onMessage(structuredClone(envelope.message)));
      this.handle(envelope.to, replica.flush());
    }
    return envelope;
  }

  /** Ticks every live replica `ticks` times, delivering messages after each round (unless
   *  `deliver` is false: then they stay queued for deliverOne()). */
  tick(ticks: number, only?: ReplicaId[], deliver = true): void {
    for (let t = 0; t < ticks; t++) {
      for (const [id, replica] of this.replicas.entries()) {
        if (!replica || (only && !only.includes(id))) continue;
        this.handle(id, replica.tick());
        this.handle(id, replica.flush());
      }
      if (deliver) this.deliverAll();
    }
  }

  /** Ticks until `done()` holds, failing with `what` after `ticksMax`. */
  tickUntil(what: string, done: () => boolean, ticksMax = 500): void {
    for (let t = 0; t < ticksMax; t++) {
      if (done()) return;
      this.tick(1);
    }
    assert.fail(`${what}: not reached within ${ticksMax} ticks; status: ${JSON.stringify(this.replicas.map((r) => r?.statusReport() ?? 'down'))}`);
  }

  crash(id: ReplicaId): void {
    this.replicas[id] = null;
    this.disks[id]!.crash();
    this.queue = this.queue.filter((e) => e.to !== id);
  }

  restart(id: ReplicaId): void {
    assert.equal(this.replicas[id], null, 'crash it first');
    this.disks[id]!.reopen();
    this.boot(id, recover(this.disks[id]!.loaded()));
  }

  /** Restarts `id` as storage does after finding its log damaged: every op above `keptOp` lost
   *  (Disk.damage), the view record marked damaged. */
  restartDamaged(id: ReplicaId, keptOp: number): void {
    assert.equal(this.replicas[id], null, 'crash it first');
    this.disks[id]!.damage(keptOp);
    this.restart(id);
  }

  /** The primary of the highest view among reachable replicas. */
  primary(): ReplicaId {
    const primaries = this.replicas.flatMap((r, id) => (r?.statusReport().isPrimary && !this.isolated.has(id) ? [id] : []));
    assert.ok(primaries.length >= 1, 'no primary');
    return primaries.reduce((a, b) => (this.replica(a).statusReport().view >= this.replica(b).statusReport().view ? a : b));
  }

  /** Waits for a primary in status normal, with every live replica that is not isolated normal
   *  in its view. */
  settle(): ReplicaId {
    this.tickUntil('every live replica normal in one view', () => {
      const reports = this.replicas.flatMap((r, id) => (r && !this.isolated.has(id) ? [r.statusReport()] : []));
      return reports.every((r) => r.status === 'normal' && r.view === reports[0]!.view) && reports.some((r) => r.isPrimary);
    });
    return this.primary();
  }

  /** The items of each live replica's state machine. */
  items(id: ReplicaId): string[] {
    return (this.replica(id).stateMachine() as ReturnType<typeof toyMachine>).items;
  }

  ofType<T extends CoreEffect['type']>(id: ReplicaId, type: T): Extract<CoreEffect, { type: T }>[] {
    return this.effects[id]!.filter((e): e is Extract<CoreEffect, { type: T }> => e.type === type);
  }

  /** Registers `clientId` at the primary and commits it. */
  register(clientId: string, from: From = {}): void {
    const primary = this.primary();
    this.request(primary, registration(clientId, from));
    this.deliverAll();
  }
}

/** Commits `count` requests of client `c` at the primary, numbered from `first`. */
export function commitMany(cluster: Cluster, primary: ReplicaId, first: number, count: number): void {
  for (let n = first; n < first + count; n++) {
    cluster.request(primary, req('c', n, `m${n}`));
    cluster.deliverAll();
  }
}

/** Who sends a test request, when the test cares: the owner (by default `ownerFor` the client
 *  id, so each test client has its own) and the time the driver stamps it with (default 0). */
type From = Partial<Pick<ClientRequest<Command>, 'owner' | 'at'>>;

/** The owner fingerprint a test client registers with unless a test says otherwise. */
export function ownerFor(clientId: string): string {
  return `owner of ${clientId}`;
}

export function req(clientId: string, requestNumber: number, command: string, from: From = {}): ClientRequest<Command> {
  return { clientId, owner: ownerFor(clientId), at: 0, requestNumber, command, ...from };
}

/** The register (request 0) of `clientId`. */
export function registration(clientId: string, from: From = {}): ClientRequest<Command> {
  return { clientId, owner: ownerFor(clientId), at: 0, requestNumber: 0, command: null, ...from };
}
