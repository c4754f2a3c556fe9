// The REPL on a terminal: a prompt, tab completion of command names, passwords read without
// echo, and lines that arrive on their own (a pushed message, a failover) printed above the
// prompt without garbling what the user is typing.

import { clearLine, createInterface, cursorTo, type Interface } from 'node:readline';
import { Writable } from 'node:stream';
import { completeCommand } from './commands.js';
import type { Connector } from './connector.js';
import { Shell } from './shell.js';

const PROMPT = 'chat+> ';

/** The terminal as readline sees it: the real one, except that it can be muted while a
 *  password is typed, so that readline's echo of each key goes nowhere. */
class MutableOutput extends Writable {
  muted = false;

  constructor(private readonly target: NodeJS.WritableStream & { columns?: number; rows?: number }) {
    super();
    target.on('resize', () => this.emit('resize'));
  }

  /** readline lays out long lines by the terminal's width. */
  get columns(): number | undefined {
    return this.target.columns;
  }

  get rows(): number | undefined {
    return this.target.rows;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (!this.muted) this.target.write(chunk);
    callback();
  }
}

export interface TerminalStreams {
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream & { columns?: number; rows?: number };
}

/** Runs the interactive REPL until `quit`, Ctrl-D or Ctrl-C. Resolves with the exit code. */
export async function runTerminal(connector: Connector, streams: TerminalStreams): Promise<number> {
  const { output } = streams;
  const screen = new MutableOutput(output);
  // Our own history array: readline records every line in it, passwords too, and a password
  // must not come back with the up arrow — so we take those out again.
  const history: string[] = [];
  const rl = createInterface({ input: streams.input, output: screen, terminal: true, completer: completeCommand, prompt: PROMPT, history, historySize: 200 });
  const state = { busy: true, closed: false, pendingNotices: [] as string[] };
  rl.on('SIGINT', () => rl.close());
  rl.on('close', () => {
    // Ctrl-C or Ctrl-D: stop waiting for the cluster too.
    state.closed = true;
    void connector.close();
  });

  const notice = (line: string): void => {
    if (screen.muted) return void state.pendingNotices.push(line); // a password is being typed
    if (state.busy) return void output.write(`${line}\n`); // no prompt is showing
    clearLine(output, 0);
    cursorTo(output, 0);
    output.write(`${line}\n`);
    rl.prompt(true); // the prompt again, with what the user had typed so far
  };
  const readPassword = async (prompt: string): Promise<string | null> => {
    if (state.closed) return null;
    return readHidden(rl, screen, history, prompt, state.pendingNotices, notice);
  };
  const shell = new Shell(connector, { print: (line) => output.write(`${line}\n`), notice, readPassword }, { confirmNewPassword: true });

  // prompt(true) keeps the cursor where it is: a user may have typed ahead while we were busy.
  await shell.start();
  state.busy = false;
  rl.prompt(true);
  for await (const line of rl) {
    state.busy = true;
    if ((await shell.run(line)) === 'quit') break;
    state.busy = false;
    rl.prompt(true);
  }
  rl.close();
  await connector.close();
  return 0;
}

/** Reads one line with the echo off. Resolves null if the terminal closes first. */
function readHidden(rl: Interface, screen: MutableOutput, history: string[], prompt: string, held: string[], notice: (line: string) => void): Promise<string | null> {
  return new Promise((resolve) => {
    const onClose = (): void => finish(null);
    const finish = (answer: string | null): void => {
      rl.off('close', onClose);
      screen.muted = false;
      screen.write('\n'); // the Enter that readline echoed while muted
      if (answer !== null && history[0] === answer) history.shift();
      for (const line of held.splice(0)) notice(line);
      resolve(answer);
    };
    rl.once('close', onClose);
    rl.question(prompt, (answer) => finish(answer));
    screen.muted = true; // after the prompt is written, before the first key
  });
}
