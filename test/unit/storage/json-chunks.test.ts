import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jsonChunks } from '../../../lib/storage/json-chunks.js';

function joined(value: unknown): string {
  return [...jsonChunks(value)].join('');
}

test('the pieces concatenate to exactly JSON.stringify of the value', () => {
  const nullPrototype = Object.assign(Object.create(null) as object, { a: 1 });
  const values: unknown[] = [
    null, 0, -1.5, 'text with "quotes", \\ and \u0001 and 😀', true, [], {},
    { op: 3, view: 1, clientTable: { c1: { requestNumber: 2, reply: null, op: 3 } }, machine: { nested: { deeper: { deepest: [1, { x: [] }] } } } },
    { skipped: undefined, fn: () => 1, kept: 1, inArray: [undefined, () => 1, Symbol('s'), 2] },
    { when: new Date(0), custom: { toJSON: () => 'custom' }, boxed: new Number(4), nullPrototype },
    Array.from({ length: 300 }, (_, i) => ({ id: i, list: Array.from({ length: i % 5 }, (_, j) => `m${j}`) })),
    { wide: Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`key${i}`, { deep: { deeper: { value: i } } }])) },
  ];
  for (const value of values) assert.equal(joined(value), JSON.stringify(value));
});

test('a large collection deep in the state is cut into pieces, none much bigger than the gathering size', () => {
  const message = (id: number) => ({ id, from: 'alice', to: 'bob', text: 'y'.repeat(200), at: id });
  const state = {
    op: 10, view: 2, clientTable: {},
    machine: { mailboxes: { bob: { messages: Array.from({ length: 2000 }, (_, i) => message(i)) } } },
  };
  const pieces = [...jsonChunks(state)];
  assert.equal(pieces.join(''), JSON.stringify(state));
  const whole = JSON.stringify(state).length;
  const largest = Math.max(...pieces.map((piece) => piece.length));
  assert.ok(largest <= 64 * 1024 + JSON.stringify(message(1999)).length + 1, `largest piece ${largest} of ${whole} chars`);
  assert.ok(pieces.length >= whole / (64 * 1024), `${pieces.length} pieces`);
});
