// The replica's tunables, with defaults for a 10 ms tick (`tickMs` in the cluster configuration,
// lib/server/config.ts). Failover target: median ≤ 500 ms from a primary's death to the next
// committed op, so a backup gives up on a silent primary after ~200 ms, and a view change that
// stalls (the next primary is dead too) gives way to the next view after as long again —
// provided f + 1 replicas took part in it; a replica that timed out alone stays in its view and
// asks again (view-change.ts, scenario 6).

import assert from 'node:assert/strict';
import type { MessageLimit } from './log.js';
import type { ReplicaId } from './types.js';

export interface ReplicaOptions {
  /** This replica's id, 0 .. replicaCount-1. */
  replica: ReplicaId;
  /** N = 2f + 1 (1, 3, 5, 7 all work; N = 1 commits on its own fsync). */
  replicaCount: number;
  /** The primary sends COMMIT (the heartbeat) this often, and each backup (or replica catching
   *  up) sends ALIVE to its primary (check-quorum, normal.ts); view-change messages are resent
   *  this often too. Default 5 ticks. */
  heartbeatTicks?: number;
  /** A backup starts a view change after this many ticks without hearing from its primary. A view
   *  change that has not completed after this many ticks (doubled for each view change in a row
   *  that failed, up to 8 times) moves on to the next view if f + 1 replicas took part in it, and
   *  otherwise stays in its view and asks again (view-change.ts, scenario 6). It also bounds how
   *  long a primary serves without hearing a majority: one that has heard from fewer than f other
   *  replicas of its view (ALIVE or PREPARE-OK) for this many ticks steps down (check-quorum,
   *  normal.ts). Each replica waits `replica` ticks longer than this, so backups do not all fire
   *  at once. Default 20. */
  viewChangeTimeoutTicks?: number;
  /** Entries per PREPARE (and per `entries` persist record). Default 256. */
  batchEntriesMax?: number;
  /** Ops admitted but not yet committed before the primary answers BUSY. Default 1024. */
  pipelineOpsMax?: number;
  /** Rows in the client table. A register that finds it full evicts a row that never executed
   *  a request, else one idle for clientIdleEvictMs, else is refused (client-table.ts). Default
   *  10 000. */
  clientTableMax?: number;
  /** How long, by entry times, a client must have executed nothing before a register may evict
   *  it (0: any row). Default one hour: far longer than a connector retries one request
   *  (30 s), so an evicted client has nothing in doubt — its next request is refused
   *  SESSION_EXPIRED on its first send and it registers again — while a flood of registrations
   *  cannot push out a client that is in use. */
  clientIdleEvictMs?: number;
  /** Consider a snapshot at every op that is a multiple of this (0 = never). Default 10 000. */
  snapshotEveryOps?: number;
  /** ...and, if the state machine reports its size(), take it only once the ops since the last
   *  one came due reach this fraction of that size (0 = ignore the size: one at every multiple).
   *  Each snapshot writes the whole state, so with a fixed spacing their cost per op grows with
   *  the state; spaced by its size it stays constant. Default 0.25: at 1,000,000 stored
   *  messages, a snapshot every 250,000 ops, and at most that many in the log. */
  snapshotStateRatio?: number;
  /** Entries in one DO-VIEW-CHANGE, START-VIEW or NEW-STATE. Default 2000. */
  messageEntriesMax?: number;
  /** Estimated JSON bytes of entries in one such message (at least one entry is always sent).
   *  Default 4 MiB. */
  messageBytesMax?: number;
}

export type Settings = Required<ReplicaOptions> & { messageLimit: MessageLimit };

export function settingsFrom(options: ReplicaOptions): Settings {
  const settings = {
    heartbeatTicks: 5,
    viewChangeTimeoutTicks: 20,
    batchEntriesMax: 256,
    pipelineOpsMax: 1024,
    clientTableMax: 10_000,
    clientIdleEvictMs: 60 * 60 * 1000,
    snapshotEveryOps: 10_000,
    snapshotStateRatio: 0.25,
    messageEntriesMax: 2000,
    messageBytesMax: 4 * 1024 * 1024,
    ...withoutUndefined(options),
  };
  const { replica, replicaCount } = settings;
  assert.ok(Number.isInteger(replicaCount) && replicaCount >= 1 && replicaCount % 2 === 1, 'replicaCount must be odd: N = 2f + 1');
  assert.ok(Number.isInteger(replica) && replica >= 0 && replica < replicaCount, 'replica must be in 0 .. replicaCount-1');
  const positive = ['heartbeatTicks', 'viewChangeTimeoutTicks', 'batchEntriesMax', 'pipelineOpsMax', 'clientTableMax', 'messageEntriesMax', 'messageBytesMax'] as const;
  for (const name of positive) {
    assert.ok(Number.isInteger(settings[name]) && settings[name] >= 1, `${name} must be a positive integer`);
  }
  for (const name of ['snapshotEveryOps', 'clientIdleEvictMs'] as const) {
    assert.ok(Number.isSafeInteger(settings[name]) && settings[name] >= 0, `${name} must be 0 or more`);
  }
  assert.ok(Number.isFinite(settings.snapshotStateRatio) && settings.snapshotStateRatio >= 0, 'snapshotStateRatio must be 0 or more');
  assert.ok(settings.heartbeatTicks < settings.viewChangeTimeoutTicks, 'heartbeats must come more often than the view-change timeout');
  return { ...settings, messageLimit: { entriesMax: settings.messageEntriesMax, bytesMax: settings.messageBytesMax } };
}

function withoutUndefined(options: ReplicaOptions): ReplicaOptions {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as unknown as ReplicaOptions;
}
