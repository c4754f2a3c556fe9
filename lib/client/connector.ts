// The connector: a client's way into the cluster, and the public face of lib/client. It finds
// the primary, keeps one connection to it, and gets each command executed exactly once however
// many replicas fail meanwhile. Each of the things it owes its user is a module that can be read
// alone; this class wires them together and keeps the queue.
//
//   1. Exactly once (exactly-once.ts): a registered client id with its secret, request numbers
//      kept through every resend, and an outcome reported unknown rather than guessed.
//   2. The primary, wherever it is: the policy (primary-finder.ts — members, hints,
//      announcements, parking at a backup until it announces, the paces) and its mechanics
//      (primary-channel.ts — dial, greet, park, adopt, and the deadline: after giveUpMs a
//      request fails with UNAVAILABLE).
//   3. The session (session.ts): login, and its resume on every new primary, with one token
//      across a login that starts over.
//   4. Pushes once (pushes.ts): shown once, acked in batches. When the primary's connection is
//      lost, a logged-in client reconnects at once without waiting for a command (patient pace:
//      it parks at a backup like a call would, and spreads its dial of the primary announced).
//   5. One call outstanding at a time (the queue here): the client table keeps only the latest
//      request number.
//
// The layers of sending, top down:
//   call             a command from the user, queued behind the one outstanding (here);
//   callExactlyOnce  one numbered request, sent until a primary answers it (exactly-once.ts);
//   askPrimary       one request on the primary's connection, and on the next one whenever
//                    that fails, until a primary answers (primary-channel.ts);
//   Link.request     one request on one link (link.ts).

import { EventEmitter } from 'node:events';
import { DEFAULT_ITERATIONS, makeVerifier } from '../auth/scram.js';
import { foldName } from '../chat/names.js';
import type { ClientCommand, StoredMessage } from '../chat/types.js';
import type { PrimaryHint } from '../protocol/messages.js';
import { ClientError } from './errors.js';
import { ExactlyOnce, type ReplyTo } from './exactly-once.js';
import { PrimaryChannel, type SearchProgress } from './primary-channel.js';
import { PrimaryFinder } from './primary-finder.js';
import { Pushes } from './pushes.js';
import { Session } from './session.js';

export type { ReplyTo } from './exactly-once.js';

export interface ConnectorOptions {
  /** Client addresses ("host:port") of the replicas; any one will do: the others are learned
   *  from it (hello's members). */
  servers: string[];
  /** A request unanswered for this long counts as a dead connection; also the longest the
   *  connector parks at a replica waiting for its announcement. */
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
  /** The addresses known: the members the cluster told us of, and the ones we were given. */
  members: string[];
  /** The known addresses that failed since they last answered. */
  unreachable: string[];
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
  /** The connector is waiting for a primary: before each dial it waits for, and each park. */
  searching: [progress: SearchProgress];
  /** It has a connection to the primary again (a new one, or the same after a lost connection):
   *  the search, if there was one, is over. */
  found: [];
}

export class Connector extends EventEmitter<ConnectorEvents> {
  private readonly finder: PrimaryFinder;
  private readonly channel: PrimaryChannel;
  private readonly calls: ExactlyOnce;
  private readonly pushes: Pushes;
  private readonly session: Session;
  private readonly giveUpMs: number;
  private readonly verifierIterations: number;
  /** Settles when all work queued so far has settled; work runs one item at a time. */
  private tail: Promise<void> = Promise.resolve();
  private closing = false;
  /** A reconnect for pushes is queued and has not run yet: one is enough. */
  private reconnectQueued = false;

  constructor(options: ConnectorOptions) {
    super();
    const requestTimeoutMs = options.requestTimeoutMs ?? CONNECTOR_DEFAULTS.requestTimeoutMs;
    const log = options.log ?? (() => {});
    this.giveUpMs = options.giveUpMs ?? CONNECTOR_DEFAULTS.giveUpMs;
    this.verifierIterations = options.verifierIterations ?? DEFAULT_ITERATIONS;
    this.finder = new PrimaryFinder({
      seeds: options.servers,
      backoffBaseMs: options.backoffBaseMs ?? CONNECTOR_DEFAULTS.backoffBaseMs,
      backoffMaxMs: options.backoffMaxMs ?? CONNECTOR_DEFAULTS.backoffMaxMs,
      parkMs: requestTimeoutMs,
      random: options.random ?? Math.random,
    });
    this.channel = new PrimaryChannel({ finder: this.finder, requestTimeoutMs, giveUpMs: this.giveUpMs, log });
    this.calls = new ExactlyOnce(this.channel, log);
    this.pushes = new Pushes({
      show: (message) => this.emit('push', message),
      schedule: (work) => this.background(work),
      ack: async (ids) => (await this.calls.callExactlyOnce({ kind: 'ack', ids }, this.deadline())).reply,
      sessionOpen: () => this.session.name !== null,
      log,
    });
    this.session = new Session(this.channel, this.calls, this.pushes, { lost: (reason) => this.emit('session-lost', reason), log });
    this.channel.prepareWith([this.calls.register, this.session.resume]);
    this.channel.on('push', (message) => {
      // While closing, a push could be shown but not acked, and would be shown again later.
      if (!this.closing) this.pushes.receive(message);
    });
    this.channel.on('failover', (primary) => this.emit('failover', primary));
    this.channel.on('searching', (progress) => this.emit('searching', progress));
    this.channel.on('found', () => this.emit('found'));
    this.channel.on('lost', () => this.reconnectForPushes());
  }

  /** Finds the primary and registers. Optional: the first call does it too. */
  connect(): Promise<void> {
    return this.enqueue(async () => {
      await this.channel.ready(this.deadline(), 'urgent');
    });
  }

  /** Executes `command` exactly once. Chat refusals resolve as `ok: false`; a ClientError
   *  rejects when the outcome could not be learned (UNAVAILABLE, SESSION_EXPIRED, CLOSED). */
  call<C extends ClientCommand>(command: C): Promise<ReplyTo<C['kind']>> {
    return this.enqueue(async () => {
      const { reply } = await this.calls.callExactlyOnce(command, this.deadline());
      this.session.observe(command, reply);
      return reply;
    });
  }

  createAccount(name: string, password: string): Promise<ReplyTo<'create'>> {
    return this.call({ kind: 'create', name, verifier: makeVerifier(password, this.verifierIterations) });
  }

  login(name: string, password: string): Promise<ReplyTo<'login'>> {
    // The proof signs the name, so it must be the name as the server folds it: use its rule.
    const folded = foldName(name);
    if (!folded.ok) return Promise.resolve({ ok: false, error: folded.error });
    return this.enqueue(() => this.session.login(folded.name, password, this.deadline()));
  }

  status(): ConnectorStatus {
    const primary = this.channel.current;
    return {
      replica: primary?.replica ?? null,
      view: primary?.view ?? null,
      address: primary?.address ?? null,
      name: this.session.name,
      clientId: this.calls.clientId,
      members: this.finder.knownAddresses(),
      unreachable: this.finder.unreachableAddresses(),
    };
  }

  /** Stops. Work already queued runs on while the connection lasts — a reply on the wire may
   *  still arrive, pending acks still go out — but nothing reconnects or waits any more. */
  async close(): Promise<void> {
    this.closing = true;
    this.channel.stop();
    await this.tail;
    this.channel.disconnect('closed by the client');
  }

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

  /** Queues work nobody awaits. A ClientError there is news, not a bug; anything else is. */
  private background(work: () => Promise<void>): void {
    this.enqueue(work).catch((error: unknown) => {
      if (!(error instanceof ClientError)) throw error;
      if (error.code !== 'CLOSED') this.emit('offline', `${error.code}: ${error.message}`);
    });
  }

  /** Pushes reach only a connection bound to the session: when logged in, reconnect without
   *  waiting for the next command. At once, at the patient pace: parking at a backup costs one
   *  connection and one hello, and the dial of the primary it announces is spread. A call made
   *  meanwhile reconnects first, and then this finds the connection up. */
  private reconnectForPushes(): void {
    if (this.session.name === null || this.closing || this.reconnectQueued) return;
    this.reconnectQueued = true;
    this.background(async () => {
      this.reconnectQueued = false;
      await this.channel.ready(this.deadline(), 'patient');
    });
  }

  private deadline(): number {
    return performance.now() + this.giveUpMs;
  }
}
