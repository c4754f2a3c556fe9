// A small driver for the chat state machine in tests: numbers ops, advances the primary's
// clock, and builds real SCRAM verifiers and proofs with lib/auth/scram.ts, which it checks as the
// primary does (lib/chat/login.ts recordLogin) to log a login.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { clientProof, makeVerifier, type Verifier } from '../../../lib/auth/scram.js';
import { recordLogin } from '../../../lib/chat/login.js';
import { ChatMachine } from '../../../lib/chat/machine.js';
import type { ChatErrorCode, ChatEvent, ChatOutcome, ChatResults, LoggedCommand, LoginRecord } from '../../../lib/chat/types.js';

export const ITERATIONS = 4096;
export const T0 = 1_700_000_000_000;

// PBKDF2 at 4096 iterations takes milliseconds, so each password's verifier is made once per
// test file (node --test runs each file in its own process).
const verifiers = new Map<string, Verifier>();

export function verifierFor(password: string): Verifier {
  let verifier = verifiers.get(password);
  if (verifier === undefined) {
    verifier = makeVerifier(password, ITERATIONS, createHash('sha256').update(password).digest().subarray(0, 16));
    verifiers.set(password, verifier);
  }
  return verifier;
}

/** A valid token hash, distinct per label. */
export function tokenHash(label: string): string {
  return createHash('sha256').update(`token:${label}`).digest('hex');
}

/** The proof a client with `password` sends to log in as `name` (already folded). */
export function proofFor(name: string, password: string, nonce: string, verifier = verifierFor(password)): string {
  return clientProof(password, { name, nonce, salt: verifier.salt, iterations: verifier.iterations }).proof;
}

export class Harness {
  machine = ChatMachine.fromSnapshot(null);
  op = 0;
  at = T0;
  #tokens = 0;

  /** Applies `command` one second after the previous one (or `stepMs` after). */
  apply(command: LoggedCommand, session: string | null = null, stepMs = 1000): ChatOutcome {
    this.op += 1;
    this.at += stepMs;
    return this.machine.apply({ ...command, at: this.at, session }, { op: this.op, clientId: 'c'.repeat(32) });
  }

  /** Applies a command that must succeed and returns its result and events. */
  ok<K extends keyof ChatResults>(command: LoggedCommand & { kind: K }, session: string | null = null, stepMs = 1000): { result: ChatResults[K]; events: ChatEvent[] } {
    const { reply, events } = this.apply(command, session, stepMs);
    assert.ok(reply.ok, `expected success, got ${JSON.stringify(reply)}`);
    return { result: reply.result as ChatResults[K], events };
  }

  /** Applies a command that must fail with `code`; returns the error message. */
  fails(code: ChatErrorCode, command: LoggedCommand, session: string | null = null, stepMs = 1000): string {
    const { reply, events } = this.apply(command, session, stepMs);
    assert.ok(!reply.ok, `expected ${code}, got ${JSON.stringify(reply)}`);
    assert.equal(reply.error.code, code, reply.error.message);
    assert.deepEqual(events, [], 'a refused command has no events');
    return reply.error.message;
  }

  create(name: string, password = 'pw'): void {
    this.ok({ kind: 'create', name, verifier: verifierFor(password) });
  }

  /** A token hash no login has used yet. */
  newSession(name: string): string {
    return tokenHash(`${name}#${++this.#tokens}`);
  }

  /** What the primary logs for a client logging in as `name` with `password`: the client's proof
   *  over a fresh nonce, checked against the machine's own state as the primary's gateway does. */
  loginRecord(name: string, password = 'pw', session = this.newSession(name)): LoginRecord {
    const nonce = `nonce${++this.#tokens}`;
    const verifier = this.machine.verifierOf(name);
    const proof = proofFor(name.toLowerCase(), password, nonce, verifier ?? verifierFor(password));
    return recordLogin({ kind: 'login', name, nonce, proof, tokenHash: session }, verifier);
  }

  /** Logs in and returns the new session's token hash. */
  login(name: string, password = 'pw'): string {
    const record = this.loginRecord(name, password);
    this.ok(record);
    return record.tokenHash;
  }

  /** Creates an account and logs it in. */
  join(name: string, password = 'pw'): string {
    this.create(name, password);
    return this.login(name, password);
  }

  send(session: string, to: string, text: string): number {
    return this.ok({ kind: 'send', to, text }, session).result.id;
  }
}
