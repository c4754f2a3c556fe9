// One bench run from start to report, and its end when interrupted. The sections run in a fixed
// order: the floor first, with nothing else running; then the sections that share the main
// cluster; then the seeded scale cluster, started only after the main one has stopped, so that
// no two clusters compete for the cores.

import { mkdirSync, rmSync } from 'node:fs';
import { runCatchup } from './catchup.js';
import { ClusterRun, loadPlan } from './cluster-run.js';
import { runFailover } from './failover.js';
import { measureFloor } from './floor.js';
import { runLatency } from './latency.js';
import type { Section } from './options.js';
import { collectProfiles } from './profiles.js';
import { log, us } from './report.js';
import type { BenchRun } from './run-context.js';
import { report } from './run-report.js';
import { runScale } from './scale.js';
import { runStartup } from './startup.js';
import { sleep } from './stats.js';
import { runThroughput } from './throughput.js';

type MainSection = Exclude<Section, 'floor' | 'scale'>;

/** The sections on the main cluster, in the order they run: each stores what it measured. */
const MAIN_SECTIONS: Record<MainSection, (run: BenchRun, main: ClusterRun) => Promise<void>> = {
  latency: async (run, main) => void (run.results.latency = await runLatency(main, run.options)),
  throughput: async (run, main) => {
    run.results.throughput = await runThroughput(main, run.options, run.profileDir);
    main.noteRoles();
  },
  failover: async (run, main) => void (run.results.failover = await runFailover(main, run.options)),
  catchup: async (run, main) => void (run.results.catchup = await runCatchup(main, run.options)),
  startup: async (run, main) => void (run.results.startup = await runStartup(main, run.options)),
};

/** Runs every section asked for and reports, unless interrupted: then `interrupt` reports. */
export async function runBench(run: BenchRun): Promise<void> {
  announce(run);
  if (run.profileDir) {
    rmSync(run.profileDir, { recursive: true, force: true });
    mkdirSync(run.profileDir, { recursive: true });
  }
  if (run.options.sections.has('floor')) await runFloor(run);
  await runMainCluster(run);
  if (run.options.sections.has('scale') && !run.interrupted) {
    const scale = await runScale(run);
    if (scale.failed) (run.results.failed ??= {}).scale = scale.failed;
  }
  if (run.interrupted) return;
  if (run.profileDir) run.results.profiles = collectProfiles(run.profileDir, run.roles);
  report(run, false);
}

/** The signal handler's part: tear down whatever is running, report what was measured. */
export function interrupt(run: BenchRun, signal: string): void {
  if (run.interrupted) return;
  run.interrupted = true;
  process.stderr.write(`\nbench: ${signal}, stopping every process it started\n`);
  const main = run.main;
  if (main) run.results.memory = { messages: main.stored, replicas: main.cluster.memory() };
  void run.tearDown().finally(() => {
    // Replicas profiled when stopped wrote their profiles on the way out.
    if (run.profileDir && main) run.results.profiles = collectProfiles(run.profileDir, main.roles);
    report(run, true);
    process.exit(130);
  });
}

function announce(run: BenchRun): void {
  const { options, provenance } = run;
  const { machine, git } = provenance;
  log(`Chat+ bench${options.quick ? ' (QUICK: fewer samples, smaller scale — not the figures at target scale)' : ''}: ${[...options.sections].join(', ')}`);
  log(`${machine.cpus} × ${machine.model}, ${machine.memory_gb} GB, node ${machine.node}; load average ${provenance.loadBefore} (busy machine ⇒ slow, noisy numbers)`);
  log(`data and fsync probe in ${options.dir}; code at ${git.commit}${git.dirty ? ' with uncommitted changes in lib/ or bin/' : ''}`);
}

async function runFloor(run: BenchRun): Promise<void> {
  const { quick, dir } = run.options;
  log('floor: fdatasync, group commit, loopback round trip, stream rates');
  const f = await measureFloor(run.children, { dir, fsyncSamples: quick ? 100 : 400, rttSamples: quick ? 1000 : 5000, streamMs: quick ? 500 : 2000 });
  run.results.floor = f;
  log(`  fdatasync p50 ${us(f.fsync_us.p50)}, rtt p50 ${us(f.rtt_us.p50)}, send floor ${us(f.send_floor_us)}`);
}

async function runMainCluster(run: BenchRun): Promise<void> {
  const { options } = run;
  const sections = (Object.keys(MAIN_SECTIONS) as MainSection[]).filter((s) => options.sections.has(s));
  if (sections.length === 0) return;
  log('starting a 5-replica cluster (fsync on)');
  const cluster = await run.startCluster();
  // The messages start-up and catch-up send, with room for what the other sections send.
  const plan = loadPlan(options, options.startupMessages + 2 * options.catchupMessages + 1_000_000);
  log(`starting ${plan.workerCount} load workers, ${plan.connectors} logged-in connectors, ${plan.recipients.length} recipients`);
  const main = await ClusterRun.start({ children: run.children, cluster, plan, runTag: '', roles: run.roles, stored: 0 });
  run.main = main;
  for (const name of sections) await runSection(run, main, name);
  if (run.interrupted) return; // the signal handler stops everything and reports
  await sleep(250);
  run.results.memory = { messages: main.stored, replicas: cluster.memory() };
  await main.close(options.keepData);
  run.main = null;
}

/** Each section on its own: one that fails is reported, and the next starts from a cluster
 *  with a primary again (and every replica running that was not left down on purpose). */
async function runSection(run: BenchRun, main: ClusterRun, name: MainSection): Promise<void> {
  if (run.interrupted) return;
  try {
    await main.cluster.waitForPrimary();
    await MAIN_SECTIONS[name](run, main);
  } catch (error) {
    if (run.interrupted) return; // what failed was the interruption, not the section
    log(`${name} FAILED: ${(error as Error).message}`);
    (run.results.failed ??= {})[name] = (error as Error).message;
    main.restartStopped();
  }
}
