import { test } from 'node:test';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { createLogger, formatLine, LOG_VALUE_CHARS_MAX, RateLimitedLog } from '../../../lib/server/logger.js';

test('a log line carries time, level, context, event and fields, quoting only when needed', () => {
  const line = formatLine('info', { replica: 2, view: 7 }, 'view-change', { reason: 'primary silent', op: 12 }, new Date(0));
  assert.equal(line, '1970-01-01T00:00:00.000Z INFO  replica=2 view=7 event=view-change reason="primary silent" op=12');
});

test('an event name with spaces is quoted, and a line can override the context', () => {
  const lines: string[] = [];
  const logger = createLogger({ context: () => ({ replica: 0, view: 9 }), write: (l) => lines.push(l) });
  logger.log('info', 'view change: starting', { to: 4 }, { view: 3 });
  assert.match(lines[0]!, /INFO  replica=0 view=3 event="view change: starting" to=4$/);
});

test('levels below the minimum are dropped', () => {
  const lines: string[] = [];
  const logger = createLogger({ context: () => ({ replica: 0 }), minLevel: 'info', write: (l) => lines.push(l) });
  logger.log('debug', 'noise');
  logger.log('warn', 'peer-down', { peer: 3 });
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /WARN  replica=0 event=peer-down peer=3$/);
});

/** A RateLimitedLog on a fake clock, with the lines it wrote (context left out). */
function rateLimited(intervalMs: number) {
  const clock = { now: 0 };
  const lines: string[] = [];
  const logger = createLogger({ context: () => ({}), write: (l) => lines.push(l.replace(/^\S+ /, '')) });
  return { clock, lines, log: new RateLimitedLog(logger, { intervalMs, now: () => clock.now }) };
}

test('a rate-limited kind is written at once, then once per interval as a count with its first example', () => {
  const { clock, lines, log } = rateLimited(1000);
  log.note('info', 'client-bad-request', 'BAD_REQUEST', { remote: 'a:1' });
  for (let i = 2; i <= 1000; i++) log.note('info', 'client-bad-request', 'BAD_REQUEST', { remote: `a:${i}` });
  clock.now = 999;
  log.flush();
  assert.deepEqual(lines, ['INFO  event=client-bad-request remote=a:1'], 'nothing more before the interval ends');
  clock.now = 1000;
  log.flush();
  log.flush();
  assert.deepEqual(lines.slice(1), ['INFO  event=client-bad-request remote=a:2 repeated=999 overMs=1000']);
  log.note('info', 'client-bad-request', 'BAD_REQUEST', { remote: 'a:1001' });
  clock.now = 2000;
  log.flush();
  assert.deepEqual(lines.slice(2), ['INFO  event=client-bad-request remote=a:1001 repeated=1 overMs=1000']);
});

test('kinds are counted apart, and a kind quiet for an interval is written at once again', () => {
  const { clock, lines, log } = rateLimited(1000);
  log.note('info', 'client-bad-request', 'BAD_REQUEST', { n: 1 });
  log.note('info', 'client-bad-request', 'UNKNOWN_TYPE', { n: 2 });
  log.note('warn', 'client-refused', 'TOO_MANY_CONNECTIONS', { n: 3 });
  assert.equal(lines.length, 3);
  clock.now = 1000;
  log.flush(); // nothing was repeated: every kind is forgotten
  log.note('info', 'client-bad-request', 'BAD_REQUEST', { n: 4 });
  assert.deepEqual(lines.slice(3), ['INFO  event=client-bad-request n=4']);
});

test('a rate-limited example quotes at most LOG_VALUE_CHARS_MAX characters of a string', () => {
  const { clock, lines, log } = rateLimited(1000);
  const long = 'x'.repeat(100_000);
  log.note('info', 'client-dropped', 'BAD_FRAME', { error: long, code: 'BAD_FRAME' });
  log.note('info', 'client-dropped', 'BAD_FRAME', { error: long });
  clock.now = 1000;
  log.flush();
  assert.equal(lines.length, 2);
  for (const line of lines) {
    assert.ok(line.length < LOG_VALUE_CHARS_MAX + 100, `a line of ${line.length} characters`);
    assert.ok(line.includes(`${'x'.repeat(LOG_VALUE_CHARS_MAX)}…(${100_000 - LOG_VALUE_CHARS_MAX} more characters)`), line);
  }
});

test('a replica whose standard error is gone goes on: log writes that fail are dropped', async () => {
  // A child logs through the default writer, to a pipe whose reading end this test closes at
  // once; its writes then fail with EPIPE. It must still reach its last line and exit 0.
  const logger = fileURLToPath(new URL('../../../lib/server/logger.ts', import.meta.url));
  const script = [
    `const { createLogger } = await import(${JSON.stringify(logger)});`,
    "const log = createLogger({ context: () => ({ replica: 0 }) });",
    "for (let i = 0; i < 200; i++) { log.log('info', 'line', { i, pad: 'x'.repeat(1000) }); await new Promise((r) => setImmediate(r)); }",
    "process.send('done');",
  ].join('\n');
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  child.stderr!.destroy();
  let finished = false;
  child.on('message', (message) => (finished = message === 'done'));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.equal(code, 0, 'the child died writing its log');
  assert.ok(finished, 'the child did not reach its last line');
});
