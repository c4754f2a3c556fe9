// The start-up section: messages sent until the cluster stores --startup-messages (or the time
// budget runs out, or it stops making progress), then a backup restarted and timed.

import type { ClusterRun } from './cluster-run.js';
import type { Options } from './options.js';
import { failures, int, log, ms } from './report.js';
import { measureRestart, type RestartResult } from './restart.js';

export type StartupResult = { messages: number; loadMs: number; loadStopped: string | null; loadViewChanges: number } & RestartResult;

/** One round of loadUntil: long enough to ride out a snapshot or a view change, short enough
 *  that a stalled cluster is noticed soon. */
const LOAD_ROUND_MS = 30_000;

export async function runStartup(run: ClusterRun, options: Options): Promise<StartupResult> {
  const want = options.startupMessages;
  log(`start-up: sending messages until ${int(want)} are stored (budget ${options.loadBudgetS} s); ${int(run.stored)} so far`);
  const viewBefore = run.cluster.highestView();
  const load = await loadUntil(run, want, options.loadBudgetS);
  // A cluster that slows down as its state grows shows it first as view changes while sending.
  const loadViewChanges = run.cluster.highestView() - viewBefore;
  log(`  ${loadViewChanges} view change(s) while sending`);
  if (load.stopped) log(`  ${load.stopped}: measuring with ${int(run.stored)} messages instead of ${int(want)}`);
  const restart = await measureRestart(run.cluster, run.roles);
  return { messages: run.stored, loadMs: load.ms, loadStopped: load.stopped, loadViewChanges, ...restart };
}

/** Sends messages until `want` are stored, in rounds of at most LOAD_ROUND_MS. Stops early,
 *  saying why, when the time budget is spent or when a whole round stored almost nothing: a
 *  cluster that has stopped making progress would otherwise hold the run for the budget. */
async function loadUntil(run: ClusterRun, want: number, budgetS: number): Promise<{ ms: number; stopped: string | null }> {
  const started = performance.now();
  while (run.stored < want) {
    const left = budgetS * 1000 - (performance.now() - started);
    if (left <= 0) return { ms: performance.now() - started, stopped: `the time budget of ${budgetS} s was spent` };
    const result = await run.load(want - run.stored, Math.min(LOAD_ROUND_MS, left));
    log(`  ${int(run.stored)} stored (${int(result.tally.acked / (result.ms / 1000))}/s in the last ${int(result.tally.acked)}${failures(result.tally)})`);
    if (result.tally.acked < LOAD_ROUND_MS / 1000) {
      return { ms: performance.now() - started, stopped: `the cluster stopped making progress: ${int(result.tally.acked)} sends stored in ${ms(result.ms)}${failures(result.tally)}` };
    }
  }
  return { ms: performance.now() - started, stopped: null };
}
