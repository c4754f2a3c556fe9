// The slice of the file system storage uses, as an interface, so that tests can count fsyncs,
// hold them open and make them fail (ENOSPC, EIO) without a real broken disk. Production uses
// node:fs/promises unchanged.
//
// Owner-only: a replica's files hold every message and every account's login verifier, so each
// file storage creates is 0600 and each directory 0700, set by the mode given at creation (the
// umask can only take bits away from it) rather than hoped for from the umask.

import * as fsPromises from 'node:fs/promises';
import { io } from './errors.js';

/** rw------- : every file storage creates. */
export const OWNER_ONLY_FILE_MODE = 0o600;
/** rwx------ : every directory storage creates. */
export const OWNER_ONLY_DIRECTORY_MODE = 0o700;

export interface StorageFile {
  write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesWritten: number }>;
  /** fdatasync(2): the data and the metadata needed to read it back (the size) are durable. */
  datasync(): Promise<void>;
  /** fsync(2); on a directory handle, makes the entries created, renamed or removed durable. */
  sync(): Promise<void>;
  truncate(length: number): Promise<void>;
  /** fchmod(2): the mode of the open file, whatever the mode it was created with. */
  chmod(mode: number): Promise<void>;
  close(): Promise<void>;
}

export interface StorageFs {
  /** `mode` applies only if the open creates the file. */
  open(path: string, flags: string, mode?: number): Promise<StorageFile>;
  readFile(path: string): Promise<Buffer>;
  readdir(path: string): Promise<string[]>;
  /** Returns the first directory it had to create, if any (as mkdir -p). */
  mkdir(path: string, options: { recursive: true; mode: number }): Promise<string | undefined>;
  chmod(path: string, mode: number): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
}

export const nodeFs: StorageFs = fsPromises;

/** Writes all of `data` at `position`. A regular file may accept fewer bytes than asked (the
 *  disk filled up part-way), so loop; a write that makes no progress is an error. */
export async function writeFully(file: StorageFile, data: Uint8Array, position: number, what: string): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await io(what, file.write(data, done, data.length - done, position + done));
    if (bytesWritten <= 0) throw new Error(`${what}: write made no progress`);
    done += bytesWritten;
  }
}

/** fsync a directory, so that a file created, renamed or unlinked in it survives a crash
 *  (disk rule D1, docs/architecture.md: a new segment or a renamed small file is not durable
 *  until its directory entry is). */
export async function syncDirectory(fs: StorageFs, dir: string): Promise<void> {
  const handle = await io(`open directory ${dir}`, fs.open(dir, 'r'));
  try {
    await io(`fsync directory ${dir}`, handle.sync());
  } finally {
    await io(`close directory ${dir}`, handle.close());
  }
}
