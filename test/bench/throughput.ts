// The throughput section: acknowledged sends per second at each in-flight level, with the CPU
// each role spent per send. With --profile, every replica is profiled during the highest level.

import type { ClusterRun } from './cluster-run.js';
import type { SendTally } from './tally.js';
import type { Options } from './options.js';
import { int, log, ms } from './report.js';
import { cpuSeconds, round, summarize, type Summary } from './stats.js';

export interface ThroughputLevel {
  inFlight: number;
  perSecond: number;
  latencyMs: Summary;
  tally: SendTally;
  cpu: CpuCost;
}

/** CPU time per acknowledged send, from /proc: what each role spent, whatever else the machine
 *  was doing. On a shared 2-core box this is steadier than the rate itself: the rate says how
 *  fast it went today, the CPU cost says how fast it could go with the cores to itself. */
export interface CpuCost {
  primaryUsPerSend: number;
  /** The part of primaryUsPerSend spent in the kernel (socket writes and reads, fsync). */
  primarySystemUsPerSend: number;
  backupUsPerSend: number;
  clientsUsPerSend: number;
  /** Everything: 5 replicas and the load workers. */
  allUsPerSend: number;
  /** Cores the primary kept busy on average in the window (1 = one core all the time). */
  primaryCores: number;
  allCores: number;
}

type CpuSample = Array<{ user: number; system: number }>;

export async function runThroughput(run: ClusterRun, options: Options, profileDir: string | null): Promise<ThroughputLevel[]> {
  const out: ThroughputLevel[] = [];
  const top = Math.max(...options.inFlight);
  for (const inFlight of options.inFlight) {
    out.push(await measureLevel(run, options, inFlight, profileDir !== null && inFlight === top));
  }
  return out;
}

async function measureLevel(run: ClusterRun, options: Options, inFlight: number, profiling: boolean): Promise<ThroughputLevel> {
  const { cluster, pool } = run;
  const warmMs = options.quick ? 1000 : 3000;
  const measureMs = options.durationS * 1000;
  log(`throughput: ${inFlight} in flight, ${options.durationS} s measured after ${warmMs / 1000} s warm-up`);
  const primary = await cluster.waitForPrimary();
  const pids = [...Array.from({ length: 5 }, (_, id) => cluster.pid(id) ?? -1), ...pool.pids()];
  const sampleAt = (afterMs: number) => new Promise<CpuSample>((resolve) => setTimeout(() => resolve(pids.map(cpuSeconds)), afterMs));
  const before = sampleAt(warmMs);
  const after = sampleAt(warmMs + measureMs);
  // Profile the measured window only: the steady state, not the warm-up.
  if (profiling) setTimeout(() => cluster.toggleProfiling(), warmMs).unref();
  const result = await pool.throughput(inFlight, warmMs, measureMs);
  if (profiling) cluster.toggleProfiling();
  run.stored += result.tally.acked;
  const cpu = cpuCost(await before, await after, primary, result.tally.acked, measureMs);
  const latencyMs = summarize(result.latencies);
  log(`  ${int(result.perSecond)} acked sends/s, p50 ${ms(latencyMs.p50, 1)}; primary ${int(cpu.primaryUsPerSend)} µs CPU/send (${cpu.primaryCores.toFixed(2)} cores busy)`);
  return { inFlight, perSecond: result.perSecond, latencyMs, tally: result.tally, cpu };
}

/** Turns /proc CPU samples (5 replicas, then the load workers) into CpuCost. */
function cpuCost(before: CpuSample, after: CpuSample, primary: number, acked: number, windowMs: number): CpuCost {
  const user = after.map((x, i) => x.user - before[i]!.user);
  const system = after.map((x, i) => x.system - before[i]!.system);
  const spent = user.map((u, i) => u + system[i]!);
  const sum = (xs: number[]) => xs.filter(Number.isFinite).reduce((a, b) => a + b, 0);
  const perSend = (seconds: number) => (acked > 0 ? round((seconds * 1e6) / acked, 1) : NaN);
  const backups = spent.slice(0, 5).filter((_, id) => id !== primary);
  return {
    primaryUsPerSend: perSend(spent[primary]!),
    primarySystemUsPerSend: perSend(system[primary]!),
    backupUsPerSend: perSend(sum(backups) / backups.length),
    clientsUsPerSend: perSend(sum(spent.slice(5))),
    allUsPerSend: perSend(sum(spent)),
    primaryCores: round(spent[primary]! / (windowMs / 1000), 2),
    allCores: round(sum(spent) / (windowMs / 1000), 2),
  };
}
