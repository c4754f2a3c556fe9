// The simulator's command line.
//
//   node --import tsx test/sim/run.ts --seeds 1000              seeds 1..1000
//   node --import tsx test/sim/run.ts --seeds 5000 --from 20001 seeds 20001..25000
//   node --import tsx test/sim/run.ts --seed 1234 --verbose     replay one seed, printing every event
//   options: --replicas 3|5|7 (default 5), --machine toy|chat (default toy),
//            --stop-at-first-failure (a planted bug needs one failing seed, not all: test/mutants)
//
// Every failure prints its seed, the property that broke, the last events before it and the
// exact command that replays it. The last line is "N passed, M failed"; the exit code is 1 if
// any seed failed.

import '../support/assert-messages.js'; // A failing invariant must fail the seed, not hang (see there).
import { parseArgs } from 'node:util';
import { chatWorkload } from './chat.js';
import { formatFailure, simulate } from './simulate.js';
import { toyWorkload } from './toy.js';
import type { Workload } from './workload.js';

interface RunOptions {
  first: number;
  count: number;
  replicas: number;
  machine: 'toy' | 'chat';
  verbose: boolean;
  stopAtFirstFailure: boolean;
}

const OPTIONS = {
  seeds: { type: 'string' },
  seed: { type: 'string' },
  from: { type: 'string' },
  replicas: { type: 'string', default: '5' },
  machine: { type: 'string', default: 'toy' },
  verbose: { type: 'boolean', default: false },
  'stop-at-first-failure': { type: 'boolean', default: false },
} as const;

function parse(argv: string[]): RunOptions {
  let values: ReturnType<typeof parseArgs<{ args: string[]; options: typeof OPTIONS }>>['values'];
  try {
    values = parseArgs({ args: argv, options: OPTIONS }).values;
  } catch (error) {
    // An unknown or malformed option is the user's mistake: say so, without a stack trace.
    usage(error instanceof Error ? error.message : String(error));
  }
  const number = (text: string | undefined, name: string): number => {
    const value = Number(text);
    if (!Number.isSafeInteger(value) || value < 1) usage(`--${name} must be a positive whole number, got ${text}`);
    return value;
  };
  const replicas = number(values.replicas, 'replicas');
  if (replicas % 2 === 0) usage('--replicas must be odd (N = 2f+1)');
  if (values.machine !== 'toy' && values.machine !== 'chat') usage('--machine must be toy or chat');
  const single = values.seed !== undefined;
  return {
    first: single ? number(values.seed, 'seed') : values.from === undefined ? 1 : number(values.from, 'from'),
    count: single ? 1 : number(values.seeds ?? '100', 'seeds'),
    replicas,
    machine: values.machine,
    verbose: values.verbose,
    stopAtFirstFailure: values['stop-at-first-failure'],
  };
}

function usage(problem: string): never {
  process.stderr.write(`${problem}\nusage: run.ts (--seeds N [--from S] | --seed S) [--replicas 3|5|7] [--machine toy|chat] [--verbose] [--stop-at-first-failure]\n`);
  process.exit(2);
}

/** Runs the seeds; returns how many ran and how many of those failed. */
async function runSeeds<C, R, E>(workload: Workload<C, R, E>, options: RunOptions): Promise<{ ran: number; failed: number }> {
  let failed = 0;
  for (let seed = options.first; seed < options.first + options.count; seed++) {
    const result = await simulate(workload, { seed, replicaCount: options.replicas, verbose: options.verbose });
    if (!result.ok) {
      failed++;
      process.stdout.write(`${formatFailure(result, options.replicas, options.machine)}\n`);
      if (options.stopAtFirstFailure) return { ran: seed - options.first + 1, failed };
    }
    if (options.verbose || options.count === 1) {
      const s = result.stats;
      process.stdout.write(
        `seed ${seed}: ${result.ok ? 'ok' : 'FAILED'}, ${s.steps} steps, ${s.virtualMs} virtual ms, ${s.committedOps} ops, ` +
          `${s.acknowledged} acknowledged, view ${s.highestView}; faults: ${s.faults.join(', ')}\n`,
      );
    } else if ((seed - options.first + 1) % 500 === 0) {
      process.stderr.write(`… ${seed - options.first + 1} of ${options.count} seeds, ${failed} failed\n`);
    }
  }
  return { ran: options.count, failed };
}

const options = parse(process.argv.slice(2));
const { ran, failed } = await (options.machine === 'chat' ? runSeeds(chatWorkload, options) : runSeeds(toyWorkload, options));
process.stdout.write(`${ran - failed} passed, ${failed} failed\n`);
process.exitCode = failed === 0 ? 0 : 1;
