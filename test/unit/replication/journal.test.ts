// recover(): from the records storage read back to the durable state a replica starts from
// (driver duty 8; disk rules D3, D5–D7).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { emptyDurableState, recover } from '../../../lib/replication/journal.js';
import { Replica } from '../../../lib/replication/replica.js';
import type { LoadedJournal, LogEntry, Snapshot } from '../../../lib/replication/types.js';
import { toyMachine } from './harness.js';

type Journal = LoadedJournal<string, number>;

function entries(first: number, last: number, view = 1): LogEntry<string>[] {
  return Array.from({ length: last - first + 1 }, (_, i) => ({ op: first + i, view, clientId: 'c', owner: 'o', requestNumber: first + i, at: 0, command: `m${first + i}` }));
}

function snapshot(op: number, view = 1): Snapshot<number> {
  return { op, view, clientTable: {}, machine: null };
}

const ops = (state: { entries: LogEntry<string>[] }) => state.entries.map((e) => `${e.op}@${e.view}`);

test('an empty journal is a freshly formatted replica: view 0, empty log', () => {
  assert.deepEqual(recover({ view: null, snapshot: null, log: [] }), emptyDurableState());
});

test('appends replay in order', () => {
  const journal: Journal = { view: { view: 2, logView: 2, damaged: false }, snapshot: null, log: [{ kind: 'entries', entries: entries(1, 3) }, { kind: 'entries', entries: entries(4, 5) }] };
  const state = recover(journal);
  assert.deepEqual([state.view, state.logView], [2, 2]);
  assert.deepEqual(ops(state), ['1@1', '2@1', '3@1', '4@1', '5@1']);
});

test('a replace drops the suffix above `after` and appends its entries (a view change or state transfer)', () => {
  const journal: Journal = {
    view: { view: 3, logView: 3, damaged: false },
    snapshot: null,
    log: [{ kind: 'entries', entries: entries(1, 5) }, { kind: 'replace', after: 3, entries: entries(4, 4, 2) }, { kind: 'entries', entries: entries(5, 6, 3) }],
  };
  assert.deepEqual(ops(recover(journal)), ['1@1', '2@1', '3@1', '4@2', '5@3', '6@3']);
});

test('with a snapshot: entries at or below its op are folded in, a straddling record is cut', () => {
  const journal: Journal = { view: { view: 1, logView: 1, damaged: false }, snapshot: snapshot(4), log: [{ kind: 'entries', entries: entries(3, 6) }, { kind: 'entries', entries: entries(7, 7) }] };
  const state = recover(journal);
  assert.equal(state.snapshot?.op, 4);
  assert.deepEqual(ops(state), ['5@1', '6@1', '7@1']);
});

test('with a snapshot installed by state transfer: old records below it, then a replace after it', () => {
  const journal: Journal = {
    view: { view: 5, logView: 5, damaged: false },
    snapshot: snapshot(100, 4),
    log: [{ kind: 'entries', entries: entries(1, 10) }, { kind: 'replace', after: 100, entries: entries(101, 102, 5) }],
  };
  assert.deepEqual(ops(recover(journal)), ['101@5', '102@5']);
});

test('a replace written before the snapshot may cut below it; the snapshot covers that part', () => {
  const journal: Journal = {
    view: { view: 2, logView: 2, damaged: false },
    snapshot: snapshot(5),
    log: [{ kind: 'entries', entries: entries(1, 8) }, { kind: 'replace', after: 3, entries: entries(4, 7, 2) }],
  };
  assert.deepEqual(ops(recover(journal)), ['6@2', '7@2']);
});

test('a gap in the log is refused with a clear error (D6: never vote with a damaged log)', () => {
  const journal: Journal = { view: { view: 1, logView: 1, damaged: false }, snapshot: null, log: [{ kind: 'entries', entries: entries(1, 2) }, { kind: 'entries', entries: entries(4, 5) }] };
  assert.throws(() => recover(journal), /op 4 does not continue the log at 2/);
});

test('a log view ahead of the view is refused', () => {
  assert.throws(() => recover({ view: { view: 1, logView: 2, damaged: false }, snapshot: null, log: [] }), /log view 2 is ahead of view 1/);
});

test('old entries before a snapshot install are not compared with the snapshot once a replace removed them (sim seed 2387)', () => {
  const journal: Journal = {
    view: { view: 3, logView: 3, damaged: false },
    snapshot: snapshot(16, 3),
    log: [{ kind: 'entries', entries: entries(1, 17, 1) }, { kind: 'replace', after: 16, entries: [] }, { kind: 'entries', entries: entries(17, 18, 3) }],
  };
  assert.deepEqual(ops(recover(journal)), ['17@3', '18@3']);
});

test('a crash between the snapshot and replace records of an install leaves the older log above the snapshot, kept', () => {
  const journal: Journal = { view: { view: 3, logView: 1, damaged: false }, snapshot: snapshot(16, 3), log: [{ kind: 'entries', entries: entries(1, 18, 1) }] };
  const state = recover(journal);
  assert.deepEqual(ops(state), ['17@1', '18@1'], 'D3: nothing is dropped before its replacement is durable');
  assert.equal(state.logView, 1, 'and it is reported with the old log view');
});

test('a replica starts from that state and rejoins the view change with its old log view', () => {
  const state = recover<string, number>({ view: { view: 3, logView: 1, damaged: false }, snapshot: snapshot(16, 3), log: [{ kind: 'entries', entries: entries(1, 18, 1) }] });
  const replica = new Replica({ replica: 1, replicaCount: 3 }, state, toyMachine);
  replica.start();
  assert.deepEqual(replica.statusReport(), { replica: 1, status: 'view-change', view: 3, logView: 1, primary: 0, isPrimary: false, op: 18, commit: 16, executed: 16, readsCurrent: false, damaged: false });
});

test('a crash after a replace of a newer view was durable, before its view record was: the replica resumes in that view, with its old log view (sim seed 853, FINDINGS F7)', () => {
  // In view 1 (log view 0) it took the log of view 2 from a START-VIEW of view 3: the replace
  // landed, the view record {view 3, logView 3} after it did not.
  const journal: Journal = { view: { view: 1, logView: 0, damaged: false }, snapshot: null, log: [{ kind: 'replace', after: 0, entries: entries(1, 2, 2) }] };
  const state = recover(journal);
  assert.deepEqual(ops(state), ['1@2', '2@2'], 'the log as written');
  assert.equal(state.view, 2, 'entries of view 2 prove view 2 began: the replica resumes there');
  assert.equal(state.logView, 0, 'but reports its log with the log view it recorded');
  const replica = new Replica({ replica: 1, replicaCount: 3 }, state, toyMachine);
  replica.start();
  replica.invariants();
  assert.equal(replica.statusReport().status, 'view-change', 'and rejoins the view change (D4)');
});
