// Exactly-once calls: who this client is to the replicated client table (VRR §4), and the rules
// that let a call be sent again after a failover without running twice.
//
//   - A random clientId is registered in the table, bound to a random secret that goes with
//     every call, so that nobody who merely learns the id can use it (docs/architecture.md,
//     "Client table and exactly-once").
//   - Each call takes the next request number at its first send and keeps it through every
//     resend, so a call sent again after a failover gets the saved reply instead of running
//     twice. The connector's queue keeps one call outstanding at a time: the table keeps only
//     the latest number.
//   - Honesty about the unknown. If the table has forgotten our id (SESSION_EXPIRED), or holds it
//     for another secret (NOT_OWNER), a call sent once never ran: it goes again under a new
//     identity. Sent more than once, an earlier send may have run, so its outcome is reported
//     as unknown, never retried. A register the table has no room for (CLIENT_TABLE_FULL) fails
//     the call with that code.
//
// callExactlyOnce is the layer of sending between a call and askPrimary (primary-channel.ts): one
// numbered request, sent until a primary answers it.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { newClientSecret } from '../auth/client-secret.js';
import { isChatErrorCode } from '../chat/errors.js';
import type { ChatError, ChatResults, ClientCommand } from '../chat/types.js';
import type { ErrorCode } from '../protocol/messages.js';
import { ClientError } from './errors.js';
import type { Link, Reply } from './link.js';
import type { PrimaryChannel, Step } from './primary-channel.js';
import { checkCallResult } from './results.js';

/** A call's reply, typed by the command kind. `ok: false` is a refusal by the chat service. */
export type ReplyTo<K extends keyof ChatResults> = { ok: true; result: ChatResults[K] } | { ok: false; error: ChatError };

interface Identity {
  clientId: string;
  clientSecret: string;
}

export class ExactlyOnce {
  /** Who we are to the client table; replaced only when the table has forgotten it (or holds its
   *  id for another secret). The secret goes into register and call frames, nowhere else. */
  private identity = newIdentity();
  /** The table knows our identity (register was answered). */
  private registered = false;
  /** Highest request number used with our identity; 0 until its first call. Never reused. */
  private requestNumber = 0;

  constructor(
    private readonly channel: PrimaryChannel,
    private readonly log: (line: string) => void,
  ) {}

  get clientId(): string {
    return this.identity.clientId;
  }

  /** A preparation step for the primary's connection: registers our identity unless the table
   *  has it already. */
  readonly register = async (link: Link, deadline: number): Promise<Step> => {
    if (this.registered) return { kind: 'done' };
    const outcome = await this.channel.attempt(link, { type: 'register', ...this.identity }, deadline);
    if (outcome.kind === 'retry') return outcome;
    const { reply } = outcome;
    if (!reply.ok && reply.error.code === 'NOT_OWNER') {
      // Someone holds this id with another secret (it was seen, and taken first): draw another.
      this.log(`client ${this.identity.clientId} is registered to another secret; drawing a new one`);
      this.forget();
      return { kind: 'progress' };
    }
    // CLIENT_TABLE_FULL among them: the caller learns that the cluster has no room for a client.
    if (!reply.ok) throw new ClientError(reply.error.code, `register refused: ${reply.error.message}`);
    this.registered = true;
    this.requestNumber = 0;
    return { kind: 'progress' };
  };

  /** Runs `command` once: one request number, sent until a primary answers it. Chat refusals are
   *  values; a refusal about the protocol, or an outcome that cannot be known, is a ClientError. */
  async callExactlyOnce<C extends ClientCommand>(command: C, deadline: number): Promise<{ reply: ReplyTo<C['kind']>; link: Link }> {
    for (;;) {
      const attempt = { identity: this.identity, requestNumber: 0, sends: 0 };
      const { reply, link } = await this.channel.askPrimary(() => {
        // Numbered at the first send, when registration is certain; every resend reuses it.
        if (attempt.sends === 0) {
          assert.ok(this.registered, 'a call is numbered only once its client is registered');
          this.requestNumber += 1;
          attempt.identity = this.identity;
          attempt.requestNumber = this.requestNumber;
        }
        attempt.sends += 1;
        return { type: 'call', ...attempt.identity, requestNumber: attempt.requestNumber, command };
      }, deadline, 'urgent');
      if (reply.ok || !identityLost(reply.error.code)) return { reply: this.interpret<C['kind']>(command.kind, reply, link), link };
      this.forget();
      // Sent once and refused: it never ran, so it is safe to send again under a new clientId.
      // Sent more than once: an earlier send may have run before the table forgot us (or before
      // someone else registered our id after it was evicted).
      if (attempt.sends > 1) throw new ClientError(reply.error.code, 'the outcome of this request is unknown');
      this.log(`client ${attempt.identity.clientId} refused (${reply.error.code}); registering a new one`);
    }
  }

  /** The table has forgotten us, or holds our id for another secret: a new identity, registered
   *  before the next call. */
  private forget(): void {
    this.identity = newIdentity();
    this.registered = false;
    this.requestNumber = 0;
  }

  /** A call's reply as its caller sees it: a checked result, a chat refusal, or a ClientError
   *  for refusals that are about the protocol rather than the chat. */
  private interpret<K extends keyof ChatResults>(kind: K, reply: Reply, link: Link): ReplyTo<K> {
    if (!reply.ok) return refusal(reply);
    const result = checkCallResult(kind, reply.result);
    if (result === null) {
      this.channel.dropBroken(link, `malformed ${kind} result`);
      throw new ClientError('BAD_FRAME', `the replica sent a malformed ${kind} result; the outcome is unknown`);
    }
    return { ok: true, result };
  }
}

/** A refusal as its caller sees it: a chat refusal is a value; a refusal about the protocol
 *  (BAD_REQUEST, STALE_REQUEST, …) means this client is at fault and is thrown. */
export function refusal(reply: Extract<Reply, { ok: false }>): { ok: false; error: ChatError } {
  const { code, message } = reply.error;
  if (isChatErrorCode(code)) return { ok: false, error: { code, message } };
  throw new ClientError(code, message);
}

/** A client id (32 random hex digits) and the secret that makes it ours. */
function newIdentity(): Identity {
  return { clientId: randomBytes(16).toString('hex'), clientSecret: newClientSecret() };
}

/** Refusals that mean the client table no longer holds our identity: register a new one. */
function identityLost(code: ErrorCode): boolean {
  return code === 'SESSION_EXPIRED' || code === 'NOT_OWNER';
}
