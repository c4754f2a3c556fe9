// What the chat state costs to snapshot, ship and restore at scale, in one process, on the real
// code (lib/chat/snapshot.ts, lib/storage/json-chunks.ts). The cluster bench shows that start-up,
// catch-up and (under load) view changes get slow as the state grows; this says which step costs
// what, so that docs/performance.md can point at it. Not a test: it asserts nothing.
//
//   node dist/test/bench/state-costs.js [--messages 1000000]
//
// Each step is what some code path does with the whole state, synchronously unless noted:
//   decode        ChatMachine.fromSnapshot — start-up and snapshot install (after JSON.parse)
//   encode        machine.snapshot() — takeSnapshot, every snapshotEveryOps ops, on every replica
//   chunks        jsonChunks joined — the snapshot writer (async between 64 KiB pieces)
//   stringify     JSON.stringify of a NEW-STATE carrying the snapshot — encodeJsonFrame, one block
//   parse         JSON.parse of that text — the receiving replica, and start-up
//   clone         structuredClone(snapshot.machine) — Replica constructor and installSnapshot

import { parseArgs } from 'node:util';
import { ChatMachine } from '../../lib/chat/machine.js';
import { jsonChunks } from '../../lib/storage/json-chunks.js';
import { seedState } from './seed.js';

const { values } = parseArgs({ options: { messages: { type: 'string', default: '1000000' } } });
const MESSAGES = Number(values.messages);

function timed<T>(what: string, out: Record<string, number>, run: () => T): T {
  const start = performance.now();
  const value = run();
  out[`${what}_ms`] = Math.round(performance.now() - start);
  return value;
}

const results: Record<string, number> = { messages: MESSAGES };
const seeded = seedState(MESSAGES, 200); // the bench's seeded state: 256 accounts, 200-byte texts
const machine = timed('decode', results, () => ChatMachine.fromSnapshot(seeded));
const encoded = timed('encode', results, () => machine.snapshot());
const chunks = timed('chunks', results, () => {
  let chars = 0;
  for (const piece of jsonChunks({ op: MESSAGES, view: 1, clientTable: {}, machine: encoded })) chars += piece.length;
  return chars;
});
results.snapshot_mb = Math.round(chunks / 1048576);
const text = timed('stringify', results, () => JSON.stringify({ type: 'new-state', view: 1, from: 0, snapshot: { op: MESSAGES, view: 1, clientTable: {}, machine: encoded }, entries: [] }));
const parsed = timed('parse', results, () => JSON.parse(text) as { snapshot: { machine: unknown } });
timed('clone', results, () => structuredClone(parsed.snapshot.machine));
timed('decode_parsed', results, () => ChatMachine.fromSnapshot(parsed.snapshot.machine));
results.heap_mb = Math.round(process.memoryUsage().heapUsed / 1048576);
console.log(JSON.stringify(results));
