import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { test } from 'node:test';
import { readFileAtomic, writeFileAtomic } from '../../../lib/storage/atomic-file.js';
import { StorageError, toStorageError } from '../../../lib/storage/errors.js';
import { nodeFs } from '../../../lib/storage/storage-fs.js';
import { notOwnerOnly, systemError, tempDir, TestFs, withoutUmask } from './helpers.js';

function isCorrupt(file: string, offset?: number) {
  return (error: unknown) => {
    assert.ok(error instanceof StorageError, String(error));
    assert.equal(error.code, 'CORRUPT');
    assert.ok(error.message.includes(file), `"${error.message}" should name ${file}`);
    if (offset !== undefined) assert.ok(error.message.includes(`offset ${offset}`), `"${error.message}" should give offset ${offset}`);
    return true;
  };
}

test('what is written is read back, and a second write replaces it', async (t) => {
  const file = path.join(await tempDir(t), 'view.json');
  await writeFileAtomic(nodeFs, file, ['{"view":1}']);
  assert.equal((await readFileAtomic(nodeFs, file))?.toString(), '{"view":1}');
  await writeFileAtomic(nodeFs, file, ['{"view":', '2}']);
  assert.equal((await readFileAtomic(nodeFs, file))?.toString(), '{"view":2}');
  assert.deepEqual(await readdir(path.dirname(file)), ['view.json'], 'no temp file is left behind');
});

test('a missing file reads as null', async (t) => {
  assert.equal(await readFileAtomic(nodeFs, path.join(await tempDir(t), 'absent.json')), null);
});

test('the temp file is synced before the rename, and the directory after it', async (t) => {
  const fs = new TestFs();
  const file = path.join(await tempDir(t), 'view.json');
  await writeFileAtomic(fs, file, ['content']);
  const steps = fs.operations.filter((o) => o.op !== 'open' && o.op !== 'write');
  assert.deepEqual(steps, [
    { op: 'chmod', file: 'view.json.tmp' },
    { op: 'datasync', file: 'view.json.tmp' },
    { op: 'rename', file: 'view.json' },
    { op: 'sync', file: path.basename(path.dirname(file)) },
  ]);
});

test('the file is owner-only (0600) before its content goes in, even over a temp file a crash left readable', async (t) => {
  withoutUmask(t);
  const fs = new TestFs();
  const dir = await tempDir(t);
  const file = path.join(dir, 'view.json');
  await writeFile(`${file}.tmp`, 'left by a crash', { mode: 0o644 });
  await writeFileAtomic(fs, file, ['{"view":1}']);
  assert.deepEqual(await notOwnerOnly(dir), []);
  assert.deepEqual(fs.operations.slice(0, 3).map((o) => o.op), ['open', 'chmod', 'write'], 'the mode is set before the first write');
});

test('chunks of every size, small and larger than the staging buffer, arrive intact and in order', async (t) => {
  const file = path.join(await tempDir(t), 'big.json');
  const chunks = ['[', 'é'.repeat(700_000), ',', Buffer.from('"bytes"'), ',', 'ü'.repeat(10), ...Array(5000).fill(',0'), ']'];
  await writeFileAtomic(nodeFs, file, chunks);
  const expected = Buffer.concat(chunks.map((c) => (typeof c === 'string' ? Buffer.from(c) : c)));
  assert.ok(expected.length > 1024 * 1024, 'the content spans several staging buffers');
  assert.deepEqual(await readFileAtomic(nodeFs, file), expected);
});

test('a flipped byte, a cut, or extra bytes make the file CORRUPT, naming it', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'snapshot.json');
  await writeFileAtomic(nodeFs, file, ['{"op":12,"machine":{}}']);
  const good = await readFile(file);
  for (let at = 0; at < good.length; at++) {
    const damaged = Buffer.from(good);
    damaged[at]! ^= 0x01;
    await writeFile(file, damaged);
    await assert.rejects(readFileAtomic(nodeFs, file), isCorrupt(file), `flip at byte ${at}`);
  }
  await writeFile(file, good.subarray(0, good.length - 1));
  await assert.rejects(readFileAtomic(nodeFs, file), isCorrupt(file));
  await writeFile(file, Buffer.concat([good, Buffer.from('!')]));
  await assert.rejects(readFileAtomic(nodeFs, file), isCorrupt(file, good.length));
  await writeFile(file, Buffer.alloc(0));
  await assert.rejects(readFileAtomic(nodeFs, file), isCorrupt(file));
});

test('a failed fsync surfaces as StorageError IO naming the file, and the old content stays', async (t) => {
  const fs = new TestFs();
  const file = path.join(await tempDir(t), 'view.json');
  await writeFileAtomic(fs, file, ['old']);
  fs.failAfter('datasync', 0, systemError('EIO'));
  await assert.rejects(writeFileAtomic(fs, file, ['new']), (error: unknown) => {
    assert.ok(error instanceof StorageError);
    assert.equal(error.code, 'IO');
    assert.match(error.message, /fdatasync view\.json\.tmp: EIO/);
    return true;
  });
  assert.equal((await readFileAtomic(nodeFs, file))?.toString(), 'old');
});

test('an errno error becomes StorageError IO; a failed assertion inside storage stays a bug, not a disk problem', () => {
  const eio = Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
  const converted = toStorageError('fsync x', eio);
  assert.ok(converted instanceof StorageError && converted.code === 'IO', 'EIO is a disk problem');
  let assertion: unknown;
  try {
    assert.ok(false, 'an invariant of storage');
  } catch (error) {
    assertion = error;
  }
  assert.equal(toStorageError('journal write', assertion), assertion, 'an AssertionError (code ERR_ASSERTION) passes through untouched');
});
