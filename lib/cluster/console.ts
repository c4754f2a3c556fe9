// The cluster console's text: parsing an operator's command and drawing the status table.
// Pure functions, so the console's behaviour is tested without a terminal.

import type { ReplicaSlot } from './launcher.js';

type ConsoleCommand =
  | { kind: 'kill'; id: number }
  | { kind: 'start'; id: number }
  | { kind: 'partition'; id: number }
  | { kind: 'heal'; id: number | null }
  | { kind: 'status' }
  | { kind: 'help' }
  | { kind: 'quit' }
  | { kind: 'empty' }
  | { kind: 'error'; message: string };

export const CONSOLE_HELP = `commands:
  kill <id>        kill -9 a replica (as a crash or power cut would)
  start <id>       start a replica that is down; it reloads its disk and catches up
  partition <id>   cut a replica off from the other replicas (clients can still reach it)
  heal [id]        undo partition for one replica, or for all
  status           print the status table
  quit             stop every replica and exit`;

export function parseConsoleCommand(line: string, replicaCount: number): ConsoleCommand {
  const [word = '', arg, extra] = line.trim().split(/\s+/);
  if (word === '') return { kind: 'empty' };
  if (extra !== undefined) return { kind: 'error', message: `too many arguments for ${word}` };
  const id = arg === undefined ? null : /^\d+$/.test(arg) ? Number(arg) : NaN;
  const needId = (kind: 'kill' | 'start' | 'partition'): ConsoleCommand => {
    if (id === null) return { kind: 'error', message: `${kind} needs a replica id (0..${replicaCount - 1})` };
    if (Number.isNaN(id) || id >= replicaCount) return { kind: 'error', message: `no replica "${arg}" (ids are 0..${replicaCount - 1})` };
    return { kind, id };
  };
  switch (word) {
    case 'kill':
    case 'start':
    case 'partition':
      return needId(word);
    case 'heal':
      if (id !== null && (Number.isNaN(id) || id >= replicaCount)) return { kind: 'error', message: `no replica "${arg}"` };
      return { kind: 'heal', id };
    case 'status':
    case 'help':
    case 'quit':
      return arg === undefined ? { kind: word } : { kind: 'error', message: `${word} takes no argument` };
    case 'exit':
      return { kind: 'quit' };
    default:
      return { kind: 'error', message: `unknown command "${word}" (try help)` };
  }
}

/** One row per replica: up/down, role, view, op, commit, and lag behind the highest commit. */
export function renderTable(slots: readonly ReplicaSlot[]): string {
  const highest = Math.max(0, ...slots.map((s) => s.status?.commit ?? 0));
  const header = ['replica', 'state', 'role', 'status', 'view', 'op', 'commit', 'lag', 'peers', 'clients'];
  const rows = slots.map((slot) => {
    const s = slot.status;
    const state = slot.process ? (slot.partitioned ? 'partitioned' : s ? 'up' : 'starting') : 'down';
    if (!s) return [String(slot.id), state, '-', slot.exit ?? '-', '-', '-', '-', '-', '-', '-'];
    return [
      String(slot.id), state, s.isPrimary ? 'primary' : 'backup', s.status, String(s.view), String(s.op),
      String(s.commit), String(highest - s.commit), String(s.peersUp.length), String(s.clients),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}
