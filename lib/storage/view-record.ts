// The view record in two copies, view-a.json and view-b.json, replaced together: both written
// and fdatasynced at once, then both renamed, then one directory fsync (writeFilesAtomic,
// atomic-file.ts) — the cost of one atomic file. A record is durable only once both copies are,
// and the core acts on a view record only once it is durable (disk rule D2,
// docs/architecture.md). So at rest the two copies are equal; after a crash during a write each
// copy holds either the record the replica last acted on or the newer one it never acted on —
// whose log is already durable (D3) — and either is safe to resume from.
//
// That lets open survive damage to either copy (docs/storage.md):
//   both valid and equal      that record
//   both valid, different     A (a crash came during a write; either would do); B is rewritten
//   one valid, other bad      the valid one; the other is rewritten from it. The valid copy
//     or absent               holds the record acted on or a newer one, never an older one
//   both absent               no view record yet (a freshly formatted replica)
//   one bad, other absent     no view record either: copies are never deleted, so one is absent
//                             only when the first record ever written was cut short — nothing
//                             acted on it, and nothing came before it ('view-record-dropped')
//   both bad                  refused: StorageError CORRUPT. The replica cannot know which
//                             views it promised to leave, so it must not rejoin without an
//                             operator — the only damage storage refuses to start with
// A rewrite at open is logged ('view-record-repaired') and made durable before the record is
// handed to anyone, so that the copies are equal again before the replica acts on the record.
//
// A copy that checks out but holds something other than a view record was written by a bug, not
// damaged by the disk: CORRUPT, as for every file (journal-codec.ts).

import * as path from 'node:path';
import { type CheckedFile, readFileChecked, writeFileAtomic, writeFilesAtomic } from './atomic-file.js';
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

/** Writes `record` to both copies; durable when this resolves. */
export async function writeViewRecord(fs: StorageFs, dir: string, record: ViewRecord): Promise<void> {
  const text = viewRecordText(record);
  await writeFilesAtomic(fs, VIEW_FILES.map((name) => ({ file: path.join(dir, name), chunks: [text] })));
}

/** The view record of `dir` by the rules of the header, with a copy that was bad, absent or
 *  behind rewritten; null if neither copy exists. */
export async function readViewRecord(fs: StorageFs, dir: string, log: Log): Promise<ViewRecord | null> {
  const a = await readCopy(fs, path.join(dir, VIEW_FILES[0]));
  const b = await readCopy(fs, path.join(dir, VIEW_FILES[1]));
  if (a.record === null && b.record === null) {
    if (a.checked.kind === 'absent' && b.checked.kind === 'absent') return null;
    const [bad, absent] = b.checked.kind === 'absent' ? [a, b] : [b, a];
    if (absent.checked.kind === 'absent') {
      const why = `${path.basename(absent.file)} was never written: the first view record was cut short`;
      log('view-record-dropped', { file: bad.file, was: describe(bad), why });
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
