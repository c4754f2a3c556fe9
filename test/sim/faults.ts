// The fault schedule. Each seed draws a FaultPlan — how lossy, slow and duplicating the network
// is, how often partitions start and of what shape, how often replicas crash and which, whether
// disks are slow, whether the whole cluster loses power — so that a few dozen seeds cover every
// kind of fault, and any one seed is a specific, replayable mix of them. The FaultInjector (the
// world's nemesis) then acts at random moments of the safety phase, within the plan.
//
// Changing what a plan draws, or in what order, changes what every seed does: seeds recorded in
// FINDINGS.md name the simulator commit they were found with.

import type { World } from './cluster.js';
import type { NetworkFaults } from './network.js';
import type { Prng } from './prng.js';

export interface FaultPlan {
  network: NetworkFaults;
  /** Per nemesis step: the chance a partition starts (when none is in force). */
  partitionChance: number;
  /** Per nemesis step: the chance that one starts crashing a replica. */
  crashChance: number;
  /** Replicas down at once; f at most, so the cluster can still make progress. */
  downMax: number;
  /** Per nemesis step: the chance the whole cluster loses power (it restarts afterwards). */
  clusterCrashChance: number;
  /** Per nemesis step: the chance one disk turns slow (fsync 20–200 ms). */
  slowDiskChance: number;
  /** Fsync latency of every disk (a slow disk is slower still): the longer, the more a crash
   *  finds unsynced, acknowledged-looking state to lose. */
  disk: { fsyncMin: number; fsyncMax: number };
  /** Virtual ms of the safety phase (faults on, clients busy). */
  safetyMs: number;
  /** Replicas left down through the liveness phase (at most f): progress must not need them. */
  downInLiveness: number;
  /** Passed to the replicas: small values make seeds compact often and catch up by snapshot,
   *  split batches, fill the pipeline (BUSY) and transfer state in several rounds. */
  replicaOptions: { snapshotEveryOps: number; batchEntriesMax: number; pipelineOpsMax: number; messageEntriesMax: number; snapshotStateRatio: number };
  /** The chance a peer message arrives garbled (drawn last, so adding it kept older seeds). */
  garbleRate: number;
}

export function choosePlan(prng: Prng, replicaCount: number): FaultPlan {
  const f = (replicaCount - 1) / 2;
  const plan: FaultPlan = {
    network: {
      dropRate: prng.pick([0, 0.01, 0.05, 0.15]),
      duplicateRate: prng.pick([0, 0.01, 0.05]),
      latencyMin: 1,
      latencyMax: prng.pick([3, 10, 40, 150]),
    },
    partitionChance: prng.pick([0, 0.1, 0.3]),
    crashChance: prng.pick([0, 0.05, 0.15, 0.3, 0.5]),
    downMax: prng.chance(0.5) ? f : prng.int(1, f),
    clusterCrashChance: prng.pick([0, 0.02, 0.05, 0.1]),
    slowDiskChance: prng.pick([0, 0, 0.05]),
    disk: prng.pick([{ fsyncMin: 1, fsyncMax: 4 }, { fsyncMin: 2, fsyncMax: 15 }, { fsyncMin: 5, fsyncMax: 40 }]),
    safetyMs: prng.int(2000, 6000),
    downInLiveness: prng.chance(0.3) ? prng.int(1, f) : 0,
    replicaOptions: {
      snapshotEveryOps: prng.pick([16, 64, 256]),
      batchEntriesMax: prng.pick([1, 4, 256]),
      pipelineOpsMax: prng.pick([4, 1024]),
      messageEntriesMax: prng.pick([8, 64, 2000]),
      snapshotStateRatio: 0,
    },
    garbleRate: prng.pick([0, 0, 0.01]),
  };
  // Drawn after everything else, so that adding it changed no other draw of older seeds.
  plan.replicaOptions.snapshotStateRatio = prng.pick([0, 0.25, 1]);
  return plan;
}

/** Slow-disk fsync latency, ms: slower than a heartbeat, so it shows up in the protocol. */
const SLOW_DISK = { fsyncMin: 20, fsyncMax: 200 };

export class FaultInjector<C, R, E> {
  nextAt: number;
  /** The primary an 'isolate-primary' partition cut off, while that partition lasts. */
  private isolatedPrimary: number | null = null;
  private readonly normalDisk: Array<{ fsyncMin: number; fsyncMax: number }>;

  constructor(
    private readonly world: World<C, R, E>,
    private readonly plan: FaultPlan,
    private readonly prng: Prng,
  ) {
    this.nextAt = world.now + this.interval();
    this.normalDisk = world.nodes.map((node) => ({ ...node.disk.latency }));
  }

  act(now: number): void {
    this.nextAt = now + this.interval();
    this.maybePartition();
    this.maybeCrash();
    this.maybeRestart();
    this.maybeSlowDisk();
    if (this.plan.clusterCrashChance > 0 && this.prng.chance(this.plan.clusterCrashChance)) this.crashEverything();
  }

  /** The end of the safety phase: heal the network, restore the disks, restart all but
   *  `downInLiveness` replicas. */
  stop(): void {
    const world = this.world;
    world.network.heal();
    world.crashDuring.length = 0;
    world.nodes.forEach((node, id) => (node.disk.latency = { ...this.normalDisk[id]! }));
    const down = this.prng.shuffle(world.nodes.filter((node) => node.replica === null).map((node) => node.id));
    while (down.length > this.plan.downInLiveness) world.restart(down.pop()!);
    const up = this.prng.shuffle(world.nodes.filter((node) => node.replica !== null).map((node) => node.id));
    while (world.replicaCount - world.upCount < this.plan.downInLiveness) world.crash(up.pop()!, 'kept down for the liveness phase');
    if (world.upCount < world.replicaCount) world.faultsSeen.add('liveness-with-replicas-down');
  }

  private interval(): number {
    return this.prng.int(50, 250);
  }

  private maybePartition(): void {
    const world = this.world;
    if (world.network.cutCount > 0) {
      if (this.prng.chance(0.3)) this.heal();
      return;
    }
    if (!this.prng.chance(this.plan.partitionChance)) return;
    const kind = this.prng.pick(['split', 'isolate-primary', 'one-way'] as const);
    const n = world.replicaCount;
    const ids = this.prng.shuffle([...Array(n).keys()]);
    if (kind === 'split') {
      const cut = this.prng.int(1, n - 1);
      world.network.partition([ids.slice(0, cut), ids.slice(cut)], n);
      world.trace.add(world.now, `PARTITION ${ids.slice(0, cut).join(',')} | ${ids.slice(cut).join(',')}`);
    } else if (kind === 'isolate-primary') {
      const primary = world.believedPrimary() ?? ids[0]!;
      // The old primary may keep a minority with it: it must still commit nothing.
      const others = ids.filter((id) => id !== primary);
      const minority = [primary, ...others.slice(0, this.prng.int(0, world.f - 1))];
      world.network.partition([minority, others.filter((id) => !minority.includes(id))], n);
      this.isolatedPrimary = primary;
      world.trace.add(world.now, `PARTITION primary side ${minority.join(',')} from the rest`);
    } else {
      const links = this.prng.int(1, n);
      for (let i = 0; i < links; i++) {
        const [from, to] = this.prng.shuffle(ids).slice(0, 2) as [number, number];
        world.network.cut(from, to);
        world.trace.add(world.now, `CUT one way r${from} → r${to}`);
      }
    }
    world.faultsSeen.add(`partition-${kind}`);
  }

  /** Heals the network. When it had cut off a primary, that deposed primary — whose log may
   *  hold a long uncommitted suffix from its old view — sometimes returns just as the new
   *  primary dies, so the next view change must weigh its stale log against newer, shorter
   *  ones (VRR §4.2: the largest v′ wins, then the largest n). */
  private heal(): void {
    const world = this.world;
    world.network.heal();
    world.trace.add(world.now, 'HEAL network');
    const deposed = this.isolatedPrimary;
    this.isolatedPrimary = null;
    const primary = world.believedPrimary();
    if (deposed === null || primary === null || primary === deposed || !this.prng.chance(0.5)) return;
    if (world.replicaCount - world.upCount + world.crashDuring.length >= this.plan.downMax) return;
    world.faultsSeen.add('deposed-primary-returns-as-new-primary-dies');
    world.crash(primary, 'the new primary dies as the old one returns');
  }

  private maybeCrash(): void {
    const world = this.world;
    const down = world.replicaCount - world.upCount + world.crashDuring.length;
    if (down >= this.plan.downMax || !this.prng.chance(this.plan.crashChance)) return;
    const primary = world.believedPrimary();
    const roll = this.prng.float();
    if (roll < 0.3) {
      const during = primary !== null && roll < 0.15 ? 'prepare' : 'start-view';
      world.crashDuring.push(during);
      world.trace.add(world.now, `ARM crash of the next replica to send ${during}`);
      return;
    }
    const up = world.nodes.filter((node) => node.replica !== null);
    // Half the other crashes hit a replica with writes in flight: what it loses is what a
    // driver that acknowledged early (duty 2) would have claimed to hold.
    const writing = up.filter((node) => node.disk.unsyncedCount > 0);
    const pool = writing.length > 0 && this.prng.chance(0.5) ? writing : up;
    const victim = primary !== null && roll < 0.5 ? primary : this.prng.pick(pool).id;
    world.faultsSeen.add(victim === primary ? 'crash-primary' : 'crash-backup');
    world.crash(victim, 'nemesis');
    if (world.replicaCount - world.upCount === world.f) world.faultsSeen.add('crash-f-at-once');
  }

  private maybeRestart(): void {
    const world = this.world;
    for (const node of world.nodes) {
      if (node.replica === null && this.prng.chance(0.25)) world.restart(node.id);
    }
  }

  private maybeSlowDisk(): void {
    const world = this.world;
    if (this.plan.slowDiskChance === 0) return;
    for (const node of world.nodes) {
      if (node.disk.latency.fsyncMax === SLOW_DISK.fsyncMax && this.prng.chance(0.2)) {
        node.disk.latency = { ...this.normalDisk[node.id]! };
      }
    }
    if (!this.prng.chance(this.plan.slowDiskChance)) return;
    const node = this.prng.pick(world.nodes);
    node.disk.latency = { ...SLOW_DISK };
    world.faultsSeen.add('slow-disk');
    world.trace.add(world.now, `SLOW disk on r${node.id}`);
  }

  private crashEverything(): void {
    const world = this.world;
    world.faultsSeen.add('full-cluster-crash');
    world.trace.add(world.now, 'POWER LOSS: the whole cluster goes down');
    for (const node of world.nodes) if (node.replica !== null) world.crash(node.id, 'power loss');
  }
}
