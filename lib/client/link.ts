// One connection to one replica. It numbers the requests sent on it, matches each reply to its
// request by id, and hands pushes and announcements on. Whatever goes wrong — the socket closes,
// a reply is late, the replica sends a frame that is not valid — ends the link: every request
// still waiting on it fails with LinkLost and 'lost' is emitted once. Deciding what to do next
// (which replica, how long to wait, whether a retry is safe) is the connector's business, not
// the link's.

import { EventEmitter } from 'node:events';
import { connect } from 'node:net';
import type { StoredMessage } from '../chat/types.js';
import { parseServerFrame } from '../protocol/codec.js';
import { FramedConnection } from '../transport/connection.js';
import { encodeJsonFrame, FRAME_HEADER_BYTES } from '../transport/frame.js';
import { CLIENT_FRAME_BYTES_MAX, SERVER_FRAME_BYTES_MAX, type Announcement, type ClientFrame, type ServerFrame } from '../protocol/messages.js';
import { ClientError } from './errors.js';
import { parseAddress } from './servers.js';

type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;
/** A client frame before the link gives it an id. */
export type Request = WithoutId<ClientFrame>;
export type Reply = Extract<ServerFrame, { type: 'reply' }>;

/** The link ended before the request was answered; `message` says why. */
export class LinkLost extends Error {
  override readonly name = 'LinkLost';
}

interface Waiting {
  resolve: (reply: Reply) => void;
  reject: (error: LinkLost) => void;
  timer: NodeJS.Timeout;
}

interface LinkEvents {
  push: [message: StoredMessage];
  /** The replica at the other end reached status normal in a view and says where its primary is. */
  announcement: [announcement: Announcement];
  lost: [reason: string];
}

export class Link extends EventEmitter<LinkEvents> {
  /** The id the next request gets. Ids are never reused on a link, so a reply names one request. */
  private nextId = 1;
  /** Requests sent and not yet answered, by id. Empty once the link has ended. */
  private readonly waiting = new Map<number, Waiting>();
  /** Why the link ended; null while it is up. Set once, never cleared. */
  private endReason: string | null = null;
  /** The newest announcement received, if any. Frames that arrive in one read are emitted
   *  together, so an announcement right behind the hello reply is emitted before the code awaiting
   *  that reply can listen for it: it reads this instead. */
  latestAnnouncement: Announcement | null = null;

  private constructor(
    /** "host:port" this link was opened to, as given (not as resolved). */
    readonly address: string,
    private readonly connection: FramedConnection,
  ) {
    super();
    connection.on('frame', (value) => this.onFrame(value));
    connection.on('error', (error) => this.end(`${(error as Error & { code?: string }).code ?? 'error'}: ${error.message}`));
    connection.on('close', () => this.end('connection closed'));
  }

  /** Connects to `address`. Rejects with LinkLost if the connection is refused or is not up
   *  within `timeoutMs`. */
  static open(address: string, timeoutMs: number): Promise<Link> {
    const { host, port } = parseAddress(address);
    const socket = connect({ host, port });
    // Replies may be larger than any request (a `read` carries many messages): two limits.
    const connection = new FramedConnection(socket, { maxFrameBytes: SERVER_FRAME_BYTES_MAX, maxSendFrameBytes: CLIENT_FRAME_BYTES_MAX });
    const link = new Link(address, connection);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => link.close(`not connected within ${timeoutMs} ms`), timeoutMs);
      const onLost = (reason: string): void => {
        clearTimeout(timer);
        reject(new LinkLost(reason));
      };
      link.once('lost', onLost);
      socket.once('connect', () => {
        clearTimeout(timer);
        link.off('lost', onLost);
        resolve(link);
      });
    });
  }

  /** Sends `request` and resolves with its reply. A reply that takes longer than `timeoutMs`
   *  ends the link: a replica that does not answer is treated as gone. A request too big for
   *  a frame is refused (ClientError BAD_REQUEST) without being sent, and the link stays up:
   *  sent, it would cost the connection (the replica, and our own FramedConnection, close a
   *  connection over an oversize frame), and resending it elsewhere would cost every one. */
  request(request: Request, timeoutMs: number): Promise<Reply> {
    if (this.endReason !== null) return Promise.reject(new LinkLost(this.endReason));
    const frame = { ...request, id: this.nextId++ };
    // Encoded once: measured here, sent as it is below.
    const encoded = encodeJsonFrame(frame);
    const bytes = encoded.length - FRAME_HEADER_BYTES;
    if (bytes > CLIENT_FRAME_BYTES_MAX) {
      const message = `the ${request.type} request is ${bytes} bytes, over the ${CLIENT_FRAME_BYTES_MAX}-byte frame limit`;
      return Promise.reject(new ClientError('BAD_REQUEST', message));
    }
    const reply = new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => this.end(`no reply to ${request.type} within ${timeoutMs} ms`), timeoutMs);
      this.waiting.set(frame.id, { resolve, reject, timer });
    });
    // Registered first: if sending fails the connection at once, end() still finds the request.
    this.connection.sendFrame(encoded);
    return reply;
  }

  /** Ends the link on purpose. */
  close(reason = 'closed by the client'): void {
    this.end(reason);
  }

  private onFrame(value: unknown): void {
    const parsed = parseServerFrame(value);
    if (!parsed.ok) return this.end(`bad frame from the replica: ${parsed.error.code}: ${parsed.error.message}`);
    const frame = parsed.value;
    if (frame.type === 'push') {
      this.emit('push', frame.message);
      return;
    }
    if (frame.type === 'primary') {
      this.latestAnnouncement = frame;
      this.emit('announcement', frame);
      return;
    }
    const waiting = this.waiting.get(frame.id);
    if (waiting === undefined) return this.end(`reply to request ${frame.id}, which is not waiting`);
    this.waiting.delete(frame.id);
    clearTimeout(waiting.timer);
    waiting.resolve(frame);
  }

  private end(reason: string): void {
    if (this.endReason !== null) return;
    this.endReason = reason;
    this.connection.destroy();
    for (const waiting of this.waiting.values()) {
      clearTimeout(waiting.timer);
      waiting.reject(new LinkLost(reason));
    }
    this.waiting.clear();
    this.emit('lost', reason);
  }
}
