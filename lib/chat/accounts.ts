// The commands about accounts and sessions: create, logout, list, delete-account. Login has a
// file of its own (lib/chat/login.ts): half of it runs at the primary before the log.
//
// Each handler has one shape: check the arguments (a coded error for anything a client got
// wrong), then change the state, then say what happened. Nothing is changed before the last
// check has passed, so a refused command leaves no trace.

import type { ChatOutcome } from './types.js';
import { LIST_PAGE_SIZE } from './limits.js';
import { Mailbox } from './mailbox.js';
import { foldName, foldPattern, matchWildcard } from './names.js';
import { fail, refuse, sessionEnded, succeed, type CommandOf } from './outcome.js';
import type { Account, ChatState } from './state.js';
import { checkVerifier } from './verifier.js';

/** Who sent a command that needs a login: the live session it came with and its account. */
export interface Caller {
  readonly session: string;
  readonly account: Account;
}

/** create {name, verifier}: with or without a session (someone logged in may create another
 *  account). The name must never have been used, even by an account since deleted. */
export function createAccount(state: ChatState, command: CommandOf<'create'>): ChatOutcome {
  const folded = foldName(command.name);
  if (!folded.ok) return refuse(folded.error);
  const { name } = folded;
  if (state.tombstones.has(name)) {
    return fail('NAME_TAKEN', `${name} was used by a deleted account; names are never reused`);
  }
  if (state.accounts.has(name)) return fail('NAME_TAKEN', `${name} is already taken`);
  const checked = checkVerifier(command.verifier);
  if (!checked.ok) return refuse(checked.error);
  state.accounts.set(name, { name, verifier: checked.verifier, mailbox: new Mailbox() });
  return succeed<'create'>({ name });
}

/** logout: ends the session the command came with (and only that one). */
export function logout(state: ChatState, caller: Caller): ChatOutcome {
  state.sessions.end(caller.session);
  return succeed<'logout'>({}, [sessionEnded(caller.session)]);
}

/** list {pattern, page}: live accounts whose name matches, sorted, one page at a time. Deleted
 *  accounts are not listed: nobody can send to them. A page past the end is empty, not an
 *  error, so that a client paging while accounts are deleted does not fail. */
export function list(state: ChatState, command: CommandOf<'list'>): ChatOutcome {
  const folded = foldPattern(command.pattern);
  if (!folded.ok) return refuse(folded.error);
  const { page } = command;
  if (!Number.isSafeInteger(page) || page < 1) return fail('BAD_ARGUMENT', 'page must be a whole number from 1');

  const matching: string[] = [];
  for (const name of state.accounts.keys()) if (matchWildcard(folded.pattern, name)) matching.push(name);
  // The default sort compares UTF-16 code units: the same everywhere, unlike localeCompare,
  // whose order depends on the host's locale data and would split replicas.
  matching.sort();
  const pages = Math.max(1, Math.ceil(matching.length / LIST_PAGE_SIZE));
  const names = matching.slice((page - 1) * LIST_PAGE_SIZE, page * LIST_PAGE_SIZE);
  return succeed<'list'>({ names, page, pages, total: matching.length });
}

/** delete-account: the account, its mailbox, its sessions and its failed logins go; the name
 *  stays reserved. Messages it sent stay in their recipients' mailboxes: they belong to the
 *  recipients now. */
export function deleteAccount(state: ChatState, caller: Caller): ChatOutcome {
  const { name } = caller.account;
  const ended = state.sessions.endAll(name);
  state.logins.clear(name);
  state.accounts.delete(name);
  state.tombstones.add(name);
  return succeed<'delete-account'>({ name }, ended.map(sessionEnded));
}
