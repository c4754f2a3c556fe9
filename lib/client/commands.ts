// The REPL's language: one command per line. parseCommand turns a line into a Command, or into
// a usage error to show; it does no I/O, so every rule here is tested without a terminal. Only
// the syntax is checked (how many words, which are numbers): the service checks the values
// (name rules, counts, sizes) and says what is wrong in its own words.

import { READ_COUNT_DEFAULT } from '../chat/limits.js';

export type Command =
  | { name: 'create'; account: string }
  | { name: 'login'; account: string }
  | { name: 'logout' }
  | { name: 'list'; pattern: string; page: number }
  | { name: 'send'; to: string; text: string }
  | { name: 'read'; count: number }
  | { name: 'delete'; ids: number[] }
  | { name: 'delete-account' }
  | { name: 'status' }
  | { name: 'help'; topic: CommandName | null }
  | { name: 'quit' };

export type CommandName = Command['name'];

/** A line's meaning: a command, a usage error to show, or nothing (blank line, # comment). */
type Parsed = { ok: true; command: Command } | { ok: false; code: 'USAGE' | 'UNKNOWN_COMMAND'; message: string } | null;

interface Grammar {
  usage: string;
  summary: string;
  /** The command for these arguments, or null if they do not fit the usage. */
  parse: (args: string) => Command | null;
}

const words = (args: string): string[] => args.split(/\s+/).filter((word) => word !== '');
const noArguments =
  (command: Command) =>
  (args: string): Command | null =>
    words(args).length === 0 ? command : null;
/** A positive decimal integer, as typed; "#12" is accepted because messages are shown so. */
const positive = (word: string): number | null => (/^#?[1-9]\d{0,15}$/.test(word) ? Number(word.replace('#', '')) : null);

function oneName(name: 'create' | 'login') {
  return (args: string): Command | null => {
    const [account, ...extra] = words(args);
    return account !== undefined && extra.length === 0 ? { name, account } : null;
  };
}

function parseList(args: string): Command | null {
  const given = words(args);
  if (given.length > 2) return null;
  // A lone number is a page: names begin with a letter, so a pattern of digits matches nothing.
  if (given.length === 1 && positive(given[0]!) !== null) return { name: 'list', pattern: '*', page: positive(given[0]!)! };
  const page = given.length === 2 ? positive(given[1]!) : 1;
  return page === null ? null : { name: 'list', pattern: given[0] ?? '*', page };
}

function parseSend(args: string): Command | null {
  // The text is the rest of the line as typed, inner spacing included.
  const match = /^(\S+)\s+(.*\S)\s*$/s.exec(args.trimStart());
  return match ? { name: 'send', to: match[1]!, text: match[2]! } : null;
}

function parseRead(args: string): Command | null {
  const given = words(args);
  if (given.length === 0) return { name: 'read', count: READ_COUNT_DEFAULT };
  const count = given.length === 1 ? positive(given[0]!) : null;
  return count === null ? null : { name: 'read', count };
}

function parseDelete(args: string): Command | null {
  const ids = words(args).map(positive);
  if (ids.length === 0 || ids.some((id) => id === null)) return null;
  return { name: 'delete', ids: ids as number[] };
}

function parseHelp(args: string): Command | null {
  const given = words(args);
  if (given.length === 0) return { name: 'help', topic: null };
  return given.length === 1 && isCommandName(given[0]!) ? { name: 'help', topic: given[0] } : null;
}

/** Every command, in the order help lists them. */
export const GRAMMAR: Record<CommandName, Grammar> = {
  create: { usage: 'create <name>', summary: 'create an account (asks for a password)', parse: oneName('create') },
  login: { usage: 'login <name>', summary: 'log in (asks for the password)', parse: oneName('login') },
  logout: { usage: 'logout', summary: 'log out', parse: noArguments({ name: 'logout' }) },
  list: { usage: 'list [pattern] [page]', summary: 'list accounts; * and ? are wildcards', parse: parseList },
  send: { usage: 'send <name> <text…>', summary: 'send a message', parse: parseSend },
  read: { usage: `read [n]`, summary: `show up to n unread messages (default ${READ_COUNT_DEFAULT})`, parse: parseRead },
  delete: { usage: 'delete <id>…', summary: 'delete messages by id', parse: parseDelete },
  'delete-account': {
    usage: 'delete-account',
    summary: 'delete your account and log out',
    parse: noArguments({ name: 'delete-account' }),
  },
  status: { usage: 'status', summary: 'show the replica, view and login in use, and the replicas known', parse: noArguments({ name: 'status' }) },
  help: { usage: 'help [command]', summary: 'show this list, or one command', parse: parseHelp },
  quit: { usage: 'quit', summary: 'leave', parse: noArguments({ name: 'quit' }) },
};

export const COMMAND_NAMES = Object.keys(GRAMMAR) as CommandName[];

function isCommandName(word: string): word is CommandName {
  return Object.hasOwn(GRAMMAR, word);
}

export function parseCommand(line: string): Parsed {
  const trimmed = line.trim();
  if (trimmed === '' || trimmed.startsWith('#')) return null;
  const [, word, args] = /^(\S+)\s*(.*)$/s.exec(trimmed)!;
  const name = word!.toLowerCase();
  if (!isCommandName(name)) return { ok: false, code: 'UNKNOWN_COMMAND', message: `${word} (type help for the list)` };
  const grammar = GRAMMAR[name];
  const command = grammar.parse(args!);
  return command === null ? { ok: false, code: 'USAGE', message: grammar.usage } : { ok: true, command };
}

/** readline's completer: command names for the first word, nothing after it. */
export function completeCommand(line: string): [string[], string] {
  if (/\s/.test(line.trimStart())) return [[], line];
  const start = line.trimStart().toLowerCase();
  return [COMMAND_NAMES.filter((name) => name.startsWith(start)), line.trimStart()];
}
