// The folders of lib/ are layers (docs/architecture.md, "The map"): each imports only the folders
// below it, the pure ones use no I/O, clock or chance, and nothing imports an npm package. The
// first test checks the real tree; the others plant each kind of violation in a made-up tree
// and watch the checker report it, so a green run means the rule holds, not that the check is
// blind.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { importProblems, mapProblems, parseLayerMap, type Layer } from './layers.js';
import { folderOf, listFiles, readText } from './tree.js';

const sourceFiles = (): string[] =>
  [...listFiles('lib'), ...listFiles('bin')].filter((path) => path.endsWith('.ts'));

test('layout: lib/ and bin/ import only what docs/architecture.md\'s map allows', () => {
  const layers = parseLayerMap(readText('docs/architecture.md'));
  const files = sourceFiles();
  assert.ok(files.length > 50, `expected the whole source tree, found ${files.length} files`);
  const sources = new Map(files.map((path) => [path, readText(path)]));
  const problems = [
    ...mapProblems(layers, new Set(files.map(folderOf))),
    ...importProblems(layers, sources),
  ];
  assert.deepEqual(problems, [], `layer rule broken:\n  ${problems.join('\n  ')}`);
});

// A small map of the same shape as the real one, for the planted violations below.
const MAP = `
## The map: one folder, one layer

| Layer | Folder | Owns | May import | Node modules |
|---|---|---|---|---|
| 0 | \`lib/transport\` | frames | — | any |
| 0 | \`lib/core\` | the core | — | pure |
| 1 | \`lib/app\` | the app | \`lib/core\` | pure |
| 2 | \`lib/server\` | sockets | \`lib/app\`, \`lib/core\`, \`lib/transport\` | any |

## Next section
`;

const check = (files: Record<string, string>, layers: Layer[] = parseLayerMap(MAP)): string[] => {
  const sources = new Map(Object.entries(files));
  return [...mapProblems(layers, new Set(Object.keys(files).map(folderOf))), ...importProblems(layers, sources)];
};

test('layout check: a tree that follows the map passes', () => {
  assert.deepEqual(check({
    'lib/core/replica.ts': "import assert from 'node:assert/strict';\nimport { log } from './log.js';",
    'lib/app/machine.ts': "import type { Replica } from '../core/replica.js';",
    'lib/server/main.ts': "import { createServer } from 'node:net';\nimport { Machine } from '../app/machine.js';\nimport '../transport/frame.js';",
  }), []);
});

test('layout check: an upward import (which would close a cycle) is reported', () => {
  const problems = check({ 'lib/core/replica.ts': "import { Machine } from '../app/machine.js';" });
  assert.equal(problems.length, 1);
  assert.match(problems[0]!, /lib\/core may not import lib\/app/);
});

test('layout check: an import between siblings, and a type-only import() in a type position, are reported', () => {
  const problems = check({
    'lib/transport/frame.ts': "export type Code = import('../core/codes.js').Code;",
    'lib/core/replica.ts': "export { frame } from '../transport/frame.js';",
  });
  assert.equal(problems.length, 2, problems.join('\n'));
});

test('layout check: a pure folder using I/O, a clock or chance is reported; a comment naming them is not', () => {
  const problems = check({
    'lib/app/machine.ts': [
      "import { readFileSync } from 'node:fs';",
      '// Date.now() is never called here: time arrives in the command.',
      'const at = Date.now();',
      'const roll = Math.random();',
    ].join('\n'),
  });
  assert.equal(problems.length, 3, problems.join('\n'));
  assert.match(problems[0]!, /node:fs/);
  assert.match(problems[1]!, /machine\.ts:3 uses Date\.now/);
  assert.match(problems[2]!, /machine\.ts:4 uses Math\.random/);
});

test('layout check: an npm package in lib/ is reported (zero runtime dependencies)', () => {
  const problems = check({ 'lib/server/main.ts': "import express from 'express';" });
  assert.deepEqual(problems, ['lib/server/main.ts imports the package express: Chat+ has no runtime dependencies (use node:express for a built-in)']);
});

test('layout check: the map itself must list every folder and allow only downward imports', () => {
  const upward = parseLayerMap(MAP.replace('| 0 | `lib/core` | the core | — |', '| 0 | `lib/core` | the core | `lib/app` |'));
  const problems = check({ 'lib/extra/thing.ts': '' }, upward);
  assert.deepEqual(problems, [
    'lib/extra has source files but no row in the map',
    'lib/core (layer 0) may import lib/app (layer 1): allowed imports must point to a lower layer',
  ]);
  assert.throws(() => parseLayerMap('# no map here'), /no section "## The map/);
});
