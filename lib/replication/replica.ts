// The replica: Viewstamped Replication Revisited (Liskov & Cowling 2012) as a pure, deterministic
// state machine. Inputs are method calls — a peer message, a client request, a persistence
// completion, a tick, the end of a burst — and each returns the effects to carry out (the driver's
// duties are numbered in types.ts). No I/O, no clock, no randomness: the simulator and the server
// run this same code.
//
// This file owns start-up (D4) and dispatch. Every step has one shape: run the handler, then let
// the replica send whatever its durable state now allows (progress), then check invariants.

import assert from 'node:assert/strict';
import { ClientTable } from './client-table.js';
import { Durability } from './durability.js';
import { onSnapshotDurable, takeDeferredSnapshot } from './execute.js';
import { checkInvariants } from './invariants.js';
import { Log } from './log.js';
import { messageProblem, type ReplicationMessage } from './messages.js';
import {
  commitAsPrimary,
  flush,
  onCommit,
  onAlive,
  onCommitTimeout,
  onPrepare,
  onPrepareOk,
  onPrimaryTimeout,
  onQuorumTick,
  onReceiving,
  onRequest,
  sendAlive,
  sendPrepareOk,
} from './normal.js';
import { type ReplicaOptions, settingsFrom } from './options.js';
import { type CoreEffect, ReplicaState } from './state.js';
import { onGetState, onNewState, onStateResendTimeout, onTransferPrimaryTimeout, rejoinDamaged } from './state-transfer.js';
import { becomeBackup, enterViewChange, startViewChange } from './transitions.js';
import type { ClientRequest, DurableState, ReplicaId, ReplicaStatusReport, StateMachine, StateMachineFactory } from './types.js';
import {
  completeViewChange,
  onDoViewChange,
  onGetLog,
  onLogSuffix,
  onPrimaryRejoinTick,
  onStartView,
  onStartViewChange,
  onViewChangeResendTimeout,
  onViewChangeTimeout,
  sendDoViewChange,
  sendStartView,
  sendStartViewChange,
} from './view-change.js';

export type { ReplicaOptions } from './options.js';

/** Messages only the primary of the message's view sends. */
const FROM_PRIMARY = new Set<ReplicationMessage<unknown, unknown>['type']>(['prepare', 'commit', 'start-view', 'new-state', 'get-log']);

export class Replica<C, R, E> {
  private readonly s: ReplicaState<C, R, E>;
  private started = false;

  /** Builds the replica from its durable state (driver duty 8) and decides how it rejoins (D4);
   *  start() hands back the effects of that decision. */
  constructor(options: ReplicaOptions, durable: DurableState<C, R>, createMachine: StateMachineFactory<C, R, E>) {
    const settings = settingsFrom(options);
    if (durable.damaged && settings.replicaCount === 1) {
      throw new Error(`replica ${settings.replica}'s log is damaged and a cluster of one has no peer to repair it from`);
    }
    const snapshot = durable.snapshot;
    const log = new Log<C>(snapshot?.op ?? 0, snapshot?.view ?? 0, durable.entries);
    this.s = new ReplicaState(settings.replica, settings, createMachine, {
      view: durable.view,
      logView: durable.logView,
      log,
      snapshot,
      // D5: only the snapshot is known committed; the log after it waits for the view to decide.
      machine: createMachine(snapshot === null ? null : snapshot.machine),
      clientTable: new ClientTable<R>(settings, snapshot?.clientTable ?? null),
      disk: new Durability<R>({ view: durable.view, logView: durable.logView, damaged: durable.damaged }, log.op),
      damaged: durable.damaged,
    });
    this.rejoin();
  }

  /** D4: a primary of its log view must not resume (it may have sent PREPAREs it never persisted
   *  and would reuse their op numbers): it starts a view change to the next view. This applies to
   *  a freshly formatted replica 0 too — it cannot tell "never ran" from "crashed before its first
   *  fsync". A backup of its log view resumes; anyone else rejoins the view change for its view.
   *  A damaged replica does none of these: it votes in nothing until repaired (state-transfer.ts). */
  private rejoin(): void {
    const s = this.s;
    s.rebuildInFlight();
    if (s.damaged) rejoinDamaged(s);
    else if (s.logView === s.view && s.primaryOf(s.view) === s.id) startViewChange(s, s.view + 1, 'restarted as primary of its log view (D4)');
    else if (s.logView === s.view) becomeBackup(s);
    else {
      s.logLine('info', 'view change: rejoining after restart', { logView: s.logView });
      enterViewChange(s);
    }
  }

  /** Once, right after construction: the effects of rejoining the cluster. */
  start(): CoreEffect<C, R, E>[] {
    assert.ok(!this.started, 'start() is called once');
    this.started = true;
    return this.step(() => {});
  }

  /** A message from a peer (driver duty 4). Malformed messages are logged and dropped. */
  onMessage(message: ReplicationMessage<C, R>): CoreEffect<C, R, E>[] {
    return this.step(() => this.dispatch(message));
  }

  /** Part of a message from replica `from` has arrived, the rest is on its way (driver duty 4). */
  onReceiving(from: ReplicaId): CoreEffect<C, R, E>[] {
    return this.step(() => onReceiving(this.s, from));
  }

  /** A client request (VRR §4.1 step 1). */
  onRequest(request: ClientRequest<C>): CoreEffect<C, R, E>[] {
    return this.step(() => onRequest(this.s, request));
  }

  /** Persist records up to `seq` are durable (driver duty 2). */
  onPersisted(seq: number): CoreEffect<C, R, E>[] {
    return this.step(() => {
      for (const snapshot of this.s.disk.onPersisted(seq)) onSnapshotDurable(this.s, snapshot);
    });
  }

  /** Logical time (driver duty 6). */
  tick(): CoreEffect<C, R, E>[] {
    return this.step(() => this.onTick());
  }

  /** The end of a burst of inputs (driver duty 7): admitted requests leave as one batch. */
  flush(): CoreEffect<C, R, E>[] {
    return this.step(() => flush(this.s));
  }

  statusReport(): ReplicaStatusReport {
    const s = this.s;
    return {
      replica: s.id,
      status: s.status,
      view: s.view,
      logView: s.logView,
      primary: s.primaryOf(s.view),
      isPrimary: s.primary !== null,
      op: s.log.op,
      commit: s.commit,
      executed: s.executed,
      readsCurrent: s.primary !== null && s.executed >= s.primary.startOp,
      damaged: s.damaged || s.disk.damaged,
    };
  }

  /** The executed state, for read-only queries and checkers. */
  stateMachine(): StateMachine<C, R, E> {
    return this.s.machine;
  }

  invariants(): void {
    checkInvariants(this.s);
  }

  private step(handler: () => void): CoreEffect<C, R, E>[] {
    assert.ok(this.started, 'start() must be called before any other input');
    handler();
    this.progress();
    checkInvariants(this.s);
    const effects = this.s.out;
    this.s.out = [];
    return effects;
  }

  /** Whatever the replica's durable state now allows it to send or decide (D1–D3). */
  private progress(): void {
    const s = this.s;
    sendStartViewChange(s);
    sendDoViewChange(s);
    completeViewChange(s);
    sendStartView(s);
    commitAsPrimary(s);
    sendPrepareOk(s);
  }

  private dispatch(message: ReplicationMessage<C, R>): void {
    const s = this.s;
    const problem = messageProblem(message, s.replicaCount);
    if (problem !== null) return s.logLine('warn', 'ignoring malformed message', { reason: problem });
    if (message.from === s.id) return s.logLine('warn', 'ignoring message', { reason: 'claims to be from this replica', type: message.type });
    if (FROM_PRIMARY.has(message.type) && message.from !== s.primaryOf(message.view)) {
      return s.logLine('warn', `ignoring ${message.type}`, { reason: 'not from the primary of its view', from: message.from });
    }
    switch (message.type) {
      case 'prepare':
        return onPrepare(s, message);
      case 'prepare-ok':
        return onPrepareOk(s, message);
      case 'commit':
        return onCommit(s, message);
      case 'alive':
        return onAlive(s, message);
      case 'start-view-change':
        return onStartViewChange(s, message);
      case 'do-view-change':
        return onDoViewChange(s, message);
      case 'start-view':
        return onStartView(s, message);
      case 'get-state':
        return onGetState(s, message);
      case 'new-state':
        return onNewState(s, message);
      case 'get-log':
        return onGetLog(s, message);
      case 'log-suffix':
        return onLogSuffix(s, message);
    }
  }

  private onTick(): void {
    const s = this.s;
    takeDeferredSnapshot(s);
    if (s.primary !== null) {
      if (s.primary.commitTimeout.tick()) onCommitTimeout(s);
      if (s.primary !== null) onPrimaryRejoinTick(s);
      if (s.primary !== null) onQuorumTick(s);
    } else if (s.backup !== null) {
      if (s.backup.repairTimeout?.tick()) s.backup.repairTimeout = null;
      if (s.backup.primaryTimeout.tick()) onPrimaryTimeout(s);
    } else if (s.viewChange !== null) {
      if (s.viewChange.viewChangeTimeout.tick()) onViewChangeTimeout(s);
      else if (s.viewChange.resendTimeout.tick()) onViewChangeResendTimeout(s);
    } else if (s.transfer !== null) {
      if (s.transfer.primaryTimeout.tick()) onTransferPrimaryTimeout(s);
      else if (s.transfer.resendTimeout.tick()) onStateResendTimeout(s);
    }
    if (s.aliveTimeout.tick()) sendAlive(s);
  }
}
