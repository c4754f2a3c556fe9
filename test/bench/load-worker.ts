// A load generator: a separate process holding many client connectors (lib/client/connector.ts,
// the same code the REPL uses), driven by the bench over IPC. Load comes from other processes
// than the bench's own so that the bench's bookkeeping never competes with the clients inside
// one event loop, and so that what a replica sees is real clients on real sockets.
//
// Each connector has one call outstanding at a time (the connector's exactly-once rule), so
// "k in flight" is k connectors each sending in a loop. Every connector logs in as its own
// sender account; messages go to recipient accounts that never log in, so every send is stored
// (queued unread) and nothing is pushed.
//
// Requests from the bench: { type, seq, ...params }; answers: { type: 'result', seq, ... } or
// { type: 'failed', seq, message }. The worker exits when the bench goes away.

import { Connector, type ReplyTo } from '../../lib/client/connector.js';
import { ClientError } from '../../lib/client/errors.js';
import { VERIFIER_ITERATIONS_MIN } from '../../lib/chat/limits.js';
import { epochMs, sleep } from './stats.js';
import { addTally, newTally, type SendTally } from './tally.js';

export interface SetupParams {
  servers: string[];
  senders: string[];
  password: string;
  /** Recipient accounts this worker must create (possibly none: another worker did). */
  createRecipients: string[];
  /** Recipients to send to. */
  recipients: string[];
  textBytes: number;
}

export interface ThroughputResult extends SendTally {
  windowMs: number;
  /** Latencies (ms) of sends completed in the window; sampled down to at most LATENCY_SAMPLES_MAX. */
  latencies: number[];
}

const LATENCY_SAMPLES_MAX = 20_000;

/** What one load-worker process holds: its connectors, whom they send to, and the failover
 *  probe. One is created when the process starts; the bench's requests are its methods. */
class LoadWorker {
  private connectors: Connector[] = [];
  private recipients: string[] = [];
  private text = '';
  private nextRecipient = 0;
  /** The failover probe: acks of a sequential sender, with the replica that answered. */
  private readonly probe = { running: false, loop: null as Promise<void> | null, acks: [] as Array<{ t: number; replica: number | null }>, tally: newTally() };

  /** Answers one request from the bench, with its result or why it failed. */
  async answer(message: { type: string; seq: number; params: unknown }): Promise<void> {
    try {
      const result = await this.dispatch(message.type, message.params as never);
      process.send?.({ type: 'result', seq: message.seq, result });
    } catch (error) {
      process.send?.({ type: 'failed', seq: message.seq, message: (error as Error).stack ?? String(error) });
    }
  }

  private dispatch(type: string, params: never): unknown {
    switch (type) {
      case 'setup': return this.setup(params);
      case 'latency': return this.latency(params);
      case 'throughput': return this.throughput(params);
      case 'load': return this.load(params);
      case 'probe-start': return this.probeStart();
      case 'probe-ack-after': return this.probeAckAfter(params);
      case 'probe-stop': return this.probeStop();
      case 'close': return this.close();
      default: throw new Error(`unknown request ${type}`);
    }
  }

  /** One send; returns true if it was acknowledged as stored. Never throws for a ClientError. */
  private async sendOne(connector: Connector, tally: SendTally): Promise<boolean> {
    const to = this.recipients[this.nextRecipient++ % this.recipients.length]!;
    let reply: ReplyTo<'send'>;
    try {
      reply = await connector.call({ kind: 'send', to, text: this.text });
    } catch (error) {
      if (!(error instanceof ClientError)) throw error;
      bump(tally.errors, error.code);
      // A connector that gave up (UNAVAILABLE) is not hammered in a tight loop.
      await sleep(10);
      return false;
    }
    if (reply.ok) tally.acked++;
    else bump(tally.refused, reply.error.code);
    return reply.ok;
  }

  private async setup(params: SetupParams): Promise<{ connectors: number }> {
    this.recipients = params.recipients;
    this.text = 'x'.repeat(params.textBytes);
    // The bench measures sends, not password hashing: the accounts it makes use the fewest
    // PBKDF2 iterations a replica accepts, so setting up hundreds of senders takes no minutes.
    const connectors = params.senders.map(() => new Connector({ servers: params.servers, verifierIterations: VERIFIER_ITERATIONS_MIN }));
    this.connectors = connectors;
    // Recipients first, spread over the connectors so that their creates pipeline.
    await Promise.all(connectors.map(async (connector, i) => {
      for (let r = i; r < params.createRecipients.length; r += connectors.length) {
        await expectOk(connector.createAccount(params.createRecipients[r]!, params.password), 'create recipient');
      }
    }));
    await Promise.all(connectors.map(async (connector, i) => {
      const name = params.senders[i]!;
      await expectOk(connector.createAccount(name, params.password), `create ${name}`);
      await expectOk(connector.login(name, params.password), `login ${name}`);
    }));
    return { connectors: connectors.length };
  }

  /** `count` sends one after another on connector 0, after `warmup` uncounted ones. */
  private async latency(params: { count: number; warmup: number }): Promise<SendTally & { latencies: number[] }> {
    const connector = this.connectors[0]!;
    const tally = newTally();
    const latencies: number[] = [];
    for (let i = 0; i < params.warmup; i++) await this.sendOne(connector, newTally());
    for (let i = 0; i < params.count; i++) {
      const start = performance.now();
      if (await this.sendOne(connector, tally)) latencies.push(performance.now() - start);
    }
    return { ...tally, latencies };
  }

  /** `k` connectors send in a loop for warmMs + measureMs; only sends completed inside the
   *  measuring window count. */
  private async throughput(params: { connectors: number; warmMs: number; measureMs: number }): Promise<ThroughputResult> {
    const tally = newTally();
    const latencies: number[] = [];
    let seen = 0;
    const windowStart = performance.now() + params.warmMs;
    const windowEnd = windowStart + params.measureMs;
    const loop = async (connector: Connector) => {
      while (performance.now() < windowEnd) {
        const start = performance.now();
        const scratch = newTally();
        const ok = await this.sendOne(connector, scratch);
        const end = performance.now();
        if (end < windowStart || end > windowEnd) continue;
        addTally(tally, scratch);
        if (!ok) continue;
        // Reservoir sampling keeps a fair sample of latencies without unbounded memory.
        seen++;
        if (latencies.length < LATENCY_SAMPLES_MAX) latencies.push(end - start);
        else {
          const slot = Math.floor(Math.random() * seen);
          if (slot < LATENCY_SAMPLES_MAX) latencies[slot] = end - start;
        }
      }
    };
    await Promise.all(this.connectors.slice(0, params.connectors).map(loop));
    return { ...tally, windowMs: params.measureMs, latencies };
  }

  /** `count` sends, as fast as `k` connectors go, but none started after `maxMs`: the loader for
   *  the scale figures, bounded in time so that a cluster that stopped making progress cannot
   *  hold the bench for (count / k) × the connector's give-up time. */
  private async load(params: { connectors: number; count: number; maxMs: number }): Promise<SendTally & { ms: number }> {
    const tally = newTally();
    let remaining = params.count;
    const start = performance.now();
    const deadline = start + params.maxMs;
    const loop = async (connector: Connector) => {
      while (remaining > 0 && performance.now() < deadline) {
        remaining--;
        await this.sendOne(connector, tally);
      }
    };
    await Promise.all(this.connectors.slice(0, params.connectors).map(loop));
    return { ...tally, ms: performance.now() - start };
  }

  /** Starts the failover probe: connector 0 sends one message after another, recording when each
   *  was acknowledged and by which replica. */
  private probeStart(): Record<string, never> {
    const probe = this.probe;
    if (probe.running) throw new Error('probe already running');
    probe.running = true;
    probe.acks = [];
    probe.tally = newTally();
    const connector = this.connectors[0]!;
    probe.loop = (async () => {
      while (probe.running) {
        if (await this.sendOne(connector, probe.tally)) {
          probe.acks.push({ t: epochMs(), replica: connector.status().replica });
          // Only the recent past is ever asked about.
          if (probe.acks.length > 10_000) probe.acks.splice(0, 5_000);
        }
      }
    })();
    return {};
  }

  /** The first acknowledgement after instant `after` (epoch ms) from a replica other than
   *  `notReplica`: the first send the new primary acknowledged after the old one was killed. */
  private async probeAckAfter(params: { after: number; notReplica: number; timeoutMs: number }): Promise<{ t: number; replica: number | null }> {
    const deadline = performance.now() + params.timeoutMs;
    for (;;) {
      const ack = this.probe.acks.find((a) => a.t > params.after && a.replica !== params.notReplica);
      if (ack) return ack;
      if (!this.probe.running || performance.now() > deadline) throw new Error(`no acknowledged send within ${params.timeoutMs} ms of the kill`);
      await sleep(1);
    }
  }

  private async probeStop(): Promise<SendTally> {
    this.probe.running = false;
    await this.probe.loop;
    this.probe.loop = null;
    return this.probe.tally;
  }

  private async close(): Promise<Record<string, never>> {
    await Promise.all(this.connectors.map((c) => c.close()));
    setImmediate(() => process.exit(0));
    return {};
  }
}

function bump(counts: Record<string, number>, code: string): void {
  counts[code] = (counts[code] ?? 0) + 1;
}

async function expectOk(reply: Promise<{ ok: boolean; error?: { code: string; message: string } }>, what: string): Promise<void> {
  const answer = await reply;
  if (!answer.ok) throw new Error(`${what}: ${answer.error?.code}: ${answer.error?.message}`);
}

const worker = new LoadWorker();
process.on('message', (message: { type: string; seq: number; params: unknown }) => void worker.answer(message));
process.on('disconnect', () => process.exit(0));
