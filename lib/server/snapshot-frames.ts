// Messages that carry a snapshot (NEW-STATE, LOG-SUFFIX) without encoding it on the event loop.
//
// A snapshot of a large cluster is tens to hundreds of MB of JSON. Encoding it with one
// JSON.stringify blocks the replica for as long (0.5–1.5 s at a million messages): a primary
// answering a catching-up replica fell silent, its backups timed out, and the new primary was
// asked for the same snapshot — view-change storms that kept a replica from ever catching up.
// The store already wrote that snapshot's JSON to disk, in slices across event-loop turns. So
// the replica server reads those bytes back (asynchronously, checksum verified) and frames the
// message around them: only the small rest of the message is encoded here.

import assert from 'node:assert/strict';
import { allocateFrame, FRAME_HEADER_BYTES } from '../transport/frame.js';

/** A message with a snapshot to send; `snapshot` is replaced by the JSON bytes given. */
export interface SnapshotMessage {
  type: string;
  /** The op the asker's log ends at (NEW-STATE, LOG-SUFFIX): tells one request from another. */
  after: number;
  snapshot: { op: number } | null;
}

export function carriesSnapshot(message: { type: string; snapshot?: unknown }): message is SnapshotMessage & { snapshot: { op: number } } {
  return (message.type === 'new-state' || message.type === 'log-suffix') && typeof message.snapshot === 'object' && message.snapshot !== null;
}

/** The frame for `message` with its `snapshot` field spelled by `snapshotJson` — the JSON of that
 *  same snapshot, as the store wrote it. Decodes to what encodeJsonFrame(message) would. */
export function frameWithSnapshotJson(message: SnapshotMessage, snapshotJson: Buffer): Buffer {
  const { snapshot: _snapshot, ...rest } = message;
  const head = JSON.stringify(rest);
  assert.ok(head.endsWith('}') && head.length > 2, 'a message is a non-empty JSON object');
  const prefix = Buffer.from(`${head.slice(0, -1)},"snapshot":`, 'utf8');
  const frame = allocateFrame(prefix.length + snapshotJson.length + 1);
  prefix.copy(frame, FRAME_HEADER_BYTES);
  snapshotJson.copy(frame, FRAME_HEADER_BYTES + prefix.length);
  frame[frame.length - 1] = 0x7d; // '}'
  return frame;
}
