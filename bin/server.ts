// bin/server — runs one replica of a Chat+ cluster.
//
//   bin/server --config cluster.json --id 2            run replica 2
//   bin/server --config cluster.json --id 2 --format   create replica 2's empty data directory, then exit
//   bin/server --config cluster.json --id 2 --format-replacement
//                                                      the same, for a replica whose disk was lost:
//                                                      it starts damaged and repairs from its peers
//
// A replica never creates its own state on start-up: a missing or empty data directory is an error
// (disk rule D7, docs/architecture.md), because a replica that silently started empty could vote
// away messages it had acknowledged. `--format` is the one explicit way to make a new replica;
// `--format-replacement` the one way to replace a replica of a running cluster whose disk is gone
// (docs/storage.md, "Replacing a lost disk").

import { parseArgs } from 'node:util';
import { loadConfig, replicaById, ConfigError } from '../lib/server/config.js';
import { formatDataDir, formatReplacementDataDir, StorageError } from '../lib/storage/replica-store.js';
import { ReplicaServer } from '../lib/server/replica-server.js';
import type { Level } from '../lib/server/logger.js';

const USAGE = `usage: bin/server --config <file> --id <n> [--format | --format-replacement] [--log-level debug|info|warn|error]

  --config <file>   cluster configuration (JSON; see docs/implementation.md)
  --id <n>          which replica of the config this process is
  --format          create this replica's empty data directory and exit
  --format-replacement
                    the same, for a replica that replaces one whose disk was lost: it starts
                    damaged, votes in nothing, and takes its log from a primary before it does
  --log-level <l>   least severe level to print (default info)
  --help            this text`;

const STATUS_INTERVAL_MS = 200;

function die(message: string, code = 2): never {
  process.stderr.write(`bin/server: ${message}\n`);
  process.exit(code);
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        config: { type: 'string' },
        id: { type: 'string' },
        format: { type: 'boolean', default: false },
        'format-replacement': { type: 'boolean', default: false },
        'log-level': { type: 'string', default: 'info' },
        help: { type: 'boolean', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    die(`${(error as Error).message}\n${USAGE}`);
  }
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  if (!values.config || values.id === undefined) die(`--config and --id are required\n${USAGE}`);
  if (!/^\d+$/.test(values.id)) die(`--id must be a replica number, got "${values.id}"`);
  const level = values['log-level'] as Level;
  if (!['debug', 'info', 'warn', 'error'].includes(level)) die(`--log-level must be debug, info, warn or error`);
  const id = Number(values.id);
  const config = loadConfig(values.config);
  const self = replicaById(config, id);
  if (values.format && values['format-replacement']) die(`--format and --format-replacement exclude each other\n${USAGE}`);
  if (values.format || values['format-replacement']) {
    const identity = { cluster: config.cluster, replica: id };
    if (values.format) await formatDataDir(self.data, identity);
    else await formatReplacementDataDir(self.data, identity);
    const as = values.format ? '' : ' (a replacement: it repairs from its peers before it votes)';
    process.stdout.write(`formatted ${self.data} for replica ${id} of cluster "${config.cluster}"${as}\n`);
    return;
  }
  await serve(config, id, level);
}

async function serve(config: ReturnType<typeof loadConfig>, id: number, level: Level): Promise<void> {
  // Under bin/cluster, a control channel: status reports up (every STATUS_INTERVAL_MS, and at
  // once when status, view or role change), partition commands down.
  const report = () => process.send?.({ type: 'status', status: server.status() });
  const server = new ReplicaServer({ config, id, logLevel: level, onFatal: () => process.exit(1), ...(process.send ? { onRoleChange: report } : {}) });
  await server.start();
  if (process.send) {
    const timer = setInterval(report, STATUS_INTERVAL_MS);
    timer.unref();
    report();
    process.on('message', (message: { type?: string; partitioned?: boolean }) => {
      if (message?.type === 'partition') server.setPartitioned(Boolean(message.partitioned));
    });
    process.on('disconnect', () => void stop('parent-gone'));
  }
  let stopping = false;
  const stop = async (reason: string) => {
    if (stopping) return;
    stopping = true;
    server.logger.log('info', 'stopping', { reason });
    await server.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof StorageError) die(error.message, 1);
  const code = (error as { code?: string }).code;
  if (code === 'EADDRINUSE' || code === 'EADDRNOTAVAIL' || code === 'EACCES') {
    die(`cannot listen: ${(error as Error).message} (is another replica running, or is this address not on this machine?)`, 1);
  }
  throw error;
});
