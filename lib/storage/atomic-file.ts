// Small files replaced all at once: a crash leaves either the old content or the new, never a
// mixture (disk rule D1, docs/architecture.md).
//
//   0. make <name>.tmp owner-only (0600)         before a byte of the content is in it
//   1. write the new content to <name>.tmp      a crash here leaves only a stray temp file
//   2. fdatasync the temp file                  its bytes are on disk before anyone can see them
//   3. rename it over <name>                    atomic on POSIX file systems: old or new
//   4. fsync the directory                      the rename itself survives a crash
//
// The content is framed as one record (records.ts): the header carries its length and CRC and
// checks itself. A file is renamed into place only once it is whole and synced, so no crash
// leaves a short or half-written one: any bad framing is damage to durable bytes. Read it with
// readFileAtomic, which refuses it as CORRUPT naming the file, or with readFileChecked, which
// says what is wrong and leaves the verdict to the caller (a view record copy or a snapshot is
// repairable, docs/storage.md) — never garbage handed upwards.
// Content is written from a sequence of chunks through a small staging buffer, so a snapshot of
// hundreds of MB is never held twice in memory; the header is written last, at offset 0, once
// the length and checksum are known.

import assert from 'node:assert/strict';
import { constants as bufferConstants } from 'node:buffer';
import * as path from 'node:path';
import { crc32 } from './crc32.js';
import { corruptError, io, isSystemError, StorageError, toStorageError } from './errors.js';
import { type BadRecordReason, encodeRecordHeader, readRecord, RECORD_HEADER_BYTES } from './records.js';
import { OWNER_ONLY_FILE_MODE, syncDirectory, writeFully, type StorageFile, type StorageFs } from './storage-fs.js';

/** Largest content an atomic file may hold: readers turn it into one string to parse, and V8
 *  caps a string at this many characters (about 512 MiB). Writing more would create a file that
 *  cannot be read back, so the writer refuses first. */
const ATOMIC_FILE_BYTES_MAX = bufferConstants.MAX_STRING_LENGTH;

/** The suffix of a file while it is being written, before the rename that publishes it. */
export const TEMP_SUFFIX = '.tmp';

/** Writes are gathered into buffers of this size: few system calls, little memory. */
const STAGING_BYTES = 1024 * 1024;

/** Replaces the file at `file` with the concatenation of `chunks` (strings are UTF-8). */
export async function writeFileAtomic(fs: StorageFs, file: string, chunks: Iterable<string | Uint8Array>): Promise<void> {
  await writeFilesAtomic(fs, [{ file, chunks }]);
}

/** Replaces several files of one directory, each atomically as above, at the cost of one: steps
 *  0–2 for all of them at once, then the renames, then ONE directory fsync. A crash may publish
 *  any of them without the others; each is old or new, never a mixture. */
export async function writeFilesAtomic(fs: StorageFs, files: ReadonlyArray<{ file: string; chunks: Iterable<string | Uint8Array> }>): Promise<void> {
  const dir = path.dirname(files[0]!.file);
  assert.ok(files.every(({ file }) => path.dirname(file) === dir), 'writeFilesAtomic: one directory, one fsync');
  await Promise.all(files.map(({ file, chunks }) => writeTemp(fs, file, chunks)));
  for (const { file } of files) await io(`rename ${path.basename(file)}${TEMP_SUFFIX}`, fs.rename(`${file}${TEMP_SUFFIX}`, file));
  await syncDirectory(fs, dir);
}

/** Steps 0–2: the content of `file`, whole and synced, in its temp file. */
async function writeTemp(fs: StorageFs, file: string, chunks: Iterable<string | Uint8Array>): Promise<void> {
  const temp = `${file}${TEMP_SUFFIX}`;
  const name = path.basename(temp);
  const handle = await io(`create ${name}`, fs.open(temp, 'w', OWNER_ONLY_FILE_MODE));
  try {
    // The mode given to open applies only to a new file: a temp file a crash left behind keeps
    // whatever mode it had, and the rename would publish that.
    await io(`chmod ${name}`, handle.chmod(OWNER_ONLY_FILE_MODE));
    const { bytes, crc } = await writeBody(handle, name, chunks);
    await writeFully(handle, encodeRecordHeader(bytes, crc, ATOMIC_FILE_BYTES_MAX), 0, `write ${name}`);
    await io(`fdatasync ${name}`, handle.datasync());
  } finally {
    await io(`close ${name}`, handle.close());
  }
}

/** Streams the chunks into the file after the (not yet written) header; returns length and CRC. */
async function writeBody(handle: StorageFile, name: string, chunks: Iterable<string | Uint8Array>): Promise<{ bytes: number; crc: number }> {
  const staging = Buffer.allocUnsafe(STAGING_BYTES);
  let staged = 0;
  let position = RECORD_HEADER_BYTES;
  let crc = 0;
  const emit = async (data: Uint8Array): Promise<void> => {
    if (position + data.length - RECORD_HEADER_BYTES > ATOMIC_FILE_BYTES_MAX) {
      throw new StorageError('IO', `${name}: content exceeds ${ATOMIC_FILE_BYTES_MAX} bytes, the most that can be read back`);
    }
    crc = crc32(data, crc);
    await writeFully(handle, data, position, `write ${name}`);
    position += data.length;
  };
  for (const chunk of chunks) {
    const chunkBytes = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    if (staged + chunkBytes > STAGING_BYTES && staged > 0) {
      await emit(staging.subarray(0, staged));
      staged = 0;
    }
    if (chunkBytes > STAGING_BYTES) {
      await emit(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
      continue;
    }
    if (typeof chunk === 'string') staging.write(chunk, staged);
    else staging.set(chunk, staged);
    staged += chunkBytes;
  }
  if (staged > 0) await emit(staging.subarray(0, staged));
  const bytes = position - RECORD_HEADER_BYTES;
  // Zero length is reserved for "never written" (records.ts); every caller writes some JSON.
  assert.ok(bytes > 0, `${name}: an atomic file must not be empty`);
  return { bytes, crc };
}

/** What is wrong with an atomic file: its record is bad, it is empty, or bytes follow it. */
type AtomicFileFault = BadRecordReason | 'empty' | 'trailing-bytes';

/** An atomic file as read: absent, valid (its content), or bad (where and why). */
export type CheckedFile = { kind: 'absent' } | { kind: 'valid'; payload: Buffer } | { kind: 'bad'; offset: number; reason: AtomicFileFault };

/** Reads `file` and checks its framing, without judging what a bad file means. */
export async function readFileChecked(fs: StorageFs, file: string): Promise<CheckedFile> {
  let data: Buffer;
  try {
    data = await fs.readFile(file);
  } catch (error) {
    if (isSystemError(error) && error.code === 'ENOENT') return { kind: 'absent' };
    throw toStorageError(`read ${file}`, error);
  }
  const read = readRecord(data, 0, ATOMIC_FILE_BYTES_MAX);
  if (read.kind === 'end') return { kind: 'bad', offset: 0, reason: 'empty' };
  if (read.kind === 'bad') return read;
  if (read.next !== data.length) return { kind: 'bad', offset: read.next, reason: 'trailing-bytes' };
  return { kind: 'valid', payload: read.payload };
}

/** The verified content of `file`, or null if there is no such file. A short, long or
 *  checksum-failing file is StorageError CORRUPT naming it. */
export async function readFileAtomic(fs: StorageFs, file: string): Promise<Buffer | null> {
  const checked = await readFileChecked(fs, file);
  if (checked.kind === 'bad') throw badFileError(file, checked);
  return checked.kind === 'valid' ? checked.payload : null;
}

/** The CORRUPT error for a bad atomic file, naming it, the offset and what is wrong. */
export function badFileError(file: string, bad: Extract<CheckedFile, { kind: 'bad' }>): StorageError {
  return corruptError(file, bad.offset, `bad content (${bad.reason})`);
}
