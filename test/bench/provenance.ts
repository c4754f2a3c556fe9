// What a run's figures are of: the code (commit, and whether lib/ or bin/ differed from it), the
// machine, and how busy it was. Numbers from another day or another machine say nothing about
// this one, so every report carries these.

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { round } from './stats.js';

export const ROOT = findRoot();

export interface Provenance {
  date: string;
  command: string;
  git: { commit: string; dirty: boolean };
  machine: { cpus: number; model: string; memory_gb: number; os: string; node: string };
  loadBefore: string;
}

/** Taken when a run starts. */
export function provenance(): Provenance {
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    command: `node ${process.argv.slice(1).map(repoPath).join(' ')}`,
    git: gitState(),
    machine: { cpus: cpus.length, model: cpus[0]?.model ?? 'unknown', memory_gb: round(os.totalmem() / 2 ** 30, 1), os: `${os.type()} ${os.release()}`, node: process.version },
    loadBefore: loadAverage(),
  };
}

export function loadAverage(): string {
  return os.loadavg().map((n) => n.toFixed(2)).join(' ');
}

/** `path` relative to the repository root, if it is inside it. */
export function repoPath(path: string): string {
  return path.replace(ROOT + '/', '');
}

/** The build is of the working tree, so a dirty tree means the numbers are of uncommitted code. */
function gitState(): Provenance['git'] {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'lib', 'bin'], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
    return { commit, dirty };
  } catch {
    return { commit: 'unknown', dirty: false };
  }
}

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('bench: cannot find the repository root (no package.json above)');
    dir = up;
  }
  return dir;
}
