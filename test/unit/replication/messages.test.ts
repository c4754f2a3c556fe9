// A peer's message is input: a malformed one is logged and dropped, never thrown on.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { messageProblem } from '../../../lib/replication/messages.js';
import { Cluster, type Message } from './harness.js';

const entry = (op: number, view = 1) => ({ op, view, clientId: 'c', owner: 'o', requestNumber: op, at: 0, command: 'x' });

test('messageProblem names what is wrong with a malformed message', () => {
  const cases: Array<[unknown, RegExp]> = [
    [null, /not an object/],
    [{ type: 'prepare', view: -1, from: 0 }, /view/],
    [{ type: 'prepare', view: 1, from: 7, entries: [entry(1)], commit: 0 }, /from/],
    [{ type: 'nonsense', view: 1, from: 0 }, /unknown message type/],
    [{ type: 'prepare', view: 1, from: 1, entries: [], commit: 0 }, /without entries/],
    [{ type: 'prepare', view: 1, from: 1, entries: [entry(1), entry(3)], commit: 0 }, /dense/],
    [{ type: 'prepare', view: 1, from: 1, entries: [entry(1, 2)], commit: 0 }, /at most the message view/],
    [{ type: 'prepare', view: 2, from: 2, entries: [entry(1, 2), entry(2, 1)], commit: 0 }, /decrease/],
    [{ type: 'prepare', view: 1, from: 1, entries: [{ ...entry(1), owner: undefined }], commit: 0 }, /no owner or time/],
    [{ type: 'prepare', view: 1, from: 1, entries: [{ ...entry(1), at: -1 }], commit: 0 }, /no owner or time/],
    [{ type: 'prepare-ok', view: 1, from: 0, op: 'x' }, /op/],
    [{ type: 'do-view-change', view: 2, from: 0, logView: 2, op: 0, commit: 0, entries: [] }, /log view/],
    [{ type: 'start-view', view: 2, from: 2, op: 1, commit: 2, entries: [] }, /commit > op/],
    [{ type: 'start-view', view: 2, from: 2, op: 1, commit: 0, entries: [entry(1), entry(2)] }, /fits below op/],
    [{ type: 'new-state', view: 1, from: 1, after: 3, snapshot: { op: 2, view: 1, clientTable: {}, machine: null }, entries: [], op: 5, commit: 5, startOp: 0 }, /snapshot does not reach/],
    [{ type: 'new-state', view: 1, from: 1, after: 0, snapshot: null, entries: [entry(1), entry(2)], op: 1, commit: 1, startOp: 0 }, /reach past op/],
    [{ type: 'new-state', view: 1, from: 1, after: 0, snapshot: null, entries: [], op: 1, commit: 1, startOp: 2 }, /start op/],
    [{ type: 'get-log', view: 2, from: 2, logView: 2, op: 5, after: 1 }, /log view/],
    [{ type: 'get-log', view: 2, from: 2, logView: 1, op: 5, after: 5 }, /after is not a count below op/],
    [{ type: 'log-suffix', view: 2, from: 0, logView: 1, op: 2, after: 0, snapshot: null, entries: [entry(1), entry(2), entry(3)] }, /reach past op/],
    [{ type: 'log-suffix', view: 2, from: 0, logView: 1, op: 5, after: 3, snapshot: { op: 2, view: 1, clientTable: {}, machine: null }, entries: [] }, /snapshot does not reach/],
    [{ type: 'log-suffix', view: 2, from: 0, logView: 1, op: 5, after: 1, snapshot: { op: 6, view: 1, clientTable: {}, machine: null }, entries: [] }, /snapshot reaches past op/],
    [{ type: 'log-suffix', view: 2, from: 0, logView: 1, op: 5, after: 1, snapshot: { op: 3, view: 1, clientTable: {}, machine: null }, entries: [entry(3)] }, /dense/],
  ];
  for (const [message, problem] of cases) assert.match(messageProblem(message, 3) ?? 'ok', problem, JSON.stringify(message));
  assert.equal(messageProblem({ type: 'prepare', view: 1, from: 1, entries: [entry(4), entry(5)], commit: 3 }, 3), null);
  assert.equal(messageProblem({ type: 'start-view', view: 2, from: 2, op: 9, commit: 8, entries: [entry(8), entry(9)] }, 3), null);
  assert.equal(messageProblem({ type: 'get-log', view: 2, from: 2, logView: 1, op: 9, after: 4 }, 3), null);
  assert.equal(messageProblem({ type: 'log-suffix', view: 2, from: 0, logView: 1, op: 9, after: 4, snapshot: null, entries: [entry(5), entry(6)] }, 3), null);
  assert.equal(messageProblem({ type: 'log-suffix', view: 2, from: 0, logView: 1, op: 9, after: 4, snapshot: { op: 6, view: 1, clientTable: {}, machine: null }, entries: [entry(7)] }, 3), null);
});

test('a replica logs and drops a malformed or misattributed message instead of throwing', () => {
  const cluster = new Cluster(3);
  const primary = cluster.settle();
  const backup = (primary + 1) % 3;
  const view = cluster.replica(primary).statusReport().view;
  const garbage = [
    { type: 'prepare', view, from: primary, entries: 'lots', commit: 0 },
    { type: 'prepare', view, from: backup === 0 ? 2 : 0, entries: [entry(1, view)], commit: 0 },
    { type: 'commit', view, from: backup, commit: 0 },
  ] as unknown as Message[];
  for (const message of garbage) {
    const effects = cluster.replica(backup).onMessage(message);
    assert.ok(effects.some((e) => e.type === 'log' && e.level === 'warn'), JSON.stringify(message));
    assert.ok(!effects.some((e) => e.type === 'send' || e.type === 'broadcast' || e.type === 'persist'));
  }
});
