// Planting a mutant, and the checks that keep the catalogue honest as the code changes. Pure
// functions over text, shared by the runner (run.ts) and by test/repository/mutants.test.ts.

import type { Mutant } from './catalogue.js';

/** How many times `find` occurs in `text` (occurrences may not overlap). */
export function occurrences(text: string, find: string): number {
  if (find === '') return 0;
  let count = 0;
  for (let at = text.indexOf(find); at >= 0; at = text.indexOf(find, at + find.length)) count++;
  return count;
}

/** `source` with the mutant's one edit made. Throws unless `find` occurs exactly once: an edit
 *  that could land in two places, or in none, is a catalogue bug. */
export function mutate(source: string, mutant: Mutant): string {
  const count = occurrences(source, mutant.find);
  if (count !== 1) throw new Error(`mutant ${mutant.id}: its find text occurs ${count} times in ${mutant.file}, not once`);
  return source.replace(mutant.find, () => mutant.replace);
}

/** A VRR section ("VRR §4.1 step 3") or a disk rule ("disk rule D2"): what a mutant breaks. */
const RULE_CITATION = /\bVRR §\d|\bdisk rules? D[1-7]\b/;

const KEBAB_CASE = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

/** Everything wrong with the catalogue against the tree as it is: `read` returns a repository
 *  file's text, or null if there is no such file. Empty when the catalogue can be run. */
export function catalogueProblems(mutants: readonly Mutant[], read: (file: string) => string | null): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const mutant of mutants) {
    const { id } = mutant;
    if (!KEBAB_CASE.test(id)) problems.push(`mutant "${id}": the id is not kebab-case`);
    if (seen.has(id)) problems.push(`mutant ${id}: the id is used twice`);
    seen.add(id);
    if (!RULE_CITATION.test(mutant.rule)) problems.push(`mutant ${id}: its rule cites neither a VRR section (VRR §4.1 …) nor a disk rule (disk rule D1 …)`);
    if (mutant.why.trim() === '') problems.push(`mutant ${id}: it does not say why the rule matters`);
    if (mutant.equivalent?.trim() === '') problems.push(`mutant ${id}: marked equivalent without an argument`);
    if (mutant.find === mutant.replace) problems.push(`mutant ${id}: its replacement changes nothing`);
    const source = read(mutant.file);
    if (source === null) problems.push(`mutant ${id}: ${mutant.file} does not exist`);
    else if (occurrences(source, mutant.find) !== 1) {
      problems.push(`mutant ${id}: its find text occurs ${occurrences(source, mutant.find)} times in ${mutant.file}, not once`);
    }
  }
  return problems;
}
