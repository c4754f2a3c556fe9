// What every command handler returns: a reply (saved in the client table, sent to the client)
// and events (used by the primary's I/O shell, never saved).

import type { ChatCommand, ChatError, ChatErrorCode, ChatEvent, ChatOutcome, ChatResults } from './types.js';

/** The command of one kind, as it arrives from the log. */
export type CommandOf<K extends ChatCommand['kind']> = Extract<ChatCommand, { kind: K }>;

export function succeed<K extends keyof ChatResults>(result: ChatResults[K], events: ChatEvent[] = []): ChatOutcome {
  return { reply: { ok: true, result }, events };
}

export function fail(code: ChatErrorCode, message: string): ChatOutcome {
  return { reply: { ok: false, error: { code, message } }, events: [] };
}

export function refuse(error: ChatError): ChatOutcome {
  return { reply: { ok: false, error }, events: [] };
}

/** The event that unbinds the connections of a session that ended. */
export function sessionEnded(session: string): ChatEvent {
  return { kind: 'session-ended', session };
}
