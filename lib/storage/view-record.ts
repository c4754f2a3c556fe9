// The view record in two copies: view-a.json, then view-b.json, each replaced atomically
// (atomic-file.ts). A record is durable only once both copies are, and the core acts on a view
// record only once it is durable (disk rule D2, docs/architecture.md). So at rest the two
// copies are equal, and the only moment they differ is between the two writes, when A holds the
// newer record and nothing has acted on it yet.
//
// That lets open survive damage to either copy (docs/storage.md):
//   both valid and equal      that record
//   both valid, different     A, the newer (a crash came between the writes); B is rewritten
//   one valid, other bad      the valid one; the other is rewritten from it. Safe even when
//     or absent               only B is valid: either A held the same record, or a crash came
//                             between the writes and A's newer record was never acted upon, so
//                             B promises nothing less than the replica promised
//   both absent               no view record yet (a freshly formatted replica)
//   A bad, B absent           no view record either: B is created by the first record's second
//                             write and never deleted, so the first record ever written was
//                             cut short between its copies — nothing acted on it, and nothing
//                             came before it (logged 'view-record-dropped')
//   neither usable otherwise  refused: StorageError CORRUPT. The replica cannot know which
//                             views it promised to leave, so it must not rejoin without an
//                             operator — the only damage storage refuses to start with
// A rewrite at open is logged ('view-record-repaired') and made durable before the record is
// handed to anyone, so that the copies are equal again before the replica acts on the record.
//
// A copy that checks out but holds something other than a view record was written by a bug, not
// damaged by the disk: CORRUPT, as for every file (journal-codec.ts).

import * as path from 'node:path';
import { type CheckedFile, readFileChecked, writeFileAtomic } from './atomic-file.js';
import { VIEW_FILES } from './data-dir.js';
import { StorageError } from './errors.js';
import { decodeView, type ViewRecord } from './journal-codec.js';
import type { StorageFs } from './storage-fs.js';

type Log = (event: string, fields: Record<string, unknown>) => void;

/** One copy as read at open: its file, and its record if the copy is valid. */
interface Copy {
  file: string;
  checked: CheckedFile;
  record: ViewRecord | null;
}

/** Writes `record` to both copies, A first; durable when this resolves. */
export async function writeViewRecord(fs: StorageFs, dir: string, record: ViewRecord): Promise<void> {
  const text = viewRecordText(record);
  for (const name of VIEW_FILES) await writeFileAtomic(fs, path.join(dir, name), [text]);
}

/** The view record of `dir` by the rules of the header, with a copy that was bad, absent or
 *  behind rewritten; null if neither copy exists. */
export async function readViewRecord(fs: StorageFs, dir: string, log: Log): Promise<ViewRecord | null> {
  const a = await readCopy(fs, path.join(dir, VIEW_FILES[0]));
  const b = await readCopy(fs, path.join(dir, VIEW_FILES[1]));
  if (a.record === null && b.record === null) {
    if (a.checked.kind === 'absent' && b.checked.kind === 'absent') return null;
    if (b.checked.kind === 'absent') {
      log('view-record-dropped', { file: a.file, was: describe(a), why: `${path.basename(b.file)} was never written: the first view record was cut short between its copies` });
      return null;
    }
    throw new StorageError(
      'CORRUPT',
      `${a.file} and ${b.file}: both copies of the view record are damaged or missing (${describe(a)}; ${describe(b)}); ` +
        'the replica cannot know which views it promised to leave, so it cannot rejoin its cluster safely: an operator must decide',
    );
  }
  const [used, other] = a.record !== null ? [a, b] : [b, a];
  const record = used.record!;
  if (other.record === null || viewRecordText(other.record) !== viewRecordText(record)) {
    log('view-record-repaired', { file: other.file, from: used.file, was: describe(other) });
    await writeFileAtomic(fs, other.file, [viewRecordText(record)]);
  }
  return record;
}

async function readCopy(fs: StorageFs, file: string): Promise<Copy> {
  const checked = await readFileChecked(fs, file);
  return { file, checked, record: checked.kind === 'valid' ? decodeView(checked.payload, file) : null };
}

/** What a copy held, for the log and the refusal. */
function describe(copy: Copy): string {
  const name = path.basename(copy.file);
  switch (copy.checked.kind) {
    case 'absent':
      return `${name} is missing`;
    case 'bad':
      return `${name} is damaged at offset ${copy.checked.offset} (${copy.checked.reason})`;
    case 'valid':
      return `${name} held an older record ${viewRecordText(copy.record!)}`;
  }
}

function viewRecordText(record: ViewRecord): string {
  return JSON.stringify({ view: record.view, logView: record.logView, damaged: record.damaged });
}
