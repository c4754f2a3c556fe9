// The login session: logging in (the SCRAM exchange, login.ts), the token that names the session,
// and resuming it on each new connection to a primary, so that the primary pushes to us what
// arrived meanwhile, across failovers.
//
// One token per login, kept when the login starts over after a failover: if the interrupted
// attempt committed and only its reply was lost, the cluster answers the new one with that same
// session rather than open a second, orphaned one (lib/chat/login.ts).

import { newNonce } from '../auth/scram.js';
import { newToken } from '../auth/tokens.js';
import type { ChatError, ChatResults, ClientCommand } from '../chat/types.js';
import type { LoginStartResult } from '../protocol/messages.js';
import { ClientError } from './errors.js';
import { refusal, type ExactlyOnce, type ReplyTo } from './exactly-once.js';
import type { Link } from './link.js';
import { prepareLogin, signatureMatches, type LoginAttempt } from './login.js';
import type { PrimaryChannel, Step } from './primary-channel.js';
import type { Pushes } from './pushes.js';
import { checkLoginStartResult, checkResumeResult } from './results.js';

interface Open {
  name: string;
  token: string;
  /** The connection bound to this session; any other must resume before it can act for it. */
  link: Link | null;
}

type Challenge = { ok: true; challenge: LoginStartResult; clientNonce: string; link: Link } | { ok: false; error: ChatError };

export class Session {
  private open: Open | null = null;

  constructor(
    private readonly channel: PrimaryChannel,
    private readonly calls: ExactlyOnce,
    private readonly pushes: Pushes,
    private readonly hooks: { lost: (reason: string) => void; log: (line: string) => void },
  ) {}

  /** The user logged in, or null. */
  get name(): string | null {
    return this.open?.name ?? null;
  }

  /** Logs in as `name` (already folded: the proof signs it as sent). */
  async login(name: string, password: string, deadline: number): Promise<ReplyTo<'login'>> {
    const token = newToken();
    for (let attempt = 1; ; attempt++) {
      const started = await this.startLogin(name, deadline);
      if (!started.ok) return started;
      const login = prepareLogin(name, password, token, started.clientNonce, started.challenge);
      const { reply, link } = await this.calls.callExactlyOnce(login.command, deadline);
      if (reply.ok) return this.begin(login, reply, link);
      // A new primary never issued the nonce we answered: start again, once, while we still
      // have the password (the REPL does not keep it).
      if (reply.error.code === 'AUTH_FAILED' && link !== started.link && attempt === 1) {
        this.hooks.log('login was interrupted by a reconnect; starting it again');
        continue;
      }
      return reply;
    }
  }

  /** A preparation step for the primary's connection: binds it to the session, if there is one
   *  and another connection was bound. */
  readonly resume = async (link: Link, deadline: number): Promise<Step> => {
    const open = this.open;
    if (open === null || open.link === link) return { kind: 'done' };
    const outcome = await this.channel.attempt(link, { type: 'resume', token: open.token, lastSeen: this.pushes.lastSeen }, deadline);
    if (outcome.kind === 'retry') return outcome;
    const { reply } = outcome;
    if (!reply.ok && reply.error.code === 'BAD_TOKEN') {
      this.lose(`${reply.error.code}: ${reply.error.message}`);
      return { kind: 'progress' };
    }
    if (!reply.ok) throw new ClientError(reply.error.code, `resume refused: ${reply.error.message}`);
    const resumed = checkResumeResult(reply.result);
    if (resumed === null) return this.channel.dropBroken(link, 'malformed resume result');
    open.link = link;
    this.hooks.log(`resumed the session of ${resumed.name} (${resumed.unread} unread)`);
    return { kind: 'progress' };
  };

  /** What a call's reply tells us about the session. */
  observe(command: ClientCommand, reply: ReplyTo<keyof ChatResults>): void {
    if (reply.ok && (command.kind === 'logout' || command.kind === 'delete-account')) this.end();
    if (reply.ok && command.kind === 'read') this.pushes.hideShown(reply.result as ChatResults['read']);
    if (!reply.ok && reply.error.code === 'NOT_LOGGED_IN' && this.open !== null) {
      this.lose(`${reply.error.code}: ${reply.error.message}`);
    }
  }

  private async startLogin(name: string, deadline: number): Promise<Challenge> {
    const clientNonce = newNonce();
    const { reply, link } = await this.channel.askPrimary(() => ({ type: 'login-start', name, clientNonce }), deadline, 'urgent');
    if (!reply.ok) return refusal(reply);
    const challenge = checkLoginStartResult(reply.result);
    if (challenge === null) {
      this.channel.dropBroken(link, 'malformed login challenge');
      throw new ClientError('BAD_CHALLENGE', 'the replica sent a malformed login challenge');
    }
    return { ok: true, challenge, clientNonce, link };
  }

  private begin(login: LoginAttempt, reply: { ok: true; result: ChatResults['login'] }, link: Link): ReplyTo<'login'> {
    if (!signatureMatches(login, reply.result.serverSignature)) {
      // The replica accepted a proof without knowing our verifier: it is not who it claims.
      this.channel.dropBroken(link, 'login signature mismatch');
      throw new ClientError('BAD_SERVER_SIGNATURE', 'the replica could not prove it knows this account; not trusting it');
    }
    this.pushes.reset();
    // The gateway binds the connection that answered the challenge, which is this one.
    this.open = { name: reply.result.name, token: login.token, link };
    return reply;
  }

  private end(): void {
    this.open = null;
    this.pushes.reset();
  }

  /** The session ended outside this client's control (logout elsewhere, eviction). */
  private lose(reason: string): void {
    this.end();
    this.hooks.lost(reason);
  }
}
