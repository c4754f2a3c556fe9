// The layer rule of docs/architecture.md ("The map: one folder, one layer"), as a check. The map's
// table is the rule: this module reads it from the document and checks every import of lib/ and
// bin/ against it, so the documented order and the code cannot drift apart.

import { folderOf, importedFolder, importSpecifiers } from './tree.js';

export interface Layer {
  /** Its place in the order: a folder may import only folders of a lower layer. */
  rank: number;
  /** `lib/<name>`, or `bin`. */
  folder: string;
  /** The folders it may import (each of a lower rank). */
  mayImport: Set<string>;
  /** Node built-in modules it may import: 'any', or a list ('pure' stands for PURE_NODE_MODULES). */
  nodeModules: 'any' | Set<string>;
  /** A pure folder also uses no clock, timer or random number (see PURE_FORBIDDEN_GLOBALS). */
  pure: boolean;
}

/** What a pure folder may import from Node: assertions and Buffer, nothing that does I/O. */
export const PURE_NODE_MODULES = ['node:assert/strict', 'node:buffer'];

/** Globals through which time, timers or chance would reach a pure folder. The core gets time as
 *  tick() and every timestamp or random value in its log entries (VRR §4.4). */
export const PURE_FORBIDDEN_GLOBALS = /\b(Date\.now|new Date\(|Math\.random|performance\.now|set(Timeout|Interval|Immediate)\(|process\.)/;

const MAP_HEADING = '## The map: one folder, one layer';

/** Reads the layer table that follows MAP_HEADING in docs/architecture.md. */
export function parseLayerMap(markdown: string): Layer[] {
  const start = markdown.indexOf(MAP_HEADING);
  if (start < 0) throw new Error(`docs/architecture.md has no section "${MAP_HEADING}"`);
  const section = markdown.slice(start + MAP_HEADING.length).split(/\n## /)[0]!;
  const rows = section.split('\n').filter((line) => /^\|\s*\d+\s*\|/.test(line));
  if (rows.length === 0) throw new Error('the map section has no table rows of the form | rank | folder | … |');
  return rows.map((row) => {
    const cells = row.split('|').slice(1, -1).map((cell) => cell.trim());
    if (cells.length !== 5) throw new Error(`map row needs 5 cells (layer, folder, owns, may import, node modules): ${row}`);
    const [rank, folder, , mayImport, nodeModules] = cells as [string, string, string, string, string];
    const names = (cell: string): string[] => [...cell.matchAll(/`([^`]+)`/g)].map((match) => match[1]!);
    const pure = nodeModules === 'pure';
    return {
      rank: Number(rank),
      folder: names(folder)[0] ?? folder,
      mayImport: new Set(names(mayImport)),
      nodeModules: nodeModules === 'any' ? 'any' : new Set(pure ? PURE_NODE_MODULES : names(nodeModules)),
      pure,
    };
  });
}

/** Problems with the map itself: folders missing from it or listed twice, and allowed imports
 *  that do not point to a lower layer (which would allow a cycle). */
export function mapProblems(layers: Layer[], foldersInTree: Iterable<string>): string[] {
  const problems: string[] = [];
  const byFolder = new Map<string, Layer>();
  for (const layer of layers) {
    if (byFolder.has(layer.folder)) problems.push(`${layer.folder} is listed twice in the map`);
    byFolder.set(layer.folder, layer);
  }
  for (const folder of foldersInTree) {
    if (!byFolder.has(folder)) problems.push(`${folder} has source files but no row in the map`);
  }
  for (const layer of layers) {
    for (const target of layer.mayImport) {
      const lower = byFolder.get(target);
      if (lower === undefined) problems.push(`${layer.folder} may import ${target}, which is not in the map`);
      else if (lower.rank >= layer.rank) problems.push(`${layer.folder} (layer ${layer.rank}) may import ${target} (layer ${lower.rank}): allowed imports must point to a lower layer`);
    }
  }
  return problems;
}

/** Problems with the sources: every import of a file in a mapped folder must be allowed by its
 *  row. `sources` maps a path relative to the checkout (e.g. lib/chat/machine.ts) to its text. */
export function importProblems(layers: Layer[], sources: Map<string, string>): string[] {
  const problems: string[] = [];
  const byFolder = new Map(layers.map((layer) => [layer.folder, layer]));
  for (const [file, source] of sources) {
    const layer = byFolder.get(folderOf(file));
    if (layer === undefined) continue; // mapProblems reports the folder
    for (const specifier of importSpecifiers(source)) {
      if (specifier.startsWith('.')) {
        const target = importedFolder(file, specifier);
        if (target !== layer.folder && !layer.mayImport.has(target)) {
          problems.push(`${file} imports ${specifier}: ${layer.folder} may not import ${target} (docs/architecture.md, the map)`);
        }
      } else if (specifier.startsWith('node:')) {
        if (layer.nodeModules !== 'any' && !layer.nodeModules.has(specifier)) {
          problems.push(`${file} imports ${specifier}, which ${layer.folder} may not use (${layer.pure ? 'a pure folder' : 'see the map'})`);
        }
      } else {
        problems.push(`${file} imports the package ${specifier}: Chat+ has no runtime dependencies (use node:${specifier} for a built-in)`);
      }
    }
    if (layer.pure) {
      source.split('\n').forEach((line, index) => {
        const code = /^\s*(\*|\/\*)/.test(line) ? '' : line.replace(/\/\/.*$/, ''); // not in comments
        const hit = PURE_FORBIDDEN_GLOBALS.exec(code);
        if (hit) problems.push(`${file}:${index + 1} uses ${hit[0]} in a pure folder (time and chance reach the core as inputs)`);
      });
    }
  }
  return problems;
}
