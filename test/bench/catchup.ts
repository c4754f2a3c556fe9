// The catch-up section: a backup killed, messages sent without it, then restarted — timed until
// it has executed everything committed meanwhile. The scale section repeats it on the seeded
// cluster.

import type { ClusterRun } from './cluster-run.js';
import type { Options } from './options.js';
import { failures, int, log, ms } from './report.js';
import { epochMs, sleep } from './stats.js';

export interface CatchupResult {
  missed: number;
  /** Messages stored in the cluster when the replica restarted (the state it had to get). */
  stored: number;
  targetOp: number;
  servingMs: number;
  caughtUpMs: number;
  resolutionMs: number;
  phases: Record<string, number | null>;
}

/** The most the catch-up section spends sending the messages the restarted replica missed. */
const CATCHUP_LOAD_MS = 300_000;

export async function runCatchup(run: ClusterRun, options: Options): Promise<CatchupResult> {
  const backup = await run.cluster.runningBackup();
  log(`catch-up: replica ${backup} killed, ${int(options.catchupMessages)} messages sent without it (${int(run.stored)} stored before)`);
  await run.cluster.kill(backup);
  const missed = await sendWithout(run, backup, options.catchupMessages);
  // Let the primary's next status report carry the final commit number.
  await sleep(400);
  return restartAndCatchUp(run, backup, missed, options.quick);
}

/** Sends `count` messages while `backup` is down; returns how many were stored. */
async function sendWithout(run: ClusterRun, backup: number, count: number): Promise<number> {
  const loaded = await run.load(count, CATCHUP_LOAD_MS);
  log(`  loaded in ${ms(loaded.ms)} (${int(loaded.tally.acked / (loaded.ms / 1000))}/s${failures(loaded.tally)})`);
  if (loaded.tally.acked < count * 0.9) {
    // Restarting it now would only add a snapshot transfer to a cluster already in trouble.
    run.down.add(backup);
    throw new Error(`sending the ${int(count)} messages stalled: ${int(loaded.tally.acked)} stored in ${ms(loaded.ms)}${failures(loaded.tally)}; replica ${backup} is left down`);
  }
  return loaded.tally.acked;
}

async function restartAndCatchUp(run: ClusterRun, backup: number, missed: number, quick: boolean): Promise<CatchupResult> {
  const { cluster } = run;
  const targetOp = cluster.primaryCommit();
  const viewBefore = cluster.status(await cluster.waitForPrimary())!.view;
  const startedAt = cluster.start(backup);
  const servingAt = await cluster.waitForHello(backup, 600_000);
  // The target is 2 s; a few minutes without catching up is a failure, not a slow figure.
  const limitMs = quick ? 60_000 : 180_000;
  try {
    await cluster.waitForCaughtUp(backup, targetOp, limitMs);
  } catch {
    const views = cluster.highestView() - viewBefore;
    await cluster.kill(backup);
    run.down.add(backup);
    throw new Error(`replica ${backup} had not caught up to op ${targetOp} after ${limitMs / 1000} s; the cluster went through ${views} view changes meanwhile; replica ${backup} is left down for the rest of the run`);
  }
  const caughtUpAt = epochMs();
  await sleep(100);
  const phases = { ...cluster.restartPhases(backup, startedAt), viewChanges: cluster.highestView() - viewBefore };
  log(`  serving after ${ms(servingAt - startedAt)}, caught up to op ${targetOp} after ${ms(caughtUpAt - startedAt)} ${JSON.stringify(phases)}`);
  return { missed, stored: run.stored, targetOp, servingMs: servingAt - startedAt, caughtUpMs: caughtUpAt - startedAt, resolutionMs: 200, phases };
}
