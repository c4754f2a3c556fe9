// A replica's log file (lib/cluster/log-file.ts): rotated at its cap so the logs of a replica
// take a bounded amount of disk, lines kept whole, and a disk that fails or lags costs counted
// lines, never the launcher.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readdir, readFile, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { RotatingLogFile, type LogFileSystem, type LogHandle } from '../../../lib/cluster/log-file.js';
import { ClusterLauncher } from '../../../lib/cluster/launcher.js';
import { writeLocalConfig } from '../../../lib/cluster/local.js';
import { tempDir } from '../storage/helpers.js';

const line = (n: number) => `line ${String(n).padStart(4, '0')} of the replica's log\n`;
const LINE_BYTES = line(0).length;

/** A file system in memory whose appends fail while `failing` says so, or wait while `held`. */
class FakeFileSystem implements LogFileSystem {
  readonly files = new Map<string, string>();
  failing: string | null = null;
  held: Array<() => void> | null = null;

  async open(file: string): Promise<LogHandle> {
    const fs = this;
    return {
      size: fs.files.get(file)?.length ?? 0,
      async append(bytes) {
        if (fs.held) await new Promise<void>((resolve) => fs.held!.push(resolve));
        if (fs.failing) throw Object.assign(new Error(`fake ${fs.failing}`), { code: fs.failing });
        fs.files.set(file, (fs.files.get(file) ?? '') + bytes.toString());
      },
      async close() {},
    };
  }

  async rename(from: string, to: string): Promise<void> {
    const text = this.files.get(from);
    if (text === undefined) throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
    this.files.set(to, text);
    this.files.delete(from);
  }

  release(): void {
    const waiting = this.held ?? [];
    this.held = null;
    for (const resolve of waiting) resolve();
  }
}

test('a log rotates at its cap, keeps whole lines, and never takes more than (kept + 1) × cap', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'replica-0.log');
  const log = new RotatingLogFile(file, { fileBytesMax: 3.5 * LINE_BYTES, filesKept: 2 }); // 3 lines a file
  for (let n = 0; n < 50; n++) log.write(Buffer.from(line(n)));
  await log.close();

  assert.deepEqual((await readdir(dir)).sort(), ['replica-0.log', 'replica-0.log.1', 'replica-0.log.2']);
  const texts = await Promise.all(['', '.1', '.2'].map((suffix) => readFile(file + suffix, 'utf8')));
  for (const text of texts) {
    assert.ok(text.length <= 3.5 * LINE_BYTES, `a file of ${text.length} bytes`);
    assert.match(text, /^(line \d{4} of the replica's log\n)+$/, 'whole lines only');
  }
  assert.ok(texts[0]!.endsWith(line(49)), 'the newest lines are in the current file');
  assert.equal(texts[0], line(48) + line(49), '50 lines: 16 files of 3, and 2 in the current one');
  assert.equal(texts[1], line(45) + line(46) + line(47), '.1 holds the lines just before');
  assert.equal((await stat(file)).mode & 0o777, 0o600, 'owner-only');
});

test('lines arrive whole from a stream that cuts them anywhere; its unfinished last line is written at its end', async (t) => {
  const file = path.join(await tempDir(t), 'replica-0.log');
  const log = new RotatingLogFile(file, { fileBytesMax: 1000 });
  const stream = new PassThrough();
  log.attach(stream);
  const text = line(1) + line(2) + 'no newline at the end';
  for (const piece of [text.slice(0, 7), text.slice(7, 40), text.slice(40)]) stream.write(piece);
  stream.end();
  await log.close();
  assert.equal(await readFile(file, 'utf8'), text);
});

test('a line longer than the carry limit (64 KiB) is written in pieces rather than held back', async () => {
  const fs = new FakeFileSystem();
  const log = new RotatingLogFile('replica-0.log', { fileSystem: fs });
  const stream = new PassThrough();
  log.attach(stream);
  const endless = 'x'.repeat(70 * 1024);
  stream.write(endless);
  await new Promise((resolve) => setImmediate(resolve)); // the fake disk answers in microtasks
  assert.equal(fs.files.get('replica-0.log'), endless, 'written before its line ends');
  stream.end();
  await log.close();
});

test('a write that fails (ENOSPC) drops its lines and counts them; the next line written reports them', async () => {
  const fs = new FakeFileSystem();
  const log = new RotatingLogFile('replica-0.log', { fileSystem: fs });
  log.write(Buffer.from(line(1)));
  await log.close();
  fs.failing = 'ENOSPC';
  log.write(Buffer.from(line(2) + line(3)));
  log.write(Buffer.from(line(4)));
  await log.close();
  fs.failing = null;
  log.write(Buffer.from(line(5)));
  await log.close();

  assert.equal(log.droppedLines, 3);
  const [first, report, last, ...rest] = fs.files.get('replica-0.log')!.split('\n');
  assert.equal(first + '\n', line(1));
  assert.match(report!, new RegExp(`WARN {2}event=log-lines-dropped lines=3 bytes=${3 * LINE_BYTES} reason="ENOSPC"$`));
  assert.equal(last + '\n', line(5));
  assert.deepEqual(rest, ['']);
});

test('a log whose file cannot be opened costs its lines, never the writer', async (t) => {
  const log = new RotatingLogFile(path.join(await tempDir(t), 'gone', 'replica-0.log'));
  log.write(Buffer.from(line(1) + line(2)));
  await log.close();
  assert.equal(log.droppedLines, 2);
});

test('a disk slower than the log: lines past the pending limit are dropped, not queued', async () => {
  const fs = new FakeFileSystem();
  fs.held = [];
  const log = new RotatingLogFile('replica-0.log', { fileSystem: fs, pendingBytesMax: 10 * LINE_BYTES });
  for (let n = 0; n < 100; n++) log.write(Buffer.from(line(n)));
  // One line is being appended (held), ten wait, the rest are gone.
  assert.equal(log.droppedLines, 89);
  fs.release();
  await log.close();
  const lines = fs.files.get('replica-0.log')!.split('\n');
  assert.equal(lines.length, 1 + 1 + 10 + 1, 'the held line, the report, the ten that waited, the end');
  assert.match(lines[1]!, new RegExp(`event=log-lines-dropped lines=89 bytes=${89 * LINE_BYTES} reason="the disk is slower than the log"`));
});

test('a stream is read at once while the disk holds its writes: its writer never waits on the log', async () => {
  const fs = new FakeFileSystem();
  fs.held = [];
  const log = new RotatingLogFile('replica-0.log', { fileSystem: fs });
  const stream = new PassThrough({ highWaterMark: LINE_BYTES });
  log.attach(stream);
  for (let n = 0; n < 100; n++) assert.ok(stream.write(line(n)), `line ${n} was taken at once`);
  assert.equal(stream.readableLength, 0, 'nothing left unread');
  fs.release();
  stream.end();
  await log.close();
  assert.equal(fs.files.get('replica-0.log'), Array.from({ length: 100 }, (_, n) => line(n)).join(''));
});

test('the launcher survives a log it cannot write: the replica runs to its end', async (t) => {
  const dataDir = path.join(await tempDir(t), 'data');
  const { configPath } = writeLocalConfig(dataDir, [7001], [7101]); // --format listens on neither
  const fs = new FakeFileSystem();
  fs.failing = 'EIO';
  const launcher = new ClusterLauncher(configPath, dataDir, 1, ['--format'], { fileSystem: fs });
  const exited = once(launcher, 'exit');
  launcher.start(0);
  assert.deepEqual(await exited, [0, 'exited with code 0']);
  await launcher.stopAll();
  assert.equal(fs.files.size, 0);
});
