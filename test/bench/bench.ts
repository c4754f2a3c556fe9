// `make bench`: Chat+ measured against the physical floor of the machine it runs on (the targets and what limits them: docs/performance.md).
//
//   node dist/test/bench/bench.js [--quick] [--only floor,latency,throughput,failover,...]
//                                 [--trials N] [--profile] [--dir DIR] ...   (--help for all)
//
// One run measures, in order:
//   floor       fdatasync latency in the data directory's file system, group commit rate,
//               Node-to-Node loopback round trip, stream rate one-write-per-frame and corked;
//   latency     sequential sends (1 in flight) through a real 5-replica cluster, p50/p99;
//   throughput  acknowledged sends/s at 1, 16, 64 and 256 in flight (200-byte messages);
//   failover    kill -9 of the primary → the next acknowledged send, N trials, the killed
//               replica restarted and caught up between trials;
//   catchup     a backup killed, 100,000 messages sent, the backup restarted: time until it has
//               executed them all;
//   startup     messages sent until 1,000,000 are stored (or the time budget runs out, or the
//               cluster stops making progress), a backup killed and restarted: time from
//               process start until it answers hello;
//   scale       a second cluster whose replicas start holding 1,000,000 messages, seeded
//               straight into their data directories (seed.ts): start-up of a backup, RSS per
//               replica, and the catch-up again at that scale;
//   memory      RSS of every replica at the end.
// A section that fails is reported as failed in the table and the run goes on with the next.
// It prints a table (figure, ratio to the floor, target, met/missed), also written as JSON to
// bench-results.json at the repository root.
//
// The cluster is the production one: bin/server processes forked by lib/cluster/launcher.ts,
// fsync on, default options. Load comes from separate processes (load-worker.ts) holding the
// production client connector. This is a benchmark, not a test: it asserts nothing about time.
// On a shared machine the numbers are noisy; the load average is recorded before and after.
//
// Each section is a module of its own (latency.ts, throughput.ts, failover.ts, catchup.ts,
// startup.ts, scale.ts; the floor is floor.ts). run.ts runs them in order on a BenchRun
// (run-context.ts), the one object that holds a run's state; the signal handlers are given it.

import { parseOptions, USAGE } from './options.js';
import { provenance } from './provenance.js';
import { BenchRun } from './run-context.js';
import { interrupt, runBench } from './run.js';

function printFailure(error: unknown): void {
  process.stderr.write(`bench failed: ${(error as Error).stack ?? String(error)}\n`);
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (options === null) return console.log(USAGE);
  const run = new BenchRun(options, provenance());
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => interrupt(run, signal));
  // The last resort if the bench dies some other way: nothing it started may outlive it.
  process.on('exit', () => run.killNow());
  try {
    await runBench(run);
  } catch (error) {
    if (run.interrupted) return; // the signal handler is already stopping everything and reporting
    printFailure(error);
    await run.tearDown();
    process.exit(1);
  }
}

// Only a bad command line gets here: nothing has been started yet.
main().catch((error: unknown) => {
  printFailure(error);
  process.exit(1);
});
