// Starts and stops the replica processes of a local cluster and keeps the latest status each one
// reports. Each replica is a child process of its own (a real kill -9 kills only it), with an IPC
// channel for status reports and partition commands, and its log written to <data>/replica-<id>.log
// (owner-only, like the replica's data: its lines name the addresses clients connect from), read
// from its pipes at once and capped and rotated by log-file.ts, so that no log can stall the
// replica or fill its disk.

import { fork, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EventEmitter } from 'node:events';
import type { ReplicaServerStatus } from '../server/replica-server.js';
import { RotatingLogFile, type LogFileOptions } from './log-file.js';

/** What each replica process reports (ReplicaServer.status()). */
export type ReplicaStatus = ReplicaServerStatus;

export interface ReplicaSlot {
  id: number;
  process: ChildProcess | null;
  /** The latest status the replica reported, or null while it is down or starting. */
  status: ReplicaStatus | null;
  partitioned: boolean;
  /** How the last incarnation ended, for the console. */
  exit: string | null;
}

/** Where bin/server lives: next to this module in the build, or the TypeScript source under tsx. */
function serverEntry(): { script: string; execArgv: string[] } {
  const here = fileURLToPath(import.meta.url);
  const typescript = here.endsWith('.ts');
  const script = join(dirname(here), '..', '..', 'bin', typescript ? 'server.ts' : 'server.js');
  return { script, execArgv: typescript ? ['--import', 'tsx'] : [] };
}

export class ClusterLauncher extends EventEmitter {
  readonly slots: ReplicaSlot[];
  private readonly logs = new Map<number, RotatingLogFile>();

  constructor(
    private readonly configPath: string,
    private readonly dataDir: string,
    replicaCount: number,
    private readonly extraArgs: string[] = [],
    private readonly logOptions: LogFileOptions = {},
  ) {
    super();
    this.slots = Array.from({ length: replicaCount }, (_, id) => ({ id, process: null, status: null, partitioned: false, exit: null }));
  }

  start(id: number): void {
    const slot = this.slot(id);
    if (slot.process) return;
    const { script, execArgv } = serverEntry();
    const child = fork(script, ['--config', this.configPath, '--id', String(id), ...this.extraArgs], {
      execArgv,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    slot.process = child;
    slot.status = null;
    slot.exit = null;
    slot.partitioned = false;
    const log = this.logFor(id);
    log.attach(child.stdout!);
    log.attach(child.stderr!);
    child.on('message', (message: { type?: string; status?: ReplicaStatus }) => {
      if (message?.type === 'status' && message.status) {
        slot.status = message.status;
        this.emit('status', id, message.status);
      }
    });
    child.on('exit', (code, signal) => {
      if (slot.process !== child) return;
      slot.process = null;
      slot.status = null;
      slot.exit = signal ? `killed by ${signal}` : `exited with code ${code}`;
      this.emit('exit', id, slot.exit);
    });
    this.emit('start', id, child.pid);
  }

  /** kill -9: the replica gets no chance to flush or say goodbye, as in a power cut. */
  kill(id: number): boolean {
    const child = this.slot(id).process;
    if (!child) return false;
    child.kill('SIGKILL');
    return true;
  }

  setPartitioned(id: number, partitioned: boolean): boolean {
    const slot = this.slot(id);
    if (!slot.process?.connected) return false;
    slot.partitioned = partitioned;
    slot.process.send({ type: 'partition', partitioned });
    return true;
  }

  /** Stops every replica with SIGTERM, then SIGKILL for any still running after `graceMs`. */
  async stopAll(graceMs = 5000): Promise<void> {
    const running = this.slots.map((s) => s.process).filter((p): p is ChildProcess => p !== null);
    await Promise.all(running.map((child) => new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill('SIGTERM');
    })));
    await Promise.all([...this.logs.values()].map((log) => log.close()));
    this.logs.clear();
  }

  private slot(id: number): ReplicaSlot {
    const slot = this.slots[id];
    if (!slot) throw new RangeError(`no replica ${id} (ids are 0..${this.slots.length - 1})`);
    return slot;
  }

  private logFor(id: number): RotatingLogFile {
    let log = this.logs.get(id);
    if (!log) {
      log = new RotatingLogFile(join(this.dataDir, `replica-${id}.log`), this.logOptions);
      this.logs.set(id, log);
    }
    return log;
  }
}
