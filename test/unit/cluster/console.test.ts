import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConsoleCommand, renderTable } from '../../../lib/cluster/console.js';
import type { ReplicaSlot } from '../../../lib/cluster/launcher.js';

test('console commands parse, and mistakes say what is wrong', () => {
  assert.deepEqual(parseConsoleCommand('kill 2', 5), { kind: 'kill', id: 2 });
  assert.deepEqual(parseConsoleCommand('  start 0 ', 5), { kind: 'start', id: 0 });
  assert.deepEqual(parseConsoleCommand('partition 4', 5), { kind: 'partition', id: 4 });
  assert.deepEqual(parseConsoleCommand('heal', 5), { kind: 'heal', id: null });
  assert.deepEqual(parseConsoleCommand('heal 1', 5), { kind: 'heal', id: 1 });
  assert.deepEqual(parseConsoleCommand('quit', 5), { kind: 'quit' });
  assert.deepEqual(parseConsoleCommand('', 5), { kind: 'empty' });
  assert.match((parseConsoleCommand('kill', 5) as { message: string }).message, /needs a replica id/);
  assert.match((parseConsoleCommand('kill 5', 5) as { message: string }).message, /ids are 0..4/);
  assert.match((parseConsoleCommand('kill x', 5) as { message: string }).message, /no replica "x"/);
  assert.match((parseConsoleCommand('dance', 5) as { message: string }).message, /unknown command/);
  assert.match((parseConsoleCommand('status now', 5) as { message: string }).message, /takes no argument/);
});

test('the table shows role, view, op, commit and lag for each replica', () => {
  const up = (id: number, isPrimary: boolean, commit: number): ReplicaSlot => ({
    id, process: {} as ReplicaSlot['process'], partitioned: false, exit: null,
    status: { replica: id, status: 'normal', view: 3, logView: 3, primary: 0, isPrimary, op: 12, commit, executed: commit, readsCurrent: isPrimary, damaged: false, peersUp: [1, 2], clients: isPrimary ? 2 : 0, accepted: isPrimary ? 5 : 0 },
  });
  const down: ReplicaSlot = { id: 2, process: null, status: null, partitioned: false, exit: 'killed by SIGKILL' };
  const table = renderTable([up(0, true, 12), up(1, false, 9), down]);
  const lines = table.split('\n');
  assert.equal(lines.length, 4);
  assert.match(lines[1]!, /^0\s+up\s+primary\s+normal\s+3\s+12\s+12\s+0\s+2\s+2$/);
  assert.match(lines[2]!, /^1\s+up\s+backup\s+normal\s+3\s+12\s+9\s+3\s+2\s+0$/);
  assert.match(lines[3]!, /^2\s+down\s+-\s+killed by SIGKILL/);
});
