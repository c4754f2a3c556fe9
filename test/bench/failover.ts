// The failover section: kill -9 of the primary under a sequential sender, timed to the next
// acknowledged send, for N trials; the killed replica is restarted and the cluster left to
// settle between trials.

import type { ClusterRun } from './cluster-run.js';
import type { SendTally } from './tally.js';
import type { Options } from './options.js';
import { log, ms } from './report.js';
import { epochMs, median, round, sleep } from './stats.js';

export interface FailoverResult {
  trialsMs: number[];
  medianMs: number;
  worstMs: number;
  trials: FailoverTrial[];
  probe: SendTally;
}

export interface FailoverTrial {
  killed: number;
  viewBefore: number;
  failoverMs: number;
  ackReplica: number | null;
  /** From the logs: kill → the new primary's "view change: complete, primary" (detection and
   *  view change), and from there to the ack (the client finding the new primary). */
  viewChangeMs: number | null;
  clientMs: number | null;
  /** Views the cluster went through: to the ack's primary, and after the restart until it settled
   *  (more than 1 + 0 means a view change failed, or the restarted replica set one off). */
  viewsToAck: number | null;
  viewsAfterRestart: number | null;
  /** No send was acknowledged within FAILOVER_WAIT_MS; failoverMs is that wait, a lower bound. */
  noAck?: boolean;
}

/** How long a failover trial waits for the next acknowledged send before counting it failed. */
const FAILOVER_WAIT_MS = 30_000;

export async function runFailover(run: ClusterRun, options: Options): Promise<FailoverResult> {
  const { cluster, pool } = run;
  const trials: FailoverTrial[] = [];
  log(`failover: ${options.trials} trials of kill -9 of the primary under a sequential sender`);
  await pool.probeStart();
  let probe: SendTally;
  try {
    for (let trial = 1; trial <= options.trials + 1; trial++) {
      // Every trial starts from five replicas in one view that has held for a second.
      const settled = await cluster.waitForSettled(cluster.primaryCommit(), 1000, 120_000);
      const previous = trials.at(-1);
      if (previous && previous.viewsToAck !== null) previous.viewsAfterRestart = settled.view - (previous.viewBefore + previous.viewsToAck);
      if (trial > options.trials) break;
      trials.push(await failoverTrial(run, settled, trial));
    }
  } finally {
    probe = await pool.probeStop();
    run.stored += probe.acked;
  }
  const trialsMs = trials.map((t) => t.failoverMs);
  return { trialsMs, medianMs: median(trialsMs), worstMs: Math.max(...trialsMs), trials, probe };
}

/** Kills the primary of the settled view `settled`, waits for the next ack, restarts it. */
async function failoverTrial(run: ClusterRun, settled: { view: number; primary: number }, trial: number): Promise<FailoverTrial> {
  const { cluster, pool } = run;
  // Let the sender settle on the current primary: a trial must begin in steady state.
  await sleep(200);
  const killed = settled.primary;
  const killedAt = epochMs();
  await cluster.kill(killed);
  let ack: { t: number; replica: number | null };
  try {
    ack = await pool.probeAckAfter(killedAt, killed, FAILOVER_WAIT_MS);
  } catch {
    // Counted as a trial that took at least the wait: leaving it out would flatter the worst.
    cluster.start(killed);
    log(`  trial ${trial}: primary ${killed} killed, no acknowledged send within ${FAILOVER_WAIT_MS / 1000} s`);
    return { killed, viewBefore: settled.view, failoverMs: FAILOVER_WAIT_MS, ackReplica: null, viewChangeMs: null, clientMs: null, viewsToAck: null, viewsAfterRestart: null, noAck: true };
  }
  cluster.start(killed);
  // The new primary's log line says when its view change completed; give the log a moment.
  await sleep(100);
  const done = ack.replica === null ? undefined : cluster.logEvents(ack.replica, 'view change: complete, primary', killedAt).filter((e) => e.at <= ack.t + 1).at(-1);
  const ackView = done ? Number(/ view=(\d+) /.exec(done.line)?.[1]) : null;
  const t: FailoverTrial = {
    killed,
    viewBefore: settled.view,
    failoverMs: round(ack.t - killedAt, 1),
    ackReplica: ack.replica,
    viewChangeMs: done ? round(done.at - killedAt) : null,
    clientMs: done ? round(ack.t - done.at) : null,
    viewsToAck: ackView === null ? null : ackView - settled.view,
    viewsAfterRestart: null,
    noAck: false,
  };
  log(`  trial ${trial}: primary ${killed} killed, next ack from replica ${ack.replica} after ${ms(t.failoverMs)}` +
    (t.viewChangeMs === null ? '' : ` (view change done at ${ms(t.viewChangeMs)}, ${t.viewsToAck} view(s); client found it ${ms(t.clientMs!)} later)`));
  return t;
}
