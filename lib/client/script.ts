// Script mode: the REPL reading commands from a pipe or a file instead of a person. One command
// per line; the line after `create` or `login` is the password. Output is what a person would
// see, without prompts. At the end of the input the connector is closed (pending acks go out
// first) and the exit code says whether every command succeeded.

import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import type { Connector } from './connector.js';
import { onScreen } from './format.js';
import { Shell } from './shell.js';

/** Runs the script on `input` and resolves with the exit code: 0 if every command succeeded. */
export async function runScript(connector: Connector, input: Readable, output: Writable): Promise<number> {
  const lines = createInterface({ input, crlfDelay: Infinity });
  const reader = lines[Symbol.asyncIterator]();
  const nextLine = async (): Promise<string | null> => {
    const next = await reader.next();
    return next.done === true ? null : next.value;
  };
  // A script's output may still be read by a person: on a terminal it follows the screen-line
  // rule of format.ts, so that no message can forge the line after it.
  const write = (line: string): void => void output.write(onScreen(line, output as { columns?: number }));
  const shell = new Shell(connector, { print: write, notice: write, readPassword: nextLine }, { confirmNewPassword: false });
  try {
    await shell.start();
    for (let line = await nextLine(); line !== null; line = await nextLine()) {
      if ((await shell.run(line)) === 'quit') break;
    }
  } finally {
    lines.close();
    await connector.close();
  }
  return shell.failures === 0 ? 0 : 1;
}
