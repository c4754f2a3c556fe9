// The start-up figure: a backup that holds everything is killed and started again, timed from
// process start to its first hello answered, and to status normal. The start-up section takes
// it on the cluster the bench filled by sending, the scale section on the seeded one.

import type { BenchCluster } from './cluster.js';
import type { Roles } from './cluster-run.js';
import { log, ms } from './report.js';
import { epochMs, sleep } from './stats.js';

export interface RestartResult {
  servingMs: number;
  normalMs: number;
  resolutionMs: number;
  phases: Record<string, number | null>;
}

/** With profiling, the start-up is profiled until hello is answered. */
export async function measureRestart(cluster: BenchCluster, roles: Roles): Promise<RestartResult> {
  const backup = await upToDateBackup(cluster);
  log(`  restarting replica ${backup} (kill -9, then start)`);
  await cluster.kill(backup);
  const startedAt = cluster.start(backup, true);
  const servingAt = await cluster.waitForHello(backup, 600_000);
  cluster.profileStop(backup);
  roles.set(cluster.pid(backup)!, { replica: backup, role: 'start-up' });
  // Serving is the figure; status normal also needs a working primary, which a stalled cluster
  // may not have: then it is reported as not reached rather than failing the section.
  const normalAt = await cluster.waitFor(`replica ${backup} in status normal`, () => (cluster.status(backup)?.status === 'normal' ? epochMs() : undefined), 120_000).catch(() => NaN);
  await sleep(100);
  const phases = cluster.restartPhases(backup, startedAt);
  log(`  serving after ${ms(servingAt - startedAt)}, normal after ${ms(normalAt - startedAt)} ${JSON.stringify(phases)}`);
  return { servingMs: servingAt - startedAt, normalMs: normalAt - startedAt, resolutionMs: 200, phases };
}

/** The replica restarted must hold everything: a running backup that has executed the highest
 *  commit number any replica reports (after a stall, some may be stuck catching up). */
async function upToDateBackup(cluster: BenchCluster): Promise<number> {
  await sleep(400);
  const idPlusOne = await cluster.waitFor('a backup that has executed every committed op', () => {
    const statuses = cluster.launcher.slots.map((_, id) => cluster.status(id));
    const commit = Math.max(...statuses.map((st) => st?.commit ?? 0));
    const found = statuses.find((st) => st !== null && !st.isPrimary && st.executed >= commit);
    return found ? found.replica + 1 : undefined; // +1: replica 0 is a value too
  }, 120_000);
  return idPlusOne - 1;
}
