// What a run measured, section by section: the JSON file's "results", and what the table's rows
// are built from. A section that has not run (or was interrupted first) is absent.

import type { CatchupResult } from './catchup.js';
import type { BenchCluster } from './cluster.js';
import type { FailoverResult } from './failover.js';
import type { FloorResult } from './floor.js';
import type { LatencyResult } from './latency.js';
import type { ProfileReport } from './profiles.js';
import type { ScaleResult } from './scale.js';
import type { StartupResult } from './startup.js';
import type { ThroughputLevel } from './throughput.js';

export type Memory = ReturnType<BenchCluster['memory']>;

export interface Results {
  floor?: FloorResult;
  latency?: LatencyResult;
  throughput?: ThroughputLevel[];
  failover?: FailoverResult;
  catchup?: CatchupResult;
  startup?: StartupResult;
  scale?: ScaleResult;
  memory?: { messages: number; replicas: Memory };
  profiles?: ProfileReport[];
  /** Sections that threw, with the error: reported, not fatal to the rest of the run. */
  failed?: Record<string, string>;
}
