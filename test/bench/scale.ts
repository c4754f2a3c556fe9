// The scale section: a second cluster whose replicas start holding --scale-messages messages,
// seeded straight into their data directories (seed.ts), because sending that many takes longer
// than a bench can wait. On it: start-up of a backup, RSS per replica, and the catch-up again.

import type { ClusterConfig } from '../../lib/server/config.js';
import type { BenchCluster } from './cluster.js';
import { ClusterRun, loadPlan, TEXT_BYTES } from './cluster-run.js';
import { runCatchup, type CatchupResult } from './catchup.js';
import { int, log, ms } from './report.js';
import { measureRestart, type RestartResult } from './restart.js';
import type { Memory } from './results.js';
import type { BenchRun } from './run-context.js';
import { seedCluster } from './seed.js';

export interface ScaleResult {
  messages: number;
  /** Seeding the data directories, then starting all five replicas from them. */
  seedMs: number;
  clusterStartMs: number;
  startup?: RestartResult;
  memory?: Memory;
  catchup?: CatchupResult;
  failed?: string;
}

/** Stores its result in run.results.scale as soon as the cluster has started, and fills it in
 *  as it goes, so that an interrupted run still reports what was measured. A failure after that
 *  is the section's, reported in the result. */
export async function runScale(run: BenchRun): Promise<ScaleResult> {
  const { cluster, out } = await startSeeded(run);
  run.results.scale = out;
  let load: ClusterRun | null = null;
  try {
    await cluster.waitForSettled(cluster.primaryCommit(), 1000, 600_000);
    out.startup = await measureRestart(cluster, run.roles);
    await cluster.waitForSettled(cluster.primaryCommit(), 1000, 600_000);
    out.memory = cluster.memory();
    log(`  RSS per replica: ${out.memory.map((m) => (m ? `${m.rss_mb} MB` : 'down')).join(', ')}`);
    load = await ClusterRun.start({ children: run.children, cluster, plan: loadPlan(run.options, run.options.catchupMessages), runTag: 'x', roles: run.roles, stored: out.messages });
    out.catchup = await runCatchup(load, run.options);
  } catch (error) {
    out.failed = (error as Error).message;
    log(`scale FAILED: ${out.failed}`);
  } finally {
    await load?.pool.close();
    await cluster.stop(run.options.keepData);
  }
  return out;
}

async function startSeeded(run: BenchRun): Promise<{ cluster: BenchCluster; out: ScaleResult }> {
  const messages = run.options.scaleMessages;
  log(`scale: seeding a new 5-replica cluster with ${int(messages)} messages (a snapshot in each data directory), then starting it`);
  let seedMs = 0;
  const started = performance.now();
  const seed = async (config: ClusterConfig) => {
    const seedStart = performance.now();
    await seedCluster(config, messages, TEXT_BYTES);
    seedMs = performance.now() - seedStart;
  };
  const cluster = await run.startCluster({ seed, primaryTimeoutMs: 600_000 });
  const out: ScaleResult = { messages, seedMs: Math.round(seedMs), clusterStartMs: Math.round(performance.now() - started - seedMs) };
  log(`  seeded in ${ms(seedMs)}; five replicas loaded it and chose a primary after another ${ms(out.clusterStartMs)}`);
  return { cluster, out };
}
