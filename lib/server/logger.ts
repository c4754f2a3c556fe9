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

/** Writes lines to standard error, which may fail: EPIPE once whoever read it has gone, EIO, a
 *  full disk behind a redirect. A failed log write must never stop a replica, so the stream's
 *  errors are caught, and from the first one on lines are dropped (there is nowhere to say so). */
function stderrWriter(): (line: string) => void {
  let broken = false;
  process.stderr.on('error', () => {
    broken = true;
  });
  return (line) => {
    if (!broken) process.stderr.write(line + '\n');
  };
}

/** A logger that stamps every line with `context()` (e.g. replica and current view). */
export function createLogger(options: {
  context: () => Record<string, unknown>;
  minLevel?: Level;
  write?: (line: string) => void;
}): Logger {
  const min = LEVEL_ORDER[options.minLevel ?? 'info'];
  const write = options.write ?? stderrWriter();
  return {
    log(level, event, fields = {}, context = {}) {
      if (LEVEL_ORDER[level] < min) return;
      write(formatLine(level, { ...options.context(), ...context }, event, fields, new Date()));
    },
  };
}

/** Most characters of one value a log line quotes from a party that has not authenticated. */
export const LOG_VALUE_CHARS_MAX = 80;

/** `text` cut to `maxChars`, saying how much was left out. Whatever a stranger sends reaches a log
 *  line through here, so a 100 MB field costs the log no more than a short one. */
export function truncateForLog(text: string, maxChars = LOG_VALUE_CHARS_MAX): string {
  return text.length <= maxChars ? text : `${text.slice(0, maxChars)}…(${text.length - maxChars} more characters)`;
}

interface RateWindow {
  level: Level;
  event: string;
  /** When this window began (the `now` clock). */
  since: number;
  /** Occurrences in this window not written yet, and the first of them. */
  count: number;
  example: Record<string, unknown>;
}

/** A log for events a stranger can cause as often as they like (bad frames, refused and timed-out
 *  connections): one line per occurrence would let them fill the disk and busy the event loop.
 *  The first occurrence of a kind is written at once; later ones in the next `intervalMs` are
 *  counted, and `flush()` (the owner calls it periodically) writes one summary line per kind
 *  whose interval ended: its count and its first example. A kind with nothing to report is
 *  forgotten, so its next occurrence is written at once again. Kinds must come from a fixed set
 *  (an event and an error code, never a string the stranger chose): there is one window each. */
export class RateLimitedLog {
  private readonly windows = new Map<string, RateWindow>();

  constructor(private readonly logger: Logger, private readonly options: { intervalMs: number; now: () => number }) {}

  note(level: Level, event: string, kind: string, example: Record<string, unknown>): void {
    const key = `${event}\u0000${kind}`;
    const window = this.windows.get(key);
    if (window === undefined) {
      this.windows.set(key, { level, event, since: this.options.now(), count: 0, example: {} });
      this.logger.log(level, event, truncateExample(example));
      return;
    }
    if (window.count === 0) window.example = example;
    window.count++;
  }

  /** Writes a summary for every kind whose interval has ended with occurrences in it. */
  flush(): void {
    const now = this.options.now();
    for (const [key, window] of this.windows) {
      if (now - window.since < this.options.intervalMs) continue;
      if (window.count === 0) {
        this.windows.delete(key);
        continue;
      }
      this.logger.log(window.level, window.event, { ...truncateExample(window.example), repeated: window.count, overMs: Math.round(now - window.since) });
      this.windows.set(key, { ...window, since: now, count: 0, example: {} });
    }
  }
}

/** An example quotes what a stranger sent: every string in it goes through truncateForLog. */
function truncateExample(fields: Record<string, unknown>): Record<string, unknown> {
  const truncated: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) truncated[key] = typeof value === 'string' ? truncateForLog(value) : value;
  return truncated;
}
