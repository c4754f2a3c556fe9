// Shared test equipment for lib/storage: temporary directories, a file system that records
// what happens to it and can hold or fail fsyncs, and a recorder for the store's callbacks.
// Everything synchronises on promises the code under test resolves — never on sleeps.

import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TestContext } from 'node:test';
import type { LogEntry } from '../../../lib/replication/types.js';
import { nodeFs, type StorageFile, type StorageFs } from '../../../lib/storage/storage-fs.js';

/** A fresh directory under os.tmpdir(), removed when the test ends. */
export async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'chatplus-storage-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Makes the process umask 0 until the test ends, so that every mode the code under test
 *  leaves on disk is one it set itself: a file it forgot to restrict shows up as 0666. */
export function withoutUmask(t: TestContext): void {
  const previous = process.umask(0);
  t.after(() => void process.umask(previous));
}

/** Everything under `root` (itself included) that is not owner-only: a file not 0600 or a
 *  directory not 0700, as "path 0644". Empty when all is private. */
export async function notOwnerOnly(root: string): Promise<string[]> {
  const found: string[] = [];
  const visit = async (where: string): Promise<void> => {
    const info = await stat(where);
    const mode = info.mode & 0o777;
    if (mode !== (info.isDirectory() ? 0o700 : 0o600)) found.push(`${where} ${mode.toString(8).padStart(4, '0')}`);
    if (info.isDirectory()) for (const name of await readdir(where)) await visit(path.join(where, name));
  };
  await visit(root);
  return found;
}

export type FsOperation = 'open' | 'chmod' | 'write' | 'datasync' | 'sync' | 'truncate' | 'rename' | 'unlink';

/** An error as the OS would raise it (an errno code), for injection. */
export function systemError(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: injected failure`), { code });
}

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** node:fs/promises with a journal of operations (kind and file name), fsyncs that a test can
 *  hold open, and failures it can inject on the n-th operation of a kind. */
export class TestFs implements StorageFs {
  readonly operations: Array<{ op: FsOperation; file: string }> = [];
  /** Whether fsyncs reach the disk. A test that opens a store hundreds of times to see what it
   *  reads back and cuts turns them off (recorded still, but never waited for): what becomes
   *  durable in what order is checked elsewhere, with them on. */
  readonly #syncs: boolean;

  constructor(options: { syncs?: boolean } = {}) {
    this.#syncs = options.syncs ?? true;
  }
  /** Which files' datasyncs wait for release(); null: none. */
  #holding: ((file: string) => boolean) | null = null;
  #held: Deferred[] = [];
  #syncStarted: { which: (file: string) => boolean; started: Deferred } | null = null;
  #failures = new Map<FsOperation, { after: number; error: NodeJS.ErrnoException }>();

  count(op: FsOperation): number {
    return this.operations.filter((o) => o.op === op).length;
  }

  /** Makes the (after+1)-th future `op` fail with `error` (and every one after it). */
  failAfter(op: FsOperation, after: number, error: NodeJS.ErrnoException): void {
    this.#failures.set(op, { after, error });
  }

  /** From now on, datasyncs of the files `which` accepts (by base name; default all) wait
   *  until release(). */
  hold(which: (file: string) => boolean = () => true): void {
    this.#holding = which;
  }

  release(): void {
    this.#holding = null;
    for (const held of this.#held.splice(0)) held.resolve();
  }

  /** Resolves when the next datasync of a file `which` accepts (default any) begins. */
  nextDatasync(which: (file: string) => boolean = () => true): Promise<void> {
    const started = deferred();
    this.#syncStarted = { which, started };
    return started.promise;
  }

  async #record(op: FsOperation, file: string): Promise<void> {
    this.operations.push({ op, file: path.basename(file) });
    const failure = this.#failures.get(op);
    if (failure && failure.after-- <= 0) throw failure.error;
  }

  async open(file: string, flags: string, mode?: number): Promise<StorageFile> {
    await this.#record('open', file);
    const handle = await nodeFs.open(file, flags, mode);
    return {
      write: async (buffer, offset, length, position) => {
        await this.#record('write', file);
        return handle.write(buffer, offset, length, position);
      },
      datasync: async () => {
        await this.#record('datasync', file);
        const name = path.basename(file);
        if (this.#syncStarted?.which(name)) this.#syncStarted.started.resolve();
        if (this.#holding?.(name)) {
          const held = deferred();
          this.#held.push(held);
          await held.promise;
        }
        if (this.#syncs) await handle.datasync();
      },
      sync: async () => {
        await this.#record('sync', file);
        if (this.#syncs) await handle.sync();
      },
      truncate: async (length) => {
        await this.#record('truncate', file);
        return handle.truncate(length);
      },
      chmod: async (mode) => {
        await this.#record('chmod', file);
        return handle.chmod(mode);
      },
      close: () => handle.close(),
    };
  }

  readFile(file: string): Promise<Buffer> {
    return nodeFs.readFile(file);
  }

  readdir(dir: string): Promise<string[]> {
    return nodeFs.readdir(dir);
  }

  mkdir(dir: string, options: { recursive: true; mode: number }): Promise<string | undefined> {
    return nodeFs.mkdir(dir, options);
  }

  async chmod(file: string, mode: number): Promise<void> {
    await this.#record('chmod', file);
    return nodeFs.chmod(file, mode);
  }

  async rename(from: string, to: string): Promise<void> {
    await this.#record('rename', to);
    return nodeFs.rename(from, to);
  }

  async unlink(file: string): Promise<void> {
    await this.#record('unlink', file);
    return nodeFs.unlink(file);
  }
}

/** Collects onDurable and onFailure calls and lets a test wait for a given seq. */
export class Recorder {
  readonly durable: number[] = [];
  readonly failures: Error[] = [];
  readonly logs: Array<{ event: string; fields: Record<string, unknown> }> = [];
  #waiters: Array<{ seq: number; done: () => void }> = [];
  #logWaiters: Array<{ event: string; done: () => void }> = [];
  #failed = deferred();

  readonly options = {
    onDurable: (seq: number) => {
      this.durable.push(seq);
      this.#waiters = this.#waiters.filter((w) => (w.seq <= seq ? (w.done(), false) : true));
    },
    onFailure: (error: Error) => {
      this.failures.push(error);
      this.#failed.resolve();
    },
    log: (event: string, fields: Record<string, unknown>) => {
      this.logs.push({ event, fields });
      this.#logWaiters = this.#logWaiters.filter((w) => (w.event === event ? (w.done(), false) : true));
    },
  };

  /** Resolves once the store has logged `event` (at once if it already has). */
  logged(event: string): Promise<void> {
    if (this.logs.some((l) => l.event === event)) return Promise.resolve();
    return new Promise((done) => this.#logWaiters.push({ event, done }));
  }

  /** Resolves once onDurable has reported `seq` or more. */
  durableUpTo(seq: number): Promise<void> {
    if ((this.durable.at(-1) ?? -Infinity) >= seq) return Promise.resolve();
    return new Promise((done) => this.#waiters.push({ seq, done }));
  }

  failed(): Promise<void> {
    return this.#failed.promise;
  }
}

/** A log entry with a text payload of about `textBytes` characters. */
export function entry(op: number, textBytes = 40): LogEntry<{ kind: 'send'; text: string }> {
  return { op, view: 1, clientId: `client-${op % 7}`, owner: `owner-${op % 7}`, requestNumber: op, at: op, command: { kind: 'send', text: 'x'.repeat(textBytes) } };
}

export function entries(from: number, to: number, textBytes = 40): Array<LogEntry<{ kind: 'send'; text: string }>> {
  const list = [];
  for (let op = from; op <= to; op++) list.push(entry(op, textBytes));
  return list;
}
