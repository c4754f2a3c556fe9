// A running cluster with its load workers, and what the sections measured on it share: how many
// messages it stores so far (the scale the next figure is taken at), and which replicas were
// left down on purpose.

import type { Children } from './children.js';
import type { BenchCluster } from './cluster.js';
import type { Options } from './options.js';
import type { SendTally } from './tally.js';
import { LoadPool } from './workers.js';

export const TEXT_BYTES = 200;

/** pid → replica and role, to name the CPU profiles. */
export type Roles = Map<number, { replica: number; role: string }>;

export interface LoadPlan {
  workerCount: number;
  connectorsPerWorker: number;
  /** Logged-in connectors needed: the highest in-flight level, and at least 16. */
  connectors: number;
  recipients: string[];
}

/** Mailboxes hold at most MAILBOX_MESSAGES_MAX (10,000) messages; spread `expectedMessages`
 *  over enough recipients that none fills up. */
export function loadPlan(options: Options, expectedMessages: number): LoadPlan {
  const connectors = Math.max(...options.inFlight, 16);
  return {
    workerCount: options.workers,
    connectorsPerWorker: Math.ceil(connectors / options.workers),
    connectors,
    recipients: Array.from({ length: Math.max(64, Math.ceil(expectedMessages / 8000)) }, (_, i) => `r${i}`),
  };
}

export class ClusterRun {
  /** Replicas left down on purpose: one that could not catch up would otherwise keep the
   *  cluster changing views for the rest of the run, and nothing after it would measure. */
  readonly down = new Set<number>();

  private constructor(
    readonly cluster: BenchCluster,
    readonly pool: LoadPool,
    readonly roles: Roles,
    /** Messages acknowledged as stored so far (every ok send), across sections. */
    public stored: number,
  ) {}

  /** Starts the load workers of `plan` against `cluster`, which already holds `stored` messages;
   *  they are forked through `children`, the run's, so that its tear-down kills them. */
  static async start({ children, cluster, plan, runTag, roles, stored }: { children: Children; cluster: BenchCluster; plan: LoadPlan; runTag: string; roles: Roles; stored: number }): Promise<ClusterRun> {
    const pool = await LoadPool.start(children, {
      workerCount: plan.workerCount,
      connectorsPerWorker: plan.connectorsPerWorker,
      servers: cluster.addresses,
      recipients: plan.recipients,
      textBytes: TEXT_BYTES,
      runTag,
    });
    return new ClusterRun(cluster, pool, roles, stored);
  }

  /** Sends `count` messages as fast as the highest in-flight level allows, none started after
   *  `maxMs`; returns what was stored. */
  async load(count: number, maxMs?: number): Promise<{ tally: SendTally; ms: number }> {
    const result = await this.pool.load(count, this.pool.maxInFlight, maxMs);
    this.stored += result.tally.acked;
    return result;
  }

  /** Names each running replica's pid by the role it has now. */
  noteRoles(): void {
    for (let id = 0; id < 5; id++) {
      const pid = this.cluster.pid(id);
      if (pid !== null) this.roles.set(pid, { replica: id, role: this.cluster.status(id)?.isPrimary ? 'primary' : 'backup' });
    }
  }

  /** After a failed section, so that the next one starts from every replica not left down. */
  restartStopped(): void {
    for (let id = 0; id < 5; id++) if (this.cluster.pid(id) === null && !this.down.has(id)) this.cluster.start(id);
  }

  async close(keepData: boolean): Promise<void> {
    await this.pool.close();
    await this.cluster.stop(keepData);
  }
}
