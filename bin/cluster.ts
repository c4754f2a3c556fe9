// bin/cluster — what `make run-cluster` runs: a local cluster of replica processes and a console
// to watch and break it.
//
// On a terminal the console redraws a status table and reads commands (kill, start, partition,
// heal, status, quit). With standard input from a file or pipe it reads the same commands from
// it, prints one line per event instead of redrawing, and after the end of input keeps the
// cluster up until SIGINT or SIGTERM — so a demo or a test can script it.

import { parseArgs } from 'node:util';
import { createInterface } from 'node:readline';
import { prepareLocalCluster } from '../lib/cluster/local.js';
import { ClusterLauncher } from '../lib/cluster/launcher.js';
import { CONSOLE_HELP, parseConsoleCommand, renderTable } from '../lib/cluster/console.js';
import { ConfigError } from '../lib/server/config.js';

const USAGE = `usage: bin/cluster [--replicas N] [--port P] [--data DIR]

  --replicas N   how many replicas (1, 3, 5 or 7; default 5)
  --port P       first client port; replica i listens for clients on P+i and for peers on P+100+i
                 (default 7001)
  --data DIR     where the config, each replica's data and each replica's log live (default ./data)
  --help         this text

${CONSOLE_HELP}`;

const REDRAW_MS = 500;

function die(message: string): never {
  process.stderr.write(`bin/cluster: ${message}\n`);
  process.exit(2);
}

function parseFlags() {
  try {
    const { values } = parseArgs({
      options: {
        replicas: { type: 'string', default: '5' },
        port: { type: 'string', default: '7001' },
        data: { type: 'string', default: 'data' },
        help: { type: 'boolean', default: false },
      },
      strict: true,
      allowPositionals: false,
    });
    if (values.help) {
      process.stdout.write(USAGE + '\n');
      process.exit(0);
    }
    const replicas = Number(values.replicas);
    const port = Number(values.port);
    if (![1, 3, 5, 7].includes(replicas)) die('--replicas must be 1, 3, 5 or 7');
    if (!Number.isInteger(port) || port < 1 || port + 100 + replicas > 65535) die('--port must leave room for P..P+100+N below 65536');
    return { replicas, port, data: values.data };
  } catch (error) {
    return die(`${(error as Error).message}\n${USAGE}`);
  }
}

async function main(): Promise<void> {
  const flags = parseFlags();
  let prepared;
  try {
    prepared = await prepareLocalCluster({ replicas: flags.replicas, port: flags.port, dataDir: flags.data });
  } catch (error) {
    if (error instanceof ConfigError) die(error.message);
    throw error;
  }
  const { config, configPath, created } = prepared;
  const interactive = Boolean(process.stdin.isTTY && process.stdout.isTTY);
  const launcher = new ClusterLauncher(configPath, flags.data, config.replicas.length);
  const say = (line: string) => process.stdout.write(line + '\n');
  say(`${created ? 'created' : 'using'} cluster "${config.cluster}" in ${flags.data}: ${config.replicas.length} replicas, clients on ${config.replicas.map((r) => r.client).join(' ')}`);
  say(`replica logs: ${flags.data}/replica-<id>.log`);
  watchEvents(launcher, interactive ? null : say);
  for (const slot of launcher.slots) launcher.start(slot.id);

  let quitting = false;
  const quit = async (reason: string) => {
    if (quitting) return;
    quitting = true;
    say(`stopping every replica (${reason})`);
    await launcher.stopAll();
    say('all replicas stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void quit('SIGINT'));
  process.on('SIGTERM', () => void quit('SIGTERM'));

  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: interactive });
  if (interactive) startRedraw(launcher, rl);
  rl.on('line', (line) => {
    const command = parseConsoleCommand(line, launcher.slots.length);
    switch (command.kind) {
      case 'kill':
        say(launcher.kill(command.id) ? `killing replica ${command.id} (SIGKILL)` : `replica ${command.id} is not running`);
        break;
      case 'start':
        if (launcher.slots[command.id]!.process) say(`replica ${command.id} is already running`);
        else launcher.start(command.id);
        break;
      case 'partition':
        say(launcher.setPartitioned(command.id, true) ? `replica ${command.id} partitioned from its peers` : `replica ${command.id} is not running`);
        break;
      case 'heal':
        for (const slot of launcher.slots) {
          if (command.id === null || command.id === slot.id) launcher.setPartitioned(slot.id, false);
        }
        say(command.id === null ? 'all partitions healed' : `replica ${command.id} healed`);
        break;
      case 'status':
        say(renderTable(launcher.slots));
        break;
      case 'help':
        say(CONSOLE_HELP);
        break;
      case 'quit':
        void quit('quit');
        return;
      case 'error':
        say(`error: ${command.message}`);
        break;
      case 'empty':
        break;
    }
    if (interactive) rl.prompt();
  });
  rl.on('close', () => {
    if (interactive) void quit('end of input');
    // Not a terminal: the cluster stays up after the script ends, until SIGINT/SIGTERM.
  });
  if (interactive) rl.prompt();
}

/** One line per event when not on a terminal: starts, exits, and each new primary. */
function watchEvents(launcher: ClusterLauncher, say: ((line: string) => void) | null): void {
  let announced = '';
  launcher.on('start', (id: number, pid: number) => say?.(`replica ${id} started (pid ${pid})`));
  launcher.on('exit', (id: number, how: string) => say?.(`replica ${id} stopped: ${how}`));
  launcher.on('status', (id: number, status: { isPrimary: boolean; status: string; view: number }) => {
    if (!status.isPrimary || status.status !== 'normal') return;
    const key = `${id}@${status.view}`;
    if (key === announced) return;
    announced = key;
    say?.(`replica ${id} is primary of view ${status.view}`);
  });
}

function startRedraw(launcher: ClusterLauncher, rl: ReturnType<typeof createInterface>): void {
  let last = '';
  const timer = setInterval(() => {
    const table = renderTable(launcher.slots);
    if (table === last) return;
    last = table;
    process.stdout.write('\x1b[s\x1b[H\x1b[2K' + table.split('\n').join('\n\x1b[2K') + '\n\x1b[u');
    rl.prompt(true);
  }, REDRAW_MS);
  timer.unref();
  process.stdout.write('\x1b[2J\x1b[H' + '\n'.repeat(launcher.slots.length + 2));
  rl.setPrompt('cluster> ');
}

main().catch((error: unknown) => {
  process.stderr.write(`bin/cluster: ${(error as Error).stack ?? error}\n`);
  process.exit(1);
});
