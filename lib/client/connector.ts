// The connector: a client's way into the cluster. It finds the primary, keeps one connection
// to it, and gets each command executed exactly once however many replicas fail meanwhile.
//
// What it owes its user, and how:
//   1. Exactly once. A random clientId is registered in the replicated client table (VR §4),
//      bound to a random secret that goes with every call, so nobody who merely learns the id
//      can use it; each call takes the next request number and keeps it through every retry, so
//      a call sent again after a failover gets the saved reply instead of running twice. One
//      call is outstanding at a time (the queue), because the table keeps only the latest number.
//   2. The primary, wherever it is. A backup's NOT_PRIMARY names the primary and the connector
//      goes there; a dead connection or a late reply (requestTimeoutMs) sends it round the list.
//      Between attempts it backs off with jitter; after giveUpMs it stops with UNAVAILABLE.
//      Two paces: after a dead connection the wait doubles (up to backoffMaxMs), so a cluster
//      that is down is not hammered; while a call waits and live replicas answer that they are
//      sorting themselves out (a backup, VIEW_CHANGE, BUSY) it stays short (at most twice
//      backoffBaseMs), so the new primary is found within ~100 ms of its view change, not a long
//      sleep later. Idle clients reconnecting for their pushes keep the doubling pace. A hint
//      naming a replica that just failed to answer is not followed (after a primary dies, the
//      backups name it until their view change is done).
//   3. The session. After a reconnect it re-registers if needed and resumes the login session
//      with its token, so the new primary pushes what arrived meanwhile.
//   4. Pushes once. Every push is acked (batched); a repeat after a failover is not shown again.
//   5. Honesty about the unknown. If the cluster forgot our clientId (SESSION_EXPIRED), or holds
//      it for another secret (NOT_OWNER), after a call may already have run, the call's outcome
//      is reported as unknown, never retried. A register the cluster has no room for
//      (CLIENT_TABLE_FULL) fails the call with that code.
//
// Before each request, ready() brings the connection up to date one step at a time — dial and
// greet, register, resume — and every failure on the way is a Retry: pause, then start again.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { newClientSecret } from '../auth/client-secret.js';
import { DEFAULT_ITERATIONS, makeVerifier, newNonce } from '../auth/scram.js';
import { newToken } from '../auth/tokens.js';
import { IDS_PER_REQUEST_MAX } from '../chat/limits.js';
import { foldName } from '../chat/names.js';
import type { ChatError, ChatResults, ClientCommand, StoredMessage } from '../chat/types.js';
import {
  PROTOCOL_VERSION,
  type ErrorCode,
  type HelloResult,
  type LoginStartResult,
  type PrimaryHint,
} from '../protocol/messages.js';
import { Backoff } from './backoff.js';
import { ClientError } from './errors.js';
import { Inbox } from './inbox.js';
import { isChatErrorCode } from '../chat/errors.js';
import { Link, LinkLost, type Reply, type Request } from './link.js';
import { prepareLogin, signatureMatches, type LoginAttempt } from './login.js';
import { checkCallResult, checkHelloResult, checkLoginStartResult, checkResumeResult } from './results.js';
import { ServerRing } from './servers.js';

export interface ConnectorOptions {
  /** Client addresses ("host:port") of the replicas; any subset will do, hints find the rest. */
  servers: string[];
  /** A request unanswered for this long counts as a dead connection. */
  requestTimeoutMs?: number;
  /** A request (or connect) still unanswered after this long fails with UNAVAILABLE. */
  giveUpMs?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Jitter source in [0, 1); injectable for tests. */
  random?: () => number;
  /** Diagnostic lines (reconnects, retries); silent by default. */
  log?: (line: string) => void;
  /** PBKDF2 iterations of the verifier createAccount makes: lib/auth/scram.ts DEFAULT_ITERATIONS
   *  (OWASP's recommendation) unless a test asks for fewer. A replica refuses fewer than
   *  VERIFIER_ITERATIONS_MIN (lib/chat/limits.ts). */
  verifierIterations?: number;
}

const CONNECTOR_DEFAULTS = { requestTimeoutMs: 2_000, giveUpMs: 30_000, backoffBaseMs: 50, backoffMaxMs: 1_000 };

export interface ConnectorStatus {
  replica: number | null;
  view: number | null;
  address: string | null;
  name: string | null;
  clientId: string;
}

interface ConnectorEvents {
  /** A message for the logged-in user, shown here once however often it is pushed. */
  push: [message: StoredMessage];
  /** The primary changed (a new replica or a new view) and the connector now talks to it. */
  failover: [primary: PrimaryHint];
  /** The login session ended outside this client's control (logout elsewhere, eviction). */
  'session-lost': [reason: string];
  /** A reconnect in the background (to keep receiving pushes) gave up. */
  offline: [reason: string];
}

/** A call's reply, typed by the command kind. `ok: false` is a refusal by the chat service. */
export type ReplyTo<K extends keyof ChatResults> = { ok: true; result: ChatResults[K] } | { ok: false; error: ChatError };

/** A request that got an answer — any answer other than "not here, not now". */
interface Answer {
  kind: 'answer';
  reply: Reply;
  link: Link;
}
/** How fast to retry: 'urgent' while a call waits (short waits while live replicas answer),
 *  'patient' when nothing waits — an idle client reconnecting for its pushes. After a failover
 *  every idle client reconnects at once; at the urgent pace hundreds of them would flood the
 *  replicas with connections while they are changing views. */
type Pace = 'urgent' | 'patient';

/** A request that did not get through. `followHint`: the next address is a fresh hint. */
interface Retry {
  kind: 'retry';
  reason: string;
  followHint: boolean;
  /** A live replica answered (and said wait, or go elsewhere), as opposed to a dead connection. */
  live: boolean;
}
/** One step of ready(): done, one more thing done (go on at once), or a failure (pause). */
type Step = { kind: 'ready'; link: Link } | { kind: 'progress' } | Retry;

interface Session {
  name: string;
  token: string;
  /** The connection bound to this session; any other must resume before it can act for it. */
  link: Link | null;
}

export class Connector extends EventEmitter<ConnectorEvents> {
  private readonly ring: ServerRing;
  /** The pace after dead connections: doubling to backoffMaxMs. */
  private readonly backoff: Backoff;
  /** The pace after answers from live replicas: short, growing to twice backoffBaseMs only. */
  private readonly liveBackoff: Backoff;
  /** The reconnect an idle, logged-in client makes after losing its connection, until it runs. */
  private idleReconnect: NodeJS.Timeout | null = null;
  /** Spreads idle reconnects over [0, this) ms: backoffMaxMs. */
  private readonly reconnectSpreadMs: number;
  private readonly random: () => number;
  /** Addresses whose last connection attempt or connection failed: their hints are not followed. */
  private readonly unreachable = new Set<string>();
  private readonly inbox = new Inbox();
  private readonly requestTimeoutMs: number;
  private readonly giveUpMs: number;
  private readonly log: (line: string) => void;
  private readonly verifierIterations: number;
  /** Aborted by close(): wakes retry loops sleeping in a backoff so that they give up. */
  private readonly stopping = new AbortController();

  /** Who we are to the client table; replaced only when the cluster has forgotten it (or holds
   *  its id for another secret). The secret goes into register and call frames, nowhere else. */
  private identity = newIdentity();
  /** The cluster's client table knows our identity (register was answered). */
  private registered = false;
  /** Highest request number used with our identity; 0 until its first call. Never reused. */
  private requestNumber = 0;
  /** The connection to the replica that said it is primary; null when there is none. */
  private link: Link | null = null;
  /** The primary as last found; null before the first connection. */
  private primary: PrimaryHint | null = null;
  private session: Session | null = null;
  /** The last retry went to a hint without waiting: the next one waits, so that two replicas
   *  pointing at each other cannot make us spin. */
  private followedHint = false;
  /** The newest view in which some replica told us of a working primary (a hint with an
   *  address: replicas give one only in status normal). A hint or a primary from an older view is
   *  stale — from a replica that has not heard of the newer view (cut off, or deposed without
   *  knowing). Views of replicas in a view change do not count: one stuck there alone must not
   *  make us refuse the primary that still works. */
  private newestView = -1;
  /** Settles when all work queued so far has settled; work runs one item at a time. */
  private tail: Promise<void> = Promise.resolve();
  private closing = false;
  /** An ack batch is queued and will take every id pending when it runs. */
  private acksQueued = false;

  constructor(options: ConnectorOptions) {
    super();
    this.ring = new ServerRing(options.servers);
    this.requestTimeoutMs = options.requestTimeoutMs ?? CONNECTOR_DEFAULTS.requestTimeoutMs;
    this.giveUpMs = options.giveUpMs ?? CONNECTOR_DEFAULTS.giveUpMs;
    const baseMs = options.backoffBaseMs ?? CONNECTOR_DEFAULTS.backoffBaseMs;
    const maxMs = options.backoffMaxMs ?? CONNECTOR_DEFAULTS.backoffMaxMs;
    const random = options.random ?? Math.random;
    this.backoff = new Backoff({ baseMs, maxMs, random });
    this.liveBackoff = new Backoff({ baseMs, maxMs: Math.min(maxMs, 2 * baseMs), random });
    this.reconnectSpreadMs = maxMs;
    this.random = random;
    this.log = options.log ?? (() => {});
    this.verifierIterations = options.verifierIterations ?? DEFAULT_ITERATIONS;
  }

  // -------------------------------------------------------------------------------------------
  // The public face.

  /** Finds the primary and registers. Optional: the first call does it too. */
  connect(): Promise<void> {
    return this.enqueue(async () => {
      await this.ready(this.deadline(), 'urgent');
    });
  }

  /** Executes `command` exactly once. Chat refusals resolve as `ok: false`; a ClientError
   *  rejects when the outcome could not be learned (UNAVAILABLE, SESSION_EXPIRED, CLOSED). */
  call<C extends ClientCommand>(command: C): Promise<ReplyTo<C['kind']>> {
    return this.enqueue(async () => (await this.execute(command, this.deadline())).reply);
  }

  createAccount(name: string, password: string): Promise<ReplyTo<'create'>> {
    return this.call({ kind: 'create', name, verifier: makeVerifier(password, this.verifierIterations) });
  }

  login(name: string, password: string): Promise<ReplyTo<'login'>> {
    // The proof signs the name, so it must be the name as the server folds it: use its rule.
    const folded = foldName(name);
    if (!folded.ok) return Promise.resolve({ ok: false, error: folded.error });
    return this.enqueue(() => this.loginNow(folded.name, password));
  }

  status(): ConnectorStatus {
    return {
      replica: this.primary?.replica ?? null,
      view: this.primary?.view ?? null,
      address: this.primary?.address ?? null,
      name: this.session?.name ?? null,
      clientId: this.identity.clientId,
    };
  }

  /** Stops. Work already queued runs on while the connection lasts — a reply on the wire may
   *  still arrive, pending acks still go out — but nothing reconnects or waits any more. */
  async close(): Promise<void> {
    this.closing = true;
    this.stopping.abort();
    if (this.idleReconnect !== null) clearTimeout(this.idleReconnect);
    await this.tail;
    if (this.link !== null) this.drop(this.link, 'closed by the client');
  }

  // -------------------------------------------------------------------------------------------
  // Exactly-once calls.

  private enqueue<T>(work: () => Promise<T>): Promise<T> {
    if (this.closing) return Promise.reject(new ClientError('CLOSED', 'the connector is closed'));
    const result = this.tail.then(work);
    // The queue moves on whatever the outcome; the outcome itself reaches the caller via result.
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  /** Runs one call: one request number, sent until a primary answers it. */
  private async execute<C extends ClientCommand>(
    command: C,
    deadline: number,
  ): Promise<{ reply: ReplyTo<C['kind']>; link: Link }> {
    for (;;) {
      const attempt = { identity: this.identity, requestNumber: 0, sends: 0 };
      const { reply, link } = await this.exchange(() => {
        // Numbered at the first send, when registration is certain; every retry reuses it.
        if (attempt.sends === 0) {
          assert.ok(this.registered, 'a call is numbered only once its client is registered');
          this.requestNumber += 1;
          attempt.identity = this.identity;
          attempt.requestNumber = this.requestNumber;
        }
        attempt.sends += 1;
        return { type: 'call', ...attempt.identity, requestNumber: attempt.requestNumber, command };
      }, deadline);
      if (reply.ok || !identityLost(reply.error.code)) {
        const chatReply = this.interpret<C['kind']>(command.kind, reply, link);
        this.observe(command, chatReply);
        return { reply: chatReply, link };
      }
      this.forgetClient();
      // Sent once and refused: it never ran, so it is safe to send again under a new clientId.
      // Sent more than once: an earlier send may have run before the table forgot us (or before
      // someone else registered our id after it was evicted).
      if (attempt.sends > 1) throw new ClientError(reply.error.code, 'the outcome of this request is unknown');
      this.log(`client ${attempt.identity.clientId} refused (${reply.error.code}); registering a new one`);
    }
  }

  /** The client table has forgotten us, or holds our id for another secret: a new identity,
   *  registered before the next call. */
  private forgetClient(): void {
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
      this.drop(link, `malformed ${kind} result`);
      throw new ClientError('BAD_FRAME', `the replica sent a malformed ${kind} result; the outcome is unknown`);
    }
    return { ok: true, result };
  }

  /** What a call's reply tells us about our own session. */
  private observe(command: ClientCommand, reply: ReplyTo<keyof ChatResults>): void {
    if (reply.ok && (command.kind === 'logout' || command.kind === 'delete-account')) this.endSession();
    if (reply.ok && command.kind === 'read') {
      // A push and a read can race: after a failover the new primary pushes what is unread on
      // resume, and a read executed before our ack committed returns the same messages. The
      // user has seen those already, so the read shows only the rest.
      const result = reply.result as ChatResults['read'];
      result.messages = result.messages.filter((m) => !this.inbox.hasShown(m.id));
      this.inbox.noteRead(result.messages.map((m) => m.id));
    }
    if (!reply.ok && reply.error.code === 'NOT_LOGGED_IN' && this.session !== null) {
      this.loseSession(`${reply.error.code}: ${reply.error.message}`);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Login.

  private async loginNow(name: string, password: string): Promise<ReplyTo<'login'>> {
    const deadline = this.deadline();
    // One session token per login, kept when the login starts over: if the interrupted attempt
    // committed and only its reply was lost, the cluster answers the new one with that same
    // session rather than open a second, orphaned one (lib/chat/login.ts).
    const token = newToken();
    for (let attempt = 1; ; attempt++) {
      const started = await this.startLogin(name, deadline);
      if (!started.ok) return started;
      const login = prepareLogin(name, password, token, started.clientNonce, started.challenge);
      const { reply, link } = await this.execute(login.command, deadline);
      if (reply.ok) return this.beginSession(login, reply, link);
      // A new primary never issued the nonce we answered: start again, once, while we still
      // have the password (the REPL does not keep it).
      if (reply.error.code === 'AUTH_FAILED' && link !== started.link && attempt === 1) {
        this.log('login was interrupted by a reconnect; starting it again');
        continue;
      }
      return reply;
    }
  }

  private async startLogin(
    name: string,
    deadline: number,
  ): Promise<{ ok: true; challenge: LoginStartResult; clientNonce: string; link: Link } | { ok: false; error: ChatError }> {
    const clientNonce = newNonce();
    const { reply, link } = await this.exchange(() => ({ type: 'login-start', name, clientNonce }), deadline);
    if (!reply.ok) return refusal(reply);
    const challenge = checkLoginStartResult(reply.result);
    if (challenge === null) {
      this.drop(link, 'malformed login challenge');
      throw new ClientError('BAD_CHALLENGE', 'the replica sent a malformed login challenge');
    }
    return { ok: true, challenge, clientNonce, link };
  }

  private beginSession(login: LoginAttempt, reply: { ok: true; result: ChatResults['login'] }, link: Link): ReplyTo<'login'> {
    if (!signatureMatches(login, reply.result.serverSignature)) {
      // The replica accepted a proof without knowing our verifier: it is not who it claims.
      this.drop(link, 'login signature mismatch');
      throw new ClientError('BAD_SERVER_SIGNATURE', 'the replica could not prove it knows this account; not trusting it');
    }
    this.inbox.reset();
    // The gateway binds the connection that answered the challenge, which is this one.
    this.session = { name: reply.result.name, token: login.token, link };
    return reply;
  }

  private endSession(): void {
    this.session = null;
    this.inbox.reset();
  }

  private loseSession(reason: string): void {
    this.endSession();
    this.emit('session-lost', reason);
  }

  // -------------------------------------------------------------------------------------------
  // Pushes and acks.

  private onPush(link: Link, message: StoredMessage): void {
    // While closing, a push could be shown but not acked, and would be shown again later.
    if (link !== this.link || this.closing) return;
    if (this.inbox.receive(message.id)) this.emit('push', message);
    if (this.acksQueued) return;
    this.acksQueued = true;
    this.background(() => this.sendAcks());
  }

  /** Acks every pending id, in batches. Runs from the queue, so pushes that arrive while a
   *  call is outstanding are confirmed together after it. */
  private async sendAcks(): Promise<void> {
    this.acksQueued = false;
    while (this.inbox.pendingAcks > 0 && this.session !== null) {
      const ids = this.inbox.takeAcks(IDS_PER_REQUEST_MAX);
      const { reply } = await this.execute({ kind: 'ack', ids }, this.deadline());
      if (!reply.ok) this.log(`ack of ${ids.length} messages refused: ${reply.error.code}: ${reply.error.message}`);
    }
  }

  /** Queues work nobody awaits. A ClientError there is news, not a bug; anything else is. */
  private background(work: () => Promise<void>): void {
    this.enqueue(work).catch((error: unknown) => {
      if (!(error instanceof ClientError)) throw error;
      if (error.code !== 'CLOSED') this.emit('offline', `${error.code}: ${error.message}`);
    });
  }

  // -------------------------------------------------------------------------------------------
  // Getting a request to the primary.

  /** Sends a request to the primary and returns its answer, retrying until `deadline`. The
   *  request is built anew for each send, on a connection that is ready for it. */
  private async exchange(build: () => Request, deadline: number): Promise<Answer> {
    for (;;) {
      const link = await this.ready(deadline, 'urgent');
      const outcome = await this.send(link, build(), deadline);
      if (outcome.kind === 'answer') {
        this.backoff.reset();
        this.liveBackoff.reset();
        this.followedHint = false;
        return outcome;
      }
      await this.pause(outcome, deadline, 'urgent');
    }
  }

  /** A connection to the primary, greeted, registered and bound to the session if any. */
  private async ready(deadline: number, pace: Pace = 'patient'): Promise<Link> {
    for (;;) {
      const step = await this.nextStep(deadline);
      if (step.kind === 'ready') return step.link;
      if (step.kind === 'retry') await this.pause(step, deadline, pace);
    }
  }

  /** Does the first thing the connection still lacks (one round trip at most). */
  private async nextStep(deadline: number): Promise<Step> {
    const link = this.link;
    if (link === null) {
      if (this.closing) throw closedError('no connection');
      return this.dial(deadline);
    }
    if (!this.registered) return this.register(link, deadline);
    const session = this.session;
    if (session !== null && session.link !== link) return this.resume(session, link, deadline);
    return { kind: 'ready', link };
  }

  /** Sends one request on one link. Answers about where the primary is (or is not) become a
   *  Retry; every other answer, refusals included, is for the caller. */
  private async send(link: Link, request: Request, deadline: number): Promise<Answer | Retry> {
    let reply: Reply;
    try {
      reply = await link.request(request, this.timeoutMs(deadline));
    } catch (error) {
      if (!(error instanceof LinkLost)) throw error;
      this.drop(link, error.message);
      this.unreachable.add(link.address);
      return retry(`${link.address}: ${error.message}`);
    }
    if (reply.ok) return { kind: 'answer', reply, link };
    const reason = `${link.address}: ${reply.error.code}: ${reply.error.message}`;
    switch (reply.error.code) {
      case 'NOT_PRIMARY': {
        this.drop(link, 'not the primary');
        return retry(reason, { live: true, followHint: this.follow(reply.primary ?? null, link.address) });
      }
      case 'VIEW_CHANGE':
      case 'BUSY':
        return retry(reason, { live: true });
      default:
        return { kind: 'answer', reply, link };
    }
  }

  /** Waits before the next attempt — not at all for a fresh hint — or gives up with
   *  UNAVAILABLE if the wait would pass the deadline. */
  private async pause(failure: Retry, deadline: number, pace: Pace): Promise<void> {
    if (this.closing) throw closedError(failure.reason);
    const backoff = failure.live && pace === 'urgent' ? this.liveBackoff : this.backoff;
    const delayMs = failure.followHint && !this.followedHint ? 0 : Math.round(backoff.nextDelayMs());
    this.followedHint = failure.followHint;
    this.log(`retrying ${delayMs === 0 ? 'at once' : `in ${delayMs} ms`}: ${failure.reason}`);
    if (performance.now() + delayMs >= deadline) {
      throw new ClientError('UNAVAILABLE', `no primary answered within ${this.giveUpMs} ms (last: ${failure.reason})`);
    }
    if (delayMs === 0) return;
    try {
      await sleep(delayMs, undefined, { signal: this.stopping.signal });
    } catch (error) {
      if (!this.stopping.signal.aborted) throw error;
      throw closedError(failure.reason);
    }
  }

  // -------------------------------------------------------------------------------------------
  // The handshake steps.

  /** Connects to the next address and greets it. A backup is left at once for its hint. */
  private async dial(deadline: number): Promise<Step> {
    const address = this.ring.next();
    let link: Link;
    try {
      link = await Link.open(address, this.timeoutMs(deadline));
    } catch (error) {
      if (!(error instanceof LinkLost)) throw error;
      this.unreachable.add(address);
      return retry(`${address}: ${error.message}`);
    }
    const outcome = await this.send(link, { type: 'hello', version: PROTOCOL_VERSION }, deadline);
    if (outcome.kind === 'retry') return outcome;
    const hello = outcome.reply.ok ? checkHelloResult(outcome.reply.result) : null;
    if (hello === null || hello.version !== PROTOCOL_VERSION) {
      const why = outcome.reply.ok ? 'a malformed hello' : `${outcome.reply.error.code}: ${outcome.reply.error.message}`;
      this.drop(link, why);
      return retry(`${address}: ${why}`);
    }
    this.unreachable.delete(address); // It answers again (restarted, or the network healed).
    if (hello.primary.replica !== hello.replica) {
      this.drop(link, 'a backup');
      const why = `${address}: replica ${hello.replica} is a backup; the primary is replica ${hello.primary.replica}`;
      return retry(why, { live: true, followHint: this.follow(hello.primary, address) });
    }
    if (hello.view < this.newestView) {
      this.drop(link, 'a deposed primary');
      return retry(`${address}: replica ${hello.replica} says it is primary of view ${hello.view}, but view ${this.newestView} has begun`, { live: true });
    }
    this.adopt(link, hello);
    return { kind: 'progress' };
  }

  /** Makes a hinted address the next one tried, unless it is where the hint came from, a replica
   *  that just failed to answer, or a hint from a view older than one we know of. True if the
   *  hint will be followed. */
  private follow(hint: PrimaryHint | null, from: string): boolean {
    if (hint === null || hint.view < this.newestView) return false;
    const hinted = hint.address;
    if (hinted === null) return false;
    this.newestView = hint.view;
    if (hinted === from || this.unreachable.has(hinted)) return false;
    return this.ring.prefer(hinted);
  }

  /** Makes `link` the connection to the primary. */
  private adopt(link: Link, hello: HelloResult): void {
    this.link = link;
    if (hello.primary.address !== null) this.newestView = Math.max(this.newestView, hello.view);
    this.unreachable.clear(); // A primary answers: the hints we get from now on are fresh.
    link.on('push', (message) => this.onPush(link, message));
    link.once('lost', (reason) => this.onLost(link, reason));
    const previous = this.primary;
    this.primary = { replica: hello.replica, view: hello.view, address: link.address };
    this.log(`connected to replica ${hello.replica} (view ${hello.view}) at ${link.address}`);
    if (previous !== null && (previous.replica !== hello.replica || previous.view !== hello.view)) {
      this.emit('failover', this.primary);
    }
  }

  private onLost(link: Link, reason: string): void {
    if (link !== this.link) return;
    this.link = null;
    this.unreachable.add(link.address);
    this.log(`lost ${link.address}: ${reason}`);
    // Pushes reach only a connection bound to the session: when logged in, reconnect without
    // waiting for the next command — but not at once. Every idle client of a primary that died
    // loses its connection at the same moment; dialling together they would flood the replicas
    // just when those are changing views (the bench saw failovers of 10+ views with 256 idle
    // clients). So each waits a random part of backoffMaxMs first. A call made meanwhile
    // reconnects at once, and then this finds the connection up.
    if (this.session !== null && !this.closing && this.idleReconnect === null) {
      this.idleReconnect = setTimeout(() => {
        this.idleReconnect = null;
        if (!this.closing) this.background(() => this.ready(this.deadline()).then(() => undefined));
      }, this.random() * this.reconnectSpreadMs);
    }
  }

  /** Ends `link`; if it was the connection to the primary, there is none now. */
  private drop(link: Link, reason: string): void {
    if (this.link === link) this.link = null;
    link.close(reason);
  }

  private async register(link: Link, deadline: number): Promise<Step> {
    const outcome = await this.send(link, { type: 'register', ...this.identity }, deadline);
    if (outcome.kind === 'retry') return outcome;
    const { reply } = outcome;
    if (!reply.ok && reply.error.code === 'NOT_OWNER') {
      // Someone holds this id with another secret (it was seen, and taken first): draw another.
      this.log(`client ${this.identity.clientId} is registered to another secret; drawing a new one`);
      this.forgetClient();
      return { kind: 'progress' };
    }
    // CLIENT_TABLE_FULL among them: the caller learns that the cluster has no room for a client.
    if (!reply.ok) throw new ClientError(reply.error.code, `register refused: ${reply.error.message}`);
    this.registered = true;
    this.requestNumber = 0;
    return { kind: 'progress' };
  }

  private async resume(session: Session, link: Link, deadline: number): Promise<Step> {
    const request: Request = { type: 'resume', token: session.token, lastSeen: this.inbox.lastSeen };
    const outcome = await this.send(link, request, deadline);
    if (outcome.kind === 'retry') return outcome;
    const { reply } = outcome;
    if (!reply.ok && reply.error.code === 'BAD_TOKEN') {
      this.loseSession(`${reply.error.code}: ${reply.error.message}`);
      return { kind: 'progress' };
    }
    if (!reply.ok) throw new ClientError(reply.error.code, `resume refused: ${reply.error.message}`);
    const resumed = checkResumeResult(reply.result);
    if (resumed === null) {
      this.drop(link, 'malformed resume result');
      return retry(`${link.address}: malformed resume result`);
    }
    session.link = link;
    this.log(`resumed the session of ${resumed.name} (${resumed.unread} unread)`);
    return { kind: 'progress' };
  }

  private deadline(): number {
    return performance.now() + this.giveUpMs;
  }

  /** How long to wait for one reply: the request timeout, cut short by the deadline. */
  private timeoutMs(deadline: number): number {
    return Math.max(1, Math.min(this.requestTimeoutMs, deadline - performance.now()));
  }
}

function retry(reason: string, how: { live?: boolean; followHint?: boolean } = {}): Retry {
  return { kind: 'retry', reason, followHint: how.followHint ?? false, live: how.live ?? false };
}

function closedError(reason: string): ClientError {
  return new ClientError('CLOSED', `the connector was closed before the request was answered (${reason})`);
}

/** A client id (32 random hex digits) and the secret that makes it ours. */
function newIdentity(): { clientId: string; clientSecret: string } {
  return { clientId: randomBytes(16).toString('hex'), clientSecret: newClientSecret() };
}

/** Refusals that mean the client table no longer holds our identity: register a new one. */
function identityLost(code: ErrorCode): boolean {
  return code === 'SESSION_EXPIRED' || code === 'NOT_OWNER';
}


/** A refusal as its caller sees it: a chat refusal is a value; a refusal about the protocol
 *  (BAD_REQUEST, STALE_REQUEST, …) means this client is at fault and is thrown. */
function refusal(reply: Extract<Reply, { ok: false }>): { ok: false; error: ChatError } {
  const { code, message } = reply.error;
  if (isChatErrorCode(code)) return { ok: false, error: { code, message } };
  throw new ClientError(code, message);
}
