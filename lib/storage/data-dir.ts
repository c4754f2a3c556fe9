// The layout of a replica's data directory, and the explicit step that creates one.
//
//   identity.json              the data format, and which cluster and replica this directory
//                              belongs to (written by the format step)
//   view-a.json, view-b.json   {view, logView, damaged}: the latest view record, in two copies
//                              written one after the other (view-record.ts)
//   snapshot-<op>.json         the latest snapshot (older ones are deleted once it is durable)
//   log-00000001.seg ...       the segment log of entries/replace records (segment-log.ts)
//   *.tmp                      an atomic write a crash interrupted; deleted at open
//
// Disk rule D7 (docs/architecture.md): a missing or empty directory is never taken for a new
// replica (with view 0 and an empty log it would vote away ops it had acknowledged). State comes
// only from formatDataDir, and identity.json is written last, so a directory is formatted exactly
// when it holds one.
//
// The data format number says how everything in the directory is laid out and encoded. A program
// reads exactly one format and refuses any other at open, saying which it found and leaving the
// data untouched: a journal read as if it were written another way could lose or garble
// acknowledged ops. Format 1, the first, wrote no number; format 2 changed what the log and the
// snapshots hold. Format 3 gave every record and atomic file a header that checks itself (12
// bytes instead of 8, records.ts), so that a torn write can be told from damage; keeps the view
// record in two copies instead of one view.json; and adds the `damaged` flag to it.
//
// The identity file of an older format is framed the older way (an 8-byte header), so it is read
// that way too, only to say which format it holds (refuseBadIdentity).

import assert from 'node:assert/strict';
import * as path from 'node:path';
import { badFileError, type CheckedFile, readFileChecked, TEMP_SUFFIX, writeFileAtomic } from './atomic-file.js';
import { crc32 } from './crc32.js';
import { corruptError, io, isSystemError, StorageError, toStorageError } from './errors.js';
import { parseJson } from './journal-codec.js';
import { nodeFs, OWNER_ONLY_DIRECTORY_MODE, syncDirectory, type StorageFs } from './storage-fs.js';

const IDENTITY_FILE = 'identity.json';
/** The two copies of the view record, in the order they are written (view-record.ts). */
export const VIEW_FILES = ['view-a.json', 'view-b.json'] as const;

const SNAPSHOT_NAME = /^snapshot-(\d+)\.json$/;

/** The data format this program writes and reads. Raise it with every change that an older
 *  program could not read correctly. */
export const DATA_FORMAT = 3;

/** The header size of the files of formats 1 and 2 (records.ts has the current one). */
const OLDER_HEADER_BYTES = 8;

/** The format of an identity.json with no `format` field: all that was ever written that way. */
const FIRST_FORMAT = 1;

/** Written at format time; checked at every open. */
export interface StoreIdentity {
  cluster: string;
  replica: number;
}

/** identity.json as written: the identity and the data format. */
type StoredIdentity = StoreIdentity & { format: number };

/** Zero-padded so a directory listing sorts snapshots by op. */
export function snapshotFileName(op: number): string {
  return `snapshot-${String(op).padStart(12, '0')}.json`;
}

/** The ops of the snapshot files in `names`, ascending. */
export function snapshotOps(names: readonly string[]): number[] {
  return names.flatMap((name) => {
    const match = SNAPSHOT_NAME.exec(name);
    return match ? [Number(match[1])] : [];
  }).sort((a, b) => a - b);
}

/** Creates `dir` (and missing parents), owner-only, and marks it as `identity`'s. Refuses a
 *  directory that already holds anything: formatting must never overwrite a replica's state.
 *  `initialize` writes what the new replica starts with besides an empty journal (a replacement's
 *  damaged view record, replica-store.ts) before the identity that makes the directory formatted. */
export async function formatDataDir(
  dir: string,
  identity: StoreIdentity,
  fs: StorageFs = nodeFs,
  initialize?: (fs: StorageFs, dir: string) => Promise<void>,
): Promise<void> {
  assert.ok(identity.cluster.length > 0, 'cluster name must not be empty');
  assert.ok(Number.isSafeInteger(identity.replica) && identity.replica >= 0, 'replica must be a non-negative integer');
  const created = await io(`create directory ${dir}`, fs.mkdir(dir, { recursive: true, mode: OWNER_ONLY_DIRECTORY_MODE }));
  // What a format that crashed before its identity's rename leaves is the only thing allowed here.
  const leftover = new Set<string>([...VIEW_FILES, ...[IDENTITY_FILE, ...VIEW_FILES].map((name) => `${name}${TEMP_SUFFIX}`)]);
  const names = (await io(`list ${dir}`, fs.readdir(dir))).filter((name) => !leftover.has(name));
  if (names.length > 0) {
    throw new StorageError('IO', `refusing to format ${dir}: it is not empty (holds ${names.slice(0, 3).join(', ')}${names.length > 3 ? ', ...' : ''})`);
  }
  // mkdir's mode applies only to the directories it creates: an empty one made beforehand
  // becomes owner-only here.
  await io(`chmod ${dir}`, fs.chmod(dir, OWNER_ONLY_DIRECTORY_MODE));
  // Every directory mkdir created must itself survive a crash, or the whole data directory,
  // with everything later synced inside it, could vanish: sync each one's parent.
  if (created !== undefined) {
    for (let made = path.resolve(dir); ; made = path.dirname(made)) {
      await syncDirectory(fs, path.dirname(made));
      if (made === path.resolve(created)) break;
    }
  }
  await initialize?.(fs, dir);
  const stored: StoredIdentity = { format: DATA_FORMAT, cluster: identity.cluster, replica: identity.replica };
  const text = JSON.stringify(stored);
  await writeFileAtomic(fs, path.join(dir, IDENTITY_FILE), [text]);
}

/** Lists `dir` and checks that it is formatted in this program's data format for `identity`;
 *  returns the names it holds. */
export async function checkIdentity(fs: StorageFs, dir: string, identity: StoreIdentity): Promise<string[]> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (error) {
    if (isSystemError(error) && error.code === 'ENOENT') throw notFormatted(dir, 'does not exist');
    throw toStorageError(`list ${dir}`, error);
  }
  if (names.length === 0) throw notFormatted(dir, 'is empty');
  const file = path.join(dir, IDENTITY_FILE);
  const checked = await readFileChecked(fs, file);
  if (checked.kind === 'absent') throw notFormatted(dir, `holds no ${IDENTITY_FILE}`);
  const payload = checked.kind === 'valid' ? checked.payload : await refuseBadIdentity(fs, dir, file, checked);
  const stored = parseIdentity(payload, file);
  // The format first: another format's identity may not even have the fields read below.
  checkFormat(dir, file, formatOf(stored));
  if (typeof stored.cluster !== 'string' || !Number.isSafeInteger(stored.replica)) throw notIdentity(file);
  if (stored.cluster !== identity.cluster || stored.replica !== identity.replica) {
    throw new StorageError(
      'WRONG_REPLICA',
      `${dir} belongs to replica ${stored.replica} of cluster "${stored.cluster}", not replica ${identity.replica} of cluster "${identity.cluster}"`,
    );
  }
  return names;
}

/** Refuses a directory in any data format but DATA_FORMAT, saying which one it holds and what
 *  the operator can do: the data is left exactly as it was. */
function checkFormat(dir: string, file: string, format: unknown): void {
  if (format === DATA_FORMAT) return;
  if (typeof format !== 'number' || !Number.isSafeInteger(format) || format < FIRST_FORMAT) {
    throw corruptError(file, null, `format must be a positive integer, got ${JSON.stringify(format)}`);
  }
  const found = `data directory ${dir} was written by`;
  const reads = `this one reads format ${DATA_FORMAT}`;
  throw new StorageError(
    'WRONG_FORMAT',
    format < DATA_FORMAT
      ? `${found} an older Chat+ (format ${format}); ${reads}: move it aside and format a new replica, or run the older version`
      : `${found} a newer Chat+ (format ${format}); ${reads}: run the newer version`,
  );
}

/** identity.json's content as an object, whatever its format. */
function parseIdentity(payload: Buffer, file: string): Partial<StoredIdentity> {
  const stored = parseJson(payload, file, null) as Partial<StoredIdentity> | null;
  if (typeof stored !== 'object' || stored === null || Array.isArray(stored)) throw notIdentity(file);
  return stored;
}

function formatOf(stored: Partial<StoredIdentity>): unknown {
  return Object.hasOwn(stored, 'format') ? stored.format : FIRST_FORMAT;
}

function notIdentity(file: string): StorageError {
  return corruptError(file, null, 'not a {format, cluster, replica} record');
}

/** Refuses an identity file that fails the current framing. Programs of formats 1 and 2 framed
 *  it with an 8-byte header ([u32 BE length][u32 BE crc32 of payload]): if that is what it is,
 *  checkFormat refuses the older format it names (WRONG_FORMAT, the data left untouched). Any
 *  other such file is damaged: CORRUPT, as `bad` says. (A file in the current framing never
 *  passes for the older one: its length field is 12 bytes short of the file, not 8.) */
async function refuseBadIdentity(fs: StorageFs, dir: string, file: string, bad: Extract<CheckedFile, { kind: 'bad' }>): Promise<never> {
  const data = await io(`read ${file}`, fs.readFile(file));
  const payload = data.subarray(OLDER_HEADER_BYTES);
  if (data.length > OLDER_HEADER_BYTES && data.readUInt32BE(0) === payload.length && data.readUInt32BE(4) === crc32(payload)) {
    const format = formatOf(parseIdentity(payload, file));
    if (format !== DATA_FORMAT) checkFormat(dir, file, format);
  }
  throw badFileError(file, bad);
}

function notFormatted(dir: string, why: string): StorageError {
  return new StorageError('NOT_FORMATTED', `data directory ${dir} ${why}: format it first (a replica never starts empty by accident)`);
}

/** Deletes the temp files of atomic writes a crash interrupted: nothing refers to them, and a
 *  snapshot's can be large. Returns the names that remain. */
export async function removeTempFiles(fs: StorageFs, dir: string, names: string[]): Promise<string[]> {
  for (const name of names.filter((n) => n.endsWith(TEMP_SUFFIX))) {
    await io(`delete ${name}`, fs.unlink(path.join(dir, name)));
  }
  return names.filter((n) => !n.endsWith(TEMP_SUFFIX));
}
