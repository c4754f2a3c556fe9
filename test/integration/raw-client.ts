// A client that speaks the protocol frame by frame, for tests that must send exactly the frames
// a connector would (or would never) send: one connection, requests matched to replies by id.

import { connect } from 'node:net';
import { FramedConnection } from '../../lib/transport/connection.js';
import { CLIENT_FRAME_BYTES_MAX } from '../../lib/protocol/messages.js';

/** One request at a time over one connection, replies matched by id. */
export class RawClient {
  private nextId = 1;
  private readonly waiting = new Map<number, (frame: Record<string, unknown>) => void>();

  private constructor(private readonly connection: FramedConnection) {
    connection.on('frame', (value) => {
      const frame = value as Record<string, unknown>;
      if (frame.type === 'reply') this.waiting.get(frame.id as number)?.(frame);
    });
    connection.on('error', () => {});
  }

  static async open(address: string): Promise<RawClient> {
    const [host, port] = address.split(':');
    const socket = connect({ host: host!, port: Number(port) });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return new RawClient(new FramedConnection(socket, { maxFrameBytes: CLIENT_FRAME_BYTES_MAX }));
  }

  request(frame: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply to ${JSON.stringify(frame)} within 10 s`)), 10_000);
      this.waiting.set(id, (reply) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve(reply);
      });
      this.connection.send({ ...frame, id });
    });
  }

  close(): void {
    this.connection.destroy();
  }
}
