// bin/cluster as a script drives it: commands on standard input, one line per event on standard
// output, the cluster kept up after the end of input, and SIGTERM stopping every replica.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, waitFor } from './harness.js';
import { Connector } from '../../lib/client/connector.js';

const dataDir = mkdtempSync(join(tmpdir(), 'chatplus-console-'));
let cluster: ChildProcess | null = null;

after(() => {
  cluster?.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

async function portFree(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A first client port P such that P..P+2 and P+100..P+102 are all free (bin/cluster's layout). */
async function freeBlock(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 20_000);
    const ports = [0, 1, 2, 100, 101, 102].map((d) => base + d);
    if ((await Promise.all(ports.map(portFree))).every(Boolean)) return base;
  }
  throw new Error('no free block of ports for bin/cluster');
}

test('a scripted console: events as lines, kill and start, the cluster outlives its input, SIGTERM stops it', async () => {
  const port = await freeBlock();
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bin/cluster.ts'), '--replicas', '3', '--port', String(port), '--data', dataDir], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  cluster = child;
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk));
  const seen = (pattern: RegExp, what: string) => waitFor(what, () => (pattern.test(output) ? true : undefined), 30_000, () => output);

  await seen(/replica 0 started[\s\S]*replica 1 started[\s\S]*replica 2 started/, 'three replicas to start');
  const primaryLine = await waitFor('a primary', () => /replica (\d) is primary of view (\d+)/.exec(output) ?? undefined, 30_000, () => output);
  const primary = Number(primaryLine[1]);
  assert.ok(existsSync(join(dataDir, 'cluster.json')), 'the config was written');

  child.stdin!.write(`status\nkill ${primary}\nfrobnicate\n`);
  await seen(new RegExp(`replica ${primary} stopped: killed by SIGKILL`), 'the kill');
  await seen(/error: unknown command "frobnicate"/, 'the error for a bad command');
  await seen(/replica\s+state\s+role/, 'the status table');
  await seen(new RegExp(`replica (?!${primary})\\d is primary of view`), 'a new primary');

  child.stdin!.end(`start ${primary}\n`);
  await seen(new RegExp(`replica ${primary} started[\\s\\S]*replica ${primary} started`), 'the restart');

  // Input has ended; the cluster must still serve.
  const addresses = [0, 1, 2].map((i) => `127.0.0.1:${port + i}`);
  const connector = new Connector({ servers: addresses });
  await connector.connect();
  assert.ok((await connector.createAccount('console-user', 'pw')).ok);
  await connector.close();

  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
  assert.match(output, /all replicas stopped/);
  cluster = null;
});
