// The mutant catalogue (test/mutants/catalogue.ts) must stay runnable as the code changes: every
// `find` occurs exactly once in its file today, ids are unique, and every mutant names the rule it
// breaks. Fast, no simulation: `make mutants` runs the mutants themselves. The other tests plant
// each kind of catalogue bug and watch the check report it.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { MUTANTS, type Mutant } from '../mutants/catalogue.js';
import { catalogueProblems, mutate } from '../mutants/mutate.js';
import { readText, ROOT } from './tree.js';

const readRepositoryFile = (file: string): string | null => (existsSync(join(ROOT, file)) ? readText(file) : null);

test('mutants: every catalogue entry applies to the tree as it is, once, and names the rule it breaks', () => {
  assert.ok(MUTANTS.length >= 30, `expected the whole catalogue, found ${MUTANTS.length} mutants`);
  const problems = catalogueProblems(MUTANTS, readRepositoryFile);
  assert.deepEqual(problems, [], `catalogue entries to fix (re-read the code they point at):\n  ${problems.join('\n  ')}`);
});

const FILES: Record<string, string> = { 'lib/a.ts': 'const quorum = f + 1;\nconst twice = 1;\nconst twice = 1;\n' };
const read = (file: string): string | null => FILES[file] ?? null;

const sound: Mutant = {
  id: 'quorum-of-f',
  file: 'lib/a.ts',
  find: 'f + 1',
  replace: 'f',
  rule: 'VRR §4.1 step 4',
  why: 'An op on f replicas can be lost.',
};

test('mutants check: a sound entry passes, and planting it makes its one edit', () => {
  assert.deepEqual(catalogueProblems([sound, { ...sound, id: 'd1-rule', rule: 'disk rule D1, docs/architecture.md' }], read), []);
  assert.equal(mutate(FILES['lib/a.ts']!, sound), 'const quorum = f;\nconst twice = 1;\nconst twice = 1;\n');
});

test('mutants check: a find text that occurs twice or not at all, or a missing file, is reported and cannot be planted', () => {
  const twice = { ...sound, id: 'twice', find: 'const twice = 1;' };
  const gone = { ...sound, id: 'gone', find: 'f + 2' };
  const missing = { ...sound, id: 'missing', file: 'lib/b.ts' };
  assert.deepEqual(catalogueProblems([twice, gone, missing], read), [
    'mutant twice: its find text occurs 2 times in lib/a.ts, not once',
    'mutant gone: its find text occurs 0 times in lib/a.ts, not once',
    'mutant missing: lib/b.ts does not exist',
  ]);
  assert.throws(() => mutate(FILES['lib/a.ts']!, twice), /occurs 2 times in lib\/a\.ts/);
  assert.throws(() => mutate(FILES['lib/a.ts']!, gone), /occurs 0 times in lib\/a\.ts/);
});

test('mutants check: a reused or non-kebab-case id, an uncited rule, a missing why or argument, a no-op edit are reported', () => {
  const problems = catalogueProblems(
    [
      sound,
      { ...sound },
      { ...sound, id: 'Quorum_Of_F' },
      { ...sound, id: 'uncited', rule: 'the quorum rule' },
      { ...sound, id: 'no-why', why: ' ' },
      { ...sound, id: 'no-argument', equivalent: '' },
      { ...sound, id: 'no-op', replace: 'f + 1' },
    ],
    read,
  );
  assert.deepEqual(problems, [
    'mutant quorum-of-f: the id is used twice',
    'mutant "Quorum_Of_F": the id is not kebab-case',
    'mutant uncited: its rule cites neither a VRR section (VRR §4.1 …) nor a disk rule (disk rule D1 …)',
    'mutant no-why: it does not say why the rule matters',
    'mutant no-argument: marked equivalent without an argument',
    'mutant no-op: its replacement changes nothing',
  ]);
});
