// A replica's log file, as the launcher writes it from the replica's standard output and error.
// It must never hurt the replica (docs/security.md, "Limits"):
// - it never makes the replica wait: the launcher reads the replica's pipes at once, always. A
//   launcher that stopped reading would not block the replica but make it buffer its own log
//   lines in memory, without bound;
// - it never takes more than (LOG_FILES_KEPT + 1) × LOG_FILE_BYTES_MAX of disk: past the cap the
//   file is renamed <path>.1 (and .1 to .2, …) and a new one begun;
// - a disk that is slow, full or failing costs log lines, never the launcher or the replica:
//   lines the disk has not taken while LOG_PENDING_BYTES_MAX wait are dropped and counted, and a
//   write that fails drops its lines; the next line written says how many were lost and why.
// Lines are kept whole: only complete lines are written, dropped or moved to a new file (a line
// longer than the carry limit is written in pieces).

import assert from 'node:assert/strict';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { open, rename } from 'node:fs/promises';
import { OWNER_ONLY_FILE_MODE } from '../storage/replica-store.js';

/** The size at which a log file is rotated. */
export const LOG_FILE_BYTES_MAX = 10 * 1024 * 1024;
/** Rotated files kept beside the current one (<path>.1 is the newest); older ones are removed. */
export const LOG_FILES_KEPT = 3;
/** Bytes waiting for the disk before further lines are dropped. */
export const LOG_PENDING_BYTES_MAX = 1024 * 1024;
/** The longest unfinished line kept back waiting for its end. */
const LINE_CARRY_BYTES_MAX = 64 * 1024;

const NEWLINE = 0x0a;

/** An open log file: its size when opened, appends, close. */
export interface LogHandle {
  size: number;
  append(bytes: Buffer): Promise<void>;
  close(): Promise<void>;
}

/** What a log file needs of the file system; tests substitute one that fails. */
export interface LogFileSystem {
  open(path: string): Promise<LogHandle>;
  rename(from: string, to: string): Promise<void>;
}

const realFileSystem: LogFileSystem = {
  async open(path) {
    const handle = await open(path, 'a', OWNER_ONLY_FILE_MODE);
    const { size } = await handle.stat();
    return { size, append: (bytes) => handle.appendFile(bytes), close: () => handle.close() };
  },
  rename,
};

export interface LogFileOptions {
  fileBytesMax?: number;
  filesKept?: number;
  pendingBytesMax?: number;
  fileSystem?: LogFileSystem;
}

/** Lines lost since the last line written, and the reason of the latest loss. */
interface Losses {
  lines: number;
  bytes: number;
  reason: string;
}

export class RotatingLogFile {
  private readonly fileBytesMax: number;
  private readonly filesKept: number;
  private readonly pendingBytesMax: number;
  private readonly fileSystem: LogFileSystem;
  private readonly pending: Buffer[] = [];
  private pendingBytes = 0;
  private handle: LogHandle | null = null;
  /** The writer's latest run, and whether it is still running (it stops when nothing waits). */
  private writing: Promise<void> = Promise.resolve();
  private draining = false;
  private losses: Losses | null = null;
  /** The attached streams still open, each settled once it has closed (and then removed: the
   *  launcher attaches two streams at every start of its replica). */
  private readonly sources = new Set<Promise<void>>();
  private dropped = 0;

  constructor(private readonly path: string, options: LogFileOptions = {}) {
    this.fileBytesMax = options.fileBytesMax ?? LOG_FILE_BYTES_MAX;
    this.filesKept = options.filesKept ?? LOG_FILES_KEPT;
    this.pendingBytesMax = options.pendingBytesMax ?? LOG_PENDING_BYTES_MAX;
    this.fileSystem = options.fileSystem ?? realFileSystem;
    assert.ok(this.filesKept >= 1, 'rotation needs a file to rotate to');
  }

  /** Lines dropped over the file's life. */
  get droppedLines(): number {
    return this.dropped;
  }

  /** Reads `stream` as fast as it produces, whole lines to the file; its last unfinished line
   *  is written when it ends. */
  attach(stream: Readable): void {
    let carry: Buffer = Buffer.alloc(0);
    stream.on('data', (chunk: Buffer) => {
      const text = carry.length === 0 ? chunk : Buffer.concat([carry, chunk]);
      const end = text.lastIndexOf(NEWLINE) + 1;
      carry = text.length - end > LINE_CARRY_BYTES_MAX ? Buffer.alloc(0) : text.subarray(end);
      this.write(carry.length === 0 ? text : text.subarray(0, end));
    });
    stream.on('end', () => this.write(carry));
    const closed: Promise<void> = finished(stream).catch(() => {}).then(() => void this.sources.delete(closed));
    this.sources.add(closed);
  }

  /** Queues whole lines for the file, or drops them if too much is waiting already. */
  write(lines: Buffer): void {
    // A chunk with no line end yet hands over nothing: no drain to start for it.
    if (lines.length === 0) return;
    for (let at = 0; at < lines.length; at += this.fileBytesMax) {
      const piece = lines.subarray(at, at + this.fileBytesMax);
      if (this.pendingBytes + piece.length > this.pendingBytesMax) {
        this.drop(piece, 'the disk is slower than the log');
        continue;
      }
      this.pending.push(piece);
      this.pendingBytes += piece.length;
    }
    if (!this.draining) this.writing = this.drain();
  }

  /** Waits for the attached streams to close (their writers have exited), writes what is
   *  queued, then closes the file. */
  async close(): Promise<void> {
    await Promise.all([...this.sources]);
    await this.writing;
    await this.handle?.close().catch(() => {});
    this.handle = null;
  }

  private async drain(): Promise<void> {
    this.draining = true;
    for (let piece = this.pending.shift(); piece !== undefined; piece = this.pending.shift()) {
      this.pendingBytes -= piece.length;
      try {
        if (this.losses !== null) await this.append(this.lossReport(this.losses));
        this.losses = null;
        await this.append(piece);
      } catch (error) {
        this.drop(piece, (error as NodeJS.ErrnoException).code ?? String(error));
        // Reopen for the next lines: the failure may pass (space freed, a file put back).
        await this.handle?.close().catch(() => {});
        this.handle = null;
      }
    }
    this.draining = false;
  }

  /** The line that says what was lost, written before the next line that is not. */
  private lossReport({ lines, bytes, reason }: Losses): Buffer {
    return Buffer.from(`${new Date().toISOString()} WARN  event=log-lines-dropped lines=${lines} bytes=${bytes} reason=${JSON.stringify(reason)}\n`);
  }

  private async append(bytes: Buffer): Promise<void> {
    this.handle ??= await this.fileSystem.open(this.path);
    if (this.handle.size > 0 && this.handle.size + bytes.length > this.fileBytesMax) await this.rotate();
    const handle = this.handle!;
    await handle.append(bytes);
    handle.size += bytes.length;
  }

  /** <path>.k-1 → <path>.k down to <path> → <path>.1 (the oldest is overwritten), and a new file. */
  private async rotate(): Promise<void> {
    await this.handle!.close();
    this.handle = null;
    for (let k = this.filesKept; k >= 1; k--) {
      const from = k === 1 ? this.path : `${this.path}.${k - 1}`;
      await this.fileSystem.rename(from, `${this.path}.${k}`).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
    }
    this.handle = await this.fileSystem.open(this.path);
  }

  private drop(lines: Buffer, reason: string): void {
    let count = 0;
    for (let at = lines.indexOf(NEWLINE); at >= 0; at = lines.indexOf(NEWLINE, at + 1)) count++;
    this.dropped += count;
    this.losses = { lines: (this.losses?.lines ?? 0) + count, bytes: (this.losses?.bytes ?? 0) + lines.length, reason };
  }
}
