// The client side of a replica: accepts client connections, checks every frame with the codec,
// and turns valid requests into inputs for the replication core. It owns what is per-connection
// and never replicated: the login challenge a connection was given, the session a connection is
// bound to, and which connection waits for which (clientId, owner, requestNumber).
//
// What goes through the log and what does not:
//   - `register` and every `call` go to the core: they are ordered, replicated, executed once.
//     The client secret they carry is hashed here into the owner fingerprint the core binds the
//     client id to (lib/auth/client-secret.ts); the secret goes no further — no log line, no
//     disk, no peer — and the wall clock at arrival goes with the request as its time.
//   - `hello` is answered locally (who am I, who is primary).
//   - `login-start` and `resume` are answered by the primary from its executed state. Neither
//     changes state; the commands that follow them are checked again when executed from the log.
//   - A `login` call's proof is checked here, by the primary that issued its nonce, against the
//     verifier in its executed state; only the outcome goes on to the log (lib/chat/login.ts), so
//     no proof is ever logged, stored or sent to a peer. Failed proofs count towards a per-
//     connection throttle (the rule of lib/chat/throttle.ts, kept here: a connection lives on one
//     replica); the per-account throttle is replicated state in the chat machine.

import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { describePeer, FramedConnection } from '../transport/connection.js';
import { InboundBudget } from '../transport/inbound-budget.js';
import { encodeJsonFrame } from '../transport/frame.js';
import { errorReply, okReply, parseClientFrame, type OkResult } from '../protocol/codec.js';
import { CLIENT_FRAME_BYTES_MAX, PROTOCOL_VERSION, SERVER_FRAME_BYTES_MAX, type Announcement, type ClientFrame, type ErrorCode, type PrimaryHint, type ServerFrame } from '../protocol/messages.js';
import type { ChatCommand, ChatEvent, ChatReply, ClientCommand, LoggedCommand, LoginRecord } from '../chat/types.js';
import { recordLogin } from '../chat/login.js';
import type { ChatMachine } from '../chat/machine.js';
import { foldName } from '../chat/names.js';
import { FailureRun, throttled } from '../chat/throttle.js';
import type { ClientRequest, RejectCode, ReplicaStatusReport } from '../replication/types.js';
import { decoySalt, DEFAULT_ITERATIONS, newNonce } from '../auth/scram.js';
import { hashToken } from '../auth/tokens.js';
import { ownerOf } from '../auth/client-secret.js';
import { RateLimitedLog, type Logger } from './logger.js';
import { CLIENT_CONNECTIONS_MAX_DEFAULT } from './config.js';

/** Requests one connection may have waiting for the log at once; more get BUSY. */
const WAITING_PER_CONNECTION_MAX = 64;
/** A client that does not read its pushes is cut off before its backlog grows past this. */
const CLIENT_SEND_BACKLOG_BYTES_MAX = 4 * 1024 * 1024;
/** Unread messages pushed on resume; the rest wait for `read`. */
const RESUME_PUSH_MAX = 100;
/** A new connection must send a valid request within this long: a client sends `hello` at once. */
export const CLIENT_FIRST_REQUEST_MS = 10_000;
/** A connection with no session and no request waiting that sends no valid request for this long
 *  is closed: time enough for a person to type a name and password. A connection bound to a
 *  session stays however quiet it is, since it is waiting for pushes; the connection cap bounds
 *  how many such connections there can be. */
export const CLIENT_IDLE_MS = 120_000;
/** A frame begun and not finished within this long is a slow loris, holding its bytes (and its
 *  share of the connections' inbound budget) on purpose: the connection is closed. A frame of
 *  the largest size takes this long at about 52 kbit/s. */
export const CLIENT_FRAME_MS = 10_000;
/** How often the gateway looks for connections past a deadline: one timer for all of them. A
 *  deadline is therefore kept to within this much. */
const SWEEP_INTERVAL_MS = 1000;
/** Descriptors kept free of client connections, for what must never lack one: the journal's
 *  segments, snapshot and view files and their directory (a storage failure stops the replica,
 *  duty 3), the peer connections, standard streams and Node's own. The cap on client connections
 *  is lowered to the descriptor limit minus this. (When accept itself fails for want of a
 *  descriptor, Node's libuv closes a reserve descriptor it holds, accepts and closes the waiting
 *  connections, and reopens it: the server survives, but storage would find nothing left.) */
export const DESCRIPTORS_RESERVED = 128;
/** Client faults (bad requests, dropped, refused and timed-out connections) of one kind are
 *  logged at most once per this interval after the first, as a count (RateLimitedLog). */
const FAULT_LOG_INTERVAL_MS = 10_000;

/** What the gateway needs from the replica it fronts. */
export interface ReplicaHost {
  status(): ReplicaStatusReport;
  primaryHint(): PrimaryHint;
  /** The client addresses of the cluster's members (HelloResult.members). */
  members(): string[];
  machine(): ChatMachine;
  submit(request: ClientRequest<ChatCommand>): void;
}

export interface GatewayOptions {
  /** The cluster secret (lib/server/config.ts). It keys the decoy salts of login-start, so that
   *  every replica answers the same for the same unknown name (lib/auth/scram.ts decoySalt). */
  clusterSecret: string;
  /** Milliseconds on a clock that never goes back, for the per-connection login throttle, the
   *  connection deadlines and the fault log: performance.now() unless a test injects one. */
  now?: () => number;
  /** The cap on client connections (the config's clientConnectionsMax). */
  connectionsMax?: number;
  /** This process's limit on open descriptors: read from the system unless a test gives one;
   *  null when it cannot be known, and then only connectionsMax applies. */
  descriptorLimit?: number | null;
}

interface Client {
  connection: FramedConnection;
  /** When the connection was accepted, and when its last valid request arrived (null: none yet). */
  acceptedAt: number;
  lastRequestAt: number | null;
  /** The login challenge this connection was last given: login must use exactly this nonce. */
  challenge: { name: string; nonce: string } | null;
  /** The session (token hash) this connection acts for, and its account name. */
  session: { hash: string; name: string } | null;
  /** How many entries of `waiters` and `heldReads` are this connection's. */
  waiting: number;
  /** This connection's failed login proofs, and until when its login-starts are refused. */
  loginFailures: FailureRun;
}

/** A read of the primary's state that came before its reads were current (readable). */
interface HeldRead {
  client: Client;
  frame: Extract<ClientFrame, { type: 'login-start' | 'resume' }>;
}

interface Waiter {
  client: Client;
  frameId: number;
  /** For a login call: the session to bind the connection to if the login succeeds. */
  bindSession: { hash: string; name: string } | null;
}

export class ClientGateway {
  private server: Server | null = null;
  private readonly clients = new Set<Client>();
  /** Connections taken in since the gateway was built (refused ones are not counted). */
  private accepted = 0;
  /** Connections bound to a session, by account name: every executed send looks up its
   *  recipient here, so a push must not cost a scan of every connection. Invariant: holds
   *  exactly the clients whose `session` is set, under that session's account name. */
  private readonly byName = new Map<string, Set<Client>>();
  /** Who waits for the reply to (clientId, owner, requestNumber); the newest connection wins.
   *  The owner is part of the key, so a request with a stolen client id (and another secret)
   *  neither receives nor displaces the owner's answer. */
  private readonly waiters = new Map<string, Waiter>();
  /** Reads held until this primary's reads are current, oldest first; each counts in its
   *  client's `waiting`. */
  private heldReads: HeldRead[] = [];
  private readonly clusterSecret: string;
  private readonly now: () => number;
  /** The cap on client connections, descriptor headroom included. */
  readonly connectionsMax: number;
  private readonly faults: RateLimitedLog;
  /** What all client connections may hold and handle together (lib/transport/inbound-budget.ts). */
  private readonly budget = new InboundBudget();
  private sweepTimer: NodeJS.Timeout | null = null;

  constructor(private readonly host: ReplicaHost, logger: Logger, options: GatewayOptions) {
    this.clusterSecret = options.clusterSecret;
    this.now = options.now ?? (() => performance.now());
    const descriptors = options.descriptorLimit === undefined ? openFilesLimit() : options.descriptorLimit;
    this.connectionsMax = Math.min(options.connectionsMax ?? CLIENT_CONNECTIONS_MAX_DEFAULT, descriptors === null ? Infinity : descriptors - DESCRIPTORS_RESERVED);
    assert.ok(this.connectionsMax >= 1, `a descriptor limit of ${descriptors} leaves none for clients after ${DESCRIPTORS_RESERVED} reserved`);
    this.faults = new RateLimitedLog(logger, { intervalMs: FAULT_LOG_INTERVAL_MS, now: this.now });
  }

  async listen(host: string, port: number): Promise<void> {
    const server = createServer((socket) => this.accept(socket));
    this.server = server;
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.sweepTimer.unref();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  }

  async close(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.faults.flush();
    for (const client of this.clients) client.connection.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** Closes every client connection (this replica stopped being primary); clients reconnect. */
  disconnectAll(): void {
    for (const client of this.clients) client.connection.close();
  }

  /** Tells every client connection where the primary now is: this replica has just reached
   *  status normal in a view (ClientPort.announce). Encoded once for all of them. Only a
   *  connection open now gets it: one accepted later asks hello, which answers the same. */
  announce(): void {
    const announcement: Announcement = { type: 'primary', primary: this.host.primaryHint(), members: this.host.members() };
    // Status normal is when the hint has an address, and the driver announces only then.
    assert.ok(announcement.primary.address !== null, 'an announcement names the primary\'s address');
    const frame = encodeJsonFrame(announcement);
    for (const client of this.clients) client.connection.sendFrame(frame);
  }

  get connectionCount(): number {
    return this.clients.size;
  }

  /** How many connections were taken in since start: beside connectionCount, it shows whether
   *  clients keep reconnecting (after an announcement, say) or stay on the connections they have. */
  get acceptedCount(): number {
    return this.accepted;
  }

  /** Closes every connection past a deadline (CLIENT_FRAME_MS, CLIENT_FIRST_REQUEST_MS,
   *  CLIENT_IDLE_MS) and writes the fault log's summaries. Every SWEEP_INTERVAL_MS; tests call
   *  it on a fake clock. */
  sweep(): void {
    const now = this.now();
    for (const client of this.clients) {
      const overdue = this.overdue(client, now);
      if (overdue === null) continue;
      this.faults.note('info', 'client-timed-out', overdue, { remote: client.connection.remoteAddress, reason: overdue });
      client.connection.destroy(); // not close(): a peer that never finishes would keep it open
      this.forget(client); // at once, not at 'close': the slot is free from now on
    }
    this.faults.flush();
  }

  private overdue(client: Client, now: number): string | null {
    const unfinished = client.connection.unfinishedFrame;
    if (unfinished !== null && now - unfinished.since >= CLIENT_FRAME_MS) return 'slow-frame';
    if (client.lastRequestAt === null) return now - client.acceptedAt >= CLIENT_FIRST_REQUEST_MS ? 'no-request' : null;
    const idle = client.session === null && client.waiting === 0 && now - client.lastRequestAt >= CLIENT_IDLE_MS;
    return idle ? 'idle' : null;
  }

  private accept(socket: Socket): void {
    if (this.clients.size >= this.connectionsMax) return this.refuse(socket);
    const connection = new FramedConnection(socket, {
      maxFrameBytes: CLIENT_FRAME_BYTES_MAX,
      maxSendFrameBytes: SERVER_FRAME_BYTES_MAX,
      // A client that does not read is cut off (SEND_BUFFER_FULL) rather than allowed to grow this
      // process's memory; nothing is lost: unacknowledged pushes stay unread and return on resume.
      highWaterBytes: CLIENT_SEND_BACKLOG_BYTES_MAX,
      budget: this.budget,
      now: this.now,
    });
    const client: Client = { connection, acceptedAt: this.now(), lastRequestAt: null, challenge: null, session: null, waiting: 0, loginFailures: new FailureRun() };
    this.clients.add(client);
    this.accepted++;
    connection.on('frame', (value: unknown) => this.onFrame(client, value));
    connection.on('error', (error: Error & { code?: string }) => {
      this.faults.note('warn', 'client-dropped', error.code ?? error.name, { remote: connection.remoteAddress, code: error.code, error: error.message });
    });
    connection.on('close', () => this.forget(client));
  }

  /** Drops what the gateway holds for a connection that has closed, or is closing. */
  private forget(client: Client): void {
    if (!this.clients.delete(client)) return;
    this.bind(client, null);
    // Most connections close with nothing waiting: they skip the scan of every connection's waiters.
    if (client.waiting === 0) return;
    for (const [key, waiter] of this.waiters) if (waiter.client === client) this.waiters.delete(key);
    this.heldReads = this.heldReads.filter((held) => held.client !== client);
  }

  /** One error frame, then the socket is destroyed once it has left: a refused peer that never
   *  reads or hangs up must not keep the descriptor the cap is there to save. */
  private refuse(socket: Socket): void {
    socket.on('error', () => {}); // a reset from a refused peer is no news
    this.faults.note('warn', 'client-refused', 'TOO_MANY_CONNECTIONS', { remote: describePeer(socket) ?? 'unknown', connections: this.clients.size });
    const message = `this replica holds ${this.connectionsMax} client connections, its most; try again later`;
    socket.end(encodeJsonFrame(errorReply(0, { code: 'TOO_MANY_CONNECTIONS', message })), () => socket.destroy());
  }

  private onFrame(client: Client, value: unknown): void {
    const parsed = parseClientFrame(value);
    if (!parsed.ok) {
      this.faults.note('info', 'client-bad-request', parsed.error.code, { remote: client.connection.remoteAddress, code: parsed.error.code });
      this.send(client, errorReply(parsed.id ?? 0, parsed.error));
      return;
    }
    client.lastRequestAt = this.now();
    const frame = parsed.value;
    switch (frame.type) {
      case 'hello':
        return this.onHello(client, frame);
      case 'login-start':
        return this.onLoginStart(client, frame);
      case 'resume':
        return this.onResume(client, frame);
      case 'register':
        return this.submit(client, frame.id, { ...requester(frame), requestNumber: 0, command: null }, null);
      case 'call':
        return this.onCall(client, frame);
    }
  }

  private onHello(client: Client, frame: Extract<ClientFrame, { type: 'hello' }>): void {
    if (frame.version !== PROTOCOL_VERSION) {
      return this.fail(client, frame.id, 'BAD_VERSION', `this replica speaks protocol version ${PROTOCOL_VERSION}, not ${frame.version}`);
    }
    const status = this.host.status();
    this.reply(client, frame.id, { version: PROTOCOL_VERSION, replica: status.replica, view: status.view, primary: this.host.primaryHint(), members: this.host.members() });
  }

  /** login-start and resume read the primary's state, so they are answered only when it is
   *  current. A backup's could be stale or missing: refused. So could a new primary's, until it has
   *  executed the log it inherited (ReplicaStatusReport readsCurrent): a session opened just before
   *  the failover would be answered BAD_TOKEN. The clients that follow its announcement arrive
   *  in that window, which lasts a round trip and a disk write or so; the read is held until
   *  answerHeldReads rather than refused, so that they need not poll. True if `frame` may be
   *  answered now. */
  private readable(client: Client, frame: HeldRead['frame']): boolean {
    const status = this.host.status();
    if (status.isPrimary && status.status === 'normal') {
      if (status.readsCurrent) return true;
      if (client.waiting >= WAITING_PER_CONNECTION_MAX) this.fail(client, frame.id, 'BUSY', 'too many requests in flight on this connection');
      else {
        this.heldReads.push({ client, frame });
        client.waiting++;
      }
    } else if (status.status !== 'normal') {
      this.fail(client, frame.id, 'VIEW_CHANGE', 'a view change is in progress; retry shortly');
    } else {
      this.fail(client, frame.id, 'NOT_PRIMARY', `replica ${status.replica} is a backup`, this.host.primaryHint());
    }
    return false;
  }

  /** This primary's reads have become current (driver: ClientPort.answerHeldReads): each held read
   *  is handled again now, as if it had just arrived. */
  answerHeldReads(): void {
    const held = this.heldReads;
    this.heldReads = [];
    for (const { client, frame } of held) {
      // forget() drops the reads of a connection that closes, but not from `held`: one may close
      // while an earlier read in it is answered (a push backlog cut off, say). Never a crash.
      if (!this.clients.has(client)) continue;
      client.waiting--;
      if (frame.type === 'login-start') this.onLoginStart(client, frame);
      else this.onResume(client, frame);
    }
  }

  private onLoginStart(client: Client, frame: Extract<ClientFrame, { type: 'login-start' }>): void {
    if (!this.readable(client, frame)) return;
    // Refusing the start suffices: a login call needs the challenge this step gives.
    const wait = client.loginFailures.waitAt(this.now());
    if (wait > 0) {
      const { code, message } = throttled('on this connection', wait);
      return this.fail(client, frame.id, code, message);
    }
    const folded = foldName(frame.name);
    if (!folded.ok) return this.fail(client, frame.id, folded.error.code, folded.error.message);
    const name = folded.name;
    const verifier = this.host.machine().verifierOf(name);
    const nonce = frame.clientNonce + newNonce();
    client.challenge = { name, nonce };
    this.reply(client, frame.id, {
      // A name without an account looks like one whose client used the default iterations.
      salt: verifier?.salt ?? decoySalt(this.clusterSecret, name),
      iterations: verifier?.iterations ?? DEFAULT_ITERATIONS,
      nonce,
    });
  }

  private onResume(client: Client, frame: Extract<ClientFrame, { type: 'resume' }>): void {
    if (!this.readable(client, frame)) return;
    const machine = this.host.machine();
    const hash = hashToken(frame.token);
    const name = machine.sessionName(hash);
    if (name === null) return this.fail(client, frame.id, 'BAD_TOKEN', 'that session has ended; log in again');
    this.bind(client, { hash, name });
    this.reply(client, frame.id, { name, unread: machine.unreadCount(name) });
    for (const message of machine.unreadAfter(name, frame.lastSeen, RESUME_PUSH_MAX)) this.send(client, { type: 'push', message });
  }

  private onCall(client: Client, frame: Extract<ClientFrame, { type: 'call' }>): void {
    const sent = frame.command;
    if (sent.kind !== 'login') return this.submitCall(client, frame, sent, null);
    const challenge = client.challenge;
    const folded = foldName(sent.name);
    const name = folded.ok ? folded.name : null;
    if (challenge === null || challenge.nonce !== sent.nonce || challenge.name !== name) {
      // Only a nonce this connection was just given is accepted, so a recorded proof is useless.
      return this.fail(client, frame.id, 'AUTH_FAILED', 'no login in progress with that nonce on this connection; start again');
    }
    client.challenge = null;
    const record = this.checkLogin(client, sent, challenge.name);
    this.submitCall(client, frame, record, { hash: sent.tokenHash, name: challenge.name });
  }

  private submitCall(client: Client, frame: Extract<ClientFrame, { type: 'call' }>, command: LoggedCommand, bindSession: Waiter['bindSession']): void {
    const request = requester(frame);
    const logged = admit(command, request.at, client.session?.hash ?? null);
    this.submit(client, frame.id, { ...request, requestNumber: frame.requestNumber, command: logged }, bindSession);
  }

  /** The primary's proof check (lib/chat/login.ts recordLogin), against the verifier `name` has
   *  in its executed state. A failed proof counts towards this connection's throttle at once. */
  private checkLogin(client: Client, command: Extract<ClientCommand, { kind: 'login' }>, name: string): LoginRecord {
    const record = recordLogin(command, this.host.machine().verifierOf(name));
    if (record.proven === null) client.loginFailures.fail(this.now());
    return record;
  }

  private submit(client: Client, frameId: number, request: ClientRequest<ChatCommand>, bindSession: Waiter['bindSession']): void {
    if (client.waiting >= WAITING_PER_CONNECTION_MAX) return this.fail(client, frameId, 'BUSY', 'too many requests in flight on this connection');
    const key = waiterKey(request);
    const previous = this.waiters.get(key);
    if (previous) previous.client.waiting--;
    this.waiters.set(key, { client, frameId, bindSession });
    client.waiting++;
    this.host.submit(request);
  }

  /** Driver duty 5: a committed request's reply goes to the connection waiting for it, if any. */
  deliverReply(request: RequestKey, reply: ChatReply | null): void {
    const waiter = this.takeWaiter(request);
    if (!waiter) return;
    if (reply === null) return this.reply(waiter.client, waiter.frameId, {});
    if (!reply.ok) return this.send(waiter.client, errorReply(waiter.frameId, reply.error));
    if (waiter.bindSession) this.bind(waiter.client, waiter.bindSession);
    this.reply(waiter.client, waiter.frameId, reply.result);
  }

  deliverReject(request: RequestKey, code: RejectCode): void {
    const waiter = this.takeWaiter(request);
    if (!waiter) return;
    const hint = code === 'NOT_PRIMARY' ? this.host.primaryHint() : undefined;
    this.fail(waiter.client, waiter.frameId, code, REJECT_MESSAGES[code], hint);
  }

  /** Chat events of an executed op; only the primary acts on them (it alone holds sessions). */
  deliverEvents(events: ChatEvent[]): void {
    for (const event of events) {
      if (event.kind === 'deliver') {
        for (const client of this.byName.get(event.message.to) ?? []) this.send(client, { type: 'push', message: event.message });
      } else {
        // Logout and account deletion are rare: a scan is fine here.
        for (const client of this.clients) if (client.session?.hash === event.session) this.bind(client, null);
      }
    }
  }

  /** Binds a connection to a session (or unbinds it, with null), keeping byName in step. */
  private bind(client: Client, session: Client['session']): void {
    if (client.session) {
      const same = this.byName.get(client.session.name);
      same?.delete(client);
      if (same?.size === 0) this.byName.delete(client.session.name);
    }
    client.session = session;
    if (session) {
      const same = this.byName.get(session.name) ?? new Set<Client>();
      same.add(client);
      this.byName.set(session.name, same);
    }
  }

  private takeWaiter(request: RequestKey): Waiter | undefined {
    const key = waiterKey(request);
    const waiter = this.waiters.get(key);
    if (waiter) {
      this.waiters.delete(key);
      waiter.client.waiting--;
    }
    return waiter;
  }

  private reply(client: Client, id: number, result: OkResult): void {
    this.send(client, okReply(id, result));
  }

  private fail(client: Client, id: number, code: ErrorCode, message: string, primary?: PrimaryHint): void {
    this.send(client, errorReply(id, { code, message }, primary));
  }

  private send(client: Client, frame: ServerFrame): void {
    client.connection.send(frame);
  }
}

const REJECT_MESSAGES: Record<RejectCode, string> = {
  NOT_PRIMARY: 'this replica is not the primary',
  VIEW_CHANGE: 'a view change is in progress; retry shortly',
  SESSION_EXPIRED: 'this client is not registered (or was evicted from the client table); register again — the outcome of this request is unknown',
  STALE_REQUEST: 'request number is older than this client\'s latest request',
  BUSY: 'the primary has too many requests in flight; retry shortly',
  NOT_OWNER: 'this client id is registered with another client secret; register a client id of your own',
  CLIENT_TABLE_FULL: 'the client table is full of clients in use; nothing was registered, try again later',
};

/** What names one request of one client: whose answer a waiter is. */
type RequestKey = Pick<ClientRequest<ChatCommand>, 'clientId' | 'owner' | 'requestNumber'>;

function waiterKey(request: RequestKey): string {
  return `${request.clientId}#${request.requestNumber}#${request.owner}`;
}

/** Who sends a register or call, as the core sees them: the client id, the owner its secret
 *  hashes to, and this replica's clock as the request's time (VRR §4.4: the primary chooses it
 *  and the log carries it). */
function requester(frame: Extract<ClientFrame, { type: 'register' | 'call' }>): { clientId: string; owner: string; at: number } {
  return { clientId: frame.clientId, owner: ownerOf(frame.clientSecret), at: Date.now() };
}

/** The primary's part of a command (VRR §4.4: the primary chooses timestamps and they are logged). */
function admit(command: LoggedCommand, at: number, session: string | null): ChatCommand {
  return { ...command, at, session };
}

/** The soft limit on this process's open descriptors, from /proc (Linux); null elsewhere, or if
 *  it is unlimited. Node has no getrlimit. */
function openFilesLimit(): number | null {
  let limits: string;
  try {
    limits = readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return null;
  }
  const soft = /^Max open files\s+(\d+)/m.exec(limits)?.[1];
  return soft === undefined ? null : Number(soft);
}
