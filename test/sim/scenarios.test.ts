// Scripted scenarios on the simulated world, each named by sub-protocol and fault and citing
// the section of Viewstamped Replication Revisited (Liskov & Cowling 2012) it exercises. The
// world is calm (no random faults): each test causes its own faults, waits for outcomes with
// bounded virtual-time waits, and ends with settle(), which runs the simulator's end checks
// (every acknowledged op executed everywhere, equal states, a one-copy replay of the history).
// The safety checkers run after every step throughout, as in every simulation.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RECORD_HEADER_BYTES, scanRecords } from '../../lib/storage/records.js';
import { DATA_DIR } from './cluster.js';
import { CLIENT_ADDRESS_BASE } from './network.js';
import { acknowledged, commitMore, currentPrimary, describe, report, runUntil, scenarioWorld, settle } from './scenario.js';
import type { SimFs } from './sim-fs.js';
import type { ToyReply } from './toy.js';

test('normal operation §4.1, backup crash: the view stays, commits go on, the backup catches up on restart', async () => {
  const world = await scenarioWorld({ replicas: 5, clients: 3 });
  await commitMore(world, 10, 5_000);
  const primary = currentPrimary(world);
  const view = report(world, primary).view;
  const backup = (primary + 2) % 5;
  world.crash(backup, 'scenario');
  await commitMore(world, 30, 5_000, 'commits continue with a backup down');
  assert.equal(currentPrimary(world), primary, 'losing a backup must not change the primary');
  assert.equal(report(world, primary).view, view, 'losing a backup must not change the view');
  world.restart(backup);
  await settle(world);
  assert.equal(report(world, backup).executed, report(world, primary).executed);
});

test('view change §4.2, primary crash during prepare: a new primary takes over and nothing acknowledged is lost', async () => {
  const world = await scenarioWorld({ replicas: 5, clients: 4 });
  await commitMore(world, 10, 5_000);
  const old = currentPrimary(world);
  const oldView = report(world, old).view;
  world.crashDuring.push('prepare');
  await runUntil(world, 'the primary dies while sending a PREPARE', () => !world.isUp(old), 5_000);
  await commitMore(world, 20, 10_000, 'a new primary commits');
  const next = currentPrimary(world);
  assert.notEqual(next, old);
  assert.ok(report(world, next).view > oldView, 'the new primary serves a later view');
  world.restart(old);
  await settle(world);
  const rejoined = report(world, old);
  assert.equal(rejoined.view, report(world, next).view, 'the old primary follows the new view');
});

test('view change §4.2, 2 of 5 crashed (the primary and the next in line): the service goes on', async () => {
  const world = await scenarioWorld({ replicas: 5, clients: 4 });
  await commitMore(world, 10, 5_000);
  const primary = currentPrimary(world);
  const view = report(world, primary).view;
  const nextInLine = (view + 1) % 5;
  world.crash(primary, 'scenario');
  world.crash(nextInLine, 'scenario');
  await commitMore(world, 30, 15_000, 'three of five replicas commit on their own');
  const survivor = currentPrimary(world);
  assert.ok(![primary, nextInLine].includes(survivor));
  assert.ok(report(world, survivor).view >= view + 2, 'the view for the dead next-in-line was skipped');
  await settle(world);
  world.restart(primary);
  world.restart(nextInLine);
  await settle(world);
  assert.equal(world.upCount, 5);
});

/** Isolates the primary with one backup (a minority of 5) and lets the majority move on. */
async function partitionThePrimary() {
  const world = await scenarioWorld({ replicas: 5, clients: 4 });
  await commitMore(world, 10, 5_000);
  const old = currentPrimary(world);
  const companion = (old + 1) % 5;
  const majority = [0, 1, 2, 3, 4].filter((id) => id !== old && id !== companion);
  const commitAtCut = report(world, old).commit;
  const minorityReplies: number[] = [];
  world.watch = (replica, effect) => {
    if ((replica === old || replica === companion) && effect.type === 'reply' && effect.op > commitAtCut) minorityReplies.push(effect.op);
  };
  world.network.partition([[old, companion], majority], 5);
  await commitMore(world, 30, 15_000, 'the majority side elects a primary and commits');
  await runUntil(world, 'time passes on the minority side', () => true, 1_000);
  return { world, old, companion, majority, commitAtCut, minorityReplies };
}

test('view change §4.2/§8, partition isolating the primary: the minority side commits nothing', async () => {
  const { world, old, companion, majority, commitAtCut, minorityReplies } = await partitionThePrimary();
  assert.ok(report(world, old).commit <= commitAtCut, `old primary committed past ${commitAtCut}: ${describe(world)}`);
  assert.ok(report(world, companion).commit <= commitAtCut, 'its companion learned no commit past the cut');
  assert.deepEqual(minorityReplies, [], 'no client heard of a commit from the minority side');
  const newPrimary = currentPrimary(world);
  assert.ok(majority.includes(newPrimary), 'the new primary is on the majority side');
  await settle(world);
});

test('view change §4.2 and state transfer §5.2, the partition heals: the old primary follows the new view and catches up', async () => {
  const { world, old, companion } = await partitionThePrimary();
  const newView = report(world, currentPrimary(world)).view;
  world.network.heal();
  await settle(world);
  for (const id of [old, companion]) {
    const r = report(world, id);
    assert.ok(r.view >= newView, `replica ${id} is still in view ${r.view}, below ${newView}`);
    assert.equal(r.status, 'normal');
  }
  assert.equal(report(world, old).isPrimary, report(world, old).view % 5 === old);
});

test('view change §4.2, divergent uncommitted suffixes: the log with the larger v′ wins over a longer one', async () => {
  // In view v with primary p, the next primaries in line are a (v+1), b (v+2), c (v+3); d is last.
  // 1. p's PREPAREs reach only d, so d gathers ops nobody else has (uncommitted: p and d are
  //    2 of 5, no majority). 2. p dies and d is cut off; a, b, c form view v+1 and commit one op
  //    at an op number d also holds. 3. a dies, d returns: the primary of v+2 gets DO-VIEW-CHANGEs
  //    with (v′ = v+1, shorter log) and (v′ = v, longer log) and must choose v′ = v+1, or it would
  //    overwrite the op committed in view v+1 with one of d's.
  const world = await scenarioWorld({ replicas: 5, clients: 6, replicaOptions: { viewChangeTimeoutTicks: 40 } });
  await commitMore(world, 12, 5_000);
  const p = currentPrimary(world);
  const v = report(world, p).view;
  const [a, b, c, d] = [1, 2, 3, 4].map((k) => (v + k) % 5) as [number, number, number, number];
  for (const backup of [a, b, c]) world.network.cut(p, backup);
  const othersOp = (): number => Math.max(...[a, b, c].map((id) => report(world, id).op));
  await runUntil(world, 'd holds 3 uncommitted ops the others lack', () => report(world, d).op >= othersOp() + 3, 300);
  world.crash(p, 'scenario');
  world.network.heal();
  world.network.partition([[a, b, c], [d]], 5);
  const longest = report(world, d).op;

  const runner = world.clients[0]!;
  for (const client of world.clients.slice(1)) client.pause();
  // Answers p sent before it died may still be on their way: count from the start of view v+1.
  await runUntil(world, 'view v+1 starts', () => report(world, a).view === v + 1 && report(world, a).isPrimary, 10_000);
  const before = acknowledged(world);
  await runUntil(world, 'view v+1 commits one op', () => acknowledged(world) > before, 10_000);
  runner.pause();
  const committed = world.checker.acknowledged.at(-1)!;
  assert.equal(report(world, a).view, v + 1);
  await runUntil(world, 'b and c know the commit', () => [b, c].every((id) => report(world, id).commit >= committed.op), 2_000);

  const votes: Array<{ from: number; logView: number; op: number }> = [];
  world.watch = (replica, effect) => {
    if (effect.type === 'send' && effect.message.type === 'do-view-change' && effect.message.view === v + 2) votes.push({ from: replica, logView: effect.message.logView, op: effect.message.op });
  };
  world.crash(a, 'scenario');
  world.network.heal();
  for (const client of world.clients) client.resume(world.now);
  await settle(world);
  // The divergence really was put to the vote: d's longer log from the older view.
  assert.ok(longest > committed.op, `d's log (to ${longest}) must be longer than view v+1's (to ${committed.op})`);
  assert.ok(votes.some((vote) => vote.from === d && vote.logView === v && vote.op === longest), `d's DO-VIEW-CHANGE is missing: ${JSON.stringify(votes)}`);
  const identity = world.checker.history.get(committed.op)!;
  assert.deepEqual([identity.clientId, identity.requestNumber], [committed.clientId, committed.requestNumber]);
  assert.ok(report(world, d).view >= v + 2);
});

test('state transfer §5.2 with snapshots §5.1: a replica that missed thousands of ops catches up', async (t) => {
  const world = await scenarioWorld({ replicas: 3, clients: 8, thinkMaxMs: 0, replicaOptions: { snapshotEveryOps: 100 } });
  await commitMore(world, 10, 5_000);
  const lagging = (currentPrimary(world) + 1) % 3;
  world.crash(lagging, 'scenario');
  const opAtCrash = Math.max(...world.reports().map((r) => r.commit));
  await runUntil(world, 'two thousand ops commit without it', () => Math.max(...world.reports().map((r) => r.commit)) >= opAtCrash + 2_000, 120_000);
  world.restart(lagging);
  await settle(world);
  const caughtUp = report(world, lagging);
  assert.ok(caughtUp.executed >= opAtCrash + 2_000, `replica ${lagging} executed only to ${caughtUp.executed}`);
  t.diagnostic(`snapshot installs on the lagging replica: ${world.stateInstalls[lagging]}`);
  assert.ok(world.stateInstalls[lagging]! > 0, 'the others compacted their logs, so catching up needs a snapshot');
});

test('restart, disk rule D4, full-cluster power loss: nothing acknowledged is lost and service resumes', async () => {
  for (const seed of [1, 2, 3]) {
    const world = await scenarioWorld({ replicas: 5, clients: 4, seed });
    await commitMore(world, 40, 10_000);
    const viewBefore = Math.max(...world.reports().map((r) => r.view));
    for (const node of world.nodes) world.crash(node.id, 'power loss');
    for (const node of world.nodes) world.restart(node.id);
    await commitMore(world, 20, 15_000, `seed ${seed}: requests commit after the restart`);
    assert.ok(Math.max(...world.reports().map((r) => r.view)) > viewBefore, 'D4: a restarted primary does not resume its old view');
    await settle(world);
  }
});

test('storage repair (VRR §4.3 with the disk), whole-cluster power loss with rot on f replicas: they repair from the others, nothing acknowledged is lost', async () => {
  for (const [replicas, seed] of [[5, 1], [5, 2], [3, 3]] as const) {
    const world = await scenarioWorld({ replicas, clients: 4, seed });
    await commitMore(world, 60, 10_000);
    for (const node of world.nodes) world.crash(node.id, 'power loss');
    // Rot where it hurts most: in the last complete record of one replica's newest segment (it
    // looks like a torn write, but it was synced and acknowledged), and in the middle of
    // another's log.
    const rotted = world.nodes.slice(0, world.f).map((node, index) => {
      const where = rotRecord(node.fs, index === 0 ? 'last' : 'middle');
      world.markDamaged(node.id, { what: where, in: 'log' });
      return node.id;
    });
    for (const node of world.nodes) world.restart(node.id);
    await commitMore(world, 20, 20_000, `${replicas} replicas, seed ${seed}: requests commit after the restart`);
    await settle(world);
    for (const id of rotted) assert.equal(world.nodes[id]!.damaged, null, `replica ${id} repaired itself: ${describe(world)}`);
    assert.ok(world.faultsSeen.has('damage-detected') && world.faultsSeen.has('damage-repaired'));
  }
});

/** Flips a bit in a complete record of the newest segment — its last, or one in the middle —
 *  and says where. */
function rotRecord(fs: SimFs, which: 'last' | 'middle'): string {
  const segments = fs.fileNames(DATA_DIR).filter((name) => name.endsWith('.seg'));
  const file = `${DATA_DIR}/${segments.at(-1)}`;
  const { records } = scanRecords(fs.readDurable(file)!);
  assert.ok(records.length >= 3, `${file} holds ${records.length} complete records`);
  const record = which === 'last' ? records.at(-1)! : records[records.length >> 1]!;
  const flip = fs.flipBit(file, record.offset + RECORD_HEADER_BYTES + (record.payload.length >> 1), 0);
  return `bit 0 of byte ${flip.byteIndex} of ${file} (${which} record) flipped`;
}

test('client table §4 and §4.1 step 2, duplicate request after failover: the saved reply comes back and the op runs once', async () => {
  const world = await scenarioWorld({ replicas: 5, clients: 2 });
  const client = world.clients[0]!;
  await commitMore(world, 10, 5_000);
  const old = currentPrimary(world);
  // The primary executes the client's next request but its reply never arrives.
  world.network.loseIf = (envelope) => envelope.from === old && envelope.to === CLIENT_ADDRESS_BASE + client.index;
  const replies = new Map<number, ToyReply | null>();
  world.watch = (replica, effect) => {
    if (replica === old && effect.type === 'reply' && effect.clientId === client.clientId) replies.set(effect.requestNumber, effect.reply);
  };
  await runUntil(world, 'the primary executes a request whose reply is lost', () => client.outstandingNumber !== null && replies.has(client.outstandingNumber), 5_000);
  const lost = client.outstandingNumber!;
  world.crash(old, 'scenario');
  world.network.loseIf = null;
  await runUntil(world, 'the retry is answered by the new primary', () => client.acknowledged.some((a) => a.requestNumber === lost), 10_000);
  const answer = client.acknowledged.find((a) => a.requestNumber === lost)!;
  const ops = [...world.checker.history].filter(([, id]) => id.clientId === client.clientId && id.requestNumber === lost);
  assert.equal(ops.length, 1, 'the request was executed exactly once');
  assert.equal(answer.op, ops[0]![0]);
  assert.deepEqual(answer.reply, replies.get(lost), 'the retry got the reply saved at first execution');
  await settle(world);
});

test('client table §4, a deposed primary never tells a client registered in a newer view that its session expired', async () => {
  const world = await scenarioWorld({ replicas: 5, clients: 2 });
  const late = world.clients[1]!;
  late.pause();
  await commitMore(world, 5, 5_000);
  const deposed = currentPrimary(world);
  const majority = [0, 1, 2, 3, 4].filter((id) => id !== deposed);
  world.network.partition([[deposed], majority], 5);
  await runUntil(world, 'the majority elects a new primary', () => majority.includes(world.believedPrimary() ?? deposed), 10_000);
  late.aimAt(currentPrimary(world)); // so that the deposed primary never even sees the registration
  late.resume(world.now);
  await runUntil(world, 'the late client registers with the majority', () => late.acknowledged.length > 0, 10_000);
  late.pause();
  const answers: string[] = [];
  world.watch = (replica, effect) => {
    if (replica === deposed && effect.type === 'reject' && effect.clientId === late.clientId) answers.push(effect.code);
  };
  // Its first request goes to the deposed primary, whose table has never heard of it. (Had the
  // deposed primary answered SESSION_EXPIRED, the world would have failed the run at once.)
  late.aimAt(deposed);
  late.resume(world.now);
  const requests = world.network.stats.sent;
  await runUntil(world, 'the request is sent', () => late.busy && world.network.stats.sent > requests, 1_000);
  await commitMore(world, 3, 10_000, 'the late client is served by the majority');
  assert.ok(!answers.includes('SESSION_EXPIRED'), `the deposed primary answered ${answers.join(', ')}`);
  await settle(world);
});
