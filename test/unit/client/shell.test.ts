// The REPL without a real terminal: script mode on in-memory streams, the interactive mode on a
// simulated terminal, and the shell's notices — all against the fake cluster.

import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { CONTINUATION } from '../../../lib/client/format.js';
import { runScript } from '../../../lib/client/script.js';
import { Shell } from '../../../lib/client/shell.js';
import { runTerminal } from '../../../lib/client/terminal.js';
import type { FakeCluster } from './fake-cluster.js';
import { makeConnector, startCluster, TEST_TIMEOUT_MS, waitFor } from './helpers.js';

/** A stream that remembers everything written to it. */
class Screen extends PassThrough {
  text = '';
  /** Where the next shows() starts looking: each expected text is found after the previous. */
  private cursor = 0;
  readonly columns = 80;
  readonly rows = 24;

  constructor() {
    super();
    this.on('data', (chunk: Buffer) => (this.text += chunk.toString('utf8')));
  }

  /** Resolves once `expected` has been written after what the last call found. */
  async shows(expected: string): Promise<void> {
    const found = (): boolean => {
      const index = this.text.indexOf(expected, this.cursor);
      if (index >= 0) this.cursor = index + expected.length;
      return index >= 0;
    };
    if (found()) return;
    await waitFor(this, 'data', `output ${JSON.stringify(expected)} after ${JSON.stringify(this.text.slice(0, this.cursor))} in ${JSON.stringify(this.text.slice(this.cursor))}`, found);
  }
}

async function script(t: TestContext, cluster: FakeCluster, lines: string[]): Promise<{ code: number; output: string[] }> {
  const connector = makeConnector(t, cluster.addresses);
  const input = new PassThrough();
  const screen = new Screen();
  input.end(lines.map((line) => `${line}\n`).join(''));
  const code = await runScript(connector, input, screen);
  return { code, output: screen.text.split('\n').slice(0, -1) };
}

const options = { timeout: TEST_TIMEOUT_MS };

test('script mode: every command prints what a person would see, and the exit code is 0', options, async (t) => {
  const cluster = await startCluster(t, 1);
  const { code, output } = await script(t, cluster, [
    'create alice', 'alice-pw', 'create bob', 'bob-pw',
    '# alice writes to bob',
    'login alice', 'alice-pw', 'send bob hello  there', 'send bob second', 'list', 'logout',
    '', 'login bob', 'bob-pw', 'read 1', 'read', 'delete 1 #2', 'status',
  ]);
  assert.equal(code, 0, output.join('\n'));
  assert.deepEqual(output.slice(0, 1), [`connected to replica 0 (view 0) at ${cluster.addresses[0]}`]);
  assert.deepEqual(output.slice(1, 13).map((line) => line.replace(/ \d\d:\d\d\]/, ' HH:MM]')), [
    'created account alice',
    'created account bob',
    'logged in as alice (0 unread)',
    'sent #1 to bob',
    'sent #2 to bob',
    'alice, bob (page 1 of 1, 2 accounts)',
    'logged out',
    'logged in as bob (2 unread)',
    '[#1 from alice HH:MM] hello  there',
    '(1 more unread)',
    '[#2 from alice HH:MM] second',
    '(0 more unread)',
  ]);
  assert.deepEqual(output.slice(13, 15), ['deleted 2 messages', 'replica:   0']);
  assert.ok(output.includes('user:      bob'));
});

test('script mode: a failed command is printed as an error, the rest still run, and the exit code is 1', options, async (t) => {
  const cluster = await startCluster(t, 1);
  const { code, output } = await script(t, cluster, ['create alice', 'pw', 'create alice', 'pw', 'frobnicate', 'send', 'status']);
  assert.equal(code, 1);
  assert.deepEqual(output.slice(1, 5), [
    'created account alice',
    'error: NAME_TAKEN: alice is taken',
    'error: UNKNOWN_COMMAND: frobnicate (type help for the list)',
    'error: USAGE: send <name> <text…>',
  ]);
  assert.equal(output[5], 'replica:   0', 'status still ran');
});

test('script mode: input that ends where the password should be is a failure', options, async (t) => {
  const cluster = await startCluster(t, 1);
  const { code, output } = await script(t, cluster, ['create alice']);
  assert.equal(code, 1);
  assert.equal(output.at(-1), 'error: NO_PASSWORD: the input ended before the password');
  assert.equal(cluster.accounts.size, 0);
});

test('script mode: quit stops reading; what follows is not run', options, async (t) => {
  const cluster = await startCluster(t, 1);
  const { code, output } = await script(t, cluster, ['create alice', 'pw', 'quit', 'create bob', 'pw']);
  assert.equal(code, 0);
  assert.deepEqual(output.slice(1), ['created account alice']);
  assert.deepEqual([...cluster.accounts.keys()], ['alice']);
});

test('script mode: a failover mid-script is one calm line, and the send is done once', options, async (t) => {
  const cluster = await startCluster(t, 2);
  let switched = false;
  cluster.intercept = ({ frame }) => {
    if (switched || frame.type !== 'call' || frame.command.kind !== 'send') return undefined;
    switched = true;
    cluster.primary = 1;
    cluster.view = 1;
    return { action: 'drop-after' };
  };
  const { code, output } = await script(t, cluster, ['create bob', 'pw', 'create alice', 'pw', 'login alice', 'pw', 'send bob hi']);
  assert.equal(code, 0, output.join('\n'));
  assert.deepEqual(output.slice(-2), ['reconnected to replica 1 (view 1)', 'sent #1 to bob']);
  assert.equal(cluster.mailbox('bob').length, 1);
});

test('notices: a pushed message, a lost session and a failover each print one line', options, async (t) => {
  const cluster = await startCluster(t, 2);
  const connector = makeConnector(t, cluster.addresses);
  const notices: string[] = [];
  const passwords = ['pw', 'pw'];
  const shell = new Shell(connector, { print: () => {}, notice: (line) => notices.push(line), readPassword: async () => passwords.shift() ?? null }, { confirmNewPassword: false });
  await shell.run('create bob');
  await shell.run('login bob');
  const pushed = waitFor(connector, 'push', 'the pushed message');
  cluster.deliver('alice', 'bob', 'hi bob');
  await pushed;
  assert.match(notices[0]!, /^\[#1 from alice \d\d:\d\d\] hi bob$/);
  cluster.primary = 1;
  cluster.view = 4;
  cluster.sessions.clear();
  const lost = waitFor(connector, 'session-lost', 'the session-lost event');
  cluster.replicas[0]!.dropConnections();
  await lost;
  assert.deepEqual(notices.slice(1), ['reconnected to replica 1 (view 4)', 'you are logged out: BAD_TOKEN: that session has ended']);
  assert.equal(shell.failures, 0);
});

test('notices: a search for the primary is told calmly — only once it has lasted a second, then at most once a second', options, async (t) => {
  const cluster = await startCluster(t, 1);
  const connector = makeConnector(t, cluster.addresses);
  const notices: string[] = [];
  let now = 0;
  new Shell(connector, { print: () => {}, notice: (line) => notices.push(line), readPassword: async () => null }, { confirmNewPassword: false, now: () => now });
  const searching = (at: number, unreachable: number) => {
    now = at;
    connector.emit('searching', { known: 5, unreachable, parkedAt: null });
  };
  searching(0, 1);
  searching(600, 1);
  assert.deepEqual(notices, [], 'a search shorter than a second is not news');
  searching(1000, 2);
  searching(1500, 2);
  searching(1999, 2);
  searching(2000, 3);
  assert.deepEqual(notices, ['looking for the primary… (2 of 5 replicas unreachable)', 'looking for the primary… (3 of 5 replicas unreachable)']);
  now = 2100;
  connector.emit('found');
  connector.emit('failover', { replica: 2, view: 7, address: cluster.addresses[0]! });
  searching(2200, 0);
  searching(3100, 0);
  assert.deepEqual(notices.slice(2), ['reconnected to replica 2 (view 7)'], 'a new search starts its second afresh');
  now = 3500;
  connector.emit('found'); // back on the same primary: no failover, but the search is over too
  searching(4000, 1);
  assert.deepEqual(notices.slice(3), [], 'a search that just began is not news');
});

test('terminal: passwords are not echoed, pushes print above the prompt, tab completes, quit leaves', options, async (t) => {
  const cluster = await startCluster(t, 1);
  const connector = makeConnector(t, cluster.addresses);
  const keyboard = new PassThrough();
  const screen = new Screen();
  const finished = runTerminal(connector, { input: keyboard, output: screen });
  await screen.shows('chat+> ');
  keyboard.write('create bob\r');
  await screen.shows('password: ');
  keyboard.write('sekrit-1\r');
  await screen.shows('repeat password: ');
  keyboard.write('sekrit-1\r');
  await screen.shows('created account bob');
  keyboard.write('\x1b[A'); // up arrow: the last command, not a password
  await screen.shows('chat+> create bob');
  keyboard.write('\x15'); // Ctrl-U: clear it again
  keyboard.write('login bob\r');
  await screen.shows('password: ');
  keyboard.write('sekrit-1\r');
  await screen.shows('logged in as bob (0 unread)');
  keyboard.write('sen'); // half-typed when the push arrives
  await screen.shows('sen');
  cluster.deliver('alice', 'bob', 'pushed while typing');
  await screen.shows('pushed while typing');
  await screen.shows('chat+> sen'); // the prompt and the half-typed line, redrawn
  // Ctrl-U clears the line; tab completes "status". One key per write, as a person types:
  // readline takes a tab inside a longer chunk for pasted text.
  for (const key of ['\x15', 'sta', '\t', '\r']) keyboard.write(key);
  await screen.shows('user:      bob');
  keyboard.write('quit\r');
  assert.equal(await finished, 0);
  assert.doesNotMatch(screen.text, /sekrit/, 'the password never appears on the screen');
});

test('script mode on a terminal: a message wider than it is broken by the client too, so it cannot forge the next line', options, async (t) => {
  const cluster = await startCluster(t, 1);
  // Padded so that the terminal's own wrap at 80 columns would start a screen line with it.
  const forged = '[#999 from carol 10:43] the meeting moved to 3pm';
  const padding = 'x'.repeat(80 - '[#1 from alice HH:MM] '.length);
  const { code, output } = await script(t, cluster, [
    'create bob', 'pw', 'create alice', 'pw', 'login alice', 'pw', `send bob ${padding}${forged}`, 'logout', 'login bob', 'pw', 'read',
  ]);
  assert.equal(code, 0, output.join('\n'));
  assert.ok(output.includes(`${CONTINUATION}x${forged}`), JSON.stringify(output));
  assert.ok(!output.some((line) => line.startsWith('[#999')));
});

test('terminal: a pushed message wider than the terminal is broken by the REPL, so it cannot forge the next line', options, async (t) => {
  const cluster = await startCluster(t, 1);
  const connector = makeConnector(t, cluster.addresses);
  assert.ok((await connector.createAccount('bob', 'pw')).ok);
  assert.ok((await connector.login('bob', 'pw')).ok);
  const keyboard = new PassThrough();
  const screen = new Screen();
  const finished = runTerminal(connector, { input: keyboard, output: screen });
  await screen.shows('chat+> ');
  // Padded so that the terminal's own wrap at 80 columns would start a screen line with it.
  const forged = '[#999 from carol 10:43] the meeting moved to 3pm';
  cluster.deliver('alice', 'bob', `${'x'.repeat(screen.columns - '[#1 from alice HH:MM] '.length)}${forged}`);
  await screen.shows(forged);
  const lines = screen.text.split('\n');
  assert.ok(lines.includes(`${CONTINUATION}x${forged}`), JSON.stringify(lines));
  assert.ok(!lines.some((line) => line.startsWith('[#999')));
  keyboard.write('quit\r');
  assert.equal(await finished, 0);
});

test('terminal: new passwords that differ create nothing', options, async (t) => {
  const cluster = await startCluster(t, 1);
  const connector = makeConnector(t, cluster.addresses);
  const keyboard = new PassThrough();
  const screen = new Screen();
  const finished = runTerminal(connector, { input: keyboard, output: screen });
  await screen.shows('chat+> ');
  keyboard.write('create bob\r');
  await screen.shows('password: ');
  keyboard.write('one\r');
  await screen.shows('repeat password: ');
  keyboard.write('two\r');
  await screen.shows('error: PASSWORD_MISMATCH');
  keyboard.end(); // Ctrl-D
  assert.equal(await finished, 0);
  assert.equal(cluster.accounts.size, 0);
});
