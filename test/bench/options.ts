// The bench's command line: which sections to run and at what scale. --quick scales every
// default down at once, so that a run that only checks the bench itself takes about a minute.

import * as os from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT } from './provenance.js';

export const SECTIONS = ['floor', 'latency', 'throughput', 'failover', 'catchup', 'startup', 'scale'] as const;
export type Section = (typeof SECTIONS)[number];

export const USAGE = `usage: node dist/test/bench/bench.js [options]

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

export interface Options {
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

/** The options `args` ask for; null if they ask for --help. Throws on a flag it does not know
 *  or a value that is not a positive number. */
export function parseOptions(args: string[]): Options | null {
  const { values } = parseArgs({
    args,
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
  if (values.help) return null;
  const quick = values.quick;
  const sections = parseSections(values.only);
  const inFlight = values['in-flight'].split(',').map((s) => positive(s.trim(), 1, 'in-flight'));
  return {
    quick,
    sections,
    trials: Math.round(positive(values.trials, quick ? 3 : 10, 'trials')),
    inFlight,
    durationS: positive(values.duration, quick ? 2 : 10, 'duration'),
    catchupMessages: Math.round(positive(values['catchup-messages'], quick ? 10_000 : 100_000, 'catchup-messages')),
    startupMessages: Math.round(positive(values['startup-messages'], quick ? 20_000 : 1_000_000, 'startup-messages')),
    scaleMessages: Math.round(positive(values['scale-messages'], quick ? 50_000 : 1_000_000, 'scale-messages')),
    loadBudgetS: positive(values['load-budget'], quick ? 30 : 900, 'load-budget'),
    workers: Math.round(positive(values.workers, 2, 'workers')),
    profile: values.profile,
    dir: resolve(values.dir),
    json: resolve(values.json),
    keepData: values['keep-data'],
    serverArgs: values['replica-log-level'] === undefined ? [] : ['--log-level', values['replica-log-level']],
  };
}

function positive(text: string | undefined, fallback: number, name: string): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got "${text}"`);
  return n;
}

/** --only, or every section; kept in the order given, which is the order they are announced in. */
function parseSections(only: string | undefined): Set<Section> {
  const sections = new Set<Section>();
  for (const name of (only ?? SECTIONS.join(',')).split(',').map((s) => s.trim()).filter(Boolean)) {
    if (!(SECTIONS as readonly string[]).includes(name)) throw new Error(`--only: unknown section "${name}" (sections: ${SECTIONS.join(', ')})`);
    sections.add(name as Section);
  }
  return sections;
}
