// Everything one bench run holds while it goes: its options and provenance, the results so far,
// and every cluster it has started and not yet stopped. The signal and exit handlers are given
// this object, so that an interrupted run tears down exactly what is running and still reports
// what it had measured.

import { join } from 'node:path';
import { Children } from './children.js';
import { BenchCluster, type BenchClusterOptions } from './cluster.js';
import type { ClusterRun, Roles } from './cluster-run.js';
import type { Options } from './options.js';
import { ROOT, type Provenance } from './provenance.js';
import type { Results } from './results.js';

export class BenchRun {
  readonly results: Results = {};
  /** The load workers and floor peers this run forked: what its tear-down must kill. */
  readonly children = new Children();
  /** Clusters started and not yet stopped: what an exiting bench must still kill and remove. */
  readonly clusters = new Set<BenchCluster>();
  /** Every replica that was profiled, across both clusters. */
  readonly roles: Roles = new Map();
  /** Where the replicas write their CPU profiles; null without --profile. */
  readonly profileDir: string | null;
  /** The main cluster while its sections run: an interrupted bench still reports its memory. */
  main: ClusterRun | null = null;
  /** Set by SIGINT or SIGTERM: no section starts after it, and what fails after it failed
   *  because of it. */
  interrupted = false;

  constructor(readonly options: Options, readonly provenance: Provenance) {
    this.profileDir = options.profile ? join(ROOT, 'bench-profiles') : null;
  }

  /** A fresh 5-replica cluster under --dir, with this run's profiling and replica flags. */
  startCluster(extra: Pick<BenchClusterOptions, 'seed' | 'primaryTimeoutMs'> = {}): Promise<BenchCluster> {
    return BenchCluster.start({
      baseDir: this.options.dir,
      replicas: 5,
      profile: this.profileDir ? { dir: this.profileDir } : null,
      serverArgs: this.options.serverArgs,
      live: this.clusters,
      ...extra,
    });
  }

  /** Stops everything this run started: load workers, floor peers, replicas, the data. */
  async tearDown(): Promise<void> {
    // The load workers and floor peers are ours to SIGKILL; the replicas get the launcher's stop
    // (SIGTERM, so that profiled ones write their profiles), then their data is removed.
    this.children.killAll();
    for (const cluster of [...this.clusters]) await cluster.stop().catch(() => cluster.killNow());
  }

  /** The last resort, synchronous for an 'exit' handler: nothing the bench started may outlive it. */
  killNow(): void {
    this.children.killAll();
    for (const cluster of [...this.clusters]) cluster.killNow();
  }
}
