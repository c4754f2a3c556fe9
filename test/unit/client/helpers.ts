// Shared by the client tests: bounded waits on events (never sleeps), and a connector wired
// to a fake cluster with short, test-sized timeouts that is closed when the test ends.

import { on, type EventEmitter } from 'node:events';
import type { TestContext } from 'node:test';
import { Connector, type ConnectorOptions } from '../../../lib/client/connector.js';
import type { ClientFrame } from '../../../lib/protocol/messages.js';
import { FakeCluster, type Received } from './fake-cluster.js';

/** Long enough for a loaded 2-core machine; a wait that runs out is a failure, not a delay. */
export const WAIT_MS = 5_000;

/** Resolves with the arguments of the first `event` that satisfies `predicate`; rejects with a
 *  message naming `what` if none comes within `timeoutMs`. */
export async function waitFor<A extends unknown[]>(
  emitter: EventEmitter,
  event: string,
  what: string,
  predicate: (...args: A) => boolean = () => true,
  timeoutMs = WAIT_MS,
): Promise<A> {
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    for await (const args of on(emitter, event, { signal })) if (predicate(...(args as A))) return args as A;
  } catch (error) {
    if (signal.aborted) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    throw error;
  }
  throw new Error(`the ${event} events ended before ${what}`);
}

/** The first frame received (already, or within the wait) that satisfies `predicate`. */
export async function waitForFrame(cluster: FakeCluster, what: string, predicate: (frame: ClientFrame) => boolean): Promise<Received> {
  const seen = cluster.received.find((r) => predicate(r.frame));
  if (seen) return seen;
  const [received] = await waitFor<[Received]>(cluster, 'received', what, (r) => predicate(r.frame));
  return received;
}

export async function startCluster(t: TestContext, count: number): Promise<FakeCluster> {
  const cluster = await FakeCluster.start(count);
  t.after(() => cluster.close());
  return cluster;
}

/** A connector with timeouts sized for tests; closed after the test. */
export function makeConnector(t: TestContext, servers: string[], options: Partial<ConnectorOptions> = {}): Connector {
  const connector = new Connector({
    servers,
    requestTimeoutMs: 1_000,
    giveUpMs: WAIT_MS,
    backoffBaseMs: 5,
    backoffMaxMs: 20,
    random: () => 0.5,
    verifierIterations: 4096, // the least a replica accepts: PBKDF2 at the default takes 0.1 s
    ...options,
  });
  t.after(() => connector.close());
  return connector;
}

/** Per-test bound, so that a connector that never gives up fails the test instead of hanging it. */
export const TEST_TIMEOUT_MS = 30_000;
