// The driver of the replication core (lib/replication/driver.ts) with fake ports: every port call
// is recorded as a short line, in order, and a test may act from inside a port (as a store that
// reports durability at once does, or the simulator crashing a replica mid-burst). The core is
// real, on the toy state machine of harness.ts, so the effects are the ones a host would get.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type DriverPorts, ReplicaDriver, SLOW_DISK_WARN_MS, STALL_WARN_MS } from '../../../lib/replication/driver.js';
import type { LoadedJournal, LogEntry, ReplicaId } from '../../../lib/replication/types.js';
import { type Command, type CoreEffect, type Event, type Message, registration, req, type Reply, toyMachine } from './harness.js';

type Driver = ReplicaDriver<Command, Reply, Event>;
type LogLine = { level: string; event: string; fields: Record<string, unknown>; context: Record<string, unknown> };

const EMPTY_JOURNAL: LoadedJournal<Command, Reply> = { view: null, snapshot: null, log: [] };
const TICK_MS = 10;

/** Ports that record each call as a line in `calls` (an effect the observe port saw as its type
 *  in parentheses), with a fake clock. */
class FakeHost {
  readonly calls: string[] = [];
  readonly observed: CoreEffect[] = [];
  readonly logs: LogLine[] = [];
  readonly fatal: Error[] = [];
  flushesAsked = 0;
  roleChanges = 0;
  time = 0;
  /** The store reports each record durable at once, from inside persist (so through the queue). */
  durableAtOnce = true;
  /** Set if an input fed from inside a port was carried out before the port returned. */
  reentered = false;
  /** Runs inside every port call, after it is recorded: lets a test act from inside a port. */
  during: (call: string) => void = () => {};
  driver!: Driver;

  readonly ports: DriverPorts<Command, Reply, Event> = {
    peers: {
      send: (to, message) => this.record(`send ${message.type} → ${to}`),
      broadcast: (to, message) => this.record(`broadcast ${message.type} → ${to.join(',')}`),
    },
    store: {
      persist: (seq, record) => {
        this.record(`persist #${seq} ${record.kind}`);
        if (!this.durableAtOnce) return;
        const seen = this.observed.length;
        this.driver.onDurable(seq);
        if (this.observed.length !== seen) this.reentered = true;
      },
    },
    clients: {
      reply: (answer) => this.record(`reply ${answer.clientId}#${answer.requestNumber}`),
      reject: (answer) => this.record(`reject ${answer.clientId}#${answer.requestNumber} ${answer.code}`),
      push: (events) => this.record(`push ${events.join(',')}`),
      connections: () => 3,
      disconnectAll: () => this.record('disconnect all'),
      announce: () => this.record('announce'),
      answerHeldReads: () => this.record('answer held reads'),
    },
    log: (level, event, fields, context) => {
      this.logs.push({ level, event, fields, context });
      this.record(`log ${event}`);
    },
    scheduleFlush: () => this.flushesAsked++,
    now: () => this.time,
    onFatal: (error) => this.fatal.push(error),
    onRoleChange: () => this.roleChanges++,
    observe: (effect) => {
      this.observed.push(effect);
      this.record(`(${effect.type})`);
    },
  };

  constructor(replica: ReplicaId, replicaCount: number, options: { durableAtOnce?: boolean } = {}) {
    this.durableAtOnce = options.durableAtOnce ?? true;
    this.driver = new ReplicaDriver(EMPTY_JOURNAL, { replica, replicaCount, tickMs: TICK_MS }, toyMachine, this.ports);
  }

  private record(call: string): void {
    this.calls.push(call);
    this.during(call);
  }

  logged(event: string): LogLine[] {
    return this.logs.filter((line) => line.event === event);
  }
}

/** The line a port records for `effect`, or none (an `applied` effect without a push). */
function callFor(effect: CoreEffect, pushes: boolean): string[] {
  switch (effect.type) {
    case 'send':
      return [`send ${effect.message.type} → ${effect.to}`];
    case 'broadcast':
      return [`broadcast ${effect.message.type} → ${effect.to.join(',')}`];
    case 'persist':
      return [`persist #${effect.seq} ${effect.record.kind}`];
    case 'reply':
      return [`reply ${effect.clientId}#${effect.requestNumber}`];
    case 'reject':
      return [`reject ${effect.clientId}#${effect.requestNumber} ${effect.code}`];
    case 'applied':
      return pushes && effect.events.length > 0 ? [`push ${effect.events.join(',')}`] : [];
    case 'log':
      return [`log ${effect.event}`];
  }
}

function entry(op: number, requestNumber: number, command: string | null): LogEntry<Command> {
  return { op, view: 0, clientId: 'c', owner: 'owner of c', requestNumber, at: 0, command };
}

const startViewChange = (view: number, from: ReplicaId): Message => ({ type: 'start-view-change', view, from });

/** Replica 1 of 3 made primary of view 1: replicas 0 and 2 ask for view 1, and 2 sends its
 *  DO-VIEW-CHANGE (with ours, f + 1). */
function primaryOfView1(): FakeHost {
  const host = new FakeHost(1, 3);
  host.driver.start();
  host.driver.onMessage(startViewChange(1, 0));
  host.driver.onMessage(startViewChange(1, 2));
  host.driver.onMessage({ type: 'do-view-change', view: 1, from: 2, logView: 0, op: 0, commit: 0, entries: [] });
  assert.ok(host.driver.statusReport().isPrimary, 'replica 1 is primary of view 1');
  return host;
}

test('driver: each effect is observed, then carried out by its port, in the order the core returned them', () => {
  const host = new FakeHost(0, 3);
  const loaded = host.calls.length; // the replica-loaded line
  host.driver.start(); // D4: view change to 1; once the view record is durable, START-VIEW-CHANGE
  host.driver.onMessage(startViewChange(1, 2)); // f + 1 want view 1: DO-VIEW-CHANGE to its primary
  const expected = host.observed.flatMap((effect) => [`(${effect.type})`, ...callFor(effect, false)]);
  assert.deepEqual(host.calls.slice(loaded), expected);
  const peerCalls = host.calls.filter((call) => /^(send|broadcast|persist) /.test(call));
  assert.deepEqual(peerCalls, ['persist #1 view', 'broadcast start-view-change → 1,2', 'send do-view-change → 1']);
});

test('driver: an input that arrives from inside a port waits until the effects before it are carried out', () => {
  const host = new FakeHost(0, 3); // its store calls onDurable from inside persist
  host.driver.start();
  assert.equal(host.reentered, false, 'onDurable was queued, not carried out inside persist');
  const persistAt = host.calls.indexOf('persist #1 view');
  const broadcastAt = host.calls.indexOf('broadcast start-view-change → 1,2');
  assert.ok(persistAt >= 0 && broadcastAt > persistAt, 'the queued onDurable ran in the same burst, after the persist');
  assert.deepEqual(host.calls.slice(persistAt + 1, broadcastAt).filter((call) => !call.startsWith('(')), [], 'the start effects after the persist came first');
});

test('driver: inputs that arrive before start() wait for its effects', () => {
  const host = new FakeHost(0, 3);
  host.driver.onMessage(startViewChange(1, 2));
  assert.equal(host.observed.length, 0, 'nothing reaches the core before start()');
  host.driver.start();
  const first = host.observed[0];
  assert.ok(first?.type === 'log' && first.event === 'view change: starting', 'the start decision (D4) comes first');
  assert.ok(host.calls.includes('send do-view-change → 1'), 'then the message, which joined the view change');
});

test('driver: scheduleFlush is asked once per burst, not again until flush(), and not after a flush alone', () => {
  const host = new FakeHost(0, 1);
  host.driver.start(); // a burst of two inputs: start, and onDurable from inside persist
  assert.equal(host.flushesAsked, 1);
  host.durableAtOnce = false;
  host.driver.tick();
  host.driver.onRequest(registration('c'));
  assert.equal(host.flushesAsked, 1, 'asked already, flush() not called yet');
  host.driver.flush();
  const batch = host.observed.at(-1);
  assert.ok(batch?.type === 'persist' && batch.record.kind === 'entries', 'the flush wrote the batch');
  assert.equal(host.flushesAsked, 1, 'a burst of only the flush asks for none');
  host.driver.onDurable(batch.seq);
  assert.ok(host.calls.includes('reply c#0'), 'the batch committed');
  assert.equal(host.flushesAsked, 2);
});

test('driver: a broadcast reaches peers.broadcast once, for all its peers', () => {
  const host = primaryOfView1();
  assert.deepEqual(host.calls.filter((call) => call.includes('start-view ')), ['broadcast start-view → 0,2']);
  assert.equal(host.calls.filter((call) => call.startsWith('send start-view')).length, 0);
});

test('driver: events are pushed on the primary only', () => {
  const primary = new FakeHost(0, 1);
  primary.driver.start();
  for (const request of [registration('c'), req('c', 1, 'hello')]) {
    primary.driver.onRequest(request);
    primary.driver.flush();
  }
  assert.deepEqual(primary.calls.filter((call) => call.startsWith('push')), ['push hello'], 'none for the register, which has no events');

  const backup = new FakeHost(1, 3); // a backup of view 0
  backup.driver.start();
  backup.driver.onMessage({ type: 'prepare', view: 0, from: 0, entries: [entry(1, 0, null), entry(2, 1, 'hello')], commit: 0 });
  backup.driver.onMessage({ type: 'commit', view: 0, from: 0, commit: 2 });
  assert.ok(backup.observed.some((e) => e.type === 'applied' && e.events[0] === 'hello'), 'the backup executed it');
  assert.equal(backup.calls.filter((call) => call.startsWith('push')).length, 0);
});

test('driver: a primary that is deposed logs it and hangs up on its clients; every role change is told', () => {
  const host = primaryOfView1();
  const roleChanges = host.roleChanges;
  host.driver.onMessage({ type: 'start-view', view: 2, from: 2, op: 0, commit: 0, entries: [] });
  assert.equal(host.driver.statusReport().isPrimary, false);
  assert.deepEqual(host.logged('deposed').map((line) => line.fields), [{ clients: 3 }]);
  const deposedAt = host.calls.indexOf('log deposed');
  assert.deepEqual(host.calls.slice(deposedAt + 1), ['disconnect all'], 'normal in view 2 as a backup, but nothing announced to connections being closed');
  assert.equal(host.roleChanges, roleChanges + 1);
});

test('driver: the primary is announced once each time the replica reaches status normal, as primary or backup; not at start-up', () => {
  const announced = (host: FakeHost) => host.calls.filter((call) => call === 'announce').length;
  const host = new FakeHost(1, 3);
  host.driver.start();
  assert.deepEqual([host.driver.statusReport().status, announced(host)], ['normal', 0], 'a backup of view 0 from start-up: no clients yet');
  host.driver.onMessage(startViewChange(1, 0));
  assert.equal(announced(host), 0, 'a view change is no news: no primary to name');
  host.driver.onMessage(startViewChange(1, 2));
  host.driver.onMessage({ type: 'do-view-change', view: 1, from: 2, logView: 0, op: 0, commit: 0, entries: [] });
  assert.ok(host.driver.statusReport().isPrimary);
  assert.equal(announced(host), 1, 'primary of view 1');
  for (const request of [registration('c'), registration('d')]) {
    host.driver.onRequest(request);
    host.driver.flush();
    host.driver.tick();
  }
  assert.equal(host.calls.filter((call) => call.startsWith('broadcast prepare')).length, 2, 'both registers went out');
  assert.equal(announced(host), 1, 'not again for the bursts that follow in the same view');

  const changing = new FakeHost(0, 3); // D4: from start-up in a view change to view 1
  changing.driver.start();
  changing.driver.onMessage({ type: 'start-view', view: 1, from: 1, op: 0, commit: 0, entries: [] });
  assert.deepEqual([changing.driver.statusReport().status, announced(changing)], ['normal', 1], 'a backup that ends a view change');

  const backup = new FakeHost(2, 3); // normal in view 0 from start-up
  backup.driver.start();
  backup.driver.onMessage({ type: 'start-view', view: 1, from: 1, op: 0, commit: 0, entries: [] });
  assert.deepEqual([backup.driver.statusReport().view, announced(backup)], [1, 1], 'a backup moved from normal in one view to normal in the next');
});

test('driver: the reads held for a new primary are answered once, when it has executed the log its view began with', () => {
  const answered = (host: FakeHost) => host.calls.filter((call) => call === 'answer held reads').length;
  const host = new FakeHost(1, 3);
  host.driver.start();
  host.driver.onMessage(startViewChange(1, 0));
  host.driver.onMessage(startViewChange(1, 2));
  host.driver.onMessage({ type: 'do-view-change', view: 1, from: 2, logView: 0, op: 1, commit: 0, entries: [entry(1, 0, null)] });
  const report = host.driver.statusReport();
  assert.deepEqual([report.isPrimary, report.readsCurrent, answered(host)], [true, false, 0], 'op 1 is inherited, not yet committed in view 1');
  host.driver.onMessage({ type: 'prepare-ok', view: 1, from: 2, op: 1 });
  assert.deepEqual([host.driver.statusReport().readsCurrent, answered(host)], [true, 1]);
  host.driver.tick();
  host.driver.onMessage({ type: 'prepare-ok', view: 1, from: 0, op: 1 });
  assert.equal(answered(host), 1, 'once');
});

test('driver: after fail() nothing more goes in — no onDurable, message, tick, request or flush — and onFatal is told once', () => {
  const host = new FakeHost(0, 3, { durableAtOnce: false });
  host.driver.start();
  host.driver.tick();
  assert.ok(host.calls.includes('persist #1 view'));
  const error = Object.assign(new Error('disk gone'), { code: 'EIO' });
  host.driver.fail(error);
  assert.deepEqual(host.logged('storage-failed').map((line) => [line.level, line.fields]), [['error', { error: 'disk gone', code: 'EIO' }]]);
  const calls = host.calls.length;
  host.time += 1000; // late enough for either warning
  host.driver.tick();
  host.driver.onDurable(1);
  host.driver.onMessage({ type: 'start-view', view: 1, from: 1, op: 0, commit: 0, entries: [] });
  host.driver.tick();
  host.driver.onRequest(registration('c'));
  host.driver.flush();
  host.driver.fail(new Error('again'));
  assert.equal(host.calls.length, calls, 'no port was called');
  assert.equal(host.driver.statusReport().status, 'view-change', 'the core was given neither the durable view nor the START-VIEW');
  assert.deepEqual(host.fatal, [error]);
  assert.ok(host.driver.stopped);
});

test('driver: halt() from inside a port drops the rest of the effects being carried out', () => {
  const whole = new FakeHost(0, 3, { durableAtOnce: false });
  whole.driver.start();
  assert.ok(whole.observed.length >= 2, 'start() has more than one effect');

  const host = new FakeHost(0, 3, { durableAtOnce: false });
  host.during = (call) => {
    if (!call.startsWith('(')) host.driver.halt();
  };
  host.driver.start();
  assert.equal(host.observed.length, 1, 'only the first effect was carried out');
  assert.equal(host.calls.filter((call) => call.startsWith('persist')).length, 0);
  host.driver.onMessage(startViewChange(1, 2));
  host.driver.tick();
  assert.equal(host.observed.length, 1, 'and nothing more goes in');
  assert.equal(host.roleChanges, 0);
  assert.equal(host.flushesAsked, 0);

  const early = new FakeHost(0, 3); // a server stopped while still starting up
  early.driver.halt();
  early.driver.start();
  assert.equal(early.observed.length, 0, 'halted before start(): nothing is carried out');
});

test('driver: a late tick and a slow persist are warned about, by the clock of ports.now()', () => {
  const host = new FakeHost(0, 1, { durableAtOnce: false });
  host.driver.start(); // persist #1 issued at time 0
  host.time = SLOW_DISK_WARN_MS + 1;
  host.driver.onDurable(1);
  assert.deepEqual(host.logged('slow-disk').map((line) => [line.level, line.fields]), [['warn', { ms: SLOW_DISK_WARN_MS + 1, seq: 1 }]]);

  host.driver.tick();
  host.time += TICK_MS + STALL_WARN_MS; // exactly the margin: not warned
  host.driver.tick();
  host.time += TICK_MS + STALL_WARN_MS + 1;
  host.driver.tick();
  assert.deepEqual(host.logged('event-loop-stalled').map((line) => [line.level, line.fields]), [['warn', { ms: STALL_WARN_MS + 1 }]]);
});

test('driver: every log line names the replica and a view: the core\'s lines the view they were written in', () => {
  const host = new FakeHost(0, 3); // D4: on being built, it moved from view 0 to view 1
  host.driver.start();
  const [loaded] = host.logged('replica-loaded');
  assert.deepEqual([loaded?.fields, loaded?.context], [{ op: 0, snapshot: 0, logView: 0 }, { replica: 0, view: 1 }]);
  const [starting] = host.logged('view change: starting');
  assert.deepEqual(starting?.context, { replica: 0, view: 0 }, 'written before the move');
  assert.equal(starting?.fields.to, 1);
  assert.ok(!('replica' in (starting?.fields ?? {})) && !('view' in (starting?.fields ?? {})), 'not repeated among the fields');
});
