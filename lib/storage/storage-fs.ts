// The slice of the file system storage uses, as an interface, so that tests can count fsyncs,
// hold them open and make them fail (ENOSPC, EIO) without a real broken disk. Production uses
// node:fs/promises unchanged.

import * as fsPromises from 'node:fs/promises';
import { io } from './errors.js';

export interface StorageFile {
  write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesWritten: number }>;
  /** fdatasync(2): the data and the metadata needed to read it back (the size) are durable. */
  datasync(): Promise<void>;
  /** fsync(2); on a directory handle, makes the entries created, renamed or removed durable. */
  sync(): Promise<void>;
  truncate(length: number): Promise<void>;
  close(): Promise<void>;
}

export interface StorageFs {
  open(path: string, flags: string): Promise<StorageFile>;
  readFile(path: string): Promise<Buffer>;
  readdir(path: string): Promise<string[]>;
  /** Returns the first directory it had to create, if any (as mkdir -p). */
  mkdir(path: string, options: { recursive: true }): Promise<string | undefined>;
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
