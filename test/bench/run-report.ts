// A run's report: the table (and profile summaries) on stdout, and the same with the raw results
// as JSON in --json, for docs/performance.md and for comparing runs.

import { writeFileSync } from 'node:fs';
import { formatSummary } from './profile-summary.js';
import { loadAverage, repoPath } from './provenance.js';
import { formatMarkdown, formatTable } from './report.js';
import { buildRows } from './rows.js';
import type { BenchRun } from './run-context.js';

/** `partial`: the run was interrupted, and this is what it had measured so far. */
export function report(run: BenchRun, partial: boolean): void {
  const { options, results, provenance } = run;
  const { machine, git } = provenance;
  const rows = buildRows(results, options.quick);
  const loadAfter = loadAverage();
  console.log('');
  console.log(`Chat+ bench ${provenance.date}${options.quick ? ' — QUICK run (reduced scale)' : ''}${partial ? ' — INTERRUPTED, partial results' : ''}`);
  console.log(`machine: ${machine.cpus} × ${machine.model}, ${machine.memory_gb} GB, ${machine.os}, node ${machine.node}`);
  console.log(`command: ${provenance.command}   (commit ${git.commit}${git.dirty ? ', lib/ or bin/ modified' : ''})`);
  console.log(`load average before ${provenance.loadBefore}, after ${loadAfter}`);
  console.log('');
  console.log(formatTable(rows));
  for (const p of results.profiles ?? []) {
    console.log('');
    const what = p.role === 'start-up' ? 'from process start to its first hello answered' : `under ${Math.max(...options.inFlight)} in flight`;
    console.log(formatSummary(p.summary, `profile of replica ${p.replica} (${p.role}) ${what}: ${repoPath(p.file)}`));
  }
  const json = {
    version: 1, date: provenance.date, command: provenance.command, git, quick: options.quick, partial, machine,
    loadAverage: { before: provenance.loadBefore, after: loadAfter }, options: { ...options, sections: [...options.sections] },
    results, rows, markdown: formatMarkdown(rows),
  };
  writeFileSync(options.json, JSON.stringify(json, null, 2) + '\n');
  console.log('');
  console.log(`results written to ${options.json}`);
}
