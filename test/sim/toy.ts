// A tiny deterministic state machine for the simulator: a map from key to an append-only list.
// Small enough that snapshots and state comparisons are cheap, and order-sensitive enough that
// any replica executing ops in a different order, twice, or not at all ends in a different state.

import assert from 'node:assert/strict';
import type { StateMachine, StateMachineFactory } from '../../lib/replication/types.js';
import type { Prng } from './prng.js';
import type { ClientScript, Workload } from './workload.js';

/** Append `value` to the list at `key`, or (value null) just read it. */
export interface ToyCommand {
  key: string;
  value: string | null;
}
/** The list's length after the command, and its last element. */
export interface ToyReply {
  length: number;
  last: string | null;
}
export interface ToyEvent {
  key: string;
  length: number;
}

type ToyState = Record<string, string[]>;

class ToyMachine implements StateMachine<ToyCommand, ToyReply, ToyEvent> {
  private readonly lists: ToyState;

  constructor(snapshot: unknown | null) {
    this.lists = snapshot === null ? {} : (structuredClone(snapshot) as ToyState);
    assert.equal(typeof this.lists, 'object', 'toy snapshot must be an object');
  }

  apply(command: ToyCommand): { reply: ToyReply; events: ToyEvent[] } {
    const list = (this.lists[command.key] ??= []);
    if (command.value !== null) list.push(command.value);
    const reply = { length: list.length, last: list.at(-1) ?? null };
    return { reply, events: command.value === null ? [] : [{ key: command.key, length: list.length }] };
  }

  snapshot(): unknown {
    return structuredClone(this.lists);
  }

  size(): number {
    return Object.values(this.lists).reduce((sum, list) => sum + list.length, 0);
  }
}

export const createToyMachine: StateMachineFactory<ToyCommand, ToyReply, ToyEvent> = (snapshot) => new ToyMachine(snapshot);

const TOY_KEYS = ['a', 'b', 'c', 'd'];

class ToyScript implements ClientScript<ToyCommand, ToyReply> {
  private sent = 0;

  constructor(
    private readonly index: number,
    private readonly prng: Prng,
  ) {}

  next(): ToyCommand {
    this.sent++;
    // Few keys, so concurrent clients contend on the same lists and order matters.
    const key = this.prng.pick(TOY_KEYS);
    return { key, value: this.prng.chance(0.15) ? null : `c${this.index}.${this.sent}` };
  }

  onReply(command: ToyCommand, reply: ToyReply): void {
    // Our own append is the last element at the moment it executed.
    if (command.value !== null) assert.equal(reply.last, command.value, 'toy reply does not end with the appended value');
  }
}

export const toyWorkload: Workload<ToyCommand, ToyReply, ToyEvent> = {
  name: 'toy',
  createMachine: createToyMachine,
  newClient: (index, prng) => new ToyScript(index, prng),
};
