// What the simulated world needs to know about the application it replicates. The world, the
// clients and the checkers are generic over the state machine; a Workload supplies the machine
// factory and, for each simulated client, a script that says what to ask next.

import type { StateMachineFactory } from '../../lib/replication/types.js';
import type { Prng } from './prng.js';

export interface ClientScript<C, R> {
  /** The command for the client's next request. Called once per request number: retries of a
   *  request resend the very same command, as the real connector does. */
  next(): C;
  /** The reply to a command this script returned (so the script can, say, ack what it read). */
  onReply(command: C, reply: R): void;
}

export interface Workload<C, R, E> {
  readonly name: string;
  readonly createMachine: StateMachineFactory<C, R, E>;
  /** A script for client number `index`; `prng` is that client's own stream. */
  newClient(index: number, prng: Prng): ClientScript<C, R>;
}
