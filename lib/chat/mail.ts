// The commands about messages: send, read, delete, ack. All of them act for a logged-in caller
// (lib/chat/machine.ts has already found the caller's session) and only ever on the caller's
// own mailbox — except send, which adds to the recipient's.

import { Buffer } from 'node:buffer';
import type { ChatError, ChatOutcome } from './types.js';
import { IDS_PER_REQUEST_MAX, MAILBOX_MESSAGES_MAX, MESSAGE_BYTES_MAX, READ_COUNT_MAX, READ_REPLY_BYTES_MAX } from './limits.js';
import type { Caller } from './accounts.js';
import { Letter } from './mailbox.js';
import { foldName } from './names.js';
import { fail, refuse, succeed, type CommandOf } from './outcome.js';
import type { ChatState } from './state.js';

/** Why a message body is unacceptable, or null if it is fine. */
function textProblem(text: unknown): string | null {
  if (typeof text !== 'string' || text.trim() === '') return 'a message needs some text';
  // Every UTF-16 unit is at least one UTF-8 byte, so a long string is refused before it is measured.
  if (text.length > MESSAGE_BYTES_MAX || Buffer.byteLength(text, 'utf8') > MESSAGE_BYTES_MAX) {
    return `a message is at most ${MESSAGE_BYTES_MAX} bytes of UTF-8`;
  }
  return null;
}

/** The distinct ids of a `delete` or `ack`, ascending. Duplicates are allowed (a client that
 *  gathers ids from several screens may repeat one); the limit counts the list as sent, which
 *  is what bounds the work one command can ask for. */
function checkIds(ids: unknown): { ok: true; ids: number[] } | { ok: false; error: ChatError } {
  const valid = Array.isArray(ids) && ids.length >= 1 && ids.length <= IDS_PER_REQUEST_MAX &&
    ids.every((id) => Number.isSafeInteger(id) && id > 0);
  if (!valid) {
    const message = `give 1 to ${IDS_PER_REQUEST_MAX} message ids, each a positive whole number`;
    return { ok: false, error: { code: 'BAD_ARGUMENT', message } };
  }
  return { ok: true, ids: [...new Set(ids as number[])].sort((a, b) => a - b) };
}

/** send {to, text}: appends to the recipient's mailbox as unread and asks the I/O shell to push
 *  it (event `deliver`). Sending to yourself is allowed. The time is the primary's (`at`),
 *  stored as given: the state machine never reads a clock. */
export function send(state: ChatState, caller: Caller, command: CommandOf<'send'>): ChatOutcome {
  const folded = foldName(command.to);
  if (!folded.ok) return refuse(folded.error);
  const problem = textProblem(command.text);
  if (problem !== null) return fail('BAD_MESSAGE', problem);
  const { name } = folded;
  const recipient = state.accounts.get(name);
  if (recipient === undefined) {
    const why = state.tombstones.has(name) ? `${name} has deleted their account` : `there is no account named ${name}`;
    return fail('UNKNOWN_USER', why);
  }
  if (recipient.mailbox.size >= MAILBOX_MESSAGES_MAX) {
    return fail('MAILBOX_FULL', `${name}'s mailbox is full (${MAILBOX_MESSAGES_MAX} messages)`);
  }

  const letter = new Letter(state.nextMessageId, caller.account.name, command.at, command.text);
  state.nextMessageId += 1;
  recipient.mailbox.add(letter, true);
  const result = { id: letter.id, to: name, at: letter.at };
  return succeed<'send'>(result, [{ kind: 'deliver', message: letter.toStored(name) }]);
}

/** read {count}: the `count` oldest unread messages, which from now on count as read — fewer if
 *  they would not fit in one reply frame (READ_REPLY_BYTES_MAX); `remaining` says how many wait. */
export function read(caller: Caller, command: CommandOf<'read'>): ChatOutcome {
  const { count } = command;
  if (!Number.isSafeInteger(count) || count < 1 || count > READ_COUNT_MAX) {
    return fail('BAD_ARGUMENT', `count must be a whole number from 1 to ${READ_COUNT_MAX}`);
  }
  const { name, mailbox } = caller.account;
  const messages = mailbox.takeOldestUnread(count, READ_REPLY_BYTES_MAX).map((letter) => letter.toStored(name));
  return succeed<'read'>({ messages, remaining: mailbox.unreadCount });
}

/** delete {ids}: all or nothing. If any id is not in the caller's mailbox nothing is deleted,
 *  so a client never has to work out which half of its request happened. */
export function deleteMessages(caller: Caller, command: CommandOf<'delete'>): ChatOutcome {
  const checked = checkIds(command.ids);
  if (!checked.ok) return refuse(checked.error);
  const { mailbox } = caller.account;
  const missing = checked.ids.filter((id) => !mailbox.has(id));
  if (missing.length > 0) {
    return fail('NOT_FOUND', `not in your mailbox: ${missing.join(', ')}; nothing was deleted`);
  }
  for (const id of checked.ids) mailbox.remove(id);
  return succeed<'delete'>({ deleted: checked.ids });
}

/** ack {ids}: the client confirms it showed these pushed messages, so they count as read.
 *  Idempotent: ids that are unknown or already read are skipped, because a client may ack the
 *  same push twice (after a reconnect) or ack a message it has since deleted. */
export function ack(caller: Caller, command: CommandOf<'ack'>): ChatOutcome {
  const checked = checkIds(command.ids);
  if (!checked.ok) return refuse(checked.error);
  const { mailbox } = caller.account;
  const acked: number[] = [];
  for (const id of checked.ids) if (mailbox.markRead(id)) acked.push(id);
  return succeed<'ack'>({ acked });
}
