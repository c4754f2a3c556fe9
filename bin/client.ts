// The Chat+ REPL: `client [--server host:port[,host:port…]] [--verbose] [--help]`.
// On a terminal it is interactive (lib/client/terminal.ts); with stdin from a pipe or a file it
// runs the lines as a script (lib/client/script.ts) and exits non-zero if any command failed.
// Run it as `node --import tsx bin/client.ts` from the source, or from the build in dist/.

import { parseArgs } from 'node:util';
import { Connector } from '../lib/client/connector.js';
import { runScript } from '../lib/client/script.js';
import { parseServerList } from '../lib/client/servers.js';
import { runTerminal } from '../lib/client/terminal.js';

/** The client listeners of the local cluster that `make run-cluster` starts. */
const DEFAULT_SERVERS = '127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003,127.0.0.1:7004,127.0.0.1:7005';

const USAGE = `usage: client [--server host:port[,host:port…]] [--verbose] [--help]

  --server, -s   client addresses of replicas to start from (default 127.0.0.1:7001 to
                 127.0.0.1:7005); any one will do, a backup tells where the primary is
  --verbose, -v  log reconnects and retries to stderr
  --help, -h     show this text

On a terminal the client is interactive (type help). With stdin from a pipe or a file it reads
one command per line, the line after create or login being the password, and exits 1 if any
command failed.
`;

/** Exit code 2: the command line itself was wrong. */
const EXIT_USAGE = 2;

interface Options {
  servers: string[];
  verbose: boolean;
  help: boolean;
}

/** The options, or the text of what is wrong with them. */
function parseOptions(argv: string[]): Options | string {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        server: { type: 'string', short: 's' },
        verbose: { type: 'boolean', short: 'v', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    if (!(error instanceof TypeError && String((error as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS'))) throw error;
    return error.message;
  }
  try {
    return { servers: parseServerList(values.server ?? DEFAULT_SERVERS), verbose: values.verbose, help: values.help };
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    return error.message;
  }
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  if (typeof options === 'string') {
    process.stderr.write(`client: ${options}\n(client --help shows the usage)\n`);
    return EXIT_USAGE;
  }
  if (options.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const log = options.verbose ? (line: string) => void process.stderr.write(`[client] ${line}\n`) : undefined;
  const connector = new Connector({ servers: options.servers, log });
  if (process.stdin.isTTY) return runTerminal(connector, { input: process.stdin, output: process.stdout });
  const code = await runScript(connector, process.stdin, process.stdout);
  // A script may end with `quit` before its input does; stop reading so that the process ends.
  process.stdin.destroy();
  return code;
}

process.exitCode = await main();
