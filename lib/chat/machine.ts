// The chat state machine: what the replicated log drives. Every replica applies the same
// committed commands in the same order and so holds the same accounts, mailboxes and sessions.
//
// Two rules make that work, and every file under lib/chat keeps them:
//   1. Determinism. No clock, no randomness, no I/O, no iteration order that could differ
//      between replicas. A command carries the values the primary chose (`at`, `session`, and
//      for a login the verdict on its proof).
//   2. apply() never throws on what a client sent. A command that made a replica throw would
//      make *every* replica throw at the same op, forever (a poison pill). So anything a client
//      controls gets a coded error reply. Only a broken invariant — a bug in our code, or a
//      primary handing over nonsense — throws, loudly.
//
// Besides apply(), the machine answers read-only queries for the I/O shell (the primary uses
// them for login challenges, login checks and pushes). They never change the state.

import assert from 'node:assert/strict';
import type { StateMachine, StateMachineFactory } from '../replication/types.js';
import type { Verifier } from '../auth/scram.js';
import type { ChatCommand, ChatEvent, ChatOutcome, ChatReply, StoredMessage } from './types.js';
import { createAccount, deleteAccount, list, logout, type Caller } from './accounts.js';
import { login } from './login.js';
import { ack, deleteMessages, read, send } from './mail.js';
import { foldName } from './names.js';
import { fail, type CommandOf } from './outcome.js';
import { decodeState, encodeState, type ChatSnapshot } from './snapshot.js';
import { ChatState, type Account } from './state.js';

type SessionCommand = CommandOf<'logout' | 'list' | 'send' | 'read' | 'delete' | 'delete-account' | 'ack'>;

export class ChatMachine implements StateMachine<ChatCommand, ChatReply, ChatEvent> {
  private readonly state: ChatState;

  private constructor(state: ChatState) {
    this.state = state;
  }

  /** An empty machine (null), or the one a snapshot describes. Throws an Error naming the
   *  field if the snapshot is malformed. Builds every object afresh (decodeState): nothing of
   *  `snapshot` is kept or changed, as StateMachineFactory requires. */
  static fromSnapshot(snapshot: unknown | null): ChatMachine {
    return new ChatMachine(snapshot === null ? new ChatState() : decodeState(snapshot));
  }

  apply(command: ChatCommand, context: { op: number; clientId: string }): ChatOutcome {
    // Ops and times come from the replication core and the primary, not from a client. Ops
    // only grow (no op executed twice); they may skip, since a register op never reaches us.
    assert.ok(Number.isSafeInteger(context.op), 'op must be a whole number');
    assert.ok(context.op > this.state.lastOp, `op ${context.op} applied after op ${this.state.lastOp}`);
    assert.ok(Number.isSafeInteger(command.at), 'command.at must be whole milliseconds');
    assert.ok(command.at >= 0, 'command.at must not be before the epoch');
    this.state.lastOp = context.op;
    return execute(this.state, command);
  }

  snapshot(): ChatSnapshot {
    return encodeState(this.state);
  }

  /** Accounts, names of deleted ones, and stored messages: O(accounts). */
  size(): number {
    let messages = 0;
    for (const account of this.state.accounts.values()) messages += account.mailbox.size;
    return this.state.accounts.size + this.state.tombstones.size + messages;
  }

  /** The verifier of a live account (a copy), or null. The name is folded first. */
  verifierOf(name: string): Verifier | null {
    const account = this.account(name);
    return account === null ? null : { ...account.verifier };
  }

  /** The account a live session belongs to, or null. */
  sessionName(tokenHash: string): string | null {
    return this.state.sessions.nameOf(tokenHash);
  }

  /** Unread messages of a live account; 0 for a name without one. O(1). */
  unreadCount(name: string): number {
    return this.account(name)?.mailbox.unreadCount ?? 0;
  }

  /** Up to `limit` unread messages with an id above `lastSeen`, oldest first: what a resuming
   *  connection should be pushed. Empty for a name without a live account. */
  unreadAfter(name: string, lastSeen: number, limit: number): StoredMessage[] {
    assert.ok(Number.isSafeInteger(lastSeen), 'lastSeen must be a whole number');
    assert.ok(Number.isSafeInteger(limit), 'limit must be a whole number');
    assert.ok(limit > 0, 'limit must be positive');
    const account = this.account(name);
    if (account === null) return [];
    return account.mailbox.unreadAfter(lastSeen, limit).map((letter) => letter.toStored(account.name));
  }

  /** Throws an AssertionError if an invariant of the state is broken. O(state): for tests and
   *  simulator checkers, not for every command in production. */
  invariants(): void {
    this.state.invariants();
  }

  private account(name: string): Account | null {
    const folded = foldName(name);
    return folded.ok ? (this.state.accounts.get(folded.name) ?? null) : null;
  }
}

export const createChatMachine: StateMachineFactory<ChatCommand, ChatReply, ChatEvent> = (snapshot) =>
  ChatMachine.fromSnapshot(snapshot);

function execute(state: ChatState, command: ChatCommand): ChatOutcome {
  switch (command.kind) {
    case 'create':
      return createAccount(state, command);
    case 'login':
      return login(state, command);
    case 'logout':
    case 'list':
    case 'send':
    case 'read':
    case 'delete':
    case 'delete-account':
    case 'ack':
      return executeAsCaller(state, command);
    default:
      // The codec admits only known kinds, but the machine must not trust that (rule 2).
      return fail('BAD_ARGUMENT', 'unknown command');
  }
}

/** Every command but create and login acts as the account of a live session. */
function executeAsCaller(state: ChatState, command: SessionCommand): ChatOutcome {
  const name = state.sessions.nameOf(command.session);
  if (name === null) return fail('NOT_LOGGED_IN', 'log in first: this connection has no live session');
  const account = state.accounts.get(name);
  assert.ok(account !== undefined, `a session of ${name}, who has no account`);
  // nameOf() found the session, so it is a string.
  const caller: Caller = { session: command.session as string, account };
  switch (command.kind) {
    case 'logout':
      return logout(state, caller);
    case 'list':
      return list(state, command);
    case 'send':
      return send(state, caller, command);
    case 'read':
      return read(caller, command);
    case 'delete':
      return deleteMessages(caller, command);
    case 'delete-account':
      return deleteAccount(state, caller);
    case 'ack':
      return ack(caller, command);
  }
}
