// One simulation run, start to verdict. The seed decides everything: the fault plan, the
// clients, every latency and every crash. A run has two phases, as in TigerBeetle's VOPR:
//   1. safety: faults on, clients busy; the checkers (checkers.ts) run after every step;
//   2. liveness (g): the network heals and calms, crashed replicas restart (all but at most f,
//      as the plan says), clients finish what they started and send nothing new; within a
//      bounded virtual time every client must be answered and every live replica must reach
//      the same view, op, commit and executed op.
// Then the end checks: every acknowledged op is executed everywhere (d), all states are equal
// (e), and replaying the committed history through a fresh state machine reproduces every
// acknowledged reply and the replicas' final state — so the cluster behaved like one machine.

import { AssertionError } from 'node:assert/strict';
import { SafetyViolation, stateHash } from './checkers.js';
import { World } from './cluster.js';
import { choosePlan, FaultInjector, type FaultPlan } from './faults.js';
import { CALM_NETWORK } from './network.js';
import { Prng } from './prng.js';
import type { Workload } from './workload.js';

export interface SimulationOptions {
  seed: number;
  replicaCount: number;
  verbose?: boolean;
  /** Virtual ms the liveness phase may take before (g) fails. */
  livenessMs?: number;
  /** Clients, drawn from this inclusive range. */
  clientsMin?: number;
  clientsMax?: number;
}

export interface SimulationStats {
  steps: number;
  virtualMs: number;
  committedOps: number;
  acknowledged: number;
  highestView: number;
  faults: string[];
  plan: FaultPlan;
}

export interface SimulationResult {
  seed: number;
  ok: boolean;
  /** The property that broke and how, when !ok. */
  failure: { property: string; message: string; stack: string } | null;
  /** The last events before the end (or the failure). */
  lastEvents: string[];
  stats: SimulationStats;
}

export async function simulate<C, R, E>(workload: Workload<C, R, E>, options: SimulationOptions): Promise<SimulationResult> {
  const root = new Prng(options.seed);
  const plan = choosePlan(root.fork(), options.replicaCount);
  const world = await World.create<C, R, E>({
    seed: root.nextUint32(),
    replicaCount: options.replicaCount,
    workload,
    clientCount: root.int(options.clientsMin ?? 2, options.clientsMax ?? 8),
    thiefCount: 1,
    replicaOptions: plan.replicaOptions,
    network: plan.network,
    disk: plan.disk,
    garbleRate: plan.garbleRate,
    verbose: options.verbose ?? false,
  });
  let failure: SimulationResult['failure'] = null;
  try {
    await runPhases(world, plan, root.fork(), options.livenessMs ?? 30_000);
    checkEnd(world, workload);
  } catch (error) {
    failure = describeFailure(error);
  }
  const reports = world.reports();
  return {
    seed: options.seed,
    ok: failure === null,
    failure,
    lastEvents: world.trace.last(),
    stats: {
      steps: world.steps,
      virtualMs: world.now,
      committedOps: Math.max(0, ...reports.map((r) => r.commit)),
      acknowledged: world.checker.acknowledged.length,
      highestView: Math.max(0, ...reports.map((r) => r.view)),
      faults: [...world.faultsSeen, ...networkFaultsSeen(world)].sort(),
      plan,
    },
  };
}

async function runPhases<C, R, E>(world: World<C, R, E>, plan: FaultPlan, prng: Prng, livenessMs: number): Promise<void> {
  const injector = new FaultInjector(world, plan, prng);
  world.nemesis = injector;
  await world.runUntil(plan.safetyMs);

  world.trace.add(world.now, 'LIVENESS PHASE: faults off, network healed and calm, clients finish up');
  world.nemesis = null;
  injector.stop();
  world.network.setFaults(CALM_NETWORK);
  for (const actor of [...world.clients, ...world.thieves]) actor.stopping = true;
  const deadline = world.now + livenessMs;
  const done = await world.runUntil(deadline, () => world.clients.every((client) => !client.busy) && world.converged());
  if (!done) {
    const busy = world.clients.filter((client) => client.busy).map((client) => `c${client.index}`);
    const statuses = world.reports().map((r) => `r${r.replica} ${r.status} v${r.view} op ${r.op} commit ${r.commit} executed ${r.executed}`);
    throw new SafetyViolation('(g) liveness', `not done ${livenessMs} ms after faults stopped; clients waiting: [${busy.join(' ')}]; ${statuses.join('; ')}`);
  }
}

/** The end-of-run checks (d), (e) and the one-copy replay; the world must have converged. */
export function checkEnd<C, R, E>(world: World<C, R, E>, workload: Workload<C, R, E>): void {
  const reports = world.reports();
  world.checker.checkExecutedEverywhere(reports.map((r) => ({ replica: r.replica, executed: r.executed })));
  for (const node of world.nodes) {
    const driver = node.driver;
    if (driver !== null) world.checker.onState(node.id, driver.statusReport().executed, () => driver.stateMachine().snapshot());
  }
  const live = world.nodes.find((node) => node.driver !== null)?.driver;
  if (live) replayReference(world, workload, live.statusReport().executed, stateHash(live.stateMachine().snapshot()));
}

/** Executes the committed history, op by op, on a fresh machine — the one-copy system the
 *  cluster must be indistinguishable from — and compares replies and the final state. */
function replayReference<C, R, E>(world: World<C, R, E>, workload: Workload<C, R, E>, upTo: number, finalHash: string): void {
  const commands = new Map<string, C | null>();
  for (const client of world.clients) for (const [number, command] of client.sent) commands.set(`${client.clientId}#${number}`, command);
  const replies = new Map<number, string>();
  for (const acked of world.checker.acknowledged) replies.set(acked.op, JSON.stringify(acked.reply));
  const machine = workload.createMachine(null);
  for (let op = 1; op <= upTo; op++) {
    const identity = world.checker.history.get(op);
    if (identity === undefined) throw new SafetyViolation('(b) committed prefixes agree', `op ${op} of ${upTo} was never seen executed`);
    const command = commands.get(`${identity.clientId}#${identity.requestNumber}`);
    if (command === undefined) throw new SafetyViolation('(b) committed prefixes agree', `op ${op} holds a request no client sent`);
    if (command === null) continue; // a registration: it changes the client table only
    const reply = JSON.stringify(machine.apply(command, { op, clientId: identity.clientId }).reply);
    const acked = replies.get(op);
    if (acked !== undefined && acked !== reply) throw new SafetyViolation('(f) equal replies', `op ${op}: the client got ${acked}, one copy gives ${reply}`);
  }
  const hash = stateHash(machine.snapshot());
  if (hash !== finalHash) throw new SafetyViolation('(e) equal states', `after op ${upTo} the replicas hold ${finalHash}, one copy holds ${hash}`);
}

function networkFaultsSeen<C, R, E>(world: World<C, R, E>): string[] {
  const stats = world.network.stats;
  return [...(stats.dropped > 0 ? ['drop'] : []), ...(stats.duplicated > 0 ? ['duplicate'] : []), ...(stats.held > 0 ? ['held-message'] : [])];
}

function describeFailure(error: unknown): NonNullable<SimulationResult['failure']> {
  if (error instanceof SafetyViolation) return { property: error.property, message: error.message, stack: error.stack ?? '' };
  if (error instanceof AssertionError) {
    const inCore = (error.stack ?? '').includes('lib/replication');
    return { property: inCore ? 'replica invariant (lib/replication)' : 'simulator assertion', message: error.message, stack: error.stack ?? '' };
  }
  const stack = error instanceof Error ? (error.stack ?? error.message) : String(error);
  return { property: 'uncaught exception', message: error instanceof Error ? error.message : String(error), stack };
}

/** The command that replays a run, printing every event. */
export function replayCommand(seed: number, replicas: number, machine: string): string {
  const extra = `${replicas === 5 ? '' : ` --replicas ${replicas}`}${machine === 'toy' ? '' : ` --machine ${machine}`}`;
  return `node --import tsx test/sim/run.ts --seed ${seed}${extra} --verbose`;
}

/** A failed run for people: the seed, what broke, the events before it, how to replay it. */
export function formatFailure(result: SimulationResult, replicas: number, machine: string): string {
  const failure = result.failure;
  if (failure === null) return `seed ${result.seed} passed`;
  const stack = failure.property.startsWith('(') ? [] : ['  stack:', ...failure.stack.split('\n').slice(0, 12).map((line) => `    ${line}`)];
  return [
    '',
    `FAILED seed ${result.seed} (${replicas} replicas, ${machine}): ${failure.property}`,
    `  ${failure.message}`,
    `  faults: ${result.stats.faults.join(', ') || 'none'}; virtual time ${result.stats.virtualMs} ms, ${result.stats.committedOps} ops committed`,
    '  last events:',
    ...result.lastEvents.map((line) => `    ${line}`),
    ...stack,
    `  replay: ${replayCommand(result.seed, replicas, machine)}`,
    '',
  ].join('\n');
}
