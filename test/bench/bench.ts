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

import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import * as os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { killAllChildren } from './children.js';
import { BenchCluster, liveClusters } from './cluster.js';
import { measureFloor, type FloorResult } from './floor.js';
import { formatSummary, loadProfile, summarizeProfile, type ProfileSummary } from './profile-summary.js';
import { formatMarkdown, formatTable, int, ms, us, type Row } from './report.js';
import { cpuSeconds, epochMs, median, round, sleep, summarize } from './stats.js';
import { emptyTally, LoadPool } from './workers.js';
import { seedCluster } from './seed.js';
import type { SendTally } from './load-worker.js';

const SECTIONS = ['floor', 'latency', 'throughput', 'failover', 'catchup', 'startup', 'scale'] as const;
type Section = (typeof SECTIONS)[number];

const USAGE = `usage: node dist/test/bench/bench.js [options]

  --quick                 about a minute: fewer samples, trials and messages (labelled quick)
  --only <list>           sections to run, comma-separated: ${SECTIONS.join(',')}
  --trials <n>            failover trials (default 10; quick 3)
  --in-flight <list>      throughput levels (default 1,16,64,256)
  --duration <s>          seconds measured per throughput level (default 10; quick 2)
  --catchup-messages <n>  messages the restarted backup missed (default 100000; quick 10000)
  --startup-messages <n>  messages sent before the start-up measurement (default 1000000; quick 20000)
  --scale-messages <n>    messages seeded into the scale cluster (default 1000000; quick 50000)
  --load-budget <s>       most seconds spent sending messages for start-up (default 900; quick 30)
  --workers <n>           load worker processes (default 2)
  --profile               CPU-profile every replica during the highest throughput level, and the
                          restarted replica's start-up; the profiles go to bench-profiles/ and
                          are summarised in the output
  --dir <dir>             where the cluster's data and the fsync probe live (default: os.tmpdir())
  --json <file>           results file (default: bench-results.json at the repository root)
  --keep-data             leave the cluster's data directory behind (for debugging)
  --replica-log-level <l> the replicas' log level (bin/server --log-level), e.g. debug to read
                          a failover's every step in <data>/replica-N.log (with --keep-data)
  --help                  this text`;

const ROOT = findRoot();
const TEXT_BYTES = 200;

interface Options {
  quick: boolean;
  sections: Set<Section>;
  trials: number;
  inFlight: number[];
  durationS: number;
  catchupMessages: number;
  startupMessages: number;
  scaleMessages: number;
  loadBudgetS: number;
  workers: number;
  profile: boolean;
  dir: string;
  json: string;
  keepData: boolean;
  /** Extra bin/server flags for every replica (--replica-log-level). */
  serverArgs: string[];
}

/** The commit measured, and whether lib/ or bin/ differed from it (the build is of the working
 *  tree, so a dirty tree means the numbers are of uncommitted code). */
function gitState(): { commit: string; dirty: boolean } {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'lib', 'bin'], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
    return { commit, dirty };
  } catch {
    return { commit: 'unknown', dirty: false };
  }
}

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('bench: cannot find the repository root (no package.json above)');
    dir = up;
  }
  return dir;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      trials: { type: 'string' },
      'in-flight': { type: 'string', default: '1,16,64,256' },
      duration: { type: 'string' },
      'catchup-messages': { type: 'string' },
      'startup-messages': { type: 'string' },
      'scale-messages': { type: 'string' },
      'load-budget': { type: 'string' },
      workers: { type: 'string', default: '2' },
      profile: { type: 'boolean', default: false },
      dir: { type: 'string', default: os.tmpdir() },
      json: { type: 'string', default: join(ROOT, 'bench-results.json') },
      'keep-data': { type: 'boolean', default: false },
      'replica-log-level': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const quick = values.quick;
  const number = (text: string | undefined, fallback: number, name: string): number => {
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got "${text}"`);
    return n;
  };
  const sections = new Set<Section>();
  for (const name of (values.only ?? SECTIONS.join(',')).split(',').map((s) => s.trim()).filter(Boolean)) {
    if (!(SECTIONS as readonly string[]).includes(name)) throw new Error(`--only: unknown section "${name}" (sections: ${SECTIONS.join(', ')})`);
    sections.add(name as Section);
  }
  const inFlight = values['in-flight'].split(',').map((s) => number(s.trim(), 1, 'in-flight'));
  return {
    quick,
    sections,
    trials: Math.round(number(values.trials, quick ? 3 : 10, 'trials')),
    inFlight,
    durationS: number(values.duration, quick ? 2 : 10, 'duration'),
    catchupMessages: Math.round(number(values['catchup-messages'], quick ? 10_000 : 100_000, 'catchup-messages')),
    startupMessages: Math.round(number(values['startup-messages'], quick ? 20_000 : 1_000_000, 'startup-messages')),
    scaleMessages: Math.round(number(values['scale-messages'], quick ? 50_000 : 1_000_000, 'scale-messages')),
    loadBudgetS: number(values['load-budget'], quick ? 30 : 900, 'load-budget'),
    workers: Math.round(number(values.workers, 2, 'workers')),
    profile: values.profile,
    dir: resolve(values.dir),
    json: resolve(values.json),
    keepData: values['keep-data'],
    serverArgs: values['replica-log-level'] === undefined ? [] : ['--log-level', values['replica-log-level']],
  };
}

// ---------------------------------------------------------------------------------------------
// Results, gathered section by section.

interface Results {
  floor?: FloorResult;
  latency?: { ms: ReturnType<typeof summarize>; tally: SendTally };
  throughput?: Array<{ inFlight: number; perSecond: number; latencyMs: ReturnType<typeof summarize>; tally: SendTally; cpu: CpuCost }>;
  failover?: { trialsMs: number[]; medianMs: number; worstMs: number; trials: FailoverTrial[]; probe: SendTally };
  catchup?: CatchupResult;
  startup?: { messages: number; loadMs: number; loadStopped: string | null; loadViewChanges: number } & RestartResult;
  scale?: {
    messages: number;
    /** Seeding the data directories, then starting all five replicas from them. */
    seedMs: number;
    clusterStartMs: number;
    startup?: RestartResult;
    memory?: ReturnType<BenchCluster['memory']>;
    catchup?: CatchupResult;
    failed?: string;
  };
  memory?: { messages: number; replicas: ReturnType<BenchCluster['memory']> };
  profiles?: Array<{ replica: number; role: string; file: string; summary: ProfileSummary }>;
  /** Sections that threw, with the error: reported, not fatal to the rest of the run. */
  failed?: Record<string, string>;
}

interface RestartResult {
  servingMs: number;
  normalMs: number;
  resolutionMs: number;
  phases: Record<string, number | null>;
}

interface CatchupResult {
  missed: number;
  /** Messages stored in the cluster when the replica restarted (the state it had to get). */
  stored: number;
  targetOp: number;
  servingMs: number;
  caughtUpMs: number;
  resolutionMs: number;
  phases: Record<string, number | null>;
}

/** What the cluster sections share. */
interface Run {
  cluster: BenchCluster;
  pool: LoadPool;
  /** Messages acknowledged as stored so far (every ok send), across sections. */
  stored: number;
  /** pid → replica and role, to name the CPU profiles. */
  roles: Map<number, { replica: number; role: string }>;
  /** Replicas left down on purpose: one that could not catch up would otherwise keep the
   *  cluster changing views for the rest of the run, and nothing after it would measure. */
  down: Set<number>;
}

/** The main cluster's run while it lasts: an interrupted bench still reports its memory. */
let current: Run | null = null;

function log(line: string): void {
  process.stdout.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

function loadAverage(): string {
  return os.loadavg().map((n) => n.toFixed(2)).join(' ');
}

// ---------------------------------------------------------------------------------------------
// The sections.

async function runLatency(run: Run, options: Options): Promise<Results['latency']> {
  const count = options.quick ? 300 : 2000;
  log(`latency: ${count} sequential sends (1 in flight)`);
  const result = await run.pool.latency(count, options.quick ? 50 : 200);
  run.stored += result.acked;
  return { ms: summarize(result.latencies), tally: { acked: result.acked, refused: result.refused, errors: result.errors } };
}

/** CPU time per acknowledged send, from /proc: what each role spent, whatever else the machine
 *  was doing. On a shared 2-core box this is steadier than the rate itself: the rate says how
 *  fast it went today, the CPU cost says how fast it could go with the cores to itself. */
interface CpuCost {
  primaryUsPerSend: number;
  /** The part of primaryUsPerSend spent in the kernel (socket writes and reads, fsync). */
  primarySystemUsPerSend: number;
  backupUsPerSend: number;
  clientsUsPerSend: number;
  /** Everything: 5 replicas and the load workers. */
  allUsPerSend: number;
  /** Cores the primary kept busy on average in the window (1 = one core all the time). */
  primaryCores: number;
  allCores: number;
}

async function runThroughput(run: Run, options: Options, profileDir: string | null): Promise<Results['throughput']> {
  const { cluster, pool } = run;
  const out: NonNullable<Results['throughput']> = [];
  const top = Math.max(...options.inFlight);
  for (const inFlight of options.inFlight) {
    const warmMs = options.quick ? 1000 : 3000;
    const measureMs = options.durationS * 1000;
    log(`throughput: ${inFlight} in flight, ${options.durationS} s measured after ${warmMs / 1000} s warm-up`);
    const primary = await cluster.waitForPrimary();
    const pids = [...Array.from({ length: 5 }, (_, id) => cluster.pid(id) ?? -1), ...pool.pids()];
    const sample = () => pids.map(cpuSeconds);
    type Sample = ReturnType<typeof sample>;
    const before = new Promise<Sample>((resolve) => setTimeout(() => resolve(sample()), warmMs));
    const after = new Promise<Sample>((resolve) => setTimeout(() => resolve(sample()), warmMs + measureMs));
    const profiling = profileDir !== null && inFlight === top;
    // Profile the measured window only: the steady state, not the warm-up.
    if (profiling) setTimeout(() => run.cluster.toggleProfiling(), warmMs).unref();
    const result = await pool.throughput(inFlight, warmMs, measureMs);
    if (profiling) run.cluster.toggleProfiling();
    run.stored += result.tally.acked;
    const cpu = cpuCost(await before, await after, primary, result.tally.acked, measureMs);
    const latencyMs = summarize(result.latencies);
    out.push({ inFlight, perSecond: result.perSecond, latencyMs, tally: result.tally, cpu });
    log(`  ${int(result.perSecond)} acked sends/s, p50 ${ms(latencyMs.p50, 1)}; primary ${int(cpu.primaryUsPerSend)} µs CPU/send (${cpu.primaryCores.toFixed(2)} cores busy)`);
  }
  return out;
}

/** Turns /proc CPU samples (5 replicas, then the load workers) into CpuCost. */
function cpuCost(before: Array<{ user: number; system: number }>, after: Array<{ user: number; system: number }>, primary: number, acked: number, windowMs: number): CpuCost {
  const user = after.map((x, i) => x.user - before[i]!.user);
  const system = after.map((x, i) => x.system - before[i]!.system);
  const spent = user.map((u, i) => u + system[i]!);
  const sum = (xs: number[]) => xs.filter(Number.isFinite).reduce((a, b) => a + b, 0);
  const perSend = (seconds: number) => (acked > 0 ? round((seconds * 1e6) / acked, 1) : NaN);
  const backups = spent.slice(0, 5).filter((_, id) => id !== primary);
  return {
    primaryUsPerSend: perSend(spent[primary]!),
    primarySystemUsPerSend: perSend(system[primary]!),
    backupUsPerSend: perSend(sum(backups) / backups.length),
    clientsUsPerSend: perSend(sum(spent.slice(5))),
    allUsPerSend: perSend(sum(spent)),
    primaryCores: round(spent[primary]! / (windowMs / 1000), 2),
    allCores: round(sum(spent) / (windowMs / 1000), 2),
  };
}

interface FailoverTrial {
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

async function runFailover(run: Run, options: Options): Promise<Results['failover']> {
  const { cluster, pool } = run;
  const trials: FailoverTrial[] = [];
  let probe = emptyTally();
  log(`failover: ${options.trials} trials of kill -9 of the primary under a sequential sender`);
  await pool.probeStart();
  try {
    const pending: Array<{ killedAt: number; ackAt: number; ackView: number | null }> = [];
    for (let trial = 1; trial <= options.trials + 1; trial++) {
      // Every trial starts from five replicas in one view that has held for a second.
      const settled = await cluster.waitForSettled(cluster.primaryCommit(), 1000, 120_000);
      const previous = trials.at(-1);
      if (previous && pending.at(-1)!.ackView !== null) previous.viewsAfterRestart = settled.view - pending.at(-1)!.ackView!;
      if (trial > options.trials) break;
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
        trials.push({ killed, viewBefore: settled.view, failoverMs: FAILOVER_WAIT_MS, ackReplica: null, viewChangeMs: null, clientMs: null, viewsToAck: null, viewsAfterRestart: null, noAck: true });
        pending.push({ killedAt, ackAt: NaN, ackView: null });
        log(`  trial ${trial}: primary ${killed} killed, no acknowledged send within ${FAILOVER_WAIT_MS / 1000} s`);
        continue;
      }
      cluster.start(killed);
      // The new primary's log line says when its view change completed; give the log a moment.
      await sleep(100);
      const done = ack.replica === null ? undefined : cluster.logEvents(ack.replica, 'view change: complete, primary', killedAt).filter((e) => e.at <= ack.t + 1).at(-1);
      const ackView = done ? Number(/ view=(\d+) /.exec(done.line)?.[1]) : null;
      trials.push({
        killed,
        viewBefore: settled.view,
        failoverMs: round(ack.t - killedAt, 1),
        ackReplica: ack.replica,
        viewChangeMs: done ? round(done.at - killedAt) : null,
        clientMs: done ? round(ack.t - done.at) : null,
        viewsToAck: ackView === null ? null : ackView - settled.view,
        viewsAfterRestart: null,
        noAck: false,
      });
      pending.push({ killedAt, ackAt: ack.t, ackView });
      const t = trials.at(-1)!;
      log(`  trial ${trial}: primary ${killed} killed, next ack from replica ${ack.replica} after ${ms(t.failoverMs)}` +
        (t.viewChangeMs === null ? '' : ` (view change done at ${ms(t.viewChangeMs)}, ${t.viewsToAck} view(s); client found it ${ms(t.clientMs!)} later)`));
    }
  } finally {
    probe = await pool.probeStop();
    run.stored += probe.acked;
  }
  const trialsMs = trials.map((t) => t.failoverMs);
  return { trialsMs, medianMs: median(trialsMs), worstMs: Math.max(...trialsMs), trials, probe };
}

/** Where a restart's time went, from the restarted replica's own log lines (ms after fork):
 *  'replica-loaded' follows opening the journal and rebuilding the state; 'listening' follows
 *  opening its sockets; the last state-transfer line is when the missing log had arrived. */
function restartPhases(cluster: BenchCluster, id: number, startedAt: number): Record<string, number | null> {
  const first = (event: string) => {
    const at = cluster.logEvents(id, event, startedAt)[0]?.at;
    return at === undefined ? null : Math.round(at - startedAt);
  };
  const last = (event: string) => {
    const at = cluster.logEvents(id, event, startedAt).at(-1)?.at;
    return at === undefined ? null : Math.round(at - startedAt);
  };
  return {
    loadedMs: first('replica-loaded'),
    listeningMs: first('listening'),
    lastStateTransferMs: last('state transfer: received') ?? last('state transfer: repaired'),
    normalMs: last('view change: complete, backup'),
  };
}

/** A running replica other than the primary. */
async function pickBackup(cluster: BenchCluster): Promise<number> {
  const primary = await cluster.waitForPrimary();
  const count = cluster.config.replicas.length;
  for (let step = 1; step < count; step++) {
    const id = (primary + step) % count;
    if (cluster.pid(id) !== null) return id;
  }
  throw new Error('no running backup');
}

/** Sends `count` messages as fast as the highest in-flight level allows, none started after
 *  `maxMs`; returns what was stored. */
async function loadMessages(run: Run, count: number, maxMs?: number): Promise<{ tally: SendTally; ms: number }> {
  const result = await run.pool.load(count, run.pool.maxInFlight, maxMs);
  run.stored += result.tally.acked;
  return result;
}

async function runCatchup(run: Run, options: Options): Promise<CatchupResult> {
  const { cluster } = run;
  const backup = await pickBackup(cluster);
  log(`catch-up: replica ${backup} killed, ${int(options.catchupMessages)} messages sent without it (${int(run.stored)} stored before)`);
  await cluster.kill(backup);
  const loaded = await loadMessages(run, options.catchupMessages, CATCHUP_LOAD_MS);
  log(`  loaded in ${ms(loaded.ms)} (${int(loaded.tally.acked / (loaded.ms / 1000))}/s${failures(loaded.tally)})`);
  if (loaded.tally.acked < options.catchupMessages * 0.9) {
    // Restarting it now would only add a snapshot transfer to a cluster already in trouble.
    run.down.add(backup);
    throw new Error(`sending the ${int(options.catchupMessages)} messages stalled: ${int(loaded.tally.acked)} stored in ${ms(loaded.ms)}${failures(loaded.tally)}; replica ${backup} is left down`);
  }
  // Let the primary's next status report carry the final commit number.
  await sleep(400);
  const targetOp = cluster.primaryCommit();
  const viewBefore = cluster.status(await cluster.waitForPrimary())!.view;
  const startedAt = cluster.start(backup);
  const servingAt = await cluster.waitForHello(backup, 600_000);
  // The target is 2 s; a few minutes without catching up is a failure, not a slow figure.
  const limitMs = options.quick ? 60_000 : 180_000;
  try {
    await cluster.waitForCaughtUp(backup, targetOp, limitMs);
  } catch {
    const views = highestView(cluster) - viewBefore;
    await cluster.kill(backup);
    run.down.add(backup);
    throw new Error(`replica ${backup} had not caught up to op ${targetOp} after ${limitMs / 1000} s; the cluster went through ${views} view changes meanwhile; replica ${backup} is left down for the rest of the run`);
  }
  const caughtUpAt = epochMs();
  await sleep(100);
  const views = highestView(cluster) - viewBefore;
  const phases = { ...restartPhases(cluster, backup, startedAt), viewChanges: views };
  log(`  serving after ${ms(servingAt - startedAt)}, caught up to op ${targetOp} after ${ms(caughtUpAt - startedAt)} ${JSON.stringify(phases)}`);
  return { missed: loaded.tally.acked, stored: run.stored, targetOp, servingMs: servingAt - startedAt, caughtUpMs: caughtUpAt - startedAt, resolutionMs: 200, phases };
}

/** Sends messages until `want` are stored, in rounds of at most LOAD_ROUND_MS. Stops early,
 *  saying why, when the time budget is spent or when a whole round stored almost nothing: a
 *  cluster that has stopped making progress would otherwise hold the run for the budget. */
async function loadUntil(run: Run, want: number, budgetS: number): Promise<{ ms: number; stopped: string | null }> {
  const started = performance.now();
  while (run.stored < want) {
    const left = budgetS * 1000 - (performance.now() - started);
    if (left <= 0) return { ms: performance.now() - started, stopped: `the time budget of ${budgetS} s was spent` };
    const result = await loadMessages(run, want - run.stored, Math.min(LOAD_ROUND_MS, left));
    log(`  ${int(run.stored)} stored (${int(result.tally.acked / (result.ms / 1000))}/s in the last ${int(result.tally.acked)}${failures(result.tally)})`);
    if (result.tally.acked < LOAD_ROUND_MS / 1000) {
      return { ms: performance.now() - started, stopped: `the cluster stopped making progress: ${int(result.tally.acked)} sends stored in ${ms(result.ms)}${failures(result.tally)}` };
    }
  }
  return { ms: performance.now() - started, stopped: null };
}

/** The most the catch-up section spends sending the messages the restarted replica missed. */
const CATCHUP_LOAD_MS = 300_000;

/** One round of loadUntil: long enough to ride out a snapshot or a view change, short enough
 *  that a stalled cluster is noticed soon. */
const LOAD_ROUND_MS = 30_000;

/** kill -9 of a backup that holds everything, then a start: process start → hello answered,
 *  and → status normal. With profiling, the start-up is profiled until hello is answered. */
async function measureRestart(cluster: BenchCluster, roles: Run['roles']): Promise<RestartResult> {
  // The replica restarted must hold everything: a running backup that has executed the highest
  // commit number any replica reports (after a stall, some may be stuck catching up).
  await sleep(400);
  const backup = await cluster.waitFor('a backup that has executed every committed op', () => {
    const statuses = cluster.launcher.slots.map((_, id) => cluster.status(id));
    const commit = Math.max(...statuses.map((st) => st?.commit ?? 0));
    const found = statuses.find((st) => st !== null && !st.isPrimary && st.executed >= commit);
    return found ? found.replica + 1 : undefined; // +1: replica 0 is a value too
  }, 120_000).then((idPlusOne) => idPlusOne - 1);
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
  const phases = restartPhases(cluster, backup, startedAt);
  log(`  serving after ${ms(servingAt - startedAt)}, normal after ${ms(normalAt - startedAt)} ${JSON.stringify(phases)}`);
  return { servingMs: servingAt - startedAt, normalMs: normalAt - startedAt, resolutionMs: 200, phases };
}

/** The highest view in the replicas' latest status reports. */
function highestView(cluster: BenchCluster): number {
  return Math.max(...cluster.launcher.slots.map((_, id) => cluster.status(id)?.view ?? 0));
}

async function runStartup(run: Run, options: Options): Promise<Results['startup']> {
  const want = options.startupMessages;
  log(`start-up: sending messages until ${int(want)} are stored (budget ${options.loadBudgetS} s); ${int(run.stored)} so far`);
  const viewBefore = highestView(run.cluster);
  const load = await loadUntil(run, want, options.loadBudgetS);
  // A cluster that slows down as its state grows shows it first as view changes while sending.
  const loadViewChanges = highestView(run.cluster) - viewBefore;
  log(`  ${loadViewChanges} view change(s) while sending`);
  if (load.stopped) log(`  ${load.stopped}: measuring with ${int(run.stored)} messages instead of ${int(want)}`);
  const restart = await measureRestart(run.cluster, run.roles);
  return { messages: run.stored, loadMs: load.ms, loadStopped: load.stopped, loadViewChanges, ...restart };
}

/** The scale figures on a second cluster, seeded with options.scaleMessages messages. */
async function runScale(options: Options, profileDir: string | null, roles: Run['roles'], results: Results): Promise<NonNullable<Results['scale']>> {
  const messages = options.scaleMessages;
  log(`scale: seeding a new 5-replica cluster with ${int(messages)} messages (a snapshot in each data directory), then starting it`);
  let seedMs = 0;
  const started = performance.now();
  const cluster = await BenchCluster.start(options.dir, 5, profileDir ? { dir: profileDir } : null, async (config) => {
    const seedStart = performance.now();
    await seedCluster(config, messages, TEXT_BYTES);
    seedMs = performance.now() - seedStart;
  }, 600_000, options.serverArgs);
  // Filled in as it goes, so that an interrupted run still reports what was measured.
  const out: NonNullable<Results['scale']> = { messages, seedMs: Math.round(seedMs), clusterStartMs: Math.round(performance.now() - started - seedMs) };
  results.scale = out;
  log(`  seeded in ${ms(seedMs)}; five replicas loaded it and chose a primary after another ${ms(out.clusterStartMs)}`);
  let pool: LoadPool | null = null;
  try {
    await cluster.waitForSettled(cluster.primaryCommit(), 1000, 600_000);
    out.startup = await measureRestart(cluster, roles);
    await cluster.waitForSettled(cluster.primaryCommit(), 1000, 600_000);
    out.memory = cluster.memory();
    log(`  RSS per replica: ${out.memory.map((m: { rss_mb: number } | null) => (m ? `${m.rss_mb} MB` : 'down')).join(', ')}`);
    pool = await LoadPool.start({
      workerCount: options.workers,
      connectorsPerWorker: Math.ceil(Math.max(...options.inFlight, 16) / options.workers),
      servers: cluster.addresses,
      recipients: Array.from({ length: Math.max(64, Math.ceil(options.catchupMessages / 8000)) }, (_, i) => `r${i}`),
      textBytes: TEXT_BYTES,
      runTag: 'x',
    });
    out.catchup = await runCatchup({ cluster, pool, stored: messages, roles, down: new Set() }, options);
  } catch (error) {
    out.failed = (error as Error).message;
    log(`scale FAILED: ${out.failed}`);
  } finally {
    await pool?.close();
    await cluster.stop(options.keepData);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Rows of the table.

function buildRows(results: Results, options: Options): Row[] {
  const rows: Row[] = [];
  const floor = results.floor;
  const sendFloorMs = floor ? floor.send_floor_us / 1000 : NaN;
  if (floor) {
    rows.push(
      { section: 'floor', figure: 'fdatasync of a small record, p50 / p99', value: `${us(floor.fsync_us.p50)} / ${us(floor.fsync_us.p99)}`, ratio: '', target: '', met: null },
      { section: 'floor', figure: 'group commit, 100 records per fdatasync', value: `${int(floor.group_commit_records_per_s)} records/s`, ratio: '', target: '', met: null },
      { section: 'floor', figure: 'loopback round trip, p50 / p99', value: `${us(floor.rtt_us.p50)} / ${us(floor.rtt_us.p99)}`, ratio: '', target: '', met: null },
      { section: 'floor', figure: 'stream, one write() per frame', value: `${int(floor.stream_frames_per_s.write_per_frame)} frames/s`, ratio: '', target: '', met: null },
      { section: 'floor', figure: 'stream, corked', value: `${int(floor.stream_frames_per_s.corked)} frames/s`, ratio: '', target: '', met: null },
      { section: 'floor', figure: 'bare Node process start (fork → listening)', value: ms(floor.process_start_ms), ratio: '', target: '', met: null },
      { section: 'floor', figure: 'send floor = 1 fsync + 2 round trips (p50s)', value: us(floor.send_floor_us), ratio: '1×', target: '', met: null },
    );
  }
  const times = (value: number) => (Number.isFinite(sendFloorMs) ? `${(value / sendFloorMs).toFixed(1)}× send floor` : '');
  if (results.latency) {
    const l = results.latency.ms;
    rows.push(
      { section: 'latency', figure: 'sequential send p50 (1 in flight)', value: ms(l.p50, 2), ratio: times(l.p50), target: '≤ 3× send floor', met: Number.isFinite(sendFloorMs) ? l.p50 <= 3 * sendFloorMs : null },
      { section: 'latency', figure: 'sequential send p99', value: ms(l.p99, 2), ratio: times(l.p99), target: '', met: null },
    );
  }
  for (const t of results.throughput ?? []) {
    const many = t.inFlight >= 64;
    const ofDisk = floor ? `${((100 * t.perSecond) / floor.group_commit_records_per_s).toFixed(1)}% of group commit` : '';
    rows.push({
      section: 'throughput',
      figure: `acked sends/s, ${t.inFlight} in flight`,
      value: `${int(t.perSecond)}/s`,
      ratio: ofDisk,
      target: many ? '≥ 40,000/s' : '',
      met: many ? t.perSecond >= 40_000 : null,
      note: `latency p50 ${ms(t.latencyMs.p50, 1)}, p99 ${ms(t.latencyMs.p99, 1)}; CPU per send: primary ${int(t.cpu.primaryUsPerSend)} µs (kernel ${int(t.cpu.primarySystemUsPerSend)}; ${t.cpu.primaryCores.toFixed(2)} cores busy), each backup ${int(t.cpu.backupUsPerSend)} µs, clients ${int(t.cpu.clientsUsPerSend)} µs, all ${int(t.cpu.allUsPerSend)} µs (${t.cpu.allCores.toFixed(2)} cores)${failures(t.tally)}`,
    });
  }
  if (results.failover) {
    const f = results.failover;
    rows.push(
      { section: 'failover', figure: `kill -9 primary → next ack, median of ${f.trialsMs.length}`, value: ms(f.medianMs), ratio: '', target: '≤ 500 ms', met: f.medianMs <= 500 },
      { section: 'failover', figure: 'kill -9 primary → next ack, worst', value: `${f.trials.some((t) => t.noAck) ? '> ' : ''}${ms(f.worstMs)}`, ratio: '', target: '≤ 1,000 ms', met: f.worstMs <= 1000, note: `trials: ${f.trials.map((t) => `${t.noAck ? '>' : ''}${Math.round(t.failoverMs)}`).join(', ')} ms` },
    );
    const known = f.trials.filter((t) => t.viewChangeMs !== null);
    if (known.length > 0) {
      const extraViews = f.trials.reduce((n, t) => n + Math.max(0, (t.viewsToAck ?? 1) - 1) + (t.viewsAfterRestart ?? 0), 0);
      rows.push({
        section: 'failover',
        figure: 'of which: kill → new primary normal (median)',
        value: ms(median(known.map((t) => t.viewChangeMs!))),
        ratio: '',
        target: '',
        met: null,
        note: `then the client found it after another ${ms(median(known.map((t) => t.clientMs!)))} (median); ${extraViews} extra view change(s) in ${f.trials.length} trials (failed view changes, or set off by the restarted replica)`,
      });
    }
  }
  const startupRow = (r: RestartResult, messages: number, how: string, extra: string): Row => {
    const atScale = messages >= 1_000_000;
    return {
      section: 'start-up',
      figure: `process start → answers hello, ${int(messages)} messages ${how}`,
      value: ms(r.servingMs),
      ratio: floor ? `${(r.servingMs / floor.process_start_ms).toFixed(1)}× bare process start` : '',
      target: '≤ 1,000 ms at 1,000,000',
      met: atScale ? r.servingMs <= 1000 : r.servingMs > 1000 ? false : null,
      note: `journal loaded at ${ms(r.phases.loadedMs ?? NaN)}, status normal after ${ms(r.normalMs)} (±${r.resolutionMs} ms)${extra}${atScale ? '' : ' — not at target scale'}`,
    };
  };
  const catchupRow = (c: CatchupResult, where: string): Row => {
    const atScale = c.missed >= 100_000;
    return {
      section: 'catch-up',
      figure: `restart → executed all, ${int(c.missed)} missed, ${where}`,
      value: ms(c.caughtUpMs),
      ratio: '',
      target: '≤ 2,000 ms at 100,000',
      met: atScale ? c.caughtUpMs <= 2000 : c.caughtUpMs > 2000 ? false : null,
      note: `serving after ${ms(c.servingMs)}, log received by ${ms(c.phases.lastStateTransferMs ?? NaN)}, ${c.phases.viewChanges} view change(s) meanwhile; ±${c.resolutionMs} ms (status report interval)${atScale ? '' : ' — not at target scale'}`,
    };
  };
  const memoryRow = (replicas: ReturnType<BenchCluster['memory']>, messages: number, how: string): Row => {
    const each = (pick: (m: { rss_mb: number; peak_rss_mb: number }) => number) => replicas.map((m) => (m ? `${pick(m)}` : 'down')).join(' / ');
    return { section: 'memory', figure: `RSS per replica (0–4) at ${int(messages)} messages ${how}`, value: `${each((m) => m.rss_mb)} MB`, ratio: '', target: 'report', met: null, note: `peak ${each((m) => m.peak_rss_mb)} MB` };
  };
  if (results.startup) {
    const s = results.startup;
    rows.push(startupRow(s, s.messages, 'sent', `; sending them took ${ms(s.loadMs)}, ${s.loadViewChanges} view change(s) meanwhile${s.loadStopped ? `, and stopped early: ${s.loadStopped}` : ''}`));
  }
  if (results.scale?.startup) rows.push(startupRow(results.scale.startup, results.scale.messages, 'seeded', ''));
  if (results.catchup) rows.push(catchupRow(results.catchup, `${int(results.catchup.stored)} stored`));
  if (results.scale?.catchup) rows.push(catchupRow(results.scale.catchup, `${int(results.scale.catchup.stored)} stored (seeded)`));
  if (results.memory) rows.push(memoryRow(results.memory.replicas, results.memory.messages, 'sent'));
  if (results.scale?.memory) rows.push(memoryRow(results.scale.memory, results.scale.messages, 'seeded'));
  for (const [section, error] of Object.entries(results.failed ?? {})) {
    rows.push({ section, figure: 'FAILED', value: '', ratio: '', target: '', met: false, note: error.split('\n')[0]!.slice(0, 200) });
  }
  if (options.quick) for (const row of rows) row.section = `${row.section} (quick)`;
  return rows;
}

function failures(tally: SendTally): string {
  const parts = [...Object.entries(tally.refused), ...Object.entries(tally.errors)].map(([code, n]) => `${code} ×${n}`);
  return parts.length === 0 ? '' : `; not stored: ${parts.join(', ')}`;
}

// ---------------------------------------------------------------------------------------------
// Profiles.

function collectProfiles(dir: string, pids: Map<number, { replica: number; role: string }>): NonNullable<Results['profiles']> {
  const out: NonNullable<Results['profiles']> = [];
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.cpuprofile')).sort()) {
    const pid = Number(/replica-(\d+)\.cpuprofile/.exec(name)?.[1]);
    const who = pids.get(pid);
    if (!who) continue;
    const file = join(dir, name);
    out.push({ replica: who.replica, role: who.role, file, summary: summarizeProfile(loadProfile(file), 20) });
  }
  const order = ['primary', 'backup', 'start-up'];
  return out.sort((a, b) => order.indexOf(a.role) - order.indexOf(b.role) || a.replica - b.replica);
}

// ---------------------------------------------------------------------------------------------

interface RunInfo {
  options: Options;
  date: string;
  command: string;
  git: { commit: string; dirty: boolean };
  machine: { cpus: number; model: string; memory_gb: number; os: string; node: string };
  loadBefore: string;
  results: Results;
  profileDir: string | null;
}

/** Set once main() has parsed its options: what an interrupted run can still report. */
let info: RunInfo | null = null;

async function main(): Promise<void> {
  const options = parseOptions();
  const cpus = os.cpus();
  info = {
    options,
    date: new Date().toISOString(),
    command: `node ${process.argv.slice(1).map((a) => a.replace(ROOT + '/', '')).join(' ')}`,
    git: gitState(),
    machine: { cpus: cpus.length, model: cpus[0]?.model ?? 'unknown', memory_gb: round(os.totalmem() / 2 ** 30, 1), os: `${os.type()} ${os.release()}`, node: process.version },
    loadBefore: loadAverage(),
    results: {},
    profileDir: options.profile ? join(ROOT, 'bench-profiles') : null,
  };
  const { machine, git, results } = info;
  log(`Chat+ bench${options.quick ? ' (QUICK: fewer samples, smaller scale — not the issue-5 figures)' : ''}: ${[...options.sections].join(', ')}`);
  log(`${machine.cpus} × ${machine.model}, ${machine.memory_gb} GB, node ${machine.node}; load average ${info.loadBefore} (busy machine ⇒ slow, noisy numbers)`);
  log(`data and fsync probe in ${options.dir}; code at ${git.commit}${git.dirty ? ' with uncommitted changes in lib/ or bin/' : ''}`);
  const { profileDir } = info;
  if (profileDir) {
    rmSync(profileDir, { recursive: true, force: true });
    mkdirSync(profileDir, { recursive: true });
  }

  if (options.sections.has('floor')) {
    log('floor: fdatasync, group commit, loopback round trip, stream rates');
    results.floor = await measureFloor({ dir: options.dir, fsyncSamples: options.quick ? 100 : 400, rttSamples: options.quick ? 1000 : 5000, streamMs: options.quick ? 500 : 2000 });
    const f = results.floor;
    log(`  fdatasync p50 ${us(f.fsync_us.p50)}, rtt p50 ${us(f.rtt_us.p50)}, send floor ${us(f.send_floor_us)}`);
  }

  const roles: Run['roles'] = new Map();
  const mainSections = (['latency', 'throughput', 'failover', 'catchup', 'startup'] as const).filter((s) => options.sections.has(s));
  if (mainSections.length > 0) {
    log('starting a 5-replica cluster (fsync on)');
    const cluster = await BenchCluster.start(options.dir, 5, profileDir ? { dir: profileDir } : null, undefined, 60_000, options.serverArgs);
    const maxInFlight = Math.max(...options.inFlight, 16);
    // Mailboxes hold at most MAILBOX_MESSAGES_MAX (10,000) messages; spread the run's messages
    // over enough recipients that none fills up.
    const expected = options.startupMessages + 2 * options.catchupMessages + 1_000_000;
    const recipients = Array.from({ length: Math.max(64, Math.ceil(expected / 8000)) }, (_, i) => `r${i}`);
    log(`starting ${options.workers} load workers, ${maxInFlight} logged-in connectors, ${recipients.length} recipients`);
    const pool = await LoadPool.start({
      workerCount: options.workers,
      connectorsPerWorker: Math.ceil(maxInFlight / options.workers),
      servers: cluster.addresses,
      recipients,
      textBytes: TEXT_BYTES,
      runTag: '',
    });
    const run: Run = { cluster, pool, stored: 0, roles, down: new Set() };
    current = run;
    const noteRoles = () => {
      for (let id = 0; id < 5; id++) {
        const pid = cluster.pid(id);
        if (pid !== null) run.roles.set(pid, { replica: id, role: cluster.status(id)?.isPrimary ? 'primary' : 'backup' });
      }
    };
    // Each section on its own: one that fails is reported, and the next starts from a cluster
    // with a primary again (and every replica running that was not left down on purpose).
    const section = async (name: Section, body: () => Promise<void>) => {
      if (!options.sections.has(name) || interrupted) return;
      try {
        await cluster.waitForPrimary();
        await body();
      } catch (error) {
        if (interrupted) return; // what failed was the interruption, not the section
        log(`${name} FAILED: ${(error as Error).message}`);
        (results.failed ??= {})[name] = (error as Error).message;
        for (let id = 0; id < 5; id++) if (cluster.pid(id) === null && !run.down.has(id)) cluster.start(id);
      }
    };
    await section('latency', async () => void (results.latency = await runLatency(run, options)));
    await section('throughput', async () => {
      results.throughput = await runThroughput(run, options, profileDir);
      noteRoles();
    });
    await section('failover', async () => void (results.failover = await runFailover(run, options)));
    await section('catchup', async () => void (results.catchup = await runCatchup(run, options)));
    await section('startup', async () => void (results.startup = await runStartup(run, options)));
    if (interrupted) return; // the signal handler stops everything and reports
    await sleep(250);
    results.memory = { messages: run.stored, replicas: cluster.memory() };
    await pool.close();
    await cluster.stop(options.keepData);
    current = null;
  }
  // The scale figures come from a cluster of their own, started after the main one has stopped.
  if (options.sections.has('scale') && !interrupted) {
    results.scale = await runScale(options, profileDir, roles, results);
    if (results.scale.failed) (results.failed ??= {}).scale = results.scale.failed;
  }
  if (interrupted) return;
  if (profileDir) results.profiles = collectProfiles(profileDir, roles);
  report(info, false);
}

/** Prints the table (and profile summaries) and writes the JSON file. `partial`: the run was
 *  interrupted, and this is what it had measured so far. */
function report(run: RunInfo, partial: boolean): void {
  const { options, results, machine, git } = run;
  const rows = buildRows(results, options);
  const loadAfter = loadAverage();
  console.log('');
  console.log(`Chat+ bench ${run.date}${options.quick ? ' — QUICK run (reduced scale)' : ''}${partial ? ' — INTERRUPTED, partial results' : ''}`);
  console.log(`machine: ${machine.cpus} × ${machine.model}, ${machine.memory_gb} GB, ${machine.os}, node ${machine.node}`);
  console.log(`command: ${run.command}   (commit ${git.commit}${git.dirty ? ', lib/ or bin/ modified' : ''})`);
  console.log(`load average before ${run.loadBefore}, after ${loadAfter}`);
  console.log('');
  console.log(formatTable(rows));
  for (const p of results.profiles ?? []) {
    console.log('');
    const what = p.role === 'start-up' ? 'from process start to its first hello answered' : `under ${Math.max(...options.inFlight)} in flight`;
    console.log(formatSummary(p.summary, `profile of replica ${p.replica} (${p.role}) ${what}: ${p.file.replace(ROOT + '/', '')}`));
  }
  const json = {
    version: 1, date: run.date, command: run.command, git, quick: options.quick, partial, machine,
    loadAverage: { before: run.loadBefore, after: loadAfter }, options: { ...options, sections: [...options.sections] },
    results, rows, markdown: formatMarkdown(rows),
  };
  writeFileSync(options.json, JSON.stringify(json, null, 2) + '\n');
  console.log('');
  console.log(`results written to ${options.json}`);
}

/** Stops everything this run started: load workers, floor peers, replicas, the data. */
async function cleanup(): Promise<void> {
  // The load workers and floor peers are ours to SIGKILL; the replicas get the launcher's stop
  // (SIGTERM, so that profiled ones write their profiles), then their data is removed.
  killAllChildren();
  for (const cluster of [...liveClusters]) await cluster.stop().catch(() => cluster.killNow());
}

let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write(`\nbench: ${signal}, stopping every process it started\n`);
    const measured = info;
    const run = current;
    if (measured && run) measured.results.memory = { messages: run.stored, replicas: run.cluster.memory() };
    void cleanup().finally(() => {
      if (measured) {
        // Replicas profiled when stopped wrote their profiles on the way out.
        if (measured.profileDir && run) measured.results.profiles = collectProfiles(measured.profileDir, run.roles);
        report(measured, true);
      }
      process.exit(130);
    });
  });
}
// The last resort if the bench dies some other way: nothing it started may outlive it.
process.on('exit', () => {
  killAllChildren();
  for (const cluster of [...liveClusters]) cluster.killNow();
});

main().catch(async (error: unknown) => {
  if (interrupted) return; // the signal handler is already stopping everything and reporting
  process.stderr.write(`bench failed: ${(error as Error).stack ?? String(error)}\n`);
  await cleanup();
  process.exit(1);
});
