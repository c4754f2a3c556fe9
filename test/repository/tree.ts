// Reading the repository's own files for the checks in this folder: which files there are, and
// what each source file imports. Plain text reading, no TypeScript compiler: the checks must be
// simple enough to trust, and an import is one line the compiler already made sure resolves.

import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The top of the checkout: this file is test/repository/tree.ts. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Folders that are not the project's own text: installed packages, build output, local data. */
const SKIPPED_DIRS = new Set(['.git', 'node_modules', 'dist', 'coverage', 'data', '.tmp']);

/** Every file below `dir` (relative to ROOT, with `/` separators), skipping SKIPPED_DIRS. */
export function listFiles(dir = ''): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const path = dir === '' ? entry.name : `${dir}/${entry.name}`;
    if (entry.isDirectory()) {
      if (!SKIPPED_DIRS.has(entry.name)) out.push(...listFiles(path));
    } else if (entry.isFile()) {
      out.push(path);
    }
  }
  return out.sort();
}

export function readText(path: string): string {
  return readFileSync(join(ROOT, path), 'utf8');
}

/** The module specifiers a TypeScript file imports or re-exports: `import … from 'x'`,
 *  `export … from 'x'`, `import 'x'` and `import('x')` (also in type positions). */
export function importSpecifiers(source: string): string[] {
  // `from` counts only on a line that begins an import or export, or closes a multi-line one:
  // prose in comments says "from 'alice'" too.
  const pattern = /^\s*(?:(?:import|export)\b[^\n]*?\bfrom|\}\s*from|import)\s+['"]([^'"\s]+)['"]|\bimport\(\s*['"]([^'"\s]+)['"]\s*\)/gm;
  return [...source.matchAll(pattern)].map((match) => (match[1] ?? match[2])!);
}

/** The folder an import lands in, for a relative specifier of `file`: `lib/<name>` for anything
 *  under lib/, else the top-level folder (`bin`, `test`, …). */
export function importedFolder(file: string, specifier: string): string {
  const target = relative(ROOT, resolve(ROOT, dirname(file), specifier)).split(sep);
  return folderOf(target.join('/'));
}

/** `lib/<name>` for a path under lib/, else its top-level folder. */
export function folderOf(path: string): string {
  const parts = path.split('/');
  return parts[0] === 'lib' ? `lib/${parts[1]}` : parts[0]!;
}
