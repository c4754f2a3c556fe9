import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChatMachine, createChatMachine } from '../../../lib/chat/machine.js';
import type { ChatSnapshot } from '../../../lib/chat/snapshot.js';
import { LOGIN_FAILURES_BEFORE_LOCK, SESSIONS_PER_ACCOUNT_MAX } from '../../../lib/chat/limits.js';
import { recordLogin } from '../../../lib/chat/login.js';
import type { ClientCommand, LoggedCommand } from '../../../lib/chat/types.js';
import { Harness, proofFor, tokenHash, verifierFor } from './harness.js';

/** A state with something of everything: live and deleted accounts, several sessions, read
 *  and unread mail, a deleted message, mail from an account since deleted, failed logins. */
function sample(): Harness {
  const h = new Harness();
  const alice = h.join('alice');
  const bob = h.join('bob');
  h.login('alice');
  const carol = h.join('carol');
  h.send(alice, 'bob', 'one');
  h.send(carol, 'bob', 'two from carol');
  h.send(bob, 'alice', 'three');
  h.send(alice, 'bob', 'four');
  h.ok({ kind: 'read', count: 1 }, bob);
  h.ok({ kind: 'delete', ids: [4] }, bob);
  h.ok({ kind: 'delete-account' }, carol);
  for (let i = 0; i < LOGIN_FAILURES_BEFORE_LOCK; i++) h.fails('AUTH_FAILED', h.loginRecord('bob', 'wrong'));
  h.fails('AUTH_FAILED', h.loginRecord('alice', 'wrong')); // a second after bob's lock began
  return h;
}

const roundTrip = (snapshot: unknown): unknown => JSON.parse(JSON.stringify(snapshot));

test('an empty machine has an empty snapshot', () => {
  const empty = { format: 'chat/2', lastOp: 0, nextMessageId: 1, accounts: [], tombstones: [], loginFailures: [] };
  assert.deepEqual(createChatMachine(null).snapshot(), empty);
});

test('the snapshot is plain JSON in an explicit order and survives a round trip', () => {
  const h = sample();
  const snapshot = h.machine.snapshot();
  assert.deepEqual(snapshot.accounts.map((row) => row[0]), ['alice', 'bob']);
  assert.deepEqual(snapshot.tombstones, ['carol']);
  assert.deepEqual(snapshot.loginFailures, [['alice', 1, 0], ['bob', LOGIN_FAILURES_BEFORE_LOCK, h.at]]);
  const bobRow = snapshot.accounts[1]!;
  assert.deepEqual(bobRow[3], {
    ids: [1, 2],
    from: ['alice', 'carol'],
    at: bobRow[3].at,
    text: ['one', 'two from carol'],
    unread: [false, true],
  });
  assert.equal(snapshot.accounts[0]![2].length, 2, "alice's two sessions, oldest first");
  const restored = ChatMachine.fromSnapshot(roundTrip(snapshot));
  assert.deepEqual(restored.snapshot(), snapshot);
  restored.invariants();
  assert.equal(restored.unreadCount('bob'), 1);
  assert.equal(restored.sessionName(snapshot.accounts[0]![2][0]!), 'alice');
  assert.deepEqual(restored.verifierOf('bob'), h.machine.verifierOf('bob'));
});

test('size() counts live accounts, deleted names and stored messages, and survives a round trip', () => {
  const h = sample();
  // alice and bob live, carol deleted; bob holds messages 1 and 2 (4 deleted), alice holds 3.
  assert.equal(h.machine.size(), 2 + 1 + 3);
  assert.equal(ChatMachine.fromSnapshot(roundTrip(h.machine.snapshot())).size(), 6);
  assert.equal(createChatMachine(null).size?.(), 0);
});

test('fromSnapshot neither changes nor keeps its argument: the replica hands it the snapshot it keeps', () => {
  const h = sample();
  const snapshot = h.machine.snapshot();
  const before = structuredClone(snapshot);
  h.machine = ChatMachine.fromSnapshot(snapshot);
  const dave = h.join('dave');
  h.send(dave, 'bob', 'five');
  h.ok({ kind: 'read', count: 5 }, h.login('bob'));
  h.ok({ kind: 'delete', ids: [1] }, h.login('bob'));
  assert.deepEqual(snapshot, before);
});

test('the snapshot lists accounts and tombstones by name, not by age', () => {
  const h = new Harness();
  for (const name of ['zed', 'yan', 'amy', 'max']) h.create(name);
  h.ok({ kind: 'delete-account' }, h.login('yan'));
  h.ok({ kind: 'delete-account' }, h.login('max'));
  const snapshot = h.machine.snapshot();
  assert.deepEqual(snapshot.accounts.map((row) => row[0]), ['amy', 'zed']);
  assert.deepEqual(snapshot.tombstones, ['max', 'yan']);
});

test('a restored machine refuses an op it has already applied', () => {
  const h = sample();
  const restored = ChatMachine.fromSnapshot(roundTrip(h.machine.snapshot()));
  const command = { kind: 'read' as const, count: 1, at: h.at, session: null };
  assert.throws(() => restored.apply(command, { op: h.op, clientId: 'c' }), /applied after op/);
  assert.equal(restored.apply(command, { op: h.op + 1, clientId: 'c' }).reply.ok, false);
});

test('a command without a sane time from the primary is a bug', () => {
  const machine = createChatMachine(null);
  const command = { kind: 'logout' as const, session: null };
  assert.throws(() => machine.apply({ ...command, at: -1 }, { op: 1, clientId: 'c' }), /epoch/);
  assert.throws(() => machine.apply({ ...command, at: 1.5 }, { op: 1, clientId: 'c' }), /whole milliseconds/);
});

/** Applies `change` to a fresh copy of the sample snapshot and expects restore to name `path`. */
function refusesCorrupt(change: (s: ChatSnapshot) => void, path: RegExp): void {
  const snapshot = roundTrip(sample().machine.snapshot()) as ChatSnapshot;
  change(snapshot);
  assert.throws(() => ChatMachine.fromSnapshot(snapshot), (error: Error) => {
    assert.match(error.message, /^malformed chat snapshot: /);
    assert.match(error.message, path);
    return true;
  });
}

test('a malformed snapshot is refused with the path of the first bad field', () => {
  for (const junk of [5, 'x', [], {}]) assert.throws(() => ChatMachine.fromSnapshot(junk), /malformed chat snapshot/);
  refusesCorrupt((s) => { (s as { format: string }).format = 'chat/0'; }, /format/);
  refusesCorrupt((s) => { s.lastOp = -1; }, /lastOp/);
  refusesCorrupt((s) => { s.nextMessageId = 0; }, /nextMessageId/);
  refusesCorrupt((s) => { (s as { accounts: unknown }).accounts = {}; }, /accounts must be an array/);
  refusesCorrupt((s) => { s.accounts[0]!.pop(); }, /accounts\[0\] must have 4/);
  refusesCorrupt((s) => { s.accounts[0]![0] = 'Alice'; }, /accounts\[0\]\[0\] must be a folded/);
  refusesCorrupt((s) => { s.accounts.reverse(); }, /accounts\[1\] is out of order/);
  refusesCorrupt((s) => { s.accounts[1]![0] = 'alice'; }, /accounts\[1\] is out of order/);
  refusesCorrupt((s) => { (s.accounts[0]![1] as { salt: unknown }).salt = 1; }, /accounts\[0\]\[1\]/);
  refusesCorrupt((s) => { s.accounts[0]![1].iterations = 0; }, /accounts\[0\]\[1\]\.iterations/);
});

test('a snapshot with broken sessions is refused', () => {
  refusesCorrupt((s) => { s.accounts[0]![2][0] = 'nope'; }, /accounts\[0\]\[2\]\[0\] must be a token hash/);
  refusesCorrupt((s) => { s.accounts[1]![2].push(s.accounts[0]![2][0]!); }, /accounts\[1\]\[2\]\[1\] is a session listed twice/);
  refusesCorrupt((s) => {
    s.accounts[0]![2] = Array.from({ length: SESSIONS_PER_ACCOUNT_MAX + 1 }, (_, i) => tokenHash(`many${i}`));
  }, /accounts\[0\]\[2\] lists more sessions/);
});

test('a snapshot with broken messages is refused', () => {
  const bob = (s: ChatSnapshot) => s.accounts[1]![3] as unknown as Record<string, unknown[]>;
  refusesCorrupt((s) => { (s.accounts[1] as unknown[])[3] = []; }, /accounts\[1\]\[3\] must be an object/);
  refusesCorrupt((s) => { bob(s).ids = {} as unknown[]; }, /accounts\[1\]\[3\]\.ids must be an array/);
  refusesCorrupt((s) => { bob(s).text!.pop(); }, /accounts\[1\]\[3\]\.text must have 2 elements/);
  refusesCorrupt((s) => { bob(s).ids!.reverse(); }, /accounts\[1\]\[3\]\.ids\[1\] must be an id above/);
  refusesCorrupt((s) => { bob(s).ids![0] = '1'; }, /accounts\[1\]\[3\]\.ids\[0\] must be an id/);
  refusesCorrupt((s) => { s.nextMessageId = 3; }, /accounts\[0\]\[3\]\.ids\[0\] must be an id above/);
  refusesCorrupt((s) => { bob(s).from![1] = 'Carol'; }, /accounts\[1\]\[3\]\.from\[1\] must be a folded/);
  refusesCorrupt((s) => { bob(s).at![0] = -5; }, /accounts\[1\]\[3\]\.at\[0\]/);
  refusesCorrupt((s) => { bob(s).text![0] = null; }, /accounts\[1\]\[3\]\.text\[0\] must be a string/);
  refusesCorrupt((s) => { bob(s).unread![1] = 1; }, /accounts\[1\]\[3\]\.unread\[1\] must be true or false/);
  refusesCorrupt((s) => { s.tombstones = []; }, /message from carol, who never had an account/);
});

test('a snapshot with broken tombstones is refused', () => {
  refusesCorrupt((s) => { s.tombstones.unshift('alice'); }, /tombstones\[0\] is also a live account/);
  refusesCorrupt((s) => { s.tombstones.unshift('dave'); }, /tombstones\[1\] is out of order/);
  refusesCorrupt((s) => { s.tombstones.push('Zed'); }, /tombstones\[1\] must be a folded/);
});

test('a snapshot with broken failed-login runs is refused', () => {
  refusesCorrupt((s) => { (s as { loginFailures: unknown }).loginFailures = undefined; }, /loginFailures must be an array/);
  refusesCorrupt((s) => { s.loginFailures[0]!.pop(); }, /loginFailures\[0\] must have 3/);
  refusesCorrupt((s) => { s.loginFailures[0]![0] = 'carol'; }, /loginFailures\[0\]\[0\] must be a live account/);
  refusesCorrupt((s) => { s.loginFailures.reverse(); }, /loginFailures\[1\] is out of order/);
  refusesCorrupt((s) => { s.loginFailures[1]![0] = 'alice'; }, /loginFailures\[1\] is out of order/);
  refusesCorrupt((s) => { s.loginFailures[0]![1] = 0; }, /loginFailures\[0\]\[1\] must be a whole number of at least 1/);
  refusesCorrupt((s) => { s.loginFailures[0]![2] = -1; }, /loginFailures\[0\]\[2\] must be a whole number of at least 0/);
});

// ---------------------------------------------------------------------------------------------
// Determinism: replicas apply the same commands and must end up byte-identical, whether or not
// they restarted from a snapshot along the way.

/** mulberry32: a tiny seeded PRNG, so a failing sequence can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Command = Parameters<ChatMachine['apply']>[0];
type Step = { command: Command; op: number };

const USERS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'];
// Every user's password is 'pw', but a proof is bound to its name: another user's proof fails.
const PROOFS = USERS.map((name) => proofFor(name, 'pw', 'n'));

/** What the random client knows: live sessions and ids sent so far, learnt from replies. */
interface World {
  random: () => number;
  /** The primary's clock: moves on by up to a second per command, so that logins get locked by
   *  failures, refused, and let through again. */
  at: number;
  live: string[];
  ended: (string | null)[];
  sentIds: number[];
}

function pick<T>(world: World, items: readonly T[]): T {
  return items[Math.floor(world.random() * items.length)]!;
}

function randomCommand(world: World, op: number): ClientCommand {
  const { random } = world;
  const user = Math.floor(random() * USERS.length);
  // Deleting an account is rare: its name can never come back, so it shrinks the world.
  const kind = random() < 0.005 ? 'delete-account' :
    pick(world, ['create', 'login', 'login', 'logout', 'list', 'send', 'send', 'send', 'read', 'delete', 'ack', 'ack'] as const);
  const id = () => (random() < 0.85 && world.sentIds.length > 0 ? pick(world, world.sentIds) : op);
  switch (kind) {
    case 'create':
      return { kind, name: random() < 0.5 ? USERS[user]! : USERS[user]!.toUpperCase(), verifier: verifierFor('pw') };
    case 'login': {
      // Someone is guessing alice's password: her logins mostly fail, so her account gets locked.
      const proof = random() < (user === 0 ? 0.05 : 0.9) ? PROOFS[user]! : PROOFS[(user + 1) % USERS.length]!;
      return { kind, name: USERS[user]!, nonce: 'n', proof, tokenHash: tokenHash(`${op}`) };
    }
    case 'logout':
    case 'delete-account':
      return { kind };
    case 'list':
      return { kind, pattern: pick(world, ['', '*', 'a*', '?o*', '*e', 'x?']), page: pick(world, [0, 1, 1, 2]) };
    case 'send':
      return { kind, to: pick(world, [...USERS, 'nobody']), text: pick(world, ['hi', 'hello there', 'ok', '', 'x'.repeat(5000)]) };
    case 'read':
      return { kind, count: pick(world, [0, 1, 2, 5]) };
    case 'delete':
    case 'ack':
      return { kind, ids: Array.from({ length: random() < 0.7 ? 1 : 3 }, id) };
  }
}

/** The command as the primary logs it: a login checked against the primary's state. */
function logged(primary: ChatMachine, command: ClientCommand): LoggedCommand {
  return command.kind === 'login' ? recordLogin(command, primary.verifierOf(command.name)) : command;
}

/** A random but replayable command sequence, valid and invalid mixed. The generator plays
 *  clients that watch the replies of their own reference machine, so that a good share of the
 *  commands use live sessions and real ids; the machines under test then replay the fixed list. */
function randomSteps(seed: number, count: number): Step[] {
  const world: World = { random: prng(seed), at: 1_000_000, live: [], ended: [null], sentIds: [] };
  const reference = ChatMachine.fromSnapshot(null);
  const steps: Step[] = [];
  for (let op = 1; op <= count; op++) {
    const useLive = world.random() < 0.85 && world.live.length > 0;
    const session = useLive ? pick(world, world.live) : pick(world, world.ended);
    world.at += Math.floor(world.random() * 1000);
    const command: Command = { ...logged(reference, randomCommand(world, op)), at: world.at, session };
    const { reply, events } = reference.apply(command, { op, clientId: 'c' });
    if (reply.ok && command.kind === 'login') world.live.push(command.tokenHash);
    if (reply.ok && command.kind === 'send') world.sentIds.push((reply.result as { id: number }).id);
    for (const event of events) {
      if (event.kind !== 'session-ended') continue;
      world.live.splice(world.live.indexOf(event.session), 1);
      world.ended.push(event.session);
    }
    steps.push({ op, command });
  }
  return steps;
}

test('two machines applying the same random commands stay identical', () => {
  const refused = new Set<string>();
  for (const seed of [1, 2, 3]) {
    const steps = randomSteps(seed, 600);
    const one = ChatMachine.fromSnapshot(null);
    const two = ChatMachine.fromSnapshot(null);
    const succeeded = new Set<string>();
    for (const { command, op } of steps) {
      const a = one.apply(command, { op, clientId: 'c' });
      const b = two.apply(command, { op, clientId: 'c' });
      assert.deepEqual(a, b, `seed ${seed}, op ${op}`);
      if (a.reply.ok) succeeded.add(command.kind);
      else refused.add(a.reply.error.code);
      one.invariants();
    }
    assert.equal(JSON.stringify(one.snapshot()), JSON.stringify(two.snapshot()));
    // The sequence must actually exercise every command, or this test proves little.
    assert.deepEqual([...succeeded].sort(), ['ack', 'create', 'delete', 'delete-account', 'list', 'login', 'logout', 'read', 'send']);
  }
  assert.ok(refused.has('LOGIN_THROTTLED'), 'no login was ever locked');
});

test('snapshot, JSON, restore and carry on gives what never snapshotting gives', () => {
  const steps = randomSteps(42, 600);
  const straight = createChatMachine(null);
  const expected = steps.map(({ command, op }) => straight.apply(command, { op, clientId: 'c' }));

  let restarted = createChatMachine(null);
  for (const [i, { command, op }] of steps.entries()) {
    if (i % 97 === 0) {
      const snapshot = roundTrip(restarted.snapshot());
      restarted = createChatMachine(snapshot);
      assert.deepEqual(restarted.snapshot(), snapshot, `op ${op}: restore then snapshot changes nothing`);
    }
    assert.deepEqual(roundTrip(restarted.apply(command, { op, clientId: 'c' })), roundTrip(expected[i]), `op ${op}`);
  }
  assert.equal(JSON.stringify(restarted.snapshot()), JSON.stringify(straight.snapshot()));
});

test('no command a client can send makes apply throw', () => {
  const h = new Harness();
  const session = h.join('alice');
  const junk: unknown[] = [null, undefined, true, 0, -1, 1.5, 2 ** 60, '', 'x', 'A'.repeat(70_000), [], [1, 'a'], [null], {}, { length: 3 }];
  const fields: Record<string, string[]> = {
    create: ['name', 'verifier'], login: ['name', 'tokenHash', 'proven'], list: ['pattern', 'page'],
    send: ['to', 'text'], read: ['count'], delete: ['ids'], ack: ['ids'],
  };
  for (const [kind, names] of Object.entries(fields)) {
    for (const field of names) {
      for (const value of junk) {
        const command = { kind, [field]: value, at: h.at, session } as unknown as Command;
        const { reply } = h.machine.apply(command, { op: ++h.op, clientId: 'c' });
        assert.equal(reply.ok, false, `${kind}.${field} = ${JSON.stringify(value)?.slice(0, 40)} was accepted`);
      }
    }
  }
  h.machine.invariants();
});
