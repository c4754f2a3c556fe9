// A real 5-replica cluster for the benchmark: bin/server processes started by the production
// ClusterLauncher (fsync on, default options), on ports the OS reported free, with data in a
// fresh temporary directory that stop() removes.
//
// Status comes from the replicas' IPC reports (every 200 ms, and once at start-up), so waits
// on it have that resolution; the start-up figure uses a hello round trip instead, polled
// every few milliseconds.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClusterConfig } from '../../lib/server/config.js';
import { formatLocalCluster, writeLocalConfig } from '../../lib/cluster/local.js';
import { ClusterLauncher, type ReplicaStatus } from '../../lib/cluster/launcher.js';
import { Link, LinkLost } from '../../lib/client/link.js';
import { PROTOCOL_VERSION } from '../../lib/protocol/messages.js';
import { freePorts } from '../integration/harness.js';
import { epochMs, sleep } from './stats.js';

export interface ProfileOptions {
  /** Directory the replicas write <replica>-<pid>.cpuprofile into. */
  dir: string;
}

export interface BenchClusterOptions {
  /** The fresh data directory is made in here. */
  baseDir: string;
  replicas: number;
  profile: ProfileOptions | null;
  /** Writes into the formatted data directories before any replica starts (see seed.ts). */
  seed?: (config: ClusterConfig) => Promise<void>;
  /** How long the started replicas have to agree on a primary. */
  primaryTimeoutMs?: number;
  /** Extra bin/server flags for every replica. */
  serverArgs?: string[];
  /** The clusters an exiting bench must still kill and remove: this one is in it from before
   *  its first replica starts until it is stopped. */
  live: Set<BenchCluster>;
}

export class BenchCluster {
  /** Signals sent to start/stop profiling; see cpu-profile-hook.ts. */
  private profiling = false;

  private constructor(
    readonly dir: string,
    readonly config: ClusterConfig,
    readonly launcher: ClusterLauncher,
    private readonly profile: ProfileOptions | null,
    private readonly live: Set<BenchCluster>,
  ) {}

  /** Formats a fresh cluster, lets `seed` write into the formatted directories, starts every
   *  replica and waits for a primary. */
  static async start(options: BenchClusterOptions): Promise<BenchCluster> {
    const { replicas, serverArgs = [], live } = options;
    const dir = mkdtempSync(join(options.baseDir, 'chatplus-bench-'));
    const ports = await freePorts(replicas * 2);
    const { config, configPath } = writeLocalConfig(dir, ports.slice(0, replicas), ports.slice(replicas), 'bench');
    const cluster = new BenchCluster(dir, config, new ClusterLauncher(configPath, dir, replicas, serverArgs), options.profile, live);
    live.add(cluster);
    try {
      await formatLocalCluster(config);
      await options.seed?.(config);
      for (let id = 0; id < replicas; id++) cluster.start(id);
      await cluster.waitForPrimary(options.primaryTimeoutMs ?? 60_000);
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  get addresses(): string[] {
    return this.config.replicas.map((r) => r.client);
  }

  status(id: number): ReplicaStatus | null {
    const slot = this.launcher.slots[id]!;
    return slot.process ? slot.status : null;
  }

  pid(id: number): number | null {
    return this.launcher.slots[id]!.process?.pid ?? null;
  }

  describe(): string {
    return JSON.stringify(this.launcher.slots.map((s) => s.status && { r: s.status.replica, st: s.status.status, v: s.status.view, op: s.status.op, c: s.status.commit, x: s.status.executed }));
  }

  /** Starts replica `id` and returns the instant (epoch ms) just before its process was forked.
   *  With profiling on, the process gets the profiling hook through NODE_OPTIONS (the launcher
   *  passes our environment on; it has no other way in, and lib/ is not ours to change);
   *  `profileFromStart` profiles its start-up until the next profileStop(id). */
  start(id: number, profileFromStart = false): number {
    const saved = { options: process.env.NODE_OPTIONS, file: process.env.CHATPLUS_BENCH_PROFILE_DIR, now: process.env.CHATPLUS_BENCH_PROFILE_NOW };
    if (this.profile) {
      const hook = fileURLToPath(new URL('./cpu-profile-hook.js', import.meta.url));
      process.env.NODE_OPTIONS = `${saved.options ?? ''} --import ${hook}`.trim();
      process.env.CHATPLUS_BENCH_PROFILE_DIR = this.profile.dir;
      if (profileFromStart) process.env.CHATPLUS_BENCH_PROFILE_NOW = '1';
    }
    try {
      const at = epochMs();
      this.launcher.start(id);
      return at;
    } finally {
      restoreEnv('NODE_OPTIONS', saved.options);
      restoreEnv('CHATPLUS_BENCH_PROFILE_DIR', saved.file);
      restoreEnv('CHATPLUS_BENCH_PROFILE_NOW', saved.now);
    }
  }

  /** Ends the start-up profile of replica `id` (see start). */
  profileStop(id: number): void {
    if (this.profile) this.launcher.slots[id]!.process?.kill('SIGUSR2');
  }

  /** kill -9, and wait until the process is gone. */
  async kill(id: number): Promise<void> {
    const child = this.launcher.slots[id]!.process;
    if (!child) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await gone;
  }

  /** Polls `check` until it returns a value, or throws after `timeoutMs`. */
  async waitFor<T>(what: string, check: () => T | undefined | null | false, timeoutMs: number, pollMs = 5): Promise<T> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const value = check();
      if (value !== undefined && value !== null && value !== false) return value;
      if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; cluster: ${this.describe()}`);
      await sleep(pollMs);
    }
  }

  /** A primary in a normal view that a majority of the running replicas share. */
  waitForPrimary(timeoutMs = 60_000): Promise<number> {
    const majority = Math.floor(this.config.replicas.length / 2) + 1;
    return this.waitFor('a primary with a majority in its view', () => {
      const live = this.launcher.slots.map((_, id) => this.status(id)).filter((s): s is ReplicaStatus => s !== null);
      const primary = live.find((s) => s.isPrimary && s.status === 'normal');
      if (!primary) return undefined;
      const inView = live.filter((s) => s.view === primary.view && s.status === 'normal').length;
      return inView >= majority ? primary.replica + 1 : undefined; // +1: replica 0 is a value too
    }, timeoutMs).then((idPlusOne) => idPlusOne - 1);
  }

  /** A running replica other than the primary. */
  async runningBackup(): Promise<number> {
    const primary = await this.waitForPrimary();
    const count = this.config.replicas.length;
    for (let step = 1; step < count; step++) {
      const id = (primary + step) % count;
      if (this.pid(id) !== null) return id;
    }
    throw new Error('no running backup');
  }

  /** The highest view in the replicas' latest status reports. */
  highestView(): number {
    return Math.max(...this.launcher.slots.map((_, id) => this.status(id)?.view ?? 0));
  }

  /** The primary's commit number, as last reported. */
  primaryCommit(): number {
    for (let id = 0; id < this.config.replicas.length; id++) {
      const s = this.status(id);
      if (s?.isPrimary && s.status === 'normal') return s.commit;
    }
    return -1;
  }

  /** Waits until replica `id` is normal in the primary's view and has executed `op`. */
  waitForCaughtUp(id: number, op: number, timeoutMs: number): Promise<true> {
    return this.waitFor(`replica ${id} to execute op ${op}`, () => {
      const s = this.status(id);
      return s !== null && s.status === 'normal' && s.executed >= op ? true : undefined;
    }, timeoutMs);
  }

  /** Waits until every replica is running, normal, in one view, and has executed `op`, and
   *  that view has held for `stableMs`: a restarted replica can set off a view change a little
   *  after it rejoined, and a trial that began during one would measure two failovers. */
  async waitForSettled(op: number, stableMs: number, timeoutMs: number): Promise<{ view: number; primary: number }> {
    let since = performance.now();
    let lastView = -1;
    return this.waitFor(`all replicas normal in one view at op ${op} for ${stableMs} ms`, () => {
      const all = this.launcher.slots.map((_, id) => this.status(id));
      const view = all[0]?.view ?? -1;
      const settled = all.every((s) => s !== null && s.status === 'normal' && s.view === view && s.executed >= op);
      if (!settled || view !== lastView) {
        since = performance.now();
        lastView = settled ? view : -1;
        return undefined;
      }
      if (performance.now() - since < stableMs) return undefined;
      return { view, primary: all.find((s) => s!.isPrimary)!.replica };
    }, timeoutMs);
  }

  /** Instants (epoch ms) of replica `id`'s log lines for `event` after `after`. Read from the
   *  log file the launcher writes; the lines' ISO timestamps have millisecond resolution.
   *  Empty if the log format changed: these are for the breakdown, never the figure itself. */
  logEvents(id: number, event: string, after: number): Array<{ at: number; line: string }> {
    let text: string;
    try {
      text = readFileSync(join(this.dir, `replica-${id}.log`), 'utf8');
    } catch {
      return [];
    }
    const out: Array<{ at: number; line: string }> = [];
    for (const line of text.split('\n')) {
      // The logger quotes a value holding spaces; older builds did not quote the event name.
      if (!line.includes(`event="${event}"`) && !line.includes(`event=${event} `)) continue;
      const at = Date.parse(line.slice(0, line.indexOf(' ')));
      if (Number.isFinite(at) && at > after) out.push({ at, line });
    }
    return out;
  }

  /** Where a restart's time went, from the restarted replica's own log lines (ms after fork):
   *  'replica-loaded' follows opening the journal and rebuilding the state; 'listening' follows
   *  opening its sockets; the last state-transfer line is when the missing log had arrived. */
  restartPhases(id: number, startedAt: number): Record<string, number | null> {
    const first = (event: string) => {
      const at = this.logEvents(id, event, startedAt)[0]?.at;
      return at === undefined ? null : Math.round(at - startedAt);
    };
    const last = (event: string) => {
      const at = this.logEvents(id, event, startedAt).at(-1)?.at;
      return at === undefined ? null : Math.round(at - startedAt);
    };
    return {
      loadedMs: first('replica-loaded'),
      listeningMs: first('listening'),
      lastStateTransferMs: last('state transfer: received') ?? last('state transfer: repaired'),
      normalMs: last('view change: complete, backup'),
    };
  }

  /** Polls replica `id`'s client port with hello until one is answered; returns that instant. */
  async waitForHello(id: number, timeoutMs: number): Promise<number> {
    const address = this.config.replicas[id]!.client;
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      try {
        const link = await Link.open(address, 1000);
        try {
          const reply = await link.request({ type: 'hello', version: PROTOCOL_VERSION }, Math.max(1, deadline - performance.now()));
          const at = epochMs();
          if (reply.ok) return at;
        } finally {
          link.close();
        }
      } catch (error) {
        if (!(error instanceof LinkLost)) throw error;
      }
      if (performance.now() > deadline) throw new Error(`replica ${id} did not answer hello within ${timeoutMs} ms`);
      await sleep(2);
    }
  }

  /** Resident set size (and its peak) of each running replica, from /proc (Linux only). */
  memory(): Array<{ replica: number; rss_mb: number; peak_rss_mb: number } | null> {
    return this.launcher.slots.map((slot) => {
      const pid = slot.process?.pid;
      if (pid === undefined) return null;
      try {
        const text = readFileSync(`/proc/${pid}/status`, 'utf8');
        const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
        return { replica: slot.id, rss_mb: Math.round(kb('VmRSS') / 1024), peak_rss_mb: Math.round(kb('VmHWM') / 1024) };
      } catch {
        return null;
      }
    });
  }

  /** Starts (first call) or stops and writes (second call) the CPU profile of every running
   *  replica. A no-op unless the cluster was started with profiling. */
  toggleProfiling(): boolean {
    if (!this.profile) return false;
    this.profiling = !this.profiling;
    for (const slot of this.launcher.slots) slot.process?.kill('SIGUSR2');
    return this.profiling;
  }

  /** SIGTERM (a profiled replica writes its profile on the way out), SIGKILL after 5 s; then
   *  the data is removed unless `keepData`. */
  async stop(keepData = false): Promise<void> {
    await this.launcher.stopAll(5000);
    if (!keepData) rmSync(this.dir, { recursive: true, force: true });
    this.live.delete(this);
  }

  /** The last resort, synchronous for an 'exit' handler: SIGKILL every replica, remove the data. */
  killNow(): void {
    for (const slot of this.launcher.slots) slot.process?.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
    this.live.delete(this);
  }
}

function restoreEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}
