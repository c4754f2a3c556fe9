// Tests of the simulator's own parts: if the PRNG, the network or the checkers were wrong,
// every simulation built on them would be testing something other than it claims.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalJson, Checker, stateHash } from './checkers.js';
import { TimedHeap } from './heap.js';
import { type Arrival, CLIENT_ADDRESS_BASE, Network, type NetworkFaults } from './network.js';
import { Prng } from './prng.js';
import type { SimClient } from './client.js';
import { SimThief } from './thief.js';
import { type ToyCommand, type ToyReply, toyWorkload } from './toy.js';

test('prng: a seed replays the same stream, and different seeds give different streams', () => {
  const draw = (seed: number): number[] => {
    const prng = new Prng(seed);
    return Array.from({ length: 8 }, () => prng.nextUint32());
  };
  assert.deepEqual(draw(42), draw(42));
  assert.notDeepEqual(draw(42), draw(43));
  assert.notDeepEqual(draw(1), draw(2 ** 32 + 1));
});

test('prng: int stays within its inclusive bounds and reaches both ends', () => {
  const prng = new Prng(7);
  const seen = new Set<number>();
  for (let i = 0; i < 2000; i++) {
    const value = prng.int(-2, 2);
    assert.ok(value >= -2 && value <= 2, `int(-2, 2) drew ${value}`);
    seen.add(value);
  }
  assert.deepEqual([...seen].sort(), [-1, -2, 0, 1, 2].sort());
  assert.deepEqual(prng.shuffle([1, 2, 3, 4]).sort(), [1, 2, 3, 4]);
});

test('heap: items come out by time, ties in insertion order', () => {
  const heap = new TimedHeap<string>();
  for (const [at, item] of [[5, 'e'], [1, 'a'], [3, 'c1'], [3, 'c2'], [2, 'b'], [3, 'c3']] as const) heap.push(at, item);
  assert.equal(heap.peekTime(), 1);
  assert.deepEqual(heap.popDue(3).map((t) => t.item), ['a', 'b', 'c1', 'c2', 'c3']);
  assert.deepEqual(heap.popDue(10).map((t) => t.item), ['e']);
  assert.equal(heap.peekTime(), Infinity);
});

test('network: delivers JSON copies, never the sender\'s object', () => {
  const network = new Network<{ list: number[]; map?: unknown }>(new Prng(1), { dropRate: 0, duplicateRate: 0, latencyMin: 1, latencyMax: 1 });
  const payload = { list: [1], map: new Map([[1, 2]]) };
  network.send(0, 1, payload, 0);
  payload.list.push(2);
  const [delivered] = network.deliverDue(1);
  assert.deepEqual(delivered!.payload.list, [1]);
  assert.deepEqual(delivered!.payload.map, {}, 'a Map does not survive the wire, and must not here either');
});

test('network: drops, duplicates and reorders as configured', () => {
  const lossy = new Network<number>(new Prng(2), { dropRate: 1, duplicateRate: 0, latencyMin: 1, latencyMax: 5 });
  for (let i = 0; i < 10; i++) lossy.send(0, 1, i, 0);
  assert.equal(lossy.deliverDue(100).length, 0);

  const doubling = new Network<number>(new Prng(3), { dropRate: 0, duplicateRate: 1, latencyMin: 1, latencyMax: 50 });
  for (let i = 0; i < 50; i++) doubling.send(0, 1, i, 0);
  const arrived = doubling.deliverDue(100).map((e) => e.payload);
  assert.equal(arrived.length, 100);
  const firsts = arrived.filter((value, index) => arrived.indexOf(value) === index);
  assert.notDeepEqual(firsts, [...Array(50).keys()], 'with 1..50 ms of latency, some messages must overtake others');
});

test('network: partitions cut links between groups both ways, one-way cuts one direction, heal restores', () => {
  const network = new Network<string>(new Prng(4), { dropRate: 0, duplicateRate: 0, latencyMin: 1, latencyMax: 1 });
  network.send(0, 2, 'in flight when the partition starts', 0);
  network.partition([[0, 1], [2]], 3);
  const links = (): string[] => {
    for (const [from, to] of [[0, 1], [1, 0], [0, 2], [2, 0], [1, 2], [2, 1]] as const) network.send(from, to, `${from}>${to}`, 10);
    return network.deliverDue(11).map((e) => e.payload).sort();
  };
  assert.deepEqual(links(), ['0>1', '1>0']);
  network.heal();
  network.cut(0, 1);
  assert.deepEqual(links(), ['0>2', '1>0', '1>2', '2>0', '2>1']);
  network.heal();
  assert.equal(links().length, 6);
});

/** Every arrival until nothing is left in flight, stepping to each next arrival as the world does. */
function drain<P>(network: Network<P>): Array<{ at: number; arrival: Arrival<P> }> {
  const arrivals: Array<{ at: number; arrival: Arrival<P> }> = [];
  for (let at = network.nextTime(); at !== Infinity; at = network.nextTime()) {
    for (const arrival of network.arrivalsDue(at)) arrivals.push({ at, arrival });
  }
  return arrivals;
}

const payloadOf = <P>(arrival: Arrival<P>): P => {
  assert.ok(!arrival.partial, 'expected a whole message, got a partial read');
  return arrival.payload;
};

const steady = (faults: Partial<NetworkFaults> = {}): NetworkFaults => ({ dropRate: 0, duplicateRate: 0, latencyMin: 1, latencyMax: 1, ...faults });

test('network: a held message arrives after its hold, and is lost only if its link is cut when it lands', () => {
  const network = new Network<number>(new Prng(11), steady({ latencyMax: 3, holdRate: 1, holdMsMin: 1000, holdMsMax: 5000 }));
  for (let i = 0; i < 20; i++) network.send(0, 1, i, 0);
  const arrivals = drain(network);
  assert.deepEqual(arrivals.map(({ arrival }) => payloadOf(arrival)).sort((a, b) => a - b), [...Array(20).keys()]);
  for (const { at } of arrivals) assert.ok(at >= 1 + 1000 && at <= 3 + 5000, `a message held 1000–5000 ms after 1–3 ms of latency arrived at ${at}`);
  assert.deepEqual([network.stats.held, network.stats.delivered], [20, 20]);

  const cutting = new Network<string>(new Prng(12), steady({ holdRate: 1, holdMsMin: 1000, holdMsMax: 1000 }));
  cutting.send(0, 1, 'cut while held, healed before it lands', 0);
  cutting.cut(0, 1);
  assert.deepEqual(cutting.deliverDue(1000), []);
  cutting.heal();
  assert.deepEqual(cutting.deliverDue(1001).map((envelope) => envelope.payload), ['cut while held, healed before it lands']);
  cutting.send(0, 2, 'cut when it lands', 1001);
  cutting.cut(0, 2);
  assert.deepEqual(cutting.deliverDue(5000), []);
  assert.equal(cutting.stats.cut, 1);
});

test('network: a split message arrives as partial reads and then whole, reassembled by the real frame decoder', () => {
  const network = new Network<{ text: string; list: number[] }>(new Prng(13), steady({ splitRate: 1 }));
  // Multi-byte characters, so that some cuts fall inside one: the decoder must rejoin bytes.
  const payload = { text: 'héllo wörld, 🌍 — ünïcode', list: [1, 2, 3] };
  const partialReads = new Set<number>();
  for (let i = 0; i < 40; i++) {
    network.send(0, 1, payload, 1000 * i);
    const arrivals = drain(network);
    const whole = arrivals.pop()!;
    assert.deepEqual(payloadOf(whole.arrival), payload);
    assert.notEqual(payloadOf(whole.arrival), payload, 'a copy, never the sender\'s object');
    for (const [index, { at, arrival }] of arrivals.entries()) {
      assert.deepEqual(arrival, { from: 0, to: 1, partial: true });
      assert.ok(at < (arrivals[index + 1] ?? whole).at, 'each read of a message strictly after the one before');
    }
    partialReads.add(arrivals.length);
  }
  assert.deepEqual([...partialReads].sort(), [1, 2, 3], '2 to 4 chunks: 1 to 3 partial reads before the whole');
  assert.deepEqual([network.stats.split, network.stats.delivered], [40, 40]);

  network.send(0, CLIENT_ADDRESS_BASE, payload, 100_000);
  assert.deepEqual(drain(network).map(({ arrival }) => arrival.partial), [false], 'a client link carries messages whole');
  network.send(0, 1, payload, 200_000);
  assert.deepEqual(network.deliverDue(Infinity).map((envelope) => envelope.payload), [payload], 'deliverDue gives the whole messages only');
});

test('network: a split message one of whose chunks meets a cut link is lost whole, even if the link heals before the rest', () => {
  const network = new Network<string>(new Prng(14), steady({ splitRate: 1 }));
  for (let i = 0; i < 10; i++) {
    network.send(0, 1, 'x'.repeat(100), 1000 * i);
    assert.deepEqual(network.arrivalsDue(network.nextTime()), [{ from: 0, to: 1, partial: true }]);
    network.cut(0, 1);
    assert.deepEqual(network.arrivalsDue(network.nextTime()), []);
    network.heal();
    assert.deepEqual(network.arrivalsDue(Infinity), [], 'the stream was reset: the rest of the frame is lost with it');
  }
  network.send(0, 1, 'every chunk on a cut link', 20_000);
  network.cut(0, 1);
  assert.deepEqual(network.arrivalsDue(Infinity), []);
  assert.deepEqual([network.stats.cut, network.stats.delivered], [11, 0], 'each lost message counted once');
});

test('network: a frozen address gets nothing until it thaws, then everything at that instant, in arrival order', () => {
  const sendAll = (network: Network<string>): void => {
    for (let i = 0; i < 30; i++) network.send(i % 2 === 0 ? 0 : 2, 1, `m${i}`, 10 * i);
    network.send(0, 2, 'to a running replica', 100);
  };
  const unfrozen = new Network<string>(new Prng(15), steady({ latencyMax: 50 }));
  sendAll(unfrozen);
  const arrivalOrder = unfrozen.deliverDue(Infinity).filter((envelope) => envelope.to === 1).map((envelope) => envelope.payload);

  const network = new Network<string>(new Prng(15), steady({ latencyMax: 50 }));
  network.freeze(1, 400);
  sendAll(network);
  assert.deepEqual([network.isFrozen(1, 399), network.isFrozen(1, 400), network.isFrozen(2, 0)], [true, false, false]);
  assert.deepEqual(network.deliverDue(399).map((envelope) => envelope.payload), ['to a running replica']);
  assert.equal(network.nextTime(), 400, 'the thaw is the next thing due');
  assert.deepEqual(network.deliverDue(400).map((envelope) => envelope.payload), arrivalOrder, 'all 30, nothing lost, in arrival order');

  const thawing = new Network<string>(new Prng(16), steady({ splitRate: 1 }));
  thawing.freeze(1, 1000);
  thawing.freeze(1, 500);
  assert.ok(thawing.isFrozen(1, 999), 'freezing a frozen address again never shortens the freeze');
  thawing.send(0, 1, 'split while frozen', 0);
  thawing.send(CLIENT_ADDRESS_BASE, 1, 'lands at the thaw', 99);
  assert.deepEqual(thawing.arrivalsDue(99), [], 'its chunks wait at the frozen address');
  thawing.thaw(1, 100);
  assert.equal(thawing.nextTime(), 100, 'thaw ends the freeze early');
  const atThaw = thawing.arrivalsDue(100).map((arrival) => (arrival.partial ? 'partial read' : arrival.payload));
  assert.deepEqual(atThaw.slice(-2), ['split while frozen', 'lands at the thaw'], 'what waited comes before what arrives at the thaw');
  assert.ok(atThaw.length >= 3 && atThaw.slice(0, -2).every((read) => read === 'partial read'), 'the chunks that waited are read in order');
  assert.ok(!thawing.isFrozen(1, 100));
});

test('network: zero hold and split rates draw nothing: a seed gives the arrivals it gave before they existed', () => {
  const faults = { dropRate: 0.2, duplicateRate: 0.2, latencyMin: 1, latencyMax: 40 };
  // The draws a message has always cost: drop?, latency, duplicate?, the copy's latency.
  const before = new Prng(17);
  const expected: string[] = [];
  for (let i = 0; i < 50; i++) {
    if (before.chance(faults.dropRate)) continue;
    expected.push(`m${i}@${i + before.int(faults.latencyMin, faults.latencyMax)}`);
    if (before.chance(faults.duplicateRate)) expected.push(`m${i}@${i + before.int(faults.latencyMin, faults.latencyMax)}`);
  }
  const nextDraw = before.nextUint32();
  for (const plan of [faults, { ...faults, holdRate: 0, holdMsMin: 1000, holdMsMax: 5000, splitRate: 0 }]) {
    const prng = new Prng(17);
    const network = new Network<string>(prng, plan);
    for (let i = 0; i < 50; i++) network.send(0, 1, `m${i}`, i);
    assert.deepEqual(drain(network).map(({ at, arrival }) => `${payloadOf(arrival)}@${at}`).sort(), expected.sort());
    assert.equal(prng.nextUint32(), nextDraw, 'and not one draw more');
  }
});

test('checkers: each safety property fires on a history that breaks it', () => {
  const applied = (op: number, clientId: string, requestNumber: number) => ({ type: 'applied' as const, op, clientId, requestNumber, events: [] });
  const reply = (op: number, clientId: string, requestNumber: number, value: unknown, owner = `${clientId}'s owner`) =>
    ({ type: 'reply' as const, op, clientId, owner, requestNumber, reply: value });
  const fresh = (): Checker => {
    const checker = new Checker(3);
    checker.onClient('a', "a's owner");
    for (const replica of [0, 1, 2]) checker.onIncarnation(replica, 0);
    checker.onApplied(0, applied(1, 'a', 0));
    return checker;
  };
  assert.throws(() => fresh().onSend(1, { type: 'prepare', view: 3, from: 1 }), /\(a\) one primary per view/);
  assert.throws(() => fresh().onSend(0, { type: 'commit', view: 3, from: 1 }), /\(a\) sender identity/);
  assert.throws(() => fresh().onApplied(1, applied(1, 'b', 0)), /\(b\) committed prefixes agree/);
  assert.throws(() => fresh().onApplied(0, applied(3, 'b', 0)), /\(b\) ops execute in order/);
  const twice = fresh();
  twice.onApplied(0, applied(2, 'a', 1));
  assert.throws(() => twice.onApplied(0, applied(3, 'a', 1)), /\(c\) no op executed twice/);
  const lost = fresh();
  lost.onAcknowledged({ clientId: 'b', requestNumber: 0, command: null, op: 1, reply: null });
  assert.throws(() => lost.afterStep(), /\(d\) no acknowledged op lost/);
  const states = fresh();
  states.onState(0, 1, () => ({ x: [1] }));
  states.onState(1, 1, () => ({ x: [1] }));
  assert.throws(() => states.onState(2, 1, () => ({ x: [2] })), /\(e\) equal states/);
  const replies = fresh();
  replies.onApplied(0, applied(2, 'a', 1));
  replies.onReply(0, reply(2, 'a', 1, { n: 1 }));
  assert.throws(() => replies.onReply(1, reply(2, 'a', 1, { n: 2 })), /\(f\) equal replies/);
  assert.throws(() => fresh().onReply(0, reply(7, 'a', 1, null)), /reply only after execution/);
  const stolen = fresh();
  stolen.onApplied(0, applied(2, 'a', 1));
  assert.throws(() => stolen.onReply(0, reply(2, 'a', 1, null, "a thief's owner")), /\(h\) a client id is its owner's/);
});

test('checkers: canonical JSON ignores key order, so equal states built differently hash equally', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [1, { f: 2, e: 3 }], c: null } }), canonicalJson({ a: { c: null, d: [1, { e: 3, f: 2 }] }, b: 1 }));
  assert.notEqual(stateHash({ a: [1, 2] }), stateHash({ a: [2, 1] }));
});

test('thief: refusals pass, anything that tells it about the victim is a violation of (h)', () => {
  const prng = new Prng(3);
  const thief = new SimThief(0, 3, toyWorkload.newClient(9, prng.fork()), prng, 0);
  const answer = { clientId: 'victim', owner: 'thief', requestNumber: 2, view: 1, primary: 1 };
  for (const code of ['NOT_OWNER', 'NOT_PRIMARY', 'VIEW_CHANGE', 'BUSY'] as const) thief.onAnswer({ type: 'reject', code, ...answer }, 0);
  for (const code of ['STALE_REQUEST', 'SESSION_EXPIRED', 'CLIENT_TABLE_FULL'] as const) {
    assert.throws(() => thief.onAnswer({ type: 'reject', code, ...answer }, 0), /\(h\) a client id is its owner's/, code);
  }
  assert.throws(() => thief.onAnswer({ type: 'reply', clientId: 'victim', owner: 'thief', requestNumber: 2, op: 7, reply: null }, 0), /thief 0 got a reply/);
  // STALE_REQUEST below a number it sent itself under that id is about its own request (let in
  // by a deposed primary), and passes.
  const victim = { clientId: 'victim', acknowledged: [{ requestNumber: 5 }], outstandingNumber: null } as unknown as SimClient<ToyCommand, ToyReply>;
  let sent = 0;
  while (sent < 6) sent = Math.max(sent, thief.wake(0, [victim])!.request.requestNumber);
  thief.onAnswer({ type: 'reject', code: 'STALE_REQUEST', ...answer, requestNumber: 5 }, 0);
});
