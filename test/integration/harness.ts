// Real processes for integration tests: a cluster of bin/server processes on 127.0.0.1 ports the
// OS picked as free, data in a temporary directory, every process killed and every file removed in
// teardown. Waits are bounded and fail with a message saying what was awaited and what was seen.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:net';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import type { ClusterConfig } from '../../lib/server/config.js';
import { formatLocalCluster, writeLocalConfig } from '../../lib/cluster/local.js';
import { ClusterLauncher, type ReplicaStatus } from '../../lib/cluster/launcher.js';

export const ROOT = new URL('../..', import.meta.url).pathname;
const POLL_MS = 20;

/** Ports the OS reports free right now (held open together so they are distinct). */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  const ports: number[] = [];
  for (let i = 0; i < count; i++) {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    ports.push((server.address() as { port: number }).port);
  }
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => T | undefined, timeoutMs = 20_000, describe?: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${describe ? `; state: ${describe()}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

export class TestCluster {
  private constructor(
    readonly dir: string,
    readonly config: ClusterConfig,
    readonly configPath: string,
    readonly launcher: ClusterLauncher,
  ) {}

  static async start(replicas: number, extraArgs: string[] = []): Promise<TestCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'chatplus-it-'));
    const ports = await freePorts(replicas * 2);
    const { config, configPath } = writeLocalConfig(dir, ports.slice(0, replicas), ports.slice(replicas), 'test');
    await formatLocalCluster(config);
    const launcher = new ClusterLauncher(configPath, dir, replicas, extraArgs);
    const cluster = new TestCluster(dir, config, configPath, launcher);
    for (let id = 0; id < replicas; id++) launcher.start(id);
    await cluster.waitForPrimary();
    return cluster;
  }

  get addresses(): string[] {
    return this.config.replicas.map((r) => r.client);
  }

  statuses(): Array<ReplicaStatus | null> {
    return this.launcher.slots.map((s) => (s.process ? s.status : null));
  }

  describe(): string {
    return JSON.stringify(this.statuses().map((s) => s && { r: s.replica, st: s.status, v: s.view, p: s.isPrimary, op: s.op, c: s.commit }));
  }

  /** Waits until some running replica reports itself primary in a normal view, and a majority of
   *  running replicas share that view. Returns the primary's id. */
  async waitForPrimary(options: { not?: number; timeoutMs?: number } = {}): Promise<number> {
    const majority = Math.floor(this.config.replicas.length / 2) + 1;
    return waitFor('a primary with a majority in its view', () => {
      const live = this.statuses().filter((s): s is ReplicaStatus => s !== null);
      const primary = live.find((s) => s.isPrimary && s.status === 'normal' && s.replica !== options.not);
      if (!primary) return undefined;
      const inView = live.filter((s) => s.view === primary.view && s.status === 'normal').length;
      return inView >= majority ? primary.replica : undefined;
    }, options.timeoutMs ?? 30_000, () => this.describe());
  }

  /** The first status replica `id` reports after this call, so it reflects everything that
   *  happened before the call (the status the launcher holds can be up to one report interval old). */
  async freshStatus(id: number, timeoutMs = 10_000): Promise<ReplicaStatus> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.launcher.off('status', onStatus);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for a status report from replica ${id}; state: ${this.describe()}`));
      }, timeoutMs);
      const onStatus = (from: number, status: ReplicaStatus) => {
        if (from !== id) return;
        clearTimeout(timer);
        this.launcher.off('status', onStatus);
        resolve(status);
      };
      this.launcher.on('status', onStatus);
    });
  }

  /** Waits until every running replica has executed at least `commit` ops. */
  async waitForCatchUp(ids: number[], commit: number, timeoutMs = 30_000): Promise<void> {
    await waitFor(`replicas ${ids.join(',')} to execute op ${commit}`, () => {
      const all = ids.every((id) => (this.statuses()[id]?.executed ?? -1) >= commit);
      return all ? true : undefined;
    }, timeoutMs, () => this.describe());
  }

  kill(id: number): Promise<void> {
    const child = this.launcher.slots[id]!.process;
    if (!child) return Promise.resolve();
    return new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }

  async restart(id: number): Promise<void> {
    this.launcher.start(id);
    await waitFor(`replica ${id} to report status`, () => (this.launcher.slots[id]!.status ? true : undefined), 30_000, () => this.describe());
  }

  async stop(): Promise<void> {
    await this.launcher.stopAll(2000);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Runs bin/client in script mode with `input` on its standard input; resolves with its output. */
export async function runClientScript(addresses: string[], input: string, timeoutMs = 30_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnClient(addresses);
  child.stdin.end(input);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
  const code = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`bin/client did not finish within ${timeoutMs} ms; output so far:\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.once('exit', (exitCode) => {
      clearTimeout(timer);
      resolve(exitCode);
    });
  });
  return { code, stdout, stderr };
}

export function spawnClient(addresses: string[]): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bin/client.ts'), '--server', addresses.join(',')], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}
