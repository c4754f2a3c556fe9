// The latency section: sequential sends, one in flight, through the whole cluster — what one
// client waits per send, to be judged against the send floor.

import type { ClusterRun } from './cluster-run.js';
import type { SendTally } from './tally.js';
import type { Options } from './options.js';
import { log } from './report.js';
import { summarize, type Summary } from './stats.js';

export interface LatencyResult {
  ms: Summary;
  tally: SendTally;
}

export async function runLatency(run: ClusterRun, options: Options): Promise<LatencyResult> {
  const count = options.quick ? 300 : 2000;
  log(`latency: ${count} sequential sends (1 in flight)`);
  const result = await run.pool.latency(count, options.quick ? 50 : 200);
  run.stored += result.acked;
  return { ms: summarize(result.latencies), tally: { acked: result.acked, refused: result.refused, errors: result.errors } };
}
