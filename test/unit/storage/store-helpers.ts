// Shared equipment for the tests of ReplicaStore (replica-store.test.ts, damage.test.ts,
// view-record.test.ts): a formatted directory, opening a store on it, writing a journal, checking
// a refusal, and damaging files and putting them back.

import assert from 'node:assert/strict';
import { readdir, readFile, unlink, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import type { TestContext } from 'node:test';
import type { JournalRecord, Snapshot } from '../../../lib/replication/types.js';
import { formatDataDir, ReplicaStore, StorageError, type StoreIdentity } from '../../../lib/storage/replica-store.js';
import type { StorageFs } from '../../../lib/storage/storage-fs.js';
import { Recorder, tempDir, TestFs } from './helpers.js';

export type Command = { kind: 'send'; text: string };
export type Journaled = JournalRecord<Command, string>;

export const IDENTITY: StoreIdentity = { cluster: 'test', replica: 2 };

export async function formattedDir(t: TestContext): Promise<string> {
  const dir = path.join(await tempDir(t), 'replica-2');
  await formatDataDir(dir, IDENTITY);
  return dir;
}

export async function openStore(dir: string, recorder = new Recorder(), extra: { fs?: StorageFs; segmentBytesMax?: number } = {}) {
  const opened = await ReplicaStore.open<Command, string>(dir, IDENTITY, { ...recorder.options, ...extra });
  return { ...opened, recorder };
}

/** Persists each record with seq 1, 2, ... as its own step, waits until all are durable, closes. */
export async function writeJournal(dir: string, records: Journaled[], extra: { segmentBytesMax?: number } = {}): Promise<void> {
  const { store, recorder } = await openStore(dir, new Recorder(), extra);
  for (const [index, record] of records.entries()) {
    store.persist(index + 1, record);
    await recorder.durableUpTo(index + 1);
  }
  await store.close();
}

export function rejectsWith(code: StorageError['code'], ...mentions: string[]) {
  return (error: unknown) => {
    assert.ok(error instanceof StorageError, String(error));
    assert.equal(error.code, code, error.message);
    for (const text of mentions) assert.ok(error.message.includes(text), `"${error.message}" should mention "${text}"`);
    return true;
  };
}

export function snapshotAt(op: number, machine: unknown = { upTo: op }): Snapshot<string> {
  return { op, view: 1, clientTable: { c: { owner: 'o', requestNumber: op, reply: `r${op}`, op, at: op } }, machine };
}

export const logOps = (log: Array<{ entries: Array<{ op: number }> }>) => log.flatMap((record) => record.entries.map((e) => e.op));

/** Opens the store (fsyncs off unless `fs` is given) and closes it; returns what it loaded and logged. */
export async function openAndClose(dir: string, fs: StorageFs = new TestFs({ syncs: false })) {
  const { store, journal, recorder } = await openStore(dir, new Recorder(), { fs });
  await store.close();
  return { journal, logs: recorder.logs };
}

/** Every file of `dir` with its bytes, and a function that puts the directory back that way. */
export async function saveFiles(dir: string) {
  const saved = new Map<string, Buffer>();
  for (const name of await readdir(dir)) saved.set(name, await readFile(path.join(dir, name)));
  const restore = async () => {
    for (const name of await readdir(dir)) if (!saved.has(name)) await unlink(path.join(dir, name));
    for (const [name, data] of saved) await writeFile(path.join(dir, name), data);
  };
  return { saved, restore };
}

/** A copy of `data` with one bit of byte `at` flipped (not the same bit in neighbouring bytes). */
export function flipped(data: Buffer, at: number): Buffer {
  const copy = Buffer.from(data);
  copy[at]! ^= 1 << at % 8;
  return copy;
}
