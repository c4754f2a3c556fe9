// CPU profiling for a replica started by the launcher, without touching lib/: the bench puts
// `--import <this file>` in NODE_OPTIONS (which, unlike --cpu-prof, NODE_OPTIONS accepts) and
// CHATPLUS_BENCH_PROFILE_DIR in the environment of the replicas it starts.
//
// The profiler is the one --cpu-prof uses (V8's sampling profiler, via node:inspector), but it
// runs only between two SIGUSR2s, so that the profile covers the measured load and not start-up
// or account creation. With CHATPLUS_BENCH_PROFILE_NOW=1 it starts at once instead (to profile a
// start-up) and the first SIGUSR2 stops it. Stopping — or the process exiting while it runs —
// writes <dir>/replica-<pid>.cpuprofile, which Chrome DevTools and `profile-summary.js` read.

import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.CHATPLUS_BENCH_PROFILE_DIR;
const now = process.env.CHATPLUS_BENCH_PROFILE_NOW === '1';
// Not inherited further: a replica forks nothing, but be sure nothing else gets profiled.
delete process.env.CHATPLUS_BENCH_PROFILE_DIR;
delete process.env.CHATPLUS_BENCH_PROFILE_NOW;
delete process.env.NODE_OPTIONS;

/** Microseconds between samples: V8's default for --cpu-prof. Finer would see more of a short
 *  hot path, but would also slow the replica it measures, and the throughput figure beside it. */
const SAMPLING_INTERVAL_US = 1000;

if (dir !== undefined) {
  const session = new Session();
  session.connect();
  let running = false;
  const stop = () => {
    if (!running) return;
    running = false;
    // On the main thread the inspector answers synchronously, so this also works in 'exit'.
    session.post('Profiler.stop', (error, result) => {
      if (error) throw error;
      writeFileSync(join(dir, `replica-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  };
  const start = () => {
    session.post('Profiler.enable');
    session.post('Profiler.setSamplingInterval', { interval: SAMPLING_INTERVAL_US });
    session.post('Profiler.start');
    running = true;
  };
  process.on('SIGUSR2', () => (running ? stop() : start()));
  process.on('exit', stop);
  if (now) start();
}
