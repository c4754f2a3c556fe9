// What the REPL prints, as pure functions from results to lines: one place to read (and test)
// every line a user or a script sees. Text that came from other people — message bodies, names,
// and anything else a replica sends — is made printable first, so that a message cannot move the
// cursor, clear the screen, reorder itself or fake a line of output.
//
// The screen-line rule (screenLines, used by the terminal): text from others never starts a
// screen line. A printed line wider than the terminal is broken by the REPL itself, before the
// terminal would wrap it, and every screen line after the first starts with CONTINUATION, which
// no printed line starts with. So each screen line begins either with the REPL's own words (a
// message with "[#") or with CONTINUATION, and a message padded so that its tail would wrap to
// read "[#999 from alice …]" shows that tail behind the marker instead.

import type { ChatResults, StoredMessage } from '../chat/types.js';
import { GRAMMAR, COMMAND_NAMES, type CommandName } from './commands.js';
import type { ConnectorStatus } from './connector.js';
import type { SearchProgress } from './primary-channel.js';

/** Characters that must not reach a screen as themselves, because each can make text read as
 *  something it is not: the C0 and C1 controls and DEL (Cc: newline, escape, tab …), the
 *  invisible format characters (Cf: the bidirectional overrides, embeddings, isolates and marks
 *  U+202A–202E, U+2066–2069, U+200E/F, U+061C, which reorder what follows them; zero-width
 *  space and joiners, word joiner, byte order mark, soft hyphen, tags …), and the line and
 *  paragraph separators (Zl, Zp). */
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;

/** Replaces each unprintable character with a visible escape of its code point: "a\nb" prints
 *  as "a\u{000A}b", a right-to-left override as "\u{202E}". */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => `\\u{${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}}`);
}

/** Starts every screen line after the first of a printed line the REPL had to break. */
export const CONTINUATION = '  | ';

/** The columns a character may take on a terminal, erring wide: every code point from U+1100 on
 *  counts two, for the East Asian wide characters and the emoji (drawn two columns wide) all lie
 *  there. A line measured too narrow would be wrapped by the terminal itself, and its tail would
 *  start a screen line; one measured too wide is only broken a little early. */
function columnsOf(char: string): number {
  return char.codePointAt(0)! < 0x1100 ? 1 : 2;
}

/** `line` (already printable: no control characters) as screen lines for a terminal `columns`
 *  wide, by the screen-line rule above: every screen line after the first starts with
 *  CONTINUATION. Nothing is dropped: the screen lines without their markers join to `line`. */
export function screenLines(line: string, columns: number): string[] {
  // One column stays free: some terminals wrap as soon as the last column is written.
  const firstWidth = columns - 1;
  const restWidth = firstWidth - CONTINUATION.length;
  const lines: string[] = [];
  let current = '';
  let width = 0;
  for (const char of line) {
    const needed = columnsOf(char);
    // A screen line always takes at least one character, however narrow the terminal.
    if (width > 0 && width + needed > (lines.length === 0 ? firstWidth : restWidth)) {
      lines.push(current);
      current = CONTINUATION;
      width = 0;
    }
    current += char;
    width += needed;
  }
  lines.push(current);
  return lines;
}

/** `line` as it is written to `output`: broken into screen lines (each ending in a newline) when
 *  `output` is a terminal, whose width is read now, as it may have been resized since. */
export function onScreen(line: string, output: { columns?: number }): string {
  const lines = output.columns === undefined ? [line] : screenLines(line, output.columns);
  return lines.map((screenLine) => `${screenLine}\n`).join('');
}

/** "10:42" in local time. */
export function formatTime(at: number): string {
  const date = new Date(at);
  return `${String(date.getHours()).padStart(2, '0')}:${String(date.getMinutes()).padStart(2, '0')}`;
}

/** "[#12 from alice 10:42] hello" */
export function formatMessage(message: StoredMessage): string {
  return `[#${message.id} from ${printable(message.from)} ${formatTime(message.at)}] ${printable(message.text)}`;
}

/** "error: NAME_TAKEN: alice is already taken" */
export function formatError(code: string, message: string): string {
  return `error: ${code}: ${printable(message)}`;
}

const plural = (count: number, one: string, many = `${one}s`): string => `${count} ${count === 1 ? one : many}`;

/** "alice, bob (page 1 of 1, 2 accounts)" */
export function formatList(result: ChatResults['list']): string {
  const counts = `(page ${result.page} of ${Math.max(1, result.pages)}, ${plural(result.total, 'account')})`;
  if (result.names.length === 0) return `no accounts ${counts}`;
  return `${result.names.map(printable).join(', ')} ${counts}`;
}

/** The messages, then "(N more unread)". */
export function formatRead(result: ChatResults['read']): string[] {
  if (result.messages.length === 0) return ['no unread messages'];
  return [...result.messages.map(formatMessage), `(${result.remaining} more unread)`];
}

export function formatLogin(result: ChatResults['login']): string {
  return `logged in as ${printable(result.name)} (${result.unread} unread)`;
}

export function formatSent(result: ChatResults['send']): string {
  return `sent #${result.id} to ${printable(result.to)}`;
}

export function formatDeleted(result: ChatResults['delete']): string {
  return `deleted ${plural(result.deleted.length, 'message')}`;
}

export function formatStatus(status: ConnectorStatus): string[] {
  const known = (value: number | string | null): string => (value === null ? '(not connected yet)' : printable(String(value)));
  return [
    `replica:   ${known(status.replica)}`,
    `view:      ${known(status.view)}`,
    `address:   ${known(status.address)}`,
    `user:      ${status.name === null ? '(not logged in)' : printable(status.name)}`,
    `client id: ${status.clientId}`,
    `replicas:  ${formatMembers(status.members, status.unreachable)}`,
  ];
}

/** The replicas a client knows of, each unreachable one marked: "a, b (unreachable), c". */
function formatMembers(members: readonly string[], unreachable: readonly string[]): string {
  return members.map((address) => printable(address) + (unreachable.includes(address) ? ' (unreachable)' : '')).join(', ');
}

/** The line the REPL prints while the connector waits for a primary. */
export function formatSearching(progress: SearchProgress): string {
  const where = progress.parkedAt === null ? 'looking for the primary…' : `waiting at ${printable(progress.parkedAt)} for the new primary…`;
  return `${where} (${progress.unreachable} of ${plural(progress.known, 'replica')} unreachable)`;
}

export function formatHelp(topic: CommandName | null): string[] {
  if (topic !== null) return [`${GRAMMAR[topic].usage} — ${GRAMMAR[topic].summary}`];
  const width = Math.max(...COMMAND_NAMES.map((name) => GRAMMAR[name].usage.length));
  return COMMAND_NAMES.map((name) => `  ${GRAMMAR[name].usage.padEnd(width)}  ${GRAMMAR[name].summary}`);
}
