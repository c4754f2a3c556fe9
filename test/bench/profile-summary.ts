// Reads a V8 .cpuprofile (from --cpu-prof, or from cpu-profile-hook.ts) and says where the time
// went: the functions with the most self time, the most inclusive time, and self time by source
// file. Percentages are of all samples, idle included, so "busy" + "idle" = 100 %: on a 2-core
// machine shared by five replicas, how much of the wall clock a replica computed is itself a
// finding.
//
//   node dist/test/bench/profile-summary.js <file.cpuprofile> [--top 25]

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileLine {
  name: string;
  where: string;
  pct: number;
}

export interface ProfileSummary {
  durationMs: number;
  samples: number;
  busyPct: number;
  idlePct: number;
  gcPct: number;
  topSelf: ProfileLine[];
  topInclusive: ProfileLine[];
  byFile: Array<{ file: string; pct: number }>;
}

/** Shortens a script URL to what a reader recognises: lib/transport/frame.js, node:net, (native). */
function shortFile(url: string): string {
  if (url === '') return '(native)';
  const dist = url.indexOf('/dist/');
  if (dist >= 0) return url.slice(dist + '/dist/'.length);
  return url.replace(/^file:\/\//, '');
}

function keyOf(node: ProfileNode): { key: string; name: string; where: string; file: string } {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = shortFile(url);
  const name = functionName === '' ? '(anonymous)' : functionName;
  const where = url === '' ? file : `${file}:${lineNumber + 1}`;
  return { key: `${name} ${where}`, name, where, file };
}

export function summarizeProfile(profile: CpuProfile, top = 25): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

  // Time per sample: each delta is the time since the previous sample, so sample i is given
  // delta i + 1 (the time until the next one); the last gets the mean.
  const total = profile.samples.length;
  const weights = profile.samples.map((_, i) => profile.timeDeltas[i + 1] ?? (profile.endTime - profile.startTime) / Math.max(1, total));
  const totalWeight = weights.reduce((a, b) => a + b, 0) || 1;
  const self = new Map<string, { name: string; where: string; weight: number }>();
  const inclusive = new Map<string, { name: string; where: string; weight: number }>();
  const files = new Map<string, number>();
  let idle = 0;
  let gc = 0;
  profile.samples.forEach((id, i) => {
    const weight = weights[i]!;
    const node = byId.get(id)!;
    const info = keyOf(node);
    if (info.name === '(idle)') idle += weight;
    if (info.name === '(garbage collector)') gc += weight;
    add(self, info, weight);
    files.set(info.file, (files.get(info.file) ?? 0) + weight);
    // Inclusive: every distinct function on the stack, once (recursion counts once).
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = keyOf(byId.get(at)!);
      if (seen.has(frame.key) || frame.name === '(root)') continue;
      seen.add(frame.key);
      add(inclusive, frame, weight);
    }
  });
  const pct = (weight: number) => Math.round((1000 * weight) / totalWeight) / 10;
  const ranked = (map: Map<string, { name: string; where: string; weight: number }>) =>
    [...map.values()].sort((a, b) => b.weight - a.weight).slice(0, top).map((e) => ({ name: e.name, where: e.where, pct: pct(e.weight) }));
  return {
    durationMs: Math.round((profile.endTime - profile.startTime) / 1000),
    samples: total,
    busyPct: pct(totalWeight - idle),
    idlePct: pct(idle),
    gcPct: pct(gc),
    topSelf: ranked(self),
    topInclusive: ranked(inclusive).filter((line) => !['(idle)', '(program)'].includes(line.name)),
    byFile: [...files].sort((a, b) => b[1] - a[1]).slice(0, top).map(([file, weight]) => ({ file, pct: pct(weight) })),
  };
}

function add(map: Map<string, { name: string; where: string; weight: number }>, info: { key: string; name: string; where: string }, weight: number): void {
  const entry = map.get(info.key);
  if (entry) entry.weight += weight;
  else map.set(info.key, { name: info.name, where: info.where, weight });
}

export function loadProfile(path: string): CpuProfile {
  return JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
}

export function formatSummary(summary: ProfileSummary, title: string): string {
  const lines = [`${title}: ${summary.durationMs} ms, ${summary.samples} samples; busy ${summary.busyPct}%, idle ${summary.idlePct}%, GC ${summary.gcPct}%`];
  lines.push('  self time');
  for (const line of summary.topSelf) lines.push(`    ${String(line.pct).padStart(5)}%  ${line.name}  ${line.where}`);
  lines.push('  inclusive time');
  for (const line of summary.topInclusive) lines.push(`    ${String(line.pct).padStart(5)}%  ${line.name}  ${line.where}`);
  lines.push('  self time by file');
  for (const line of summary.byFile) lines.push(`    ${String(line.pct).padStart(5)}%  ${line.file}`);
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' } } });
  if (positionals.length === 0) {
    process.stderr.write('usage: node dist/test/bench/profile-summary.js <file.cpuprofile>... [--top N]\n');
    process.exit(2);
  }
  for (const path of positionals) console.log(formatSummary(summarizeProfile(loadProfile(path), Number(values.top)), path));
}
