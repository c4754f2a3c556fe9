// Helpers for scripted scenarios (scenarios.test.ts): a calm world with the toy machine, where a
// test makes the faults happen itself, waits for outcomes with bounded virtual-time waits, and
// finishes with the same end checks as every simulation run.

import assert from 'node:assert/strict';
import type { ReplicaOptions } from '../../lib/replication/replica.js';
import type { ReplicaId, ReplicaStatusReport } from '../../lib/replication/types.js';
import { World } from './cluster.js';
import { CALM_NETWORK } from './network.js';
import { checkEnd } from './simulate.js';
import { type ToyCommand, type ToyEvent, type ToyReply, toyWorkload } from './toy.js';

export type ToyWorld = World<ToyCommand, ToyReply, ToyEvent>;

export interface ScenarioOptions {
  replicas: number;
  clients: number;
  seed?: number;
  replicaOptions?: Omit<Partial<ReplicaOptions>, 'replica' | 'replicaCount'>;
  /** Client think time upper bound, virtual ms (0: clients send back to back). */
  thinkMaxMs?: number;
}

export function scenarioWorld(options: ScenarioOptions): Promise<ToyWorld> {
  return World.create({
    seed: options.seed ?? 1,
    replicaCount: options.replicas,
    workload: toyWorkload,
    clientCount: options.clients,
    replicaOptions: options.replicaOptions ?? {},
    network: CALM_NETWORK,
    clientTiming: { thinkMaxMs: options.thinkMaxMs ?? 20 },
  });
}

/** Runs until `condition` holds, failing with `what` and the replicas' states if it does not
 *  within `withinMs` of virtual time. */
export async function runUntil(world: ToyWorld, what: string, condition: () => boolean, withinMs: number): Promise<void> {
  const deadline = world.now + withinMs;
  if (!(await world.runUntil(deadline, condition))) {
    assert.fail(`${what}: not within ${withinMs} virtual ms\n  ${describe(world)}\n  last events:\n    ${world.trace.last().join('\n    ')}`);
  }
}

export function describe(world: ToyWorld): string {
  return world.nodes
    .map((node) => {
      const r = node.driver?.statusReport();
      return r === undefined ? `r${node.id} down` : `r${r.replica} ${r.status} v${r.view} op ${r.op} commit ${r.commit} executed ${r.executed}`;
    })
    .join('; ');
}

export const acknowledged = (world: ToyWorld): number => world.checker.acknowledged.length;

export function report(world: ToyWorld, id: ReplicaId): ReplicaStatusReport {
  const driver = world.nodes[id]!.driver;
  assert.ok(driver !== null, `replica ${id} is down`);
  return driver.statusReport();
}

/** The primary that live normal replicas of the highest view agree on. */
export function currentPrimary(world: ToyWorld): ReplicaId {
  const primary = world.believedPrimary();
  assert.ok(primary !== null, `no live primary: ${describe(world)}`);
  return primary;
}

/** Commits at least `count` more client requests. */
export async function commitMore(world: ToyWorld, count: number, withinMs: number, what = `${count} more requests commit`): Promise<void> {
  const target = acknowledged(world) + count;
  await runUntil(world, what, () => acknowledged(world) >= target, withinMs);
}

/** Lets clients finish, waits until every live replica holds the same view, log and state, and
 *  runs the end checks: every acknowledged op executed everywhere, equal states, and a one-copy
 *  replay that reproduces every acknowledged reply. */
export async function settle(world: ToyWorld, withinMs = 20_000): Promise<void> {
  world.network.heal();
  for (const client of world.clients) {
    client.stopping = true;
    client.resume(world.now);
  }
  await runUntil(world, 'clients answered and replicas converged', () => world.clients.every((c) => !c.busy) && world.converged(), withinMs);
  checkEnd(world, toyWorkload);
}
