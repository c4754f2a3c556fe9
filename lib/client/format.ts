// What the REPL prints, as pure functions from results to lines: one place to read (and test)
// every line a user or a script sees. Text that came from other people — message bodies, and
// anything else a replica sends — is made printable first, so that a message cannot move the
// cursor, clear the screen or fake a line of output.

import type { ChatResults, StoredMessage } from '../chat/types.js';
import { GRAMMAR, COMMAND_NAMES, type CommandName } from './commands.js';
import type { ConnectorStatus } from './connector.js';

/** C0 and C1 control characters (newline included), DEL, and the Unicode line separators. */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/** Replaces control characters with visible escapes: "a\nb" prints as "a\u000ab". */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
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
  const known = (value: number | string | null): string => (value === null ? '(not connected yet)' : String(value));
  return [
    `replica:   ${known(status.replica)}`,
    `view:      ${known(status.view)}`,
    `address:   ${known(status.address)}`,
    `user:      ${status.name === null ? '(not logged in)' : printable(status.name)}`,
    `client id: ${status.clientId}`,
  ];
}

export function formatHelp(topic: CommandName | null): string[] {
  if (topic !== null) return [`${GRAMMAR[topic].usage} — ${GRAMMAR[topic].summary}`];
  const width = Math.max(...COMMAND_NAMES.map((name) => GRAMMAR[name].usage.length));
  return COMMAND_NAMES.map((name) => `  ${GRAMMAR[name].usage.padEnd(width)}  ${GRAMMAR[name].summary}`);
}
