import type { JournalRecord } from '../../lib/replication/types.js';

// The event trace of a run: every delivery, crash, partition and client answer, stamped with
// virtual time. Verbose runs print it as it happens; otherwise only the last `keep` events are
// kept, to be printed when a checker fails — the few hundred milliseconds before the failure
// are nearly always what explains it.

export class Trace {
  private readonly ring: string[] = [];
  private next = 0;

  constructor(
    private readonly verbose: boolean,
    private readonly keep = 50,
    private readonly print: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
  ) {}

  add(at: number, text: string): void {
    const line = `${String(at).padStart(8)} ms  ${text}`;
    if (this.verbose) this.print(line);
    if (this.ring.length < this.keep) this.ring.push(line);
    else this.ring[this.next] = line;
    this.next = (this.next + 1) % this.keep;
  }

  /** The kept events, oldest first. */
  last(): string[] {
    return this.ring.length < this.keep ? this.ring.slice() : [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)];
  }
}

/** A one-line rendering of a protocol message: its type, view, and its other small fields. */
export function describeMessage(message: object): string {
  const fields = message as Record<string, unknown>;
  const parts = [String(fields.type), `v${String(fields.view)}`];
  for (const [key, value] of Object.entries(fields)) {
    if (key === 'type' || key === 'view' || key === 'from') continue;
    if (typeof value === 'number' || typeof value === 'boolean') parts.push(`${key}=${value}`);
    else if (Array.isArray(value)) parts.push(`${key}[${value.length}]`);
  }
  return parts.join(' ');
}

/** A one-line rendering of a journal record. */
export function describeRecord(record: JournalRecord<unknown, unknown>): string {
  const ops = (entries: Array<{ op: number; view: number }>): string =>
    entries.length === 0 ? 'no entries' : `ops ${entries[0]!.op}..${entries.at(-1)!.op} (view ${entries.at(-1)!.view})`;
  switch (record.kind) {
    case 'entries':
      return `entries ${ops(record.entries)}`;
    case 'replace':
      return `replace after ${record.after} with ${ops(record.entries)}`;
    case 'view':
      return `view ${record.view} logView ${record.logView}`;
    case 'snapshot':
      return `snapshot at op ${record.snapshot.op}`;
  }
}
