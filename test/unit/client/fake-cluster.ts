// A stand-in for a Chat+ cluster, small enough to read in one go, for testing the connector on
// real sockets: N fake replicas on 127.0.0.1 sharing one in-memory state (accounts, sessions,
// client table, mailboxes) as if it were replicated. Which one is primary, and in which view,
// is set by the test; a test can also intercept any frame to drop the connection before or
// after executing it, stay silent, or answer with a frame of its choosing, put one replica in a
// view change, and make a replica announce the primary to the clients connected to it.
//
// It speaks the protocol of docs/protocol.md with the real framing and codec, and checks login
// proofs with the real lib/auth/scram.ts, so a connector that passes here speaks it too.

import { EventEmitter, once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { newNonce, verifyProof, type Verifier } from '../../../lib/auth/scram.js';
import { hashToken } from '../../../lib/auth/tokens.js';
import type { ChatReply, ClientCommand, StoredMessage } from '../../../lib/chat/types.js';
import { parseClientFrame } from '../../../lib/protocol/codec.js';
import { FramedConnection } from '../../../lib/transport/connection.js';
import { CLIENT_FRAME_BYTES_MAX, PROTOCOL_VERSION, SERVER_FRAME_BYTES_MAX, type ClientFrame, type PrimaryHint } from '../../../lib/protocol/messages.js';

/** What a test may do with a frame a replica received. */
export type Interception =
  | { action: 'drop-before' } // destroy the connection without acting on the frame
  | { action: 'drop-after' } // act on it (commit a call), then destroy the connection unanswered
  | { action: 'ignore' } // never answer
  | { action: 'reply'; frame: unknown }; // answer with this frame instead

export interface Received {
  replica: number;
  frame: ClientFrame;
}

interface Connection {
  replica: number;
  framed: FramedConnection;
  challenge: { name: string; nonce: string } | null;
  session: { name: string; tokenHash: string } | null;
}

type CallFrame = Extract<ClientFrame, { type: 'call' }>;

export class FakeCluster extends EventEmitter<{ received: [received: Received] }> {
  readonly replicas: FakeReplica[] = [];
  /** Every valid frame any replica received, in order. */
  readonly received: Received[] = [];
  /** Consulted for every frame; return undefined to handle it normally. */
  intercept: ((received: Received) => Interception | undefined) | null = null;
  primary = 0;
  view = 0;
  /** When false, hints carry address null (the replica does not know where the primary is). */
  hintAddresses = true;

  readonly accounts = new Map<string, Verifier>();
  /** tokenHash → account name. */
  readonly sessions = new Map<string, string>();
  /** clientId → the secret it was registered with, the latest request number and its saved
   *  reply (VR §4). The real replicas keep the secret's hash; a fake may keep the secret. */
  readonly clientTable = new Map<string, { secret: string; requestNumber: number; reply: ChatReply | null }>();
  /** When true, a register of a new client id is refused: the table is full of clients in use. */
  tableFull = false;
  /** Every message in each mailbox, read or not. */
  readonly mailboxes = new Map<string, { message: StoredMessage; read: boolean }[]>();
  /** How many times each (clientId, requestNumber) was executed: must never exceed 1. */
  readonly executions = new Map<string, number>();
  private nextMessageId = 1;

  static async start(count: number): Promise<FakeCluster> {
    const cluster = new FakeCluster();
    for (let replica = 0; replica < count; replica++) cluster.replicas.push(await FakeReplica.start(cluster, replica));
    return cluster;
  }

  get addresses(): string[] {
    return this.replicas.map((replica) => replica.address);
  }

  hint(): PrimaryHint {
    const address = this.hintAddresses ? this.replicas[this.primary]!.address : null;
    return { replica: this.primary, view: this.view, address };
  }

  /** The frames of one type received so far, optionally by one replica. */
  frames<T extends ClientFrame['type']>(type: T, replica?: number): Extract<ClientFrame, { type: T }>[] {
    return this.received
      .filter((r) => r.frame.type === type && (replica === undefined || r.replica === replica))
      .map((r) => r.frame as Extract<ClientFrame, { type: T }>);
  }

  /** Delivers a message as a committed send would: into the mailbox, pushed to bound connections. */
  deliver(from: string, to: string, text: string): StoredMessage {
    const message: StoredMessage = { id: this.nextMessageId++, from, to, text, at: Date.UTC(2024, 0, 1, 10, 42) };
    this.mailbox(to).push({ message, read: false });
    for (const replica of this.replicas) replica.pushTo(to, message);
    return message;
  }

  mailbox(name: string): { message: StoredMessage; read: boolean }[] {
    let mailbox = this.mailboxes.get(name);
    if (mailbox === undefined) this.mailboxes.set(name, (mailbox = []));
    return mailbox;
  }

  unread(name: string): StoredMessage[] {
    return this.mailbox(name)
      .filter((entry) => !entry.read)
      .map((entry) => entry.message);
  }

  async close(): Promise<void> {
    await Promise.all(this.replicas.map((replica) => replica.close()));
  }

  /** The client table's part of a register: a row for a new id, the saved reply for its own
   *  retry, refused for an id registered with another secret or when the table is full. */
  register(frame: Extract<ClientFrame, { type: 'register' }>): 'NOT_OWNER' | 'CLIENT_TABLE_FULL' | null {
    const entry = this.clientTable.get(frame.clientId);
    if (entry !== undefined) return entry.secret === frame.clientSecret ? null : 'NOT_OWNER';
    if (this.tableFull) return 'CLIENT_TABLE_FULL';
    this.clientTable.set(frame.clientId, { secret: frame.clientSecret, requestNumber: 0, reply: null });
    return null;
  }

  /** The client table's part of a call: NOT_OWNER, saved reply, STALE or SESSION_EXPIRED, else
   *  execute. */
  call(connection: Connection, frame: CallFrame): ChatReply | 'SESSION_EXPIRED' | 'STALE_REQUEST' | 'NOT_OWNER' {
    const entry = this.clientTable.get(frame.clientId);
    if (entry === undefined) return 'SESSION_EXPIRED';
    if (entry.secret !== frame.clientSecret) return 'NOT_OWNER';
    if (frame.requestNumber < entry.requestNumber) return 'STALE_REQUEST';
    if (frame.requestNumber === entry.requestNumber && entry.reply !== null) return entry.reply;
    const key = `${frame.clientId}#${frame.requestNumber}`;
    this.executions.set(key, (this.executions.get(key) ?? 0) + 1);
    const reply = this.execute(connection, frame.command);
    this.clientTable.set(frame.clientId, { secret: entry.secret, requestNumber: frame.requestNumber, reply });
    return reply;
  }

  private execute(connection: Connection, command: ClientCommand): ChatReply {
    const user = connection.session?.name ?? null;
    const fail = (code: 'NOT_LOGGED_IN' | 'NAME_TAKEN' | 'UNKNOWN_USER' | 'NOT_FOUND', message: string): ChatReply => ({ ok: false, error: { code, message } });
    if (command.kind === 'create') {
      if (this.accounts.has(command.name)) return fail('NAME_TAKEN', `${command.name} is taken`);
      this.accounts.set(command.name, command.verifier);
      return { ok: true, result: { name: command.name } };
    }
    if (command.kind === 'login') return this.login(connection, command);
    if (user === null) return fail('NOT_LOGGED_IN', 'log in first');
    switch (command.kind) {
      case 'send': {
        if (!this.accounts.has(command.to)) return fail('UNKNOWN_USER', `no account ${command.to}`);
        const message = this.deliver(user, command.to, command.text);
        return { ok: true, result: { id: message.id, to: command.to, at: message.at } };
      }
      case 'ack':
        for (const entry of this.mailbox(user)) if (command.ids.includes(entry.message.id)) entry.read = true;
        return { ok: true, result: { acked: command.ids } };
      case 'read': {
        const entries = this.mailbox(user).filter((entry) => !entry.read).slice(0, command.count);
        for (const entry of entries) entry.read = true;
        return { ok: true, result: { messages: entries.map((e) => e.message), remaining: this.unread(user).length } };
      }
      case 'delete': {
        const mailbox = this.mailbox(user);
        if (!command.ids.every((id) => mailbox.some((entry) => entry.message.id === id))) return fail('NOT_FOUND', 'no such message');
        this.mailboxes.set(user, mailbox.filter((entry) => !command.ids.includes(entry.message.id)));
        return { ok: true, result: { deleted: command.ids } };
      }
      case 'delete-account':
        this.accounts.delete(user);
        this.sessions.delete(connection.session!.tokenHash);
        connection.session = null;
        return { ok: true, result: { name: user } };
      case 'logout':
        this.sessions.delete(connection.session!.tokenHash);
        connection.session = null;
        return { ok: true, result: {} };
      case 'list': {
        const names = [...this.accounts.keys()].sort();
        return { ok: true, result: { names, page: 1, pages: 1, total: names.length } };
      }
    }
  }

  private login(connection: Connection, command: Extract<ClientCommand, { kind: 'login' }>): ChatReply {
    const verifier = this.accounts.get(command.name);
    const verdict = verifier ? verifyProof(verifier, command.name, command.nonce, command.proof) : { ok: false as const };
    if (!verdict.ok) return { ok: false, error: { code: 'AUTH_FAILED', message: 'wrong name or password' } };
    this.sessions.set(command.tokenHash, command.name);
    connection.session = { name: command.name, tokenHash: command.tokenHash };
    const unread = this.unread(command.name).length;
    return { ok: true, result: { name: command.name, unread, serverSignature: verdict.serverSignature } };
  }
}

export class FakeReplica {
  private readonly connections = new Set<Connection>();
  private readonly sockets = new Set<Socket>();
  /** Connections accepted so far, closed ones included. */
  accepted = 0;
  /** In a view change: hello names no primary address, every other request is VIEW_CHANGE. */
  viewChanging = false;

  private constructor(
    private readonly cluster: FakeCluster,
    readonly replica: number,
    private readonly server: Server,
  ) {}

  static async start(cluster: FakeCluster, replica: number): Promise<FakeReplica> {
    const server = createServer();
    const fake = new FakeReplica(cluster, replica, server);
    server.on('connection', (socket) => fake.accept(socket));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    void fake.address; // Remember the port while the server has one.
    return fake;
  }

  /** Where it listens; kept after close() so that hints can still name a replica that died. */
  get address(): string {
    this.listeningOn ??= `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.listeningOn;
  }

  private listeningOn: string | null = null;

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Cuts every client connection, as a crash would. */
  dropConnections(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  pushTo(name: string, message: StoredMessage): void {
    for (const connection of this.connections) {
      if (connection.session?.name === name) connection.framed.send({ type: 'push', message });
    }
  }

  /** Tells every connected client where the cluster's primary is, as a replica does when it
   *  reaches status normal in a view. */
  announce(primary: PrimaryHint = this.cluster.hint()): void {
    this.sendToAll({ type: 'primary', primary, members: this.cluster.addresses });
  }

  /** Sends a raw frame to every connection (for tests of pushes and of bad frames). */
  sendToAll(frame: unknown): void {
    for (const connection of this.connections) connection.framed.send(frame);
  }

  async close(): Promise<void> {
    this.dropConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    this.accepted += 1;
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    const framed = new FramedConnection(socket, { maxFrameBytes: CLIENT_FRAME_BYTES_MAX, maxSendFrameBytes: SERVER_FRAME_BYTES_MAX });
    const connection: Connection = { replica: this.replica, framed, challenge: null, session: null };
    this.connections.add(connection);
    framed.on('error', () => {}); // the client went away; 'close' follows
    framed.on('close', () => this.connections.delete(connection));
    framed.on('frame', (value) => this.onFrame(connection, value));
  }

  private onFrame(connection: Connection, value: unknown): void {
    const parsed = parseClientFrame(value);
    if (!parsed.ok) throw new Error(`the connector sent an invalid frame: ${parsed.error.message}`);
    const frame = parsed.value;
    const received = { replica: this.replica, frame };
    this.cluster.received.push(received);
    this.cluster.emit('received', received);
    const interception = this.cluster.intercept?.(received);
    if (interception?.action === 'drop-before') return connection.framed.destroy();
    if (interception?.action === 'ignore') return;
    if (interception?.action === 'reply') return connection.framed.send(interception.frame);
    const answer = this.answer(connection, frame);
    if (interception?.action === 'drop-after') return connection.framed.destroy();
    connection.framed.send({ type: 'reply', id: frame.id, ...answer });
  }

  private answer(connection: Connection, frame: ClientFrame): object {
    const cluster = this.cluster;
    if (frame.type === 'hello') {
      const primary = this.viewChanging ? { ...cluster.hint(), address: null } : cluster.hint();
      return { ok: true, result: { version: PROTOCOL_VERSION, replica: this.replica, view: cluster.view, primary, members: cluster.addresses } };
    }
    if (this.viewChanging) return error('VIEW_CHANGE', 'a view change is in progress; retry shortly');
    if (cluster.primary !== this.replica) return error('NOT_PRIMARY', `replica ${this.replica} is a backup`, cluster.hint());
    switch (frame.type) {
      case 'register': {
        const refused = cluster.register(frame);
        return refused === null ? { ok: true, result: {} } : error(refused, refused.toLowerCase());
      }
      case 'login-start': {
        const name = frame.name.toLowerCase();
        const verifier = cluster.accounts.get(name);
        connection.challenge = { name, nonce: frame.clientNonce + newNonce() };
        return { ok: true, result: { salt: verifier?.salt ?? 'c2FsdA==', iterations: verifier?.iterations ?? 4096, nonce: connection.challenge.nonce } };
      }
      case 'resume':
        return this.resume(connection, frame);
      case 'call':
        return this.call(connection, frame);
    }
  }

  private resume(connection: Connection, frame: Extract<ClientFrame, { type: 'resume' }>): object {
    const tokenHash = hashToken(frame.token);
    const name = this.cluster.sessions.get(tokenHash);
    if (name === undefined) return error('BAD_TOKEN', 'that session has ended');
    connection.session = { name, tokenHash };
    const unread = this.cluster.unread(name);
    // As the real gateway does: the reply first, then the unread messages above lastSeen.
    queueMicrotask(() => {
      for (const message of unread) if (message.id > frame.lastSeen) connection.framed.send({ type: 'push', message });
    });
    return { ok: true, result: { name, unread: unread.length } };
  }

  private call(connection: Connection, frame: CallFrame): object {
    if (frame.command.kind === 'login') {
      const challenge = connection.challenge;
      if (challenge === null || challenge.nonce !== frame.command.nonce) return error('AUTH_FAILED', 'no login in progress with that nonce');
      connection.challenge = null;
    }
    const reply = this.cluster.call(connection, frame);
    if (typeof reply === 'string') return error(reply, reply.toLowerCase());
    return reply;
  }
}

function error(code: string, message: string, primary?: PrimaryHint): object {
  return primary ? { ok: false, error: { code, message }, primary } : { ok: false, error: { code, message } };
}
