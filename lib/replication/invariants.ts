// What must hold of a replica between any two steps. Checked after every input (TigerBeetle's
// invariants()); a failure is a bug in the core, so it throws. Kept O(1) in the log's length so
// the simulator can afford it on every step; the Log asserts its own shape on every mutation.

import assert from 'node:assert/strict';
import type { ReplicaState } from './state.js';

export function checkInvariants<C, R, E>(s: ReplicaState<C, R, E>): void {
  // Numbers along the log.
  assert.ok(s.log.base <= s.executed, 'the snapshot base is executed');
  assert.ok(s.executed <= s.commit, 'only committed ops are executed');
  assert.ok(s.commit <= s.log.op, 'the commit number is within the log');
  assert.equal(s.log.base, s.snapshot?.op ?? 0, 'the log stands on its snapshot');
  assert.ok(s.snapshotOp >= s.log.base && s.snapshotOp <= s.executed, 'snapshots are taken of executed state');
  assert.ok(s.log.lastView <= s.view, 'no entry is from a view after ours');
  assert.ok(s.clientTable.size <= s.settings.clientTableMax, 'the client table is bounded');

  // Views (D2/D3).
  assert.ok(s.logView <= s.view, 'the log view never passes the view');
  assert.ok(s.disk.view <= s.view && s.disk.logView <= s.disk.view, 'the durable view record trails the view');
  assert.ok(s.disk.durable <= s.disk.issued, 'nothing is durable before it is issued');
  assert.ok(s.disk.op <= s.log.op, 'the durable log prefix is within the log');

  // Status and the state each status owns.
  const isPrimaryOfView = s.primaryOf(s.view) === s.id;
  assert.equal(s.primary !== null, s.status === 'normal' && isPrimaryOfView, 'primary state exists only on the normal primary');
  assert.equal(s.backup !== null, s.status === 'normal' && !isPrimaryOfView, 'backup state exists only on normal backups');
  assert.equal(s.viewChange !== null, s.status === 'view-change', 'view-change state exists only in view-change');
  assert.equal(s.transfer !== null, s.status === 'recovering', 'transfer state exists only while recovering');
  if (s.status === 'normal') assert.equal(s.logView, s.view, 'a normal replica holds the log of its view');
  else assert.ok(s.logView < s.view || s.damaged, 'a replica not yet normal in its view holds an older log (or a damaged one)');
  // A damaged replica votes in nothing (state-transfer.ts): no status but recovering gives it the
  // state to send PREPARE-OK, DO-VIEW-CHANGE or START-VIEW from.
  if (s.damaged) assert.equal(s.status, 'recovering', 'a damaged replica only fetches a log');

  if (s.primary !== null) {
    const pending = s.primary.pending;
    const continues = pending.length === 0 || (pending[0]!.op === s.log.op + 1 && pending.at(-1)!.op === s.log.op + pending.length);
    assert.ok(continues, 'the pending batch continues the log');
    assert.ok(pending.every((entry) => entry.view === s.view), 'the primary admits in its own view');
    assert.ok(!s.primary.startViewSent || s.viewDurable(), 'START-VIEW only after the view record is durable');
    for (const acked of s.primary.acks.values()) assert.ok(acked <= s.log.op, 'acks are for prepared ops');
    const { heardFrom } = s.primary;
    assert.ok(heardFrom.size < s.f || heardFrom.size === 0, 'check-quorum: the heard-from set is cleared once it reaches f');
    assert.ok(!heardFrom.has(s.id), 'check-quorum: a primary does not count itself');
  }
  if (s.backup !== null) assert.ok(s.backup.ackedOp <= s.log.op, 'a backup acknowledges only ops it holds');
  const fetch = s.viewChange?.logFetch ?? null;
  if (fetch !== null) {
    assert.equal(s.primaryOf(s.view), s.id, 'only the new primary fetches the chosen log');
    assert.notEqual(fetch.from, s.id, 'the new primary holds its own log');
    assert.ok(fetch.after >= s.commit && fetch.after <= s.log.op, 'the fetch continues what our log agrees on');
    assert.ok(fetch.after < fetch.through && fetch.through <= fetch.op, 'the fetch is for the prefix below the chosen tail');
    const start = fetch.snapshot?.op ?? fetch.after;
    assert.ok(start >= fetch.after && start <= fetch.op, 'a fetched snapshot lies in the chosen log');
    const last = fetch.entries.at(-1);
    assert.ok(last === undefined || (fetch.entries[0]!.op === start + 1 && last.op === start + fetch.entries.length), 'fetched entries are dense after the snapshot or `after`');
  }
  if (s.transfer !== null) assert.ok(s.transfer.after === s.commit, 'a catching-up replica keeps its commit number');
  const unexecuted = s.log.op - s.executed + (s.primary?.pending.length ?? 0);
  assert.ok(s.inFlight.size <= unexecuted, 'every request in flight is in the log or the batch');
}
