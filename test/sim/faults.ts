// The fault schedule. Each seed draws a FaultPlan — how lossy, slow, duplicating and stalling
// the network is, how often partitions start and of what shape, how often replicas crash, freeze
// and which, whether disks are slow, fail an fsync, fill up or rot, whether the whole cluster
// loses power — so that a few dozen seeds cover every kind of fault, and any one seed is a
// specific, replayable mix of them. The FaultInjector (the world's nemesis) then acts at random
// moments of the safety phase, within the plan.
//
// The fault budget: at most `downMax` (≤ f) replicas are out at once — crashed, starting, damaged
// and not yet repaired, or kept out because their disk lost a file. Rot (a bit flipped in a
// complete record of the log, in the newest snapshot or in one copy of the view record) strikes a
// down replica; storage must notice it at the next start, and the replica must repair itself from
// its peers without an operator (docs/storage.md). A lost file is another matter: a lost newest
// segment only looks like a shorter log, so that replica stays out for the rest of the run,
// counted as a faulty one — the protocol owes nothing to a replica that lost what it acknowledged.
//
// Changing what a plan draws, or in what order, changes what every seed does: seeds recorded in
// FINDINGS.md name the simulator commit they were found with.

import * as path from 'node:path';
import { scanRecords, RECORD_HEADER_BYTES } from '../../lib/storage/records.js';
import { type CrashAim, DATA_DIR, type Damage, type World } from './cluster.js';
import type { NetworkFaults } from './network.js';
import type { Prng } from './prng.js';
import type { SimFs } from './sim-fs.js';

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
  /** The chance a peer message arrives garbled. */
  garbleRate: number;
  /** Per nemesis step: the chance a running replica is frozen for 0.2–3 s (SIGSTOP, a VM pause). */
  freezeChance: number;
  /** Per nemesis step: the chance the next fsync of a running replica fails with EIO. */
  fsyncFailChance: number;
  /** Per nemesis step: the chance a running replica's disk fills up (space comes back later). */
  diskFullChance: number;
  /** Per nemesis step: the chance a down replica's disk is damaged (a bit flipped in synced data
   *  or a snapshot, or a file lost), within the fault budget. */
  damageChance: number;
  /** Of crashes of a single replica, the share that kill the process only (the machine and its
   *  page cache stay up); the rest, and every power loss, take the machine down. */
  processKillShare: number;
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
    slowDiskChance: prng.pick([0, 0.05, 0.2]),
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
    freezeChance: 0,
    fsyncFailChance: 0,
    diskFullChance: 0,
    damageChance: 0,
    processKillShare: 0,
  };
  plan.replicaOptions.snapshotStateRatio = prng.pick([0, 0.25, 1]);
  plan.network.holdRate = prng.pick([0, 0, 0.002, 0.01]);
  plan.network.holdMsMin = 1000;
  plan.network.holdMsMax = 5000;
  plan.network.splitRate = prng.pick([0, 0.05, 0.3]);
  plan.freezeChance = prng.pick([0, 0, 0.03, 0.1]);
  plan.fsyncFailChance = prng.pick([0, 0, 0.01, 0.05]);
  plan.diskFullChance = prng.pick([0, 0, 0.01, 0.05]);
  plan.damageChance = prng.pick([0, 0, 0.05, 0.2]);
  plan.processKillShare = prng.pick([0, 0.5, 1]);
  return plan;
}

/** Slow-disk fsync latency, ms: slower than a heartbeat, so it shows up in the protocol. */
const SLOW_DISK = { fsyncMin: 20, fsyncMax: 200 };

/** The crashes the injector may arm, each taken by the next replica to make such a send. */
const AIMS: CrashAim[] = ['after-do-view-change', 'after-prepare-ok', 'after-send-while-writing'];

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
    this.normalDisk = world.nodes.map((node) => ({ ...node.fs.latency }));
  }

  act(now: number): void {
    this.nextAt = now + this.interval();
    this.maybePartition();
    this.maybeCrash();
    this.maybeRestart();
    this.maybeSlowDisk();
    this.maybeFreeze();
    this.maybeFailDisk();
    this.maybeDamage();
    if (this.plan.clusterCrashChance > 0 && this.prng.chance(this.plan.clusterCrashChance)) this.crashEverything();
  }

  /** Replicas out of the cluster now or soon: down, starting counts as up (it will be); an
   *  armed crash, an armed fsync failure and a full disk count as down (they will be). */
  private get outCount(): number {
    const world = this.world;
    // A damaged replica runs but takes no part until repaired; one that lost a file will not stay
    // up (see the header).
    const doomed = world.nodes.filter(
      (node) => world.isRunning(node.id) && (node.damaged !== null || node.lost !== null || node.fs.syncFailureArmed || node.fs.spaceLeft < Infinity),
    );
    return world.replicaCount - world.runningCount + world.crashDuring.length + doomed.length;
  }

  /** The end of the safety phase: heal the network, restore the disks, restart all but
   *  `downInLiveness` replicas. */
  stop(): void {
    const world = this.world;
    world.network.heal();
    world.crashDuring.length = 0;
    world.nodes.forEach((node, id) => {
      node.fs.latency = { ...this.normalDisk[id]! };
      node.fs.setSpace(Infinity);
      node.fs.disarmSyncFailures();
    });
    // Replicas that lost a file stay out (see the header), even one still starting. Of the others,
    // all but downInLiveness run — a damaged one counts as out until it has repaired itself, which
    // the liveness phase then waits for.
    const lost = world.nodes.filter((node) => node.lost !== null).length;
    const keepDown = Math.max(this.plan.downInLiveness, lost);
    const whole = (node: { lost: string | null; damaged: Damage | null }) => node.lost === null && node.damaged === null;
    const out = () => world.replicaCount - world.nodes.filter((node) => whole(node) && world.isRunning(node.id)).length;
    const down = this.prng.shuffle(world.nodes.filter((node) => node.lost === null && !world.isRunning(node.id)).map((node) => node.id));
    while (down.length > 0 && out() > keepDown) world.restart(down.pop()!);
    const up = this.prng.shuffle(world.nodes.filter((node) => whole(node) && world.isRunning(node.id)).map((node) => node.id));
    while (out() < keepDown) world.crash(up.pop()!, 'kept down for the liveness phase');
    if (world.runningCount < world.replicaCount) world.faultsSeen.add('liveness-with-replicas-down');
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
    if (this.outCount >= this.plan.downMax) return;
    world.faultsSeen.add('deposed-primary-returns-as-new-primary-dies');
    world.crash(primary, 'the new primary dies as the old one returns');
  }

  private maybeCrash(): void {
    const world = this.world;
    if (this.outCount >= this.plan.downMax || !this.prng.chance(this.plan.crashChance)) return;
    const primary = world.believedPrimary();
    const roll = this.prng.float();
    if (roll < 0.3) {
      const aim: CrashAim = roll < 0.1 ? this.prng.pick(AIMS) : primary !== null && roll < 0.2 ? 'prepare' : 'start-view';
      world.crashDuring.push(aim);
      world.trace.add(world.now, `ARM crash of the next replica to send: ${aim}`);
      return;
    }
    const up = world.nodes.filter((node) => world.isRunning(node.id));
    if (up.length === 0) return;
    // Half the other crashes hit a replica with writes in flight: what it loses is what a
    // driver that acknowledged early (duty 2) would have claimed to hold.
    const writing = up.filter((node) => node.persisted > node.durable);
    const pool = writing.length > 0 && this.prng.chance(0.5) ? writing : up;
    const victim = primary !== null && roll < 0.5 ? primary : this.prng.pick(pool).id;
    world.faultsSeen.add(victim === primary ? 'crash-primary' : 'crash-backup');
    const kind = this.prng.chance(this.plan.processKillShare) ? 'process' : 'machine';
    if (kind === 'process') world.faultsSeen.add('process-killed-page-cache-kept');
    world.crash(victim, 'nemesis', kind);
    if (world.replicaCount - world.runningCount === world.f) world.faultsSeen.add('crash-f-at-once');
  }

  private maybeRestart(): void {
    const world = this.world;
    for (const node of world.nodes) {
      if (!world.isRunning(node.id) && this.prng.chance(0.25)) world.restart(node.id);
    }
  }

  private maybeSlowDisk(): void {
    const world = this.world;
    if (this.plan.slowDiskChance === 0) return;
    for (const node of world.nodes) {
      if (node.fs.latency.fsyncMax === SLOW_DISK.fsyncMax && this.prng.chance(0.2)) {
        node.fs.latency = { ...this.normalDisk[node.id]! };
      }
    }
    if (!this.prng.chance(this.plan.slowDiskChance)) return;
    // Half the time the primary's: a primary whose own copy lags its backups' is where counting
    // that copy before its fsync (D1) would commit an op that fewer than f + 1 disks hold.
    const primary = world.believedPrimary();
    const node = primary !== null && this.prng.chance(0.5) ? world.nodes[primary]! : this.prng.pick(world.nodes);
    node.fs.latency = { ...SLOW_DISK };
    world.faultsSeen.add('slow-disk');
    world.trace.add(world.now, `SLOW disk on r${node.id}`);
  }

  /** A running replica stops for a while: its input waits and its timers fire late. */
  private maybeFreeze(): void {
    const world = this.world;
    if (this.plan.freezeChance === 0 || !this.prng.chance(this.plan.freezeChance)) return;
    const up = world.nodes.filter((node) => world.isUp(node.id));
    if (up.length === 0) return;
    world.freeze(this.prng.pick(up).id, world.now + this.prng.int(200, 3000));
    world.faultsSeen.add('frozen-replica');
  }

  /** An fsync fails (EIO) or the disk fills up: the replica's store fails and it stops (duty 3),
   *  to be started again; a full disk gets its space back a little later. */
  private maybeFailDisk(): void {
    const world = this.world;
    for (const node of world.nodes) if (node.fs.spaceLeft < Infinity && this.prng.chance(0.3)) node.fs.setSpace(Infinity);
    const up = () => world.nodes.filter((node) => world.isUp(node.id) && !node.fs.syncFailureArmed && node.fs.spaceLeft === Infinity);
    if (this.plan.fsyncFailChance > 0 && this.prng.chance(this.plan.fsyncFailChance) && this.outCount < this.plan.downMax && up().length > 0) {
      const node = this.prng.pick(up());
      node.fs.failNextSync();
      world.trace.add(world.now, `ARM EIO on r${node.id}'s next fsync`);
    }
    if (this.plan.diskFullChance > 0 && this.prng.chance(this.plan.diskFullChance) && this.outCount < this.plan.downMax && up().length > 0) {
      const node = this.prng.pick(up());
      node.fs.setSpace(this.prng.int(0, 4096));
      world.trace.add(world.now, `DISK FULL on r${node.id}: ${node.fs.spaceLeft} bytes left`);
    }
  }

  /** Rot or a lost file on a down replica's disk. Within the fault budget: damaged replicas (not
   *  yet repaired) and those that lost a file stay out after they start, so there is room for one
   *  more only while fewer than downMax are — then even a whole-cluster power cut leaves f + 1
   *  whole replicas to repair the damaged ones from. */
  private maybeDamage(): void {
    const world = this.world;
    if (this.plan.damageChance === 0 || !this.prng.chance(this.plan.damageChance)) return;
    const hurt = world.nodes.filter((node) => node.damaged !== null || node.lost !== null).length;
    const candidates = world.nodes.filter((node) => !world.isRunning(node.id) && node.damaged === null && node.lost === null);
    if (candidates.length === 0 || hurt + 1 > this.plan.downMax) return;
    const node = this.prng.pick(candidates);
    if (this.prng.chance(0.2)) {
      const lost = this.loseFile(node.fs);
      if (lost !== null) world.markLost(node.id, lost);
      return;
    }
    const damage = this.rot(node.fs);
    if (damage !== null) world.markDamaged(node.id, damage);
  }

  /** A bit flipped where storage reads it back as written: in a complete record of a log segment
   *  (half the time the newest one's last — rot there looks most like a torn write), in the
   *  newest snapshot, or in one copy of the view record. Only in a file whose name is on disk: one
   *  a power loss may still take back (an unsynced rename) would take its rot along. Null if the
   *  disk holds none of them. */
  private rot(fs: SimFs): Damage | null {
    const names = fs.fileNames(DATA_DIR);
    const settled = (name: string | null) => name !== null && fs.nameSettled(path.posix.join(DATA_DIR, name));
    const pick = this.prng.pick(['log', 'snapshot', 'view'] as const);
    let target: { name: string; from: number; to: number } | null = null;
    if (pick === 'log') target = this.recordToRot(fs, names.filter((name) => /\.seg$/.test(name) && settled(name)));
    else {
      const files = names.filter((name) => (pick === 'snapshot' ? /^snapshot-\d+\.json$/ : /^view-[ab]\.json$/).test(name));
      // The store reads only the newest snapshot (not the temp file of one being written), and
      // either copy of the view record.
      const name = files.length === 0 ? null : pick === 'snapshot' ? files.at(-1)! : this.prng.pick(files);
      const size = settled(name) ? (fs.readDurable(path.posix.join(DATA_DIR, name!))?.length ?? 0) : 0;
      if (size > 0) target = { name: name!, from: 0, to: size };
    }
    if (target === null) return null;
    const flip = fs.flipBit(path.posix.join(DATA_DIR, target.name), this.prng.int(target.from, target.to - 1));
    this.world.faultsSeen.add(`bit-flip-${pick}`);
    return { what: `bit ${flip.bit} of byte ${flip.byteIndex} of ${flip.path} flipped`, in: pick };
  }

  /** The byte range of a complete, synced record of one of `segments` (read with storage's own
   *  framing), or null if there is none. */
  private recordToRot(fs: SimFs, segments: string[]): { name: string; from: number; to: number } | null {
    const records = segments.flatMap((name) => {
      const data = fs.readDurable(path.posix.join(DATA_DIR, name)) ?? Buffer.alloc(0);
      return scanRecords(data).records.map((record) => ({ name, from: record.offset, to: record.offset + RECORD_HEADER_BYTES + record.payload.length }));
    });
    if (records.length === 0) return null;
    return this.prng.chance(0.5) ? records.at(-1)! : this.prng.pick(records);
  }

  /** A file gone from the disk: a segment, a snapshot or a view record copy. */
  private loseFile(fs: SimFs): string | null {
    const files = fs.fileNames(DATA_DIR).filter((name) => /\.seg$|^snapshot-\d+\.json$|^view-[ab]\.json$/.test(name));
    if (files.length === 0) return null;
    const file = `${DATA_DIR}/${this.prng.pick(files)}`;
    fs.loseFile(file);
    this.world.faultsSeen.add('file-lost');
    return `${file} lost`;
  }

  private crashEverything(): void {
    const world = this.world;
    world.faultsSeen.add('full-cluster-crash');
    world.trace.add(world.now, 'POWER LOSS: the whole cluster goes down');
    for (const node of world.nodes) if (world.isRunning(node.id)) world.crash(node.id, 'power loss');
  }
}
