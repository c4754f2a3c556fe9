// The real chat state machine (lib/chat) as a simulator workload. Each simulated client is one
// user: it creates its account (with a SCRAM verifier, lib/auth/scram.ts), logs in with a
// proof — now and then a wrong one, so that accounts get throttled — then sends to the other
// users, reads, acks, deletes and lists, now and then logging out and in again, or logging in
// again with its live session's token as a connector does after a failover. Everything a real
// primary would choose — the time `at`, the session, a login's verdict — is fixed when the
// command is first built, so a retry resends the very same command.

import { createHash } from 'node:crypto';
import { clientProof, makeVerifier, type Verifier } from '../../lib/auth/scram.js';
import { hashToken } from '../../lib/auth/tokens.js';
import { recordLogin } from '../../lib/chat/login.js';
import { createChatMachine } from '../../lib/chat/machine.js';
import type { ChatCommand, ChatEvent, ChatReply, LoggedCommand, LoginRecord, StoredMessage } from '../../lib/chat/types.js';
import type { Prng } from './prng.js';
import type { ClientScript, Workload } from './workload.js';

const ITERATIONS = 4096;
/** Users the clients send to; some may never be created (UNKNOWN_USER is a fine answer too). */
const USERS = 8;
/** The user whose password is guessed at: most of its logins fail, so its account gets locked. */
const GUESSED = 'user0';
/** A plausible epoch ms for the first command; each command moves a client's clock on. */
const EPOCH_MS = 1_700_000_000_000;

const verifiers = new Map<string, Verifier>();

/** PBKDF2 is slow on purpose, so each account's verifier is made once per process. The salt is
 *  derived from the name so that runs are identical byte for byte. */
function verifierFor(name: string): Verifier {
  let verifier = verifiers.get(name);
  if (verifier === undefined) {
    const salt = createHash('sha256').update(`sim-salt:${name}`).digest().subarray(0, 16);
    verifier = makeVerifier(passwordOf(name), ITERATIONS, salt);
    verifiers.set(name, verifier);
  }
  return verifier;
}

const passwordOf = (name: string): string => `password of ${name}`;

/** 'gone': the account was deleted and its name cannot be taken again; only errors remain. */
type Phase = 'create' | 'login' | 'chat' | 'gone';

class ChatScript implements ClientScript<ChatCommand, ChatReply> {
  private readonly name: string;
  private phase: Phase = 'create';
  private session: string | null = null;
  private clock: number;
  /** Ids of messages this user has read, candidates for ack and delete. */
  private seen: number[] = [];
  /** Account names learnt from `list`: whom to write to (mostly; see chat()). */
  private known: string[] = [];

  constructor(
    index: number,
    private readonly prng: Prng,
  ) {
    this.name = `user${index % USERS}`;
    this.clock = EPOCH_MS + index;
  }

  next(): ChatCommand {
    this.clock += this.prng.int(1, 2000);
    const command = this.phase === 'create' ? this.create() : this.phase === 'login' ? this.login() : this.chat();
    // A login opens the session named by its tokenHash; other commands act as the current one.
    return { ...command, at: this.clock, session: command.kind === 'login' ? null : this.session };
  }

  onReply(command: ChatCommand, reply: ChatReply): void {
    if (command.kind === 'create') this.phase = 'login'; // created now, or by an earlier life
    if (command.kind === 'login' && reply.ok) {
      this.phase = 'chat';
      this.session = command.tokenHash;
    }
    // The right password refused: the account was deleted (by a client sharing this user). A
    // wrong password or a locked account: try again later.
    if (command.kind === 'login' && !reply.ok && reply.error.code === 'AUTH_FAILED' && command.proven !== null) {
      this.phase = 'gone';
      this.session = null;
    }
    if (command.kind === 'logout' || command.kind === 'delete-account') this.phase = command.kind === 'logout' ? 'login' : 'create';
    if (command.kind === 'list' && reply.ok) this.known = (reply.result as { names: string[] }).names.slice();
    if (command.kind === 'read' && reply.ok) {
      const messages = (reply.result as { messages: StoredMessage[] }).messages;
      this.seen.push(...messages.map((message) => message.id));
      this.seen = this.seen.slice(-20);
    }
  }

  private create(): LoggedCommand {
    return { kind: 'create', name: this.name, verifier: verifierFor(this.name) };
  }

  /** A login with a new token, or with `tokenHash`, now and then with a wrong password. The
   *  primary's check (recordLogin) is made here, against the verifier the account has if it
   *  exists — names are never reused, so it is verifierFor(name) — and if it does not, the
   *  record's verdict is refused when applied just as a primary's null would be. */
  private login(tokenHash = hashToken(this.prng.hex(64))): LoginRecord {
    const verifier = verifierFor(this.name);
    const nonce = this.prng.hex(24);
    const challenge = { name: this.name, nonce, salt: verifier.salt, iterations: verifier.iterations };
    const password = this.prng.chance(this.name === GUESSED ? 0.6 : 0.05) ? 'a wrong guess' : passwordOf(this.name);
    const { proof } = clientProof(password, challenge);
    return recordLogin({ kind: 'login', name: this.name, nonce, proof, tokenHash }, verifier);
  }

  private chat(): LoggedCommand {
    if (this.phase === 'gone') return { kind: 'read', count: 1 };
    // A login started over after a failover, with the live session's token.
    if (this.session !== null && this.prng.chance(0.01)) return this.login(this.session);
    const roll = this.prng.float();
    if (roll < 0.45) return { kind: 'send', to: this.recipient(), text: `hello ${this.prng.hex(6)}` };
    if (roll < 0.65) return { kind: 'read', count: this.prng.int(1, 5) };
    if (roll < 0.75 && this.seen.length > 0) return { kind: 'ack', ids: this.prng.shuffle(this.seen).slice(0, 3) };
    if (roll < 0.85 && this.seen.length > 0) return { kind: 'delete', ids: [this.seen.shift()!] };
    if (roll < 0.98) return { kind: 'list', pattern: 'user*', page: 1 };
    if (roll < 0.998) return { kind: 'logout' };
    return { kind: 'delete-account' };
  }

  /** Someone `list` showed, or now and then any name (UNKNOWN_USER is an answer to check too). */
  private recipient(): string {
    if (this.known.length > 0 && this.prng.chance(0.9)) return this.prng.pick(this.known);
    return `user${this.prng.int(0, USERS - 1)}`;
  }
}

export const chatWorkload: Workload<ChatCommand, ChatReply, ChatEvent> = {
  name: 'chat',
  createMachine: createChatMachine,
  newClient: (index, prng) => new ChatScript(index, prng),
};
