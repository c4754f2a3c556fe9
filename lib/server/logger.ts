// One line per event, written so that `grep replica=2` or `grep 'event="view change'` finds what
// an operator needs: an ISO timestamp, the level, the replica id and view on every line, the event
// name, then key=value fields (values JSON-quoted only when they contain spaces or quotes).

export type Level = 'debug' | 'info' | 'warn' | 'error';
const LEVEL_ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  /** `context` overrides the logger's own context keys for this line (the replication core
   *  reports the replica and view as they were when it logged). */
  log(level: Level, event: string, fields?: Record<string, unknown>, context?: Record<string, unknown>): void;
}

function formatValue(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value) ?? 'undefined';
  return /^[^\s"=]+$/.test(text) ? text : JSON.stringify(text);
}

export function formatLine(level: Level, context: Record<string, unknown>, event: string, fields: Record<string, unknown>, now: Date): string {
  const parts = [now.toISOString(), level.toUpperCase().padEnd(5)];
  for (const [key, value] of Object.entries(context)) parts.push(`${key}=${formatValue(value)}`);
  parts.push(`event=${formatValue(event)}`);
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined) parts.push(`${key}=${formatValue(value)}`);
  }
  return parts.join(' ');
}

/** A logger that stamps every line with `context()` (e.g. replica and current view). */
export function createLogger(options: {
  context: () => Record<string, unknown>;
  minLevel?: Level;
  write?: (line: string) => void;
}): Logger {
  const min = LEVEL_ORDER[options.minLevel ?? 'info'];
  const write = options.write ?? ((line: string) => process.stderr.write(line + '\n'));
  return {
    log(level, event, fields = {}, context = {}) {
      if (LEVEL_ORDER[level] < min) return;
      write(formatLine(level, { ...options.context(), ...context }, event, fields, new Date()));
    },
  };
}
