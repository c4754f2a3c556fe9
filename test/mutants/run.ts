// make mutants: plants each mutant of catalogue.ts in a scratch copy of the tree and runs the
// checks against it, stopping at the first one that fails (that check "kills" the mutant):
//   1. the unit tests (test/unit; those of the mutated folder first) — killed if any fails;
//   2. the simulator, seeds 1..1000 at 3 replicas, then at 5 — killed by the first failing seed.
// The seeds are fixed, so two runs of the same tree compare. docs/testing.md, "Mutants: proof that
// the checks can fail", says how to read the result.
//
//   node dist/test/mutants/run.js [--only id,id] [--jobs N] [--report file.md] [--skip-baseline]
//
// The work tree is never touched: each mutant gets a copy of its files (tracked, and untracked
// but not ignored) in <tmp>/chatplus-mutants/<id>, with node_modules linked, deleted when done.
// Before the mutants, the unmutated copy (the baseline) must pass every check, or every mutant
// would look killed. Prints one line per mutant and the score, killed / (total − equivalent).
// Exit code: 0 if every mutant not marked equivalent was killed; 1 if one survived; 2 for a
// catalogue bug (a find text not there exactly once, a mutant that does not compile, a mutant
// marked equivalent that was killed) or a baseline that fails.

import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
// The top of the checkout, found from this file whether it runs under tsx or from dist/.
import { ROOT } from '../bench/provenance.js';
import { MUTANTS, type Mutant } from './catalogue.js';
import { catalogueProblems, mutate } from './mutate.js';

const SCRATCH = join(tmpdir(), 'chatplus-mutants');
const SIM_SEEDS = 1000;
const SIM_REPLICAS = [3, 5];
/** A unit test that hangs under a mutant fails after this long, and so kills it. */
const UNIT_TEST_TIMEOUT_MS = 60_000;
/** A whole check (all unit tests, or one simulator run) is stopped after this long: a mutant
 *  that makes a check hang, with the event loop blocked, is killed by the hang. */
const CHECK_TIMEOUT_MS = 20 * 60_000;

// ---- running a check --------------------------------------------------------------------------

/** What killed a mutant: the check and, where it says, the test file or the failure's message. */
interface Kill {
  by: string;
  detail: string;
}

/** A failure message cut to what fits on one line of the results. */
function oneLine(text: string): string {
  return text.length <= 120 ? text : `${text.slice(0, 119)}…`;
}

/** Reads a check's output line by line and decides whether it failed. */
interface Verdict {
  /** A kill as soon as the output shows one (the check is then stopped), else null. */
  line(line: string): Kill | null;
  /** Once the check has exited on its own: a kill if it failed, null if it passed. */
  end(exitCode: number | null, stderrTail: string): Kill | null;
}

/** The checks running now, so that an interrupted run stops them too. */
const running = new Set<ChildProcess>();

/** Stops a check and everything it started (it runs as its own process group). */
function stop(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // The group has already exited.
  }
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    for (const child of running) stop(child);
    process.exit(130);
  });
}

/** Runs `command args` in `cwd` until the verdict sees a kill, the command exits, or the time is
 *  up. Resolves with the kill, or null if the check passed. */
function runCheck(cwd: string, command: string, args: string[], name: string, verdict: Verdict): Promise<Kill | null> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-2000);
    });
    let settled = false;
    const settle = (kill: Kill | null, stopIt: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (stopIt) stop(child);
      running.delete(child);
      resolve(kill);
    };
    const timer = setTimeout(() => settle({ by: `${name}: timed out after ${CHECK_TIMEOUT_MS / 1000} s`, detail: '' }, true), CHECK_TIMEOUT_MS);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const kill = settled ? null : verdict.line(line);
      if (kill !== null) settle(kill, true);
    });
    child.on('error', (error) => settle({ by: `${name}: could not start (${error.message})`, detail: '' }, false));
    // 'close', not 'exit': every line of output has been read by then.
    child.on('close', (code) => settle(verdict.end(code, stderr.trim().split('\n').at(-1) ?? ''), false));
  });
}

/** The unit tests' TAP output: the first test that fails (not a TODO), named with its file. */
function unitVerdict(dir: string): Verdict {
  let failing: string | null = null;
  const kill = (file: string): Kill => ({ by: `unit: ${failing}`, detail: file });
  return {
    line(line) {
      if (failing === null) {
        const notOk = /^\s*not ok \d+ - (.*)$/.exec(line);
        if (notOk !== null && !/ # (TODO|SKIP)\b/.test(notOk[1]!)) failing = notOk[1]!.replaceAll(`${dir}/`, '');
        return null;
      }
      const location = /^\s*location: '(.*):\d+:\d+'$/.exec(line);
      if (location !== null) return kill(relative(dir, location[1]!));
      return /^\s*\.\.\.$/.test(line) ? kill('') : null; // The end of its details, without a location.
    },
    end(code, stderrTail) {
      if (failing !== null) return kill('');
      return code === 0 ? null : { by: `unit: the test run exited with code ${code}`, detail: oneLine(stderrTail) };
    },
  };
}

/** The simulator's output: its first failing seed and the property that broke. */
function simVerdict(replicas: number): Verdict {
  let failed: { seed: string; property: string } | null = null;
  const kill = (detail: string): Kill => ({ by: `sim ${replicas} replicas seed ${failed!.seed}: ${failed!.property}`, detail });
  return {
    line(line) {
      if (failed === null) {
        const match = /^FAILED seed (\d+) \(\d+ replicas, \w+\): (.*)$/.exec(line);
        if (match !== null) failed = { seed: match[1]!, property: match[2]! };
        return null;
      }
      // The line after it is the failure's message; a violated property's starts with the property.
      const message = line.trim();
      const prefix = `${failed.property}: `;
      return kill(oneLine(message.startsWith(prefix) ? message.slice(prefix.length) : message));
    },
    end(code, stderrTail) {
      if (failed !== null) return kill('');
      return code === 0 ? null : { by: `sim ${replicas} replicas: exited with code ${code}`, detail: oneLine(stderrTail) };
    },
  };
}

/** Every unit test file of the copy, those of `firstFolder` (e.g. test/unit/replication) first:
 *  a mutant there is most likely killed by them, and the run stops at the first failure. */
function unitTestFiles(dir: string, firstFolder: string | null): string[] {
  const files: string[] = [];
  const walk = (folder: string): void => {
    for (const entry of readdirSync(join(dir, folder), { withFileTypes: true })) {
      const path = `${folder}/${entry.name}`;
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.test.ts')) files.push(path);
    }
  };
  walk('test/unit');
  const first = (file: string): number => (firstFolder !== null && file.startsWith(`${firstFolder}/`) ? 0 : 1);
  return files.sort((a, b) => first(a) - first(b) || a.localeCompare(b));
}

/** The checks, in order, until one kills: the unit tests, then the simulator at 3 and 5 replicas. */
async function firstKill(dir: string, mutated: string | null): Promise<Kill | null> {
  const folder = mutated === null ? null : `test/unit/${mutated.split('/')[1]}`;
  const unit = [
    '--import', 'tsx', '--import', './test/support/assert-messages.ts',
    '--test', '--test-reporter=tap', `--test-timeout=${UNIT_TEST_TIMEOUT_MS}`, ...unitTestFiles(dir, folder),
  ];
  const kill = await runCheck(dir, process.execPath, unit, 'unit', unitVerdict(dir));
  if (kill !== null) return kill;
  for (const replicas of SIM_REPLICAS) {
    const sim = ['dist/test/sim/run.js', '--seeds', String(SIM_SEEDS), '--replicas', String(replicas), '--stop-at-first-failure'];
    const simKill = await runCheck(dir, process.execPath, sim, `sim ${replicas} replicas`, simVerdict(replicas));
    if (simKill !== null) return simKill;
  }
  return null;
}

// ---- one mutant ---------------------------------------------------------------------------------

/** A copy of the tree's files (tracked, and untracked but not ignored) in `dir`, node_modules
 *  linked, with the mutant's edit made (none for the baseline). */
async function prepareCopy(dir: string, mutant: Mutant | null): Promise<void> {
  rmSync(dir, { recursive: true, force: true });
  const listed = await output(ROOT, 'git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard']);
  for (const file of new Set(listed.split('\0'))) {
    if (file === '' || !existsSync(join(ROOT, file))) continue; // a tracked file deleted in the work tree
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    copyFileSync(join(ROOT, file), join(dir, file));
  }
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  if (mutant !== null) {
    const file = join(dir, mutant.file);
    writeFileSync(file, mutate(readFileSync(file, 'utf8'), mutant));
  }
}

/** A command's standard output; rejects with its output if it fails. */
function output(cwd: string, command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`${command} ${args.join(' ')} failed (${code}):\n${text}`))));
  });
}

type Result =
  | { kind: 'killed'; kill: Kill; seconds: number }
  | { kind: 'survived'; seconds: number }
  /** The mutant does not compile: a catalogue bug. */
  | { kind: 'broken'; problem: string; seconds: number };

/** Copies, mutates, compiles and checks; the copy is deleted afterwards. */
async function runMutant(mutant: Mutant | null): Promise<Result> {
  const started = Date.now();
  const seconds = (): number => (Date.now() - started) / 1000;
  const dir = join(SCRATCH, mutant?.id ?? 'baseline');
  try {
    await prepareCopy(dir, mutant);
    try {
      await output(dir, join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', '.']);
    } catch (error) {
      const lines = (error as Error).message.split('\n').slice(1, 6).join('\n');
      return { kind: 'broken', problem: `does not compile:\n${lines}`, seconds: seconds() };
    }
    const kill = await firstKill(dir, mutant?.file ?? null);
    return kill === null ? { kind: 'survived', seconds: seconds() } : { kind: 'killed', kill, seconds: seconds() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- the run --------------------------------------------------------------------------------

interface RunOptions {
  mutants: readonly Mutant[];
  jobs: number;
  report: string | null;
  baseline: boolean;
}

function parse(argv: string[]): RunOptions {
  let values;
  try {
    values = parseArgs({
      args: argv,
      options: {
        only: { type: 'string' },
        jobs: { type: 'string', default: '1' },
        report: { type: 'string' },
        'skip-baseline': { type: 'boolean', default: false },
      },
    }).values;
  } catch (error) {
    usage(error instanceof Error ? error.message : String(error));
  }
  const jobs = Number(values.jobs);
  if (!Number.isSafeInteger(jobs) || jobs < 1) usage(`--jobs must be a positive whole number, got ${values.jobs}`);
  let mutants = MUTANTS;
  if (values.only !== undefined) {
    const ids = values.only.split(',').map((id) => id.trim());
    const unknown = ids.filter((id) => !MUTANTS.some((mutant) => mutant.id === id));
    if (unknown.length > 0) usage(`no mutant named ${unknown.join(', ')} in test/mutants/catalogue.ts`);
    mutants = MUTANTS.filter((mutant) => ids.includes(mutant.id));
  }
  return { mutants, jobs, report: values.report ?? null, baseline: !values['skip-baseline'] };
}

function usage(problem: string): never {
  process.stderr.write(`${problem}\nusage: run.js [--only id,id] [--jobs N] [--report file.md] [--skip-baseline]\n`);
  process.exit(2);
}

/** Runs `work` on every item, at most `jobs` at a time; results in the items' order. */
async function inParallel<T, U>(items: readonly T[], jobs: number, work: (item: T) => Promise<U>): Promise<U[]> {
  const results: U[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let index = next++; index < items.length; index = next++) results[index] = await work(items[index]!);
  };
  await Promise.all(Array.from({ length: Math.min(jobs, items.length) }, worker));
  return results;
}

/** One result as the console line and the report's column say it. */
function describe(mutant: Mutant, result: Result): string {
  switch (result.kind) {
    case 'killed': {
      const kill = result.kill.detail === '' ? result.kill.by : `${result.kill.by} (${result.kill.detail})`;
      return mutant.equivalent === undefined ? kill : `KILLED, so not equivalent: ${kill}`;
    }
    case 'survived':
      return mutant.equivalent === undefined ? 'SURVIVED' : 'survived (equivalent)';
    case 'broken':
      return `CATALOGUE BUG: ${result.problem.split('\n')[0]}`;
  }
}

function consoleLine(mutant: Mutant, result: Result): string {
  const extra = result.kind === 'broken' ? `\n${result.problem.split('\n').slice(1).map((line) => `    ${line}`).join('\n')}` : '';
  return `${mutant.id.padEnd(44)} ${describe(mutant, result)}  ${result.seconds.toFixed(0)} s${extra}\n`;
}

interface Score {
  killed: number;
  counted: number;
  survivors: string[];
  catalogueBugs: string[];
}

function score(mutants: readonly Mutant[], results: readonly Result[]): Score {
  const s: Score = { killed: 0, counted: 0, survivors: [], catalogueBugs: [] };
  mutants.forEach((mutant, index) => {
    const result = results[index]!;
    const equivalent = mutant.equivalent !== undefined;
    if (result.kind === 'broken' || (equivalent && result.kind === 'killed')) s.catalogueBugs.push(mutant.id);
    if (equivalent) return;
    s.counted++;
    if (result.kind === 'killed') s.killed++;
    if (result.kind === 'survived') s.survivors.push(mutant.id);
  });
  return s;
}

function scoreLine(s: Score, total: number): string {
  const percent = s.counted === 0 ? 100 : Math.round((100 * s.killed) / s.counted);
  return `${s.killed} of ${s.counted} mutants killed (${percent} %); ${total - s.counted} marked equivalent`;
}

/** The results as a Markdown table, to paste into docs/testing.md. */
function markdown(mutants: readonly Mutant[], results: readonly Result[], s: Score): string {
  const cell = (text: string): string => text.replaceAll('|', '\\|').replaceAll('\n', ' ');
  const rows = mutants.map((mutant, index) => {
    const result = results[index]!;
    return `| \`${mutant.id}\` | ${cell(mutant.rule)} | ${cell(describe(mutant, result))} | ${result.seconds.toFixed(0)} |`;
  });
  return [
    `${scoreLine(s, mutants.length)}: the unit tests, then simulator seeds 1..${SIM_SEEDS} at ${SIM_REPLICAS.join(' and ')} replicas.`,
    '',
    '| Mutant | Rule it breaks | Killed by | Seconds |',
    '|---|---|---|---:|',
    ...rows,
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const options = parse(process.argv.slice(2));
  const problems = catalogueProblems(options.mutants, (file) => (existsSync(join(ROOT, file)) ? readFileSync(join(ROOT, file), 'utf8') : null));
  if (problems.length > 0) {
    process.stderr.write(`the catalogue does not fit the tree; fix these first:\n  ${problems.join('\n  ')}\n`);
    process.exit(2);
  }
  mkdirSync(SCRATCH, { recursive: true });
  if (options.baseline) {
    process.stdout.write(`baseline: the unmutated tree must pass every check first (copies in ${SCRATCH})\n`);
    const baseline = await runMutant(null);
    if (baseline.kind !== 'survived') {
      const why = baseline.kind === 'killed' ? `${baseline.kill.by} ${baseline.kill.detail}` : baseline.problem;
      process.stderr.write(`the unmutated tree fails, so no mutant can be judged: ${why}\n`);
      process.exit(2);
    }
    process.stdout.write(`baseline passes  ${baseline.seconds.toFixed(0)} s\n`);
  }
  const results = await inParallel(options.mutants, options.jobs, async (mutant) => {
    const result = await runMutant(mutant);
    process.stdout.write(consoleLine(mutant, result));
    return result;
  });
  const s = score(options.mutants, results);
  process.stdout.write(`\n${scoreLine(s, options.mutants.length)}\n`);
  if (s.survivors.length > 0) process.stdout.write(`survivors: ${s.survivors.join(', ')}\n`);
  if (s.catalogueBugs.length > 0) process.stdout.write(`catalogue bugs: ${s.catalogueBugs.join(', ')}\n`);
  if (options.report !== null) writeFileSync(options.report, markdown(options.mutants, results, s));
  process.exitCode = s.catalogueBugs.length > 0 ? 2 : s.survivors.length > 0 ? 1 : 0;
}

await main();
