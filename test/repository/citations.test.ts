// Everything the code and docs cite is in the repository (see citations.ts). The first test
// reads the whole tree; the others plant one bad citation each and watch the check report it.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { citationProblems, definedDiskRules, numberedDuties, type Citable } from './citations.js';
import { listFiles, readText } from './tree.js';

/** Text the project writes (sources, docs, build files); not data or lock files. */
const TEXT_FILE = /\.(ts|md)$|^Makefile$|^\.ci\/run$|^bin\/(server|client|cluster)$/;

/** This folder holds the patterns and the planted examples below, which cite on purpose. */
const isChecker = (path: string): boolean => path.startsWith('test/repository/');

test('citations: no file cites a document outside the repository, a missing file, or an undefined disk rule or duty', () => {
  const files = listFiles();
  const citable: Citable = {
    files: new Set(files),
    diskRules: definedDiskRules(readText('docs/architecture.md')),
    duties: numberedDuties(readText('lib/replication/types.ts')),
  };
  assert.deepEqual([...citable.diskRules].sort(), [1, 2, 3, 4, 5, 6, 7], 'docs/architecture.md should define disk rules D1–D7');
  assert.equal(citable.duties, 8, 'lib/replication/types.ts should number eight driver duties');
  const checked = files.filter((path) => TEXT_FILE.test(path) && !isChecker(path));
  assert.ok(checked.length > 100, `expected the whole tree, found ${checked.length} files`);
  const problems = checked.flatMap((path) => citationProblems(path, readText(path), citable));
  assert.deepEqual(problems, [], `citations to fix:\n  ${problems.join('\n  ')}`);
});

const CITABLE: Citable = {
  files: new Set(['docs/architecture.md', 'lib/storage/data-dir.ts', 'README.md']),
  diskRules: new Set([1, 2, 3, 4, 5, 6, 7]),
  duties: 8,
};

test('citations check: true citations pass', () => {
  const text = [
    '// A missing data directory is an error (disk rule D7, docs/architecture.md; lib/storage/data-dir.ts).',
    "import { formatDataDir } from '../storage/data-dir.js'; // a specifier, not a citation",
    '// driver duties 2–3; VRR §4.2; the build output dist/test/bench/bench.js',
  ].join('\n');
  assert.deepEqual(citationProblems('lib/cluster/local.ts', text, CITABLE), []);
  assert.deepEqual(citationProblems('docs/tour.md', 'See [the map](architecture.md#the-map) and [home](../README.md).', CITABLE), []);
});

test('citations check: notes, briefs, issues and sessions that are not in the repository are reported', () => {
  const text = '// as VR-NOTES says (BRIEF "Persistence"), see issue 5 and the run of session 3';
  const problems = citationProblems('lib/x.ts', text, CITABLE);
  assert.deepEqual(problems.map((problem) => problem.match(/cites "([^"]+)"/)?.[1]), ['VR-NOTES', 'BRIEF', 'issue 5', 'session 3']);
});

test('citations check: a missing file, a broken link, an undefined disk rule or duty is reported', () => {
  assert.deepEqual(citationProblems('lib/x.ts', '// see docs/design.md', CITABLE), ['lib/x.ts:1 cites docs/design.md, which does not exist']);
  assert.deepEqual(citationProblems('docs/tour.md', 'line one\n[design](design.md)', CITABLE), ['docs/tour.md:2 links to design.md, which does not exist']);
  assert.deepEqual(citationProblems('lib/x.ts', '// (disk rule D8)', CITABLE), ['lib/x.ts:1 cites disk rule D8, which docs/architecture.md does not define']);
  assert.deepEqual(citationProblems('lib/x.ts', '// driver duties 7–9', CITABLE), ['lib/x.ts:1 cites duties 7–9, but lib/replication/types.ts numbers 8 duties']);
});

test('citations check: the definitions are read from the documents that hold them', () => {
  assert.deepEqual(definedDiskRules('- **D1. Persist first.** …\n- **D2. The view.** …'), new Set([1, 2]));
  assert.equal(numberedDuties('// Duties of the driver (numbered):\n//   1. One.\n//   2. Two,\n//      continued.\n'), 2);
});
