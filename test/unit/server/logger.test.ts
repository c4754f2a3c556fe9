import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger, formatLine } from '../../../lib/server/logger.js';

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
