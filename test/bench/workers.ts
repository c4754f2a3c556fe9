// The bench's side of the load workers (load-worker.ts): request/answer over IPC, and a pool
// that spreads "k in flight" over the workers.

import type { ChildProcess } from 'node:child_process';
import type { Children } from './children.js';
import type { SetupParams, ThroughputResult } from './load-worker.js';
import { addTally, newTally, type SendTally } from './tally.js';

class LoadWorker {
  private nextSeq = 1;
  private readonly waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();

  constructor(readonly index: number, readonly child: ChildProcess) {
    child.on('message', (message: { type: string; seq: number; result?: unknown; message?: string }) => {
      const waiter = this.waiting.get(message.seq);
      if (!waiter) return;
      this.waiting.delete(message.seq);
      if (message.type === 'result') waiter.resolve(message.result);
      else waiter.reject(new Error(`load worker ${index}: ${message.message}`));
    });
    // An IPC send to a worker that has just died fails asynchronously with 'error'; its
    // requests are rejected by the 'exit' handler, so the error itself needs no more.
    child.on('error', () => {});
    child.once('exit', (code, signal) => {
      for (const waiter of this.waiting.values()) waiter.reject(new Error(`load worker ${index} exited (${signal ?? code})`));
      this.waiting.clear();
    });
  }

  request<T>(type: string, params: unknown = {}): Promise<T> {
    const seq = this.nextSeq++;
    if (!this.child.connected) return Promise.reject(new Error(`load worker ${this.index} is gone`));
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(seq, { resolve: resolve as (value: unknown) => void, reject });
      this.child.send({ type, seq, params });
    });
  }
}

export class LoadPool {
  private constructor(private readonly workers: LoadWorker[], readonly connectorsPerWorker: number) {}

  /** Starts `workerCount` workers with `connectorsPerWorker` logged-in senders each, forked
   *  through `children` so that the run that owns them can kill them. Worker 0 also creates
   *  the recipient accounts. */
  static async start(children: Children, options: { workerCount: number; connectorsPerWorker: number; servers: string[]; recipients: string[]; textBytes: number; runTag: string }): Promise<LoadPool> {
    const workers: LoadWorker[] = [];
    for (let i = 0; i < options.workerCount; i++) {
      workers.push(new LoadWorker(i, children.forkSibling('load-worker')));
    }
    const setup = (worker: LoadWorker): Promise<unknown> => {
      const params: SetupParams = {
        servers: options.servers,
        senders: Array.from({ length: options.connectorsPerWorker }, (_, c) => `s${options.runTag}w${worker.index}c${c}`),
        password: 'bench-password',
        createRecipients: worker.index === 0 ? options.recipients : [],
        recipients: rotate(options.recipients, worker.index * 7),
        textBytes: options.textBytes,
      };
      return worker.request('setup', params);
    };
    // Nobody sends before every worker is set up, so the recipients worker 0 creates exist by then.
    await Promise.all(workers.map(setup));
    return new LoadPool(workers, options.connectorsPerWorker);
  }

  pids(): number[] {
    return this.workers.map((w) => w.child.pid).filter((pid): pid is number => pid !== undefined);
  }

  get maxInFlight(): number {
    return this.workers.length * this.connectorsPerWorker;
  }

  /** Sequential sends on one connector: one in flight. */
  latency(count: number, warmup: number): Promise<SendTally & { latencies: number[] }> {
    return this.workers[0]!.request('latency', { count, warmup });
  }

  /** `inFlight` connectors, spread evenly over the workers, for warmMs + measureMs. */
  async throughput(inFlight: number, warmMs: number, measureMs: number): Promise<{ tally: SendTally; perSecond: number; latencies: number[] }> {
    const shares = this.split(inFlight);
    const results = await Promise.all(shares.map((k, i) => (k > 0 ? this.workers[i]!.request<ThroughputResult>('throughput', { connectors: k, warmMs, measureMs }) : null)));
    const tally = newTally();
    const latencies: number[] = [];
    for (const result of results) {
      if (result === null) continue;
      addTally(tally, result);
      latencies.push(...result.latencies);
    }
    return { tally, perSecond: tally.acked / (measureMs / 1000), latencies };
  }

  /** `count` sends as fast as `inFlight` connectors go, none started after `maxMs`. */
  async load(count: number, inFlight: number, maxMs = 24 * 3600_000): Promise<{ tally: SendTally; ms: number }> {
    const shares = this.split(inFlight);
    // Each worker sends its part of the count, in proportion to its connectors.
    const counts = shares.map((k) => Math.floor((count * k) / inFlight));
    counts[0]! += count - counts.reduce((a, b) => a + b, 0);
    const results = await Promise.all(shares.map((k, i) => (k > 0 ? this.workers[i]!.request<SendTally & { ms: number }>('load', { connectors: k, count: counts[i], maxMs }) : null)));
    const tally = newTally();
    let ms = 0;
    for (const result of results) {
      if (result === null) continue;
      addTally(tally, result);
      ms = Math.max(ms, result.ms);
    }
    return { tally, ms };
  }

  probeStart(): Promise<unknown> {
    return this.workers[0]!.request('probe-start');
  }

  probeAckAfter(after: number, notReplica: number, timeoutMs: number): Promise<{ t: number; replica: number | null }> {
    return this.workers[0]!.request('probe-ack-after', { after, notReplica, timeoutMs });
  }

  probeStop(): Promise<SendTally> {
    return this.workers[0]!.request('probe-stop');
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.request('close').catch(() => {})));
  }

  private split(inFlight: number): number[] {
    if (inFlight > this.maxInFlight) throw new Error(`${inFlight} in flight needs more than ${this.workers.length} × ${this.connectorsPerWorker} connectors`);
    const shares = this.workers.map(() => Math.floor(inFlight / this.workers.length));
    for (let i = 0; i < inFlight % this.workers.length; i++) shares[i]! += 1;
    return shares;
  }
}

function rotate<T>(items: T[], by: number): T[] {
  const k = by % Math.max(1, items.length);
  return [...items.slice(k), ...items.slice(0, k)];
}
