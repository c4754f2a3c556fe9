// A snapshot-carrying message framed around the snapshot's JSON as the store wrote it must
// decode to exactly the message, as if encoded whole.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { carriesSnapshot, frameWithSnapshotJson } from '../../../lib/server/snapshot-frames.js';
import { jsonChunks } from '../../../lib/storage/json-chunks.js';
import { encodeJsonFrame, FrameDecoder } from '../../../lib/transport/frame.js';

const snapshot = { op: 40, view: 3, clientTable: { c1: { requestNumber: 2, op: 39, reply: { ok: true } } }, machine: { mailboxes: { bob: ['héllo ✓', 'a "quoted" \\ text'] } } };
const message = { type: 'new-state', view: 4, from: 1, after: 7, snapshot, entries: [{ op: 41, view: 4, clientId: 'c1', requestNumber: 3, command: { kind: 'send', text: 'x' } }], op: 41, commit: 40, startOp: 41 };

function decode(frame: Buffer): unknown[] {
  const decoder = new FrameDecoder(1 << 20);
  return decoder.push(frame).map((body) => JSON.parse(body.toString('utf8')));
}

test('a frame built around the stored snapshot JSON decodes to the message, like encodeJsonFrame', () => {
  const stored = Buffer.from([...jsonChunks(snapshot)].join(''), 'utf8');
  const frame = frameWithSnapshotJson(message, stored);
  assert.deepEqual(decode(frame), [message]);
  assert.deepEqual(decode(frame), decode(encodeJsonFrame(message)));
});

test('which messages carry a snapshot: NEW-STATE and LOG-SUFFIX with one, nothing else', () => {
  assert.equal(carriesSnapshot(message), true);
  assert.equal(carriesSnapshot({ ...message, type: 'log-suffix' }), true);
  assert.equal(carriesSnapshot({ ...message, snapshot: null }), false);
  assert.equal(carriesSnapshot({ type: 'prepare', snapshot: snapshot }), false);
});
