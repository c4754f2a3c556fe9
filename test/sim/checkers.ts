// The safety checkers. They watch what the replicas do — messages sent, ops applied, replies
// given, what clients were told — and throw a SafetyViolation naming the property the moment
// any of it contradicts what VR guarantees (VRR §8). They never look inside a replica except
// through statusReport() and stateMachine().snapshot(), the same window an operator has.
//
//   (a) one primary per view: every PREPARE, COMMIT and START-VIEW of view v comes from v mod N;
//   (b) committed prefixes agree: the op → (client, request number) history is the same on
//       every replica that executes that op (the first to execute it defines it);
//   (c) no op executed twice: a (client, request number) sits at exactly one op;
//   (d) no acknowledged op lost: what a client was told committed is in that history, at the
//       op the reply named, and every replica that executes that far executes it;
//   (e) equal states: replicas that have executed the same op hold equal state machines;
//   (f) equal replies: every reply for an op — first try, retry, after failover — is the same;
//   (h) a client id is its owner's: every reply for a client's request goes to the owner its
//       register carried (no request under a stolen id and another secret is answered or runs).
// Liveness (g) is checked by the harness (simulate.ts), which knows when faults stopped.

import { createHash } from 'node:crypto';
import type { Effect, ReplicaId, Snapshot } from '../../lib/replication/types.js';
import type { Acknowledged, ReplyAnswer } from './client.js';

export class SafetyViolation extends Error {
  constructor(
    readonly property: string,
    detail: string,
  ) {
    super(`${property}: ${detail}`);
    this.name = 'SafetyViolation';
  }
}

type Applied = Extract<Effect<never, never, unknown, never>, { type: 'applied' }>;

interface OpIdentity {
  clientId: string;
  requestNumber: number;
  /** Which replica first executed it, for the message when another disagrees. */
  firstBy: ReplicaId;
}

/** JSON with object keys sorted, so equal states hash equally however they were built. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'undefined';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(value).sort();
  const object = value as Record<string, unknown>;
  return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(object[key])}`).join(',')}}`;
}

export function stateHash(snapshot: unknown): string {
  return createHash('sha256').update(canonicalJson(snapshot)).digest('hex').slice(0, 16);
}

export class Checker {
  /** (b) op → who it belongs to, as first executed anywhere. */
  readonly history = new Map<number, OpIdentity>();
  /** (c) "clientId#requestNumber" → op. */
  private readonly opOf = new Map<string, number>();
  /** (a) view → the replica that sent primary messages in it. */
  private readonly primaryOf = new Map<number, ReplicaId>();
  /** (e) op → state hash of the first replica seen having executed exactly that far. */
  private readonly stateAt = new Map<number, { hash: string; replica: ReplicaId }>();
  /** (f) op → canonical reply. */
  private readonly replyAt = new Map<number, string>();
  /** (d) acknowledgements not yet matched against the history. */
  private unmatched: Acknowledged<unknown, unknown>[] = [];
  readonly acknowledged: Acknowledged<unknown, unknown>[] = [];
  /** Per replica: the next op its current incarnation must execute (ops apply in order). */
  private readonly nextApply = new Map<ReplicaId, number>();
  /** (h) client id → the owner fingerprint of the client that drew it. */
  private readonly owners = new Map<string, string>();

  constructor(private readonly replicaCount: number) {}

  /** (a) A replica put a message on the wire. */
  onSend(sender: ReplicaId, message: { type: string; view: number; from: ReplicaId }): void {
    if (message.from !== sender) this.fail('(a) sender identity', `replica ${sender} sent a ${message.type} claiming from=${message.from}`);
    if (message.type !== 'prepare' && message.type !== 'commit' && message.type !== 'start-view') return;
    const primary = message.view % this.replicaCount;
    if (sender !== primary) {
      this.fail('(a) one primary per view', `replica ${sender} sent ${message.type} in view ${message.view}, whose primary is ${primary}`);
    }
    const known = this.primaryOf.get(message.view);
    if (known !== undefined && known !== sender) {
      this.fail('(a) one primary per view', `replicas ${known} and ${sender} both acted as primary of view ${message.view}`);
    }
    this.primaryOf.set(message.view, sender);
  }

  /** (h) A client drew this id and the secret whose owner fingerprint this is. */
  onClient(clientId: string, owner: string): void {
    this.owners.set(clientId, owner);
  }

  /** A replica (re)started from durable state whose snapshot, if any, ends at `snapshotOp`. */
  onIncarnation(replica: ReplicaId, snapshotOp: number): void {
    this.nextApply.set(replica, snapshotOp + 1);
  }

  /** After each step: a replica's reported `executed` must match the ops it was seen applying,
   *  unless it jumped ahead by installing a snapshot it did not execute itself (state transfer,
   *  §5.2) — then its state must equal that of others at the same op. Returns true on a jump. */
  onStatus(replica: ReplicaId, executed: number, snapshot: () => unknown): boolean {
    const applied = (this.nextApply.get(replica) ?? 1) - 1;
    if (executed === applied) return false;
    if (executed < applied) this.fail('(b) ops execute in order', `replica ${replica} reports executed ${executed} after applying op ${applied}`);
    this.nextApply.set(replica, executed + 1);
    this.onState(replica, executed, snapshot);
    return true;
  }

  /** A replica persisted a snapshot: its machine must equal others' at that op (e). A snapshot
   *  beyond what the replica executed is state it installed from a peer (§5.2), after which it
   *  executes from the op after it. Returns true for such an install. */
  onSnapshot(replica: ReplicaId, snapshot: Snapshot<unknown>): boolean {
    this.onState(replica, snapshot.op, () => snapshot.machine);
    const expected = this.nextApply.get(replica) ?? 1;
    if (snapshot.op < expected) return false;
    this.nextApply.set(replica, snapshot.op + 1);
    return true;
  }

  /** (b)(c) A replica executed an op. */
  onApplied(replica: ReplicaId, applied: Applied): void {
    const expected = this.nextApply.get(replica);
    if (expected !== undefined && applied.op !== expected) {
      this.fail('(b) ops execute in order', `replica ${replica} executed op ${applied.op}, expected op ${expected}`);
    }
    this.nextApply.set(replica, applied.op + 1);
    const known = this.history.get(applied.op);
    if (known === undefined) {
      this.history.set(applied.op, { clientId: applied.clientId, requestNumber: applied.requestNumber, firstBy: replica });
    } else if (known.clientId !== applied.clientId || known.requestNumber !== applied.requestNumber) {
      this.fail(
        '(b) committed prefixes agree',
        `op ${applied.op}: replica ${known.firstBy} executed ${known.clientId.slice(0, 8)}#${known.requestNumber}, ` +
          `replica ${replica} executed ${applied.clientId.slice(0, 8)}#${applied.requestNumber}`,
      );
    }
    const key = `${applied.clientId}#${applied.requestNumber}`;
    const at = this.opOf.get(key);
    if (at === undefined) this.opOf.set(key, applied.op);
    else if (at !== applied.op) this.fail('(c) no op executed twice', `${key.slice(0, 8)}… executed at op ${at} and at op ${applied.op}`);
  }

  /** (f)(h) A replica answered a client. */
  onReply(replica: ReplicaId, reply: ReplyAnswer<unknown>): void {
    const owner = this.owners.get(reply.clientId);
    if (owner !== undefined && owner !== reply.owner) {
      this.fail("(h) a client id is its owner's", `replica ${replica} answered ${reply.clientId.slice(0, 8)}#${reply.requestNumber} (op ${reply.op}) to another owner`);
    }
    const text = canonicalJson(reply.reply);
    const known = this.replyAt.get(reply.op);
    if (known === undefined) this.replyAt.set(reply.op, text);
    else if (known !== text) this.fail('(f) equal replies', `op ${reply.op}: replica ${replica} replied ${text}, earlier ${known}`);
    const identity = this.history.get(reply.op);
    if (identity === undefined) this.fail('(d) reply only after execution', `replica ${replica} replied for op ${reply.op} that nobody executed`);
    if (identity.clientId !== reply.clientId || identity.requestNumber !== reply.requestNumber) {
      this.fail('(d) reply names its own op', `replica ${replica} answered #${reply.requestNumber} with op ${reply.op}, which holds #${identity.requestNumber}`);
    }
  }

  /** (d) A client was told its request committed. */
  onAcknowledged(acked: Acknowledged<unknown, unknown>): void {
    this.acknowledged.push(acked);
    this.unmatched.push(acked);
  }

  /** (e) A replica has executed up to `executed` with this state. */
  onState(replica: ReplicaId, executed: number, snapshot: () => unknown): void {
    const hash = stateHash(snapshot());
    const known = this.stateAt.get(executed);
    if (known === undefined) this.stateAt.set(executed, { hash, replica });
    else if (known.hash !== hash) {
      this.fail('(e) equal states', `after op ${executed}, replica ${replica} has state ${hash} but replica ${known.replica} had ${known.hash}`);
    }
  }

  /** End of a step: every acknowledgement must by now be in the history (the primary executed
   *  the op before it replied, so its `applied` has been seen). */
  afterStep(): void {
    for (const acked of this.unmatched) this.checkAcknowledged(acked);
    this.unmatched = [];
  }

  /** (d) at the end: each acknowledged op is executed on every replica that got that far. */
  checkExecutedEverywhere(replicas: Array<{ replica: ReplicaId; executed: number }>): void {
    for (const acked of this.acknowledged) {
      this.checkAcknowledged(acked);
      for (const { replica, executed } of replicas) {
        if (executed < acked.op) this.fail('(d) no acknowledged op lost', `replica ${replica} executed only to ${executed}, below acknowledged op ${acked.op}`);
      }
    }
  }

  private checkAcknowledged(acked: Acknowledged<unknown, unknown>): void {
    const identity = this.history.get(acked.op);
    const who = `${acked.clientId.slice(0, 8)}#${acked.requestNumber}`;
    if (identity === undefined) this.fail('(d) no acknowledged op lost', `${who} acknowledged at op ${acked.op}, which no replica executed`);
    if (identity.clientId !== acked.clientId || identity.requestNumber !== acked.requestNumber) {
      this.fail('(d) no acknowledged op lost', `${who} acknowledged at op ${acked.op}, which holds ${identity.clientId.slice(0, 8)}#${identity.requestNumber}`);
    }
  }

  private fail(property: string, detail: string): never {
    throw new SafetyViolation(property, detail);
  }
}
