// A simulated file system: one replica's machine, on which the real lib/storage runs in the
// simulator (docs/testing.md), with the faults of real disks, deterministically. It implements
// StorageFs (lib/storage/storage-fs.ts) in memory, so ReplicaStore's two loops, the segment
// log's torn-tail rule and the atomic files meet every crash outcome a real disk allows.
//
// Time. Every operation but an fsync completes at once (a settled promise: a microtask). An
// fsync (datasync or sync) completes `latency` virtual ms after it is called, drawn from the
// SimFs's own Prng; the fsyncs of one file or directory complete in the order they were called.
// They wait in a queue the host runs: nextTime() says when the next one is due, runDue(now)
// completes the due ones, and the host then drains the microtasks
// (`await new Promise((r) => setImmediate(r))`) so that storage's promise chains run to their
// next wait before anything else happens. Storage itself never sees a timer.
//
// Page cache and disk. Every file has what reads see (the cache) and what the disk holds
// (durable). A write or truncate changes the cache at once and is remembered, in order, as an
// unsynced change of that file; an fsync of the file makes durable every change issued before
// the call, when it completes. A directory likewise: create, rename and unlink change the names
// reads see at once, and are durable once an fsync of a handle opened on that directory
// (open(dir, 'r')) completes, every one issued before that call.
//
// Faults.
//   crashMachine  power loss: each file keeps its durable content and a random prefix of its
//                 unsynced changes, the first change not kept perhaps torn (a random prefix of
//                 its bytes written); each directory its durable names and a random prefix of
//                 its unsynced renames, creations and unlinks. Nothing in flight ever settles.
//   killProcess   the process dies, the machine stays up: nothing in flight ever settles, and
//                 neither does any later call on a handle the process had open. The cache stays
//                 as it is and unsynced changes stay unsynced: the next process's fsync of the
//                 file makes them durable (fsync writes back every dirty page of the file), a
//                 later crashMachine may lose them.
//   failNextSync  the next fsync (of one path, or any) fails with EIO after its latency, with
//                 Linux's semantics for file data: the changes it covered are marked clean
//                 without reaching the disk. Reads still see them, a later fsync does not write
//                 them (they are not dirty any more), only writing those bytes again does, and a
//                 crash loses them. A failed fsync of a directory leaves its names unsynced
//                 instead: directory entries live in the file system's journal, which either
//                 commits them later or stops the file system (ext4 and XFS do), and is never
//                 left quietly without them.
//   setSpace      writes that would grow the files past the space left write what fits, then
//                 fail with ENOSPC (writeFully, lib/storage/storage-fs.ts, loops on short writes).
//   flipBit       rot: a bit of synced data goes bad, on the disk and in the cache.
//   loseFile      a file and its name are gone from the disk and from the cache.
// Errors look like node:fs's (a `code` such as 'ENOENT', 'EEXIST', 'EIO'), so that
// lib/storage/errors.ts classifies them exactly as it classifies real ones.

import assert from 'node:assert/strict';
import * as path from 'node:path';
import type { StorageFile, StorageFs } from '../../lib/storage/storage-fs.js';
import { TimedHeap } from './heap.js';
import type { Prng } from './prng.js';

const MESSAGES = {
  EBADF: 'bad file descriptor',
  EEXIST: 'file already exists',
  EIO: 'i/o error',
  EISDIR: 'illegal operation on a directory',
  ENOENT: 'no such file or directory',
  ENOSPC: 'no space left on device',
  ENOTDIR: 'not a directory',
  EXDEV: 'cross-device link not permitted',
};

/** An error as node:fs raises it: "ENOENT: no such file or directory, open '/a/b'". */
function fsError(code: keyof typeof MESSAGES, syscall: string, file?: string): NodeJS.ErrnoException {
  const where = file === undefined ? '' : ` '${file}'`;
  return Object.assign(new Error(`${code}: ${MESSAGES[code]}, ${syscall}${where}`), { code, syscall, path: file });
}

/** Segment and snapshot files (lib/storage/data-dir.ts): what rot is most worth aiming at. */
const JOURNAL_FILE = /^log-\d{8}\.seg$|^snapshot-\d+\.json$/;

export interface DiskLatency {
  /** Virtual milliseconds an fsync takes, inclusive bounds. */
  fsyncMin: number;
  fsyncMax: number;
}

export const FAST_DISK: DiskLatency = { fsyncMin: 1, fsyncMax: 4 };

export interface SimFsOptions {
  /** The SimFs's own stream: fsync latencies, what a crash keeps, bits to flip. */
  prng: Prng;
  /** Virtual ms an fsync takes; the `latency` field can be changed at any time. */
  latency: DiskLatency;
  /** The world's virtual time in ms: an fsync called now completes at now() + latency. */
  now: () => number;
}

/** What a crashMachine did, for the trace. */
export interface CrashSummary {
  /** Unsynced writes and truncates that reached the disk anyway. */
  writesKept: number;
  /** Unsynced writes and truncates lost (the torn ones not counted). */
  writesLost: number;
  /** Writes of which only a prefix reached the disk: at most one per file. */
  writesTorn: number;
  /** Unsynced creations, renames and unlinks that reached the disk anyway. */
  namespaceOpsKept: number;
  namespaceOpsLost: number;
}

export interface BitFlip {
  path: string;
  byteIndex: number;
  bit: number;
}

/** File content in a buffer grown geometrically, so that appending does not copy the file. */
class Bytes {
  private buffer = Buffer.alloc(0);
  size = 0;

  view(): Buffer {
    return this.buffer.subarray(0, this.size);
  }

  copy(): Buffer {
    return Buffer.from(this.view());
  }

  clone(): Bytes {
    const clone = new Bytes();
    clone.write(0, this.view());
    return clone;
  }

  write(offset: number, data: Uint8Array): void {
    this.resize(Math.max(this.size, offset + data.length));
    this.buffer.set(data, offset);
  }

  /** Shrinks or grows to `size`; bytes past the old end read as zeros, as after ftruncate. */
  resize(size: number): void {
    if (size > this.buffer.length) {
      const grown = Buffer.alloc(Math.max(size, 2 * this.buffer.length, 256));
      this.buffer.copy(grown, 0, 0, this.size);
      this.buffer = grown;
    } else if (size > this.size) {
      this.buffer.fill(0, this.size, size);
    }
    this.size = size;
  }
}

type Unsequenced = { kind: 'write'; offset: number; bytes: Buffer } | { kind: 'truncate'; length: number };
/** A write or truncate the disk may not hold yet. `seq` numbers the changes of one file. */
type Change = Unsequenced & { seq: number };

function applyChange(content: Bytes, change: Change): void {
  if (change.kind === 'write') content.write(change.offset, change.bytes);
  else content.resize(change.length);
}

/** A regular file: its cache, its disk, and the changes between the two. */
class FileNode {
  readonly kind = 'file';
  cache = new Bytes();
  durable = new Bytes();
  /** Unsynced changes in issue order; an fsync takes the prefix issued before it. */
  dirty: Change[] = [];
  issued = 0;
  /** When the latest fsync called on this file completes: later ones complete no earlier. */
  syncsDoneAt = -Infinity;
  /** Named in the cache namespace: its bytes count against the space. */
  linked = false;

  constructor(public mode: number) {}

  change(change: Unsequenced): void {
    const sequenced: Change = { ...change, seq: ++this.issued };
    applyChange(this.cache, sequenced);
    this.dirty.push(sequenced);
  }

  /** An fsync that covered the changes up to `upTo` completed: written to the disk, or (it
   *  failed) marked clean without being written. */
  settleSync(upTo: number, ok: boolean): void {
    const covered = this.dirty.findIndex((change) => change.seq > upTo);
    const done = this.dirty.splice(0, covered === -1 ? this.dirty.length : covered);
    if (ok) for (const change of done) applyChange(this.durable, change);
  }

  /** Power loss: the disk keeps a random prefix of the unsynced changes, the next perhaps torn;
   *  the cache is what the disk holds. */
  crash(prng: Prng, summary: CrashSummary): void {
    const kept = prng.int(0, this.dirty.length);
    for (const change of this.dirty.slice(0, kept)) applyChange(this.durable, change);
    summary.writesKept += kept;
    summary.writesLost += this.dirty.length - kept;
    // Half the time the first change lost is torn: a prefix of it reached the disk.
    const next = this.dirty[kept];
    if (next?.kind === 'write' && next.bytes.length > 1 && prng.chance(0.5)) {
      this.durable.write(next.offset, next.bytes.subarray(0, prng.int(1, next.bytes.length - 1)));
      summary.writesTorn++;
      summary.writesLost--;
    }
    this.dirty = [];
    this.cache = this.durable.clone();
  }
}

/** A change to a directory's names: each name set to a node, or removed (null). A rename is
 *  one change, so that a crash keeps it whole or not at all. */
interface NamespaceOp {
  seq: number;
  names: Array<[string, Node | null]>;
}

function applyNamespaceOp(entries: Map<string, Node>, op: NamespaceOp): void {
  for (const [name, node] of op.names) {
    if (node === null) entries.delete(name);
    else entries.set(name, node);
  }
}

class DirNode {
  readonly kind = 'dir';
  cache = new Map<string, Node>();
  durable = new Map<string, Node>();
  pending: NamespaceOp[] = [];
  issued = 0;
  syncsDoneAt = -Infinity;

  constructor(public mode: number) {}

  change(names: NamespaceOp['names']): void {
    const op = { seq: ++this.issued, names };
    applyNamespaceOp(this.cache, op);
    this.pending.push(op);
  }

  /** A failed directory fsync leaves the names unsynced (see the header). */
  settleSync(upTo: number, ok: boolean): void {
    if (!ok) return;
    const covered = this.pending.findIndex((op) => op.seq > upTo);
    for (const op of this.pending.splice(0, covered === -1 ? this.pending.length : covered)) applyNamespaceOp(this.durable, op);
  }

  crash(prng: Prng, summary: CrashSummary): void {
    const kept = prng.int(0, this.pending.length);
    for (const op of this.pending.slice(0, kept)) applyNamespaceOp(this.durable, op);
    summary.namespaceOpsKept += kept;
    summary.namespaceOpsLost += this.pending.length - kept;
    this.pending = [];
    this.cache = new Map(this.durable);
  }
}

type Node = FileNode | DirNode;

/** An open file or directory of one process. */
interface Handle {
  node: Node;
  path: string;
  writable: boolean;
  process: number;
  closed: boolean;
}

/** The promise of an operation whose process is gone: it never settles. */
function never<T>(): Promise<T> {
  return new Promise<T>(() => {});
}

export class SimFs implements StorageFs {
  /** fsync latency; change it at any time (a slow disk among fast ones). */
  latency: DiskLatency;
  private readonly prng: Prng;
  private readonly now: () => number;
  private readonly root = new DirNode(0o755);
  /** fsync completions waiting for their time. */
  private agenda = new TimedHeap<() => void>();
  /** The current process; handles of earlier ones are dead. */
  private process = 0;
  /** Paths (undefined: any) whose next fsync fails, in the order they were armed. */
  private readonly syncFailures: Array<string | undefined> = [];
  /** Fsyncs in flight that are to fail. */
  private readonly failingSyncs = new Set<{ fails: boolean }>();
  /** Bytes of the files in the cache namespace, and how many they may grow to. */
  private used = 0;
  private capacity = Infinity;

  constructor(options: SimFsOptions) {
    this.prng = options.prng;
    this.latency = options.latency;
    this.now = options.now;
  }

  // --- time --------------------------------------------------------------------------------

  /** When the next fsync completes; Infinity when none is in flight. */
  nextTime(): number {
    return this.agenda.peekTime();
  }

  /** Completes the fsyncs due at or before `now`, in order; returns how many. The host drains
   *  the microtasks afterwards, so that the code awaiting them runs. */
  runDue(now: number): number {
    const due = this.agenda.popDue(now);
    for (const { item: complete } of due) complete();
    return due.length;
  }

  // --- crashes and faults --------------------------------------------------------------------

  /** Power loss or kernel crash (see the header). Returns what happened, for the trace. */
  crashMachine(): CrashSummary {
    this.killProcess();
    const summary: CrashSummary = { writesKept: 0, writesLost: 0, writesTorn: 0, namespaceOpsKept: 0, namespaceOpsLost: 0 };
    for (const dir of this.directories()) dir.crash(this.prng, summary);
    this.used = 0;
    for (const file of this.files()) {
      file.crash(this.prng, summary);
      file.linked = true;
      this.used += file.cache.size;
    }
    return summary;
  }

  /** The process dies; the machine, and its page cache, stay up (see the header). */
  killProcess(): void {
    this.process++;
    this.agenda = new TimedHeap();
    this.failingSyncs.clear();
  }

  /** The file system as the process running now sees it. Once that process is killed, every
   *  call it makes never settles — a dead process does nothing more — even a call by path that
   *  its promise chains were about to make when it died (handles are checked anyway). */
  forProcess(): StorageFs {
    const process = this.process;
    const alive = <T>(operation: () => Promise<T>): Promise<T> => (this.process === process ? operation() : never());
    return {
      open: (file, flags, mode) => alive(() => this.open(file, flags, mode)),
      readFile: (file) => alive(() => this.readFile(file)),
      readdir: (dir) => alive(() => this.readdir(dir)),
      mkdir: (dir, options) => alive(() => this.mkdir(dir, options)),
      chmod: (file, mode) => alive(() => this.chmod(file, mode)),
      rename: (from, to) => alive(() => this.rename(from, to)),
      unlink: (file) => alive(() => this.unlink(file)),
    };
  }

  /** The next fsync of `file` (of any file or directory if omitted) fails with EIO, and the
   *  changes it covered are clean but not durable (see the header). */
  failNextSync(file?: string): void {
    this.syncFailures.push(file === undefined ? undefined : resolve(file));
  }

  /** Whether an fsync failure is armed, or on its way in an fsync not yet completed. */
  get syncFailureArmed(): boolean {
    return this.syncFailures.length > 0 || this.failingSyncs.size > 0;
  }

  /** Takes back every fsync failure armed, even one an fsync in flight was to end with. */
  disarmSyncFailures(): void {
    this.syncFailures.length = 0;
    for (const failure of this.failingSyncs) failure.fails = false;
    this.failingSyncs.clear();
  }

  /** How many more bytes the files may grow by before writes fail with ENOSPC. */
  get spaceLeft(): number {
    return Math.max(0, this.capacity - this.used);
  }

  /** From now on the files may grow by `bytes` more (Infinity: no limit). */
  setSpace(bytes: number): void {
    assert.ok(bytes >= 0, `setSpace: ${bytes} bytes`);
    this.capacity = this.used + bytes;
  }

  /** Flips one bit of the synced content of `file`, on the disk and in the cache; by default a
   *  random bit of a random synced byte. Returns what it flipped. */
  flipBit(file: string, byteIndex?: number, bit?: number): BitFlip {
    const node = this.lookup(file, 'cache');
    assert.ok(node?.kind === 'file', `flipBit: no file ${file}`);
    assert.ok(node.durable.size > 0, `flipBit: ${file} holds no synced byte`);
    const index = byteIndex ?? this.prng.int(0, node.durable.size - 1);
    const flipped = bit ?? this.prng.int(0, 7);
    assert.ok(index >= 0 && index < node.durable.size && flipped >= 0 && flipped < 8, `flipBit: byte ${index} bit ${flipped} of ${file}`);
    node.durable.view()[index]! ^= 1 << flipped;
    if (index < node.cache.size) node.cache.view()[index]! ^= 1 << flipped;
    return { path: resolve(file), byteIndex: index, bit: flipped };
  }

  /** Flips a random bit of a random synced byte of a file in `dir` that `accept` takes (by
   *  default a segment or snapshot file); null if there is none. */
  flipRandomBit(dir: string, accept: (name: string) => boolean = (name) => JOURNAL_FILE.test(name)): BitFlip | null {
    const node = this.lookup(dir, 'cache');
    assert.ok(node?.kind === 'dir', `flipRandomBit: no directory ${dir}`);
    const names = [...node.cache].filter(([name, file]) => accept(name) && file.kind === 'file' && file.durable.size > 0).map(([name]) => name);
    return names.length === 0 ? null : this.flipBit(path.posix.join(resolve(dir), this.prng.pick(names.sort())));
  }

  /** The file and its name are gone, from the disk and from the cache. */
  loseFile(file: string): void {
    const { dir, name } = this.parentOf(file, 'lose');
    const node = dir.cache.get(name) ?? dir.durable.get(name);
    assert.ok(node?.kind === 'file', `loseFile: no file ${file}`);
    this.unlinked(dir.cache.get(name));
    dir.cache.delete(name);
    dir.durable.delete(name);
    for (const op of dir.pending) op.names = op.names.filter(([entry]) => entry !== name);
  }

  // --- inspection, for tests and the trace ---------------------------------------------------

  /** Whether reads of `file` and the disk's durable name of it reach the same file: false while
   *  a rename or create of that name is not yet synced (a power loss may then bring back another
   *  file under it, or none). */
  nameSettled(file: string): boolean {
    const cached = this.lookup(file, 'cache');
    return cached !== undefined && cached === this.lookup(file, 'durable');
  }

  /** What the disk holds under `file`, through the durable names; null if there is none. */
  readDurable(file: string): Buffer | null {
    const node = this.lookup(file, 'durable');
    return node?.kind === 'file' ? node.durable.copy() : null;
  }

  /** The names of the files in `dir` as reads see them, sorted. */
  fileNames(dir: string): string[] {
    const node = this.lookup(dir, 'cache');
    assert.ok(node?.kind === 'dir', `fileNames: no directory ${dir}`);
    return [...node.cache].filter(([, entry]) => entry.kind === 'file').map(([name]) => name).sort();
  }

  /** The mode of a file or directory as reads see it. */
  modeOf(file: string): number {
    const node = this.lookup(file, 'cache');
    assert.ok(node !== undefined, `modeOf: nothing at ${file}`);
    return node.mode;
  }

  // --- StorageFs ------------------------------------------------------------------------------

  /** The flags lib/storage uses: 'r' (a file, or a directory to fsync it), 'r+', 'w', 'wx'. */
  async open(file: string, flags: string, mode = 0o666): Promise<StorageFile> {
    const opened = (node: Node) => this.handle({ node, path: resolve(file), writable: flags !== 'r', process: this.process, closed: false });
    if (flags === 'r' || flags === 'r+') {
      const node = this.lookup(file, 'cache', 'open');
      if (node === undefined) throw fsError('ENOENT', 'open', file);
      if (flags === 'r+' && node.kind === 'dir') throw fsError('EISDIR', 'open', file);
      return opened(node);
    }
    if (flags !== 'w' && flags !== 'wx') throw new Error(`SimFs.open: flags '${flags}' are not simulated`);
    const { dir, name } = this.parentOf(file, 'open');
    const node = dir.cache.get(name);
    if (node !== undefined && flags === 'wx') throw fsError('EEXIST', 'open', file);
    if (node?.kind === 'dir') throw fsError('EISDIR', 'open', file);
    if (node === undefined) return opened(this.link(dir, name, new FileNode(mode)));
    this.truncateFile(node, 0);
    return opened(node);
  }

  async readFile(file: string): Promise<Buffer> {
    const node = this.lookup(file, 'cache', 'open');
    if (node === undefined) throw fsError('ENOENT', 'open', file);
    if (node.kind === 'dir') throw fsError('EISDIR', 'read', file);
    return node.cache.copy();
  }

  async readdir(dir: string): Promise<string[]> {
    const node = this.lookup(dir, 'cache', 'scandir');
    if (node === undefined) throw fsError('ENOENT', 'scandir', dir);
    if (node.kind === 'file') throw fsError('ENOTDIR', 'scandir', dir);
    return [...node.cache.keys()].sort();
  }

  async mkdir(dir: string, options: { recursive: true; mode: number }): Promise<string | undefined> {
    let parent = this.root;
    let walked = '/';
    let created: string | undefined;
    for (const name of parts(dir)) {
      walked = path.posix.join(walked, name);
      let node = parent.cache.get(name);
      if (node === undefined) {
        node = this.link(parent, name, new DirNode(options.mode));
        created ??= walked;
      }
      if (node.kind === 'file') throw fsError(walked === resolve(dir) ? 'EEXIST' : 'ENOTDIR', 'mkdir', dir);
      parent = node;
    }
    return created;
  }

  async chmod(file: string, mode: number): Promise<void> {
    const node = this.lookup(file, 'cache', 'chmod');
    if (node === undefined) throw fsError('ENOENT', 'chmod', file);
    node.mode = mode;
  }

  async rename(from: string, to: string): Promise<void> {
    const source = this.parentOf(from, 'rename');
    const target = this.parentOf(to, 'rename');
    const node = source.dir.cache.get(source.name);
    if (node === undefined) throw fsError('ENOENT', 'rename', from);
    if (source.dir !== target.dir) throw fsError('EXDEV', 'rename', from);
    if (node.kind === 'dir') throw new Error('SimFs.rename: renaming a directory is not simulated');
    const replaced = target.dir.cache.get(target.name);
    if (replaced?.kind === 'dir') throw fsError('EISDIR', 'rename', to);
    if (replaced === node) return;
    this.unlinked(replaced);
    source.dir.change([[source.name, null], [target.name, node]]);
  }

  async unlink(file: string): Promise<void> {
    const { dir, name } = this.parentOf(file, 'unlink');
    const node = dir.cache.get(name);
    if (node === undefined) throw fsError('ENOENT', 'unlink', file);
    if (node.kind === 'dir') throw fsError('EISDIR', 'unlink', file);
    this.unlinked(node);
    dir.change([[name, null]]);
  }

  // --- handles --------------------------------------------------------------------------------

  private handle(handle: Handle): StorageFile {
    return {
      write: (buffer, offset, length, position) => this.live(handle, 'write', () => this.write(handle, buffer.subarray(offset, offset + length), position)),
      datasync: () => this.live(handle, 'fdatasync', () => this.sync(handle, 'fdatasync')),
      sync: () => this.live(handle, 'fsync', () => this.sync(handle, 'fsync')),
      truncate: (length) => this.live(handle, 'ftruncate', async () => this.truncateFile(this.writableFile(handle, 'ftruncate'), length)),
      chmod: (mode) => this.live(handle, 'fchmod', async () => void (handle.node.mode = mode)),
      // As FileHandle.close: closing a closed handle is no error.
      close: () => (handle.process === this.process ? Promise.resolve(void (handle.closed = true)) : never()),
    };
  }

  /** Runs `operation` for a handle of the current process; a closed handle is EBADF, and a
   *  handle of a process that is gone never answers. */
  private live<T>(handle: Handle, syscall: string, operation: () => Promise<T>): Promise<T> {
    if (handle.process !== this.process) return never();
    if (handle.closed) return Promise.reject(fsError('EBADF', syscall, handle.path));
    return operation();
  }

  private writableFile(handle: Handle, syscall: string): FileNode {
    if (!handle.writable || handle.node.kind !== 'file') throw fsError('EBADF', syscall, handle.path);
    return handle.node;
  }

  /** Writes what fits in the space left; nothing fitting is ENOSPC. */
  private async write(handle: Handle, data: Uint8Array, position: number): Promise<{ bytesWritten: number }> {
    const file = this.writableFile(handle, 'write');
    const growth = Math.max(0, position + data.length - file.cache.size);
    const room = file.linked ? this.spaceLeft : Infinity;
    const bytesWritten = growth <= room ? data.length : Math.max(0, file.cache.size + room - position);
    if (data.length === 0) return { bytesWritten: 0 };
    if (bytesWritten === 0) throw fsError('ENOSPC', 'write', handle.path);
    const before = file.cache.size;
    file.change({ kind: 'write', offset: position, bytes: Buffer.from(data.subarray(0, bytesWritten)) });
    if (file.linked) this.used += file.cache.size - before;
    return { bytesWritten };
  }

  private truncateFile(file: FileNode, length: number): void {
    if (file.linked) this.used += length - file.cache.size;
    file.change({ kind: 'truncate', length });
  }

  /** An fsync: covers what was issued before it, completes after the latency, in call order
   *  for its file or directory; fails with EIO if a failure was armed for it. */
  private sync(handle: Handle, syscall: string): Promise<void> {
    const { node } = handle;
    const armed = this.syncFailures.findIndex((target) => target === undefined || target === handle.path);
    const failure = { fails: armed !== -1 };
    if (failure.fails) {
      this.syncFailures.splice(armed, 1);
      this.failingSyncs.add(failure);
    }
    const upTo = node.issued;
    const at = Math.max(this.now() + this.prng.int(this.latency.fsyncMin, this.latency.fsyncMax), node.syncsDoneAt);
    node.syncsDoneAt = at;
    return new Promise((done, failed) => {
      this.agenda.push(at, () => {
        this.failingSyncs.delete(failure);
        node.settleSync(upTo, !failure.fails);
        if (failure.fails) failed(fsError('EIO', syscall, handle.path));
        else done();
      });
    });
  }

  // --- names ----------------------------------------------------------------------------------

  private link<N extends Node>(dir: DirNode, name: string, node: N): N {
    if (node.kind === 'file') node.linked = true;
    dir.change([[name, node]]);
    return node;
  }

  /** A file leaves the cache namespace: its bytes no longer count against the space. */
  private unlinked(node: Node | undefined): void {
    if (node?.kind !== 'file' || !node.linked) return;
    node.linked = false;
    this.used -= node.cache.size;
  }

  /** The node at `file` through the names reads see ('cache') or the disk holds ('durable'). */
  private lookup(file: string, side: 'cache' | 'durable', syscall = 'lookup'): Node | undefined {
    let node: Node = this.root;
    for (const name of parts(file)) {
      if (node.kind === 'file') throw fsError('ENOTDIR', syscall, file);
      const next: Node | undefined = node[side].get(name);
      if (next === undefined) return undefined;
      node = next;
    }
    return node;
  }

  /** The directory that holds (or would hold) `file`, and its name there. */
  private parentOf(file: string, syscall: string): { dir: DirNode; name: string } {
    const resolved = resolve(file);
    assert.ok(resolved !== '/', `${syscall}: the root directory`);
    const dir = this.lookup(path.posix.dirname(resolved), 'cache', syscall);
    if (dir === undefined) throw fsError('ENOENT', syscall, file);
    if (dir.kind === 'file') throw fsError('ENOTDIR', syscall, file);
    return { dir, name: path.posix.basename(resolved) };
  }

  /** Every directory named in the cache or on the disk, parents first. */
  private directories(): DirNode[] {
    const found = new Set<DirNode>([this.root]);
    for (const dir of found) {
      for (const node of [...dir.cache.values(), ...dir.durable.values()]) if (node.kind === 'dir') found.add(node);
    }
    return [...found];
  }

  /** Every file named on the disk (after a crash the cache names are the disk's). */
  private files(): FileNode[] {
    const found = new Set<FileNode>();
    for (const dir of this.directories()) for (const node of dir.durable.values()) if (node.kind === 'file') found.add(node);
    return [...found];
  }
}

function resolve(file: string): string {
  return path.posix.resolve('/', file);
}

function parts(file: string): string[] {
  return resolve(file).split('/').filter((name) => name.length > 0);
}
