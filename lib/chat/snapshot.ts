// The chat state as plain JSON, and back.
//
// A snapshot is how a restarted or lagging replica gets the state without replaying the whole
// log, so it must be
//   1. identical on every replica that executed the same ops: every list is written in an
//      explicit order, never "whatever order the hash table had";
//   2. quick to write and read at a million messages: a mailbox is stored column by column
//      (all its ids, then all its senders, ...), so JSON.stringify and JSON.parse walk a few long
//      arrays of plain values instead of a million small arrays or objects. At 1M messages,
//      JSON.stringify and JSON.parse ran about twice as fast on columns as on one array per
//      message (which in turn beats one object per message).
//
// Reading trusts nothing: a snapshot comes from disk or from another replica, so decodeState
// checks every field and throws an Error naming the first bad one. It checks the shape and the
// invariants, not today's limits, so that raising a limit never makes an old snapshot unloadable.

import { TOKEN_HASH_PATTERN } from '../auth/tokens.js';
import type { Verifier } from '../auth/scram.js';
import { Letter, Mailbox, type MailboxColumns } from './mailbox.js';
import { foldName } from './names.js';
import { ChatState, type Account } from './state.js';

export type { MailboxColumns } from './mailbox.js';

/** chat/2 added `loginFailures`. */
export const SNAPSHOT_FORMAT = 'chat/2';

export interface ChatSnapshot {
  format: typeof SNAPSHOT_FORMAT;
  lastOp: number;
  nextMessageId: number;
  /** Live accounts, ascending by name. */
  accounts: AccountRow[];
  /** Names of deleted accounts, ascending. */
  tombstones: string[];
  /** Accounts with failed logins since their last success (lib/chat/throttle.ts), ascending by
   *  name: [name, failures in a row, locked until (ms since the epoch, 0 if never locked)]. */
  loginFailures: [name: string, failures: number, lockedUntil: number][];
}

/** Sessions oldest first (the order revocation needs). */
type AccountRow = [name: string, verifier: Verifier, sessions: string[], mailbox: MailboxColumns];

export function encodeState(state: ChatState): ChatSnapshot {
  const names = [...state.accounts.keys()].sort();
  const accounts = names.map((name) => encodeAccount(state, state.accounts.get(name)!));
  const tombstones = [...state.tombstones].sort();
  const loginFailures = state.logins.rows();
  return { format: SNAPSHOT_FORMAT, lastOp: state.lastOp, nextMessageId: state.nextMessageId, accounts, tombstones, loginFailures };
}

function encodeAccount(state: ChatState, account: Account): AccountRow {
  const { salt, iterations, storedKey, serverKey } = account.verifier;
  const sessions = [...state.sessions.of(account.name)];
  return [account.name, { salt, iterations, storedKey, serverKey }, sessions, account.mailbox.columns()];
}

function malformed(path: string, problem: string): never {
  throw new Error(`malformed chat snapshot: ${path} ${problem}`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function integerAtLeast(value: unknown, min: number, path: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    malformed(path, `must be a whole number of at least ${min}`);
  }
  return value;
}

function arrayOf(value: unknown, path: string, length?: number): unknown[] {
  if (!Array.isArray(value)) malformed(path, 'must be an array');
  if (length !== undefined && value.length !== length) malformed(path, `must have ${length} elements`);
  return value;
}

const NOT_A_NAME = 'must be a folded account name';

/** Account names, checked once each and shared: a million messages from "alice" then hold one
 *  "alice" string between them, as they do in a state built by commands. */
class NameTable {
  private readonly names = new Map<string, string>();

  /** The shared copy of a folded account name, or null if `value` is not one. */
  name(value: unknown): string | null {
    const known = typeof value === 'string' ? this.names.get(value) : undefined;
    if (known !== undefined) return known;
    const folded = foldName(value);
    if (!folded.ok || folded.name !== value) return null;
    this.names.set(folded.name, folded.name);
    return folded.name;
  }

  all(): IterableIterator<string> {
    return this.names.keys();
  }
}

/** Rebuilds the state from a snapshot; throws an Error naming the first malformed field. */
export function decodeState(raw: unknown): ChatState {
  if (!isObject(raw)) malformed('snapshot', 'must be an object');
  if (raw.format !== SNAPSHOT_FORMAT) malformed('format', `must be "${SNAPSHOT_FORMAT}"`);
  const state = new ChatState();
  state.lastOp = integerAtLeast(raw.lastOp, 0, 'lastOp');
  state.nextMessageId = integerAtLeast(raw.nextMessageId, 1, 'nextMessageId');
  const names = new NameTable();
  let previous = '';
  arrayOf(raw.accounts, 'accounts').forEach((row, i) => {
    const account = decodeAccount(state, row, names, `accounts[${i}]`);
    if (account.name <= previous) malformed(`accounts[${i}]`, 'is out of order (accounts ascend by name)');
    previous = account.name;
  });
  previous = '';
  arrayOf(raw.tombstones, 'tombstones').forEach((value, i) => {
    const name = names.name(value) ?? malformed(`tombstones[${i}]`, NOT_A_NAME);
    if (name <= previous) malformed(`tombstones[${i}]`, 'is out of order (tombstones ascend)');
    if (state.accounts.has(name)) malformed(`tombstones[${i}]`, 'is also a live account');
    state.tombstones.add(name);
    previous = name;
  });
  decodeLoginFailures(state, raw.loginFailures);
  // Every message was sent by an account that is still live or has been deleted.
  for (const name of names.all()) {
    if (!state.accounts.has(name) && !state.tombstones.has(name)) {
      malformed('accounts', `hold a message from ${name}, who never had an account`);
    }
  }
  return state;
}

function decodeAccount(state: ChatState, row: unknown, names: NameTable, path: string): Account {
  const [rawName, rawVerifier, rawSessions, rawMailbox] = arrayOf(row, path, 4);
  const name = names.name(rawName) ?? malformed(`${path}[0]`, NOT_A_NAME);
  const account = { name, verifier: decodeVerifier(rawVerifier, `${path}[1]`), mailbox: new Mailbox() };
  state.accounts.set(name, account);
  arrayOf(rawSessions, `${path}[2]`).forEach((token, i) => {
    if (typeof token !== 'string' || !TOKEN_HASH_PATTERN.test(token)) malformed(`${path}[2][${i}]`, 'must be a token hash');
    if (state.sessions.nameOf(token) !== null) malformed(`${path}[2][${i}]`, 'is a session listed twice');
    const ended = state.sessions.open(token, name);
    if (ended.length > 0) malformed(`${path}[2]`, 'lists more sessions than an account may have');
  });
  decodeMailbox(account.mailbox, rawMailbox, state.nextMessageId, names, `${path}[3]`);
  return account;
}

function decodeLoginFailures(state: ChatState, raw: unknown): void {
  let previous = '';
  arrayOf(raw, 'loginFailures').forEach((row, i) => {
    const path = `loginFailures[${i}]`;
    const [name, failures, lockedUntil] = arrayOf(row, path, 3);
    if (typeof name !== 'string' || !state.accounts.has(name)) malformed(`${path}[0]`, 'must be a live account');
    if (name <= previous) malformed(path, 'is out of order (ascending by name)');
    state.logins.restore(name, integerAtLeast(failures, 1, `${path}[1]`), integerAtLeast(lockedUntil, 0, `${path}[2]`));
    previous = name;
  });
}

/** The shape only: the limits on iterations and salt apply when an account is created. */
function decodeVerifier(raw: unknown, path: string): Verifier {
  if (!isObject(raw)) malformed(path, 'must be an object');
  const { salt, iterations, storedKey, serverKey } = raw;
  if (typeof salt !== 'string' || typeof storedKey !== 'string' || typeof serverKey !== 'string') {
    malformed(path, 'must have string salt, storedKey and serverKey');
  }
  return { salt, iterations: integerAtLeast(iterations, 1, `${path}.iterations`), storedKey, serverKey };
}

/** The hot loop of a restore: a million messages, so each field is checked in place and a path
 *  string is built only for an error. */
function decodeMailbox(mailbox: Mailbox, raw: unknown, nextMessageId: number, names: NameTable, path: string): void {
  if (!isObject(raw)) malformed(path, 'must be an object');
  const ids = arrayOf(raw.ids, `${path}.ids`);
  const from = arrayOf(raw.from, `${path}.from`, ids.length);
  const at = arrayOf(raw.at, `${path}.at`, ids.length);
  const text = arrayOf(raw.text, `${path}.text`, ids.length);
  const unread = arrayOf(raw.unread, `${path}.unread`, ids.length);
  let previous = 0;
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id <= previous || id >= nextMessageId) {
      malformed(`${path}.ids[${i}]`, 'must be an id above the previous one and below nextMessageId');
    }
    const sender = names.name(from[i]) ?? malformed(`${path}.from[${i}]`, NOT_A_NAME);
    const time = at[i];
    if (typeof time !== 'number' || !Number.isSafeInteger(time) || time < 0) malformed(`${path}.at[${i}]`, 'must be a time in ms');
    const body = text[i];
    if (typeof body !== 'string') malformed(`${path}.text[${i}]`, 'must be a string');
    const isUnread = unread[i];
    if (typeof isUnread !== 'boolean') malformed(`${path}.unread[${i}]`, 'must be true or false');
    mailbox.add(new Letter(id, sender, time, body), isUnread);
    previous = id;
  }
}
