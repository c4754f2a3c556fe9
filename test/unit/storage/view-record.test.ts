// The view record's two copies (lib/storage/view-record.ts, docs/storage.md): written together
// at the cost of one atomic file; at open a bad or missing copy is repaired from the other,
// copies that differ are a crash during a write (A is taken), one bad copy beside an absent one
// is the first record cut short, and both bad is the one damage storage refuses.

import assert from 'node:assert/strict';
import { readFile, unlink, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { test } from 'node:test';
import { readFileAtomic, writeFileAtomic } from '../../../lib/storage/atomic-file.js';
import { RECORD_HEADER_BYTES } from '../../../lib/storage/records.js';
import { nodeFs } from '../../../lib/storage/storage-fs.js';
import { Recorder, TestFs } from './helpers.js';
import { flipped, formattedDir, openAndClose, openStore, rejectsWith, saveFiles, writeJournal } from './store-helpers.js';

const VIEW = { view: 3, logView: 3 };

const viewCopies = async (dir: string) => Promise.all(['view-a.json', 'view-b.json'].map(async (name) => String(await readFileAtomic(nodeFs, path.join(dir, name)))));

test('a flipped bit in either copy of the view record is repaired from the other, logged, and rewritten', async (t) => {
  const dir = await formattedDir(t);
  await writeJournal(dir, [{ kind: 'view', ...VIEW, damaged: false }]);
  const { saved, restore } = await saveFiles(dir);
  const good = saved.get('view-a.json')!;
  assert.deepEqual(saved.get('view-b.json'), good);
  for (const [name, other] of [['view-a.json', 'view-b.json'], ['view-b.json', 'view-a.json']]) {
    for (const at of [0, 5, 11, RECORD_HEADER_BYTES, good.length - 1]) {
      await restore();
      await writeFile(path.join(dir, name), flipped(good, at));
      const opened = await openAndClose(dir);
      assert.deepEqual(opened.journal.view, { ...VIEW, damaged: false }, `${name} flip at ${at}`);
      const reason = at < RECORD_HEADER_BYTES ? 'bad-header' : 'checksum';
      const fields = { file: path.join(dir, name), from: path.join(dir, other), was: `${name} is damaged at offset 0 (${reason})` };
      assert.deepEqual(opened.logs, [{ event: 'view-record-repaired', fields }], `${name} flip at ${at}`);
      assert.deepEqual(await readFile(path.join(dir, name)), good, `${name} flip at ${at}: rewritten`);
      assert.deepEqual((await openAndClose(dir)).logs, [], `${name} flip at ${at}: both copies valid at the next open`);
    }
  }
});

test('copies that differ are a crash during a write: A is taken and B rewritten from it', async (t) => {
  const dir = await formattedDir(t);
  await writeJournal(dir, [{ kind: 'view', ...VIEW, damaged: false }]);
  await writeFileAtomic(nodeFs, path.join(dir, 'view-a.json'), ['{"view":4,"logView":3,"damaged":false}']);
  const opened = await openAndClose(dir);
  assert.deepEqual(opened.journal.view, { view: 4, logView: 3, damaged: false });
  const was = 'view-b.json held an older record {"view":3,"logView":3,"damaged":false}';
  assert.deepEqual(opened.logs, [{ event: 'view-record-repaired', fields: { file: path.join(dir, 'view-b.json'), from: path.join(dir, 'view-a.json'), was } }]);
  assert.deepEqual(await viewCopies(dir), ['{"view":4,"logView":3,"damaged":false}', '{"view":4,"logView":3,"damaged":false}']);
});

test('one copy missing: the other is taken and the missing one written', async (t) => {
  for (const [lost, kept] of [['view-a.json', 'view-b.json'], ['view-b.json', 'view-a.json']]) {
    const dir = await formattedDir(t);
    await writeJournal(dir, [{ kind: 'view', ...VIEW, damaged: false }]);
    await unlink(path.join(dir, lost));
    const opened = await openAndClose(dir);
    assert.deepEqual(opened.journal.view, { ...VIEW, damaged: false }, `${lost} lost`);
    assert.deepEqual(opened.logs, [{ event: 'view-record-repaired', fields: { file: path.join(dir, lost), from: path.join(dir, kept), was: `${lost} is missing` } }]);
    assert.deepEqual(await viewCopies(dir), Array(2).fill(JSON.stringify({ ...VIEW, damaged: false })));
  }
});

test('neither copy usable is the one damage refused: CORRUPT, saying why the replica cannot rejoin', async (t) => {
  const dir = await formattedDir(t);
  await writeJournal(dir, [{ kind: 'view', ...VIEW, damaged: false }]);
  const a = path.join(dir, 'view-a.json');
  const b = path.join(dir, 'view-b.json');
  const good = await readFile(a);
  await writeFile(a, flipped(good, 3));
  await writeFile(b, flipped(good, 30));
  const why = ['both copies of the view record are damaged or missing', 'cannot know which views it promised to leave', 'an operator'];
  await assert.rejects(openAndClose(dir), rejectsWith('CORRUPT', a, b, 'view-a.json is damaged at offset 0 (bad-header)', 'view-b.json is damaged at offset 0 (checksum)', ...why));
  assert.deepEqual([await readFile(a), await readFile(b)], [flipped(good, 3), flipped(good, 30)], 'nothing is touched');
});

test('one copy bad and the other absent is the first view record cut short, then rot: no view record was ever acted on', async (t) => {
  for (const [bad, absent] of [['view-a.json', 'view-b.json'], ['view-b.json', 'view-a.json']]) {
    const dir = await formattedDir(t);
    await writeJournal(dir, [{ kind: 'view', ...VIEW, damaged: false }]);
    const good = await readFile(path.join(dir, bad));
    await unlink(path.join(dir, absent));
    await writeFile(path.join(dir, bad), flipped(good, 3));
    const opened = await openAndClose(dir);
    assert.equal(opened.journal.view, null, `${bad} bad, ${absent} absent: view 0, as before any view record`);
    const why = `${absent} was never written: the first view record was cut short`;
    assert.deepEqual(opened.logs, [{ event: 'view-record-dropped', fields: { file: path.join(dir, bad), was: `${bad} is damaged at offset 0 (bad-header)`, why } }]);
  }
});

test('a view record costs one atomic file: both copies fdatasynced (at once), then both renamed, then one directory fsync', async (t) => {
  const fs = new TestFs();
  const { store, recorder } = await openStore(await formattedDir(t), new Recorder(), { fs });
  t.after(() => store.close());
  fs.operations.length = 0;
  store.persist(1, { kind: 'view', ...VIEW, damaged: false });
  await recorder.durableUpTo(1);
  const steps = fs.operations.filter((o) => o.op === 'datasync' || o.op === 'rename' || o.op === 'sync').map((o) => `${o.op} ${o.file}`);
  assert.deepEqual(steps.slice(0, 2).sort(), ['datasync view-a.json.tmp', 'datasync view-b.json.tmp']);
  assert.deepEqual(steps.slice(2, 4), ['rename view-a.json', 'rename view-b.json']);
  assert.deepEqual(steps.slice(4).map((step) => step.split(' ')[0]), ['sync'], 'one directory fsync');
});
