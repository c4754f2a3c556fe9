// The bench's output: timestamped progress lines while it runs, then one row per figure — its
// value, its ratio to the floor where one makes sense, its target (docs/performance.md), and
// whether this run met it — printed as a table and kept for the JSON file.

import type { SendTally } from './tally.js';

export interface Row {
  section: string;
  figure: string;
  value: string;
  /** The figure over the floor it is judged against, e.g. "2.4× send floor". */
  ratio: string;
  target: string;
  /** true met, false missed, null no target (or not measured at the target's scale). */
  met: boolean | null;
  note?: string;
}

export function verdict(met: boolean | null): string {
  if (met === null) return '';
  return met ? 'met' : 'MISSED';
}

const HEADERS = ['section', 'figure', 'value', 'ratio to floor', 'target', ''];

export function formatTable(rows: Row[]): string {
  const cells = rows.map((r) => [r.section, r.figure, r.value, r.ratio, r.target, verdict(r.met)]);
  const widths = HEADERS.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((text, i) => text.padEnd(widths[i]!)).join('  ').trimEnd();
  const out = [line(HEADERS), widths.map((w) => '-'.repeat(w)).join('  ')];
  let section = '';
  for (const [i, c] of cells.entries()) {
    // The section name once per group reads more easily than repeated on every line.
    out.push(line([c[0] === section ? '' : c[0]!, ...c.slice(1)]));
    section = c[0]!;
    if (rows[i]!.note) out.push(line(['', `  ${rows[i]!.note}`, '', '', '', '']));
  }
  return out.join('\n');
}

/** The same rows as a Markdown table, for docs/performance.md. */
export function formatMarkdown(rows: Row[]): string {
  const out = ['| section | figure | value | ratio to floor | target | |', '|---|---|---|---|---|---|'];
  for (const r of rows) out.push(`| ${r.section} | ${r.figure}${r.note ? ` (${r.note})` : ''} | ${r.value} | ${r.ratio} | ${r.target} | ${verdict(r.met)} |`);
  return out.join('\n');
}

export const int = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '—');
export const ms = (n: number, digits = 0): string => (Number.isFinite(n) ? `${n.toFixed(digits)} ms` : '—');
export const us = (n: number): string => (Number.isFinite(n) ? `${Math.round(n)} µs` : '—');

/** Sends that were not stored, by code, as a clause to append to a line; empty if none. */
export function failures(tally: SendTally): string {
  const parts = [...Object.entries(tally.refused), ...Object.entries(tally.errors)].map(([code, n]) => `${code} ×${n}`);
  return parts.length === 0 ? '' : `; not stored: ${parts.join(', ')}`;
}

/** A progress line, stamped with the wall-clock time to line it up with the replicas' logs. */
export function log(line: string): void {
  process.stdout.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}
