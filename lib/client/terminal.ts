// The REPL on a terminal: a prompt, tab completion of command names, passwords read without
// echo, and lines that arrive on their own (a pushed message, a failover) printed above the
// prompt without garbling what the user is typing. Every line is broken to the terminal's width
// by the REPL, never by the terminal (the screen-line rule in format.ts).

import { clearLine, createInterface, cursorTo, type Interface } from 'node:readline';
import { Writable } from 'node:stream';
import { completeCommand } from './commands.js';
import type { Connector } from './connector.js';
import { onScreen } from './format.js';
import { Shell } from './shell.js';

const PROMPT = 'chat+> ';
const HISTORY_LINES = 200;

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

interface TerminalStreams {
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream & { columns?: number; rows?: number };
}

/** Runs the interactive REPL until `quit`, Ctrl-D or Ctrl-C. Resolves with the exit code. */
export async function runTerminal(connector: Connector, streams: TerminalStreams): Promise<number> {
  await new Terminal(connector, streams).run();
  return 0;
}

class Terminal {
  private readonly screen: MutableOutput;
  /** Our own history array: readline records every line in it, passwords too, and a password
   *  must not come back with the up arrow — so readPassword takes them out again. */
  private readonly history: string[] = [];
  private readonly rl: Interface;
  private readonly shell: Shell;
  /** A command is running: no prompt is showing. */
  private busy = true;
  /** The user closed the terminal (Ctrl-C, Ctrl-D). */
  private closed = false;
  /** Notices that arrived while a password was being typed, shown after it. */
  private readonly held: string[] = [];

  constructor(
    private readonly connector: Connector,
    private readonly streams: TerminalStreams,
  ) {
    this.screen = new MutableOutput(streams.output);
    this.rl = createInterface({
      input: streams.input,
      output: this.screen,
      terminal: true,
      completer: completeCommand,
      prompt: PROMPT,
      history: this.history,
      historySize: HISTORY_LINES,
    });
    this.rl.on('SIGINT', () => this.rl.close());
    this.rl.on('close', () => {
      // Ctrl-C or Ctrl-D: stop waiting for the cluster too.
      this.closed = true;
      void connector.close();
    });
    const io = {
      print: (line: string) => void streams.output.write(onScreen(line, streams.output)),
      notice: (line: string) => this.notice(line),
      readPassword: (prompt: string) => this.readPassword(prompt),
    };
    this.shell = new Shell(connector, io, { confirmNewPassword: true });
  }

  async run(): Promise<void> {
    // prompt(true) keeps the cursor where it is: a user may have typed ahead while we were busy.
    await this.shell.start();
    this.busy = false;
    this.rl.prompt(true);
    for await (const line of this.rl) {
      this.busy = true;
      if ((await this.shell.run(line)) === 'quit') break;
      this.busy = false;
      this.rl.prompt(true);
    }
    this.rl.close();
    await this.connector.close();
  }

  /** Prints a line that arrived on its own above the prompt, then redraws the prompt with what
   *  the user had typed so far. */
  private notice(line: string): void {
    const output = this.streams.output;
    if (this.screen.muted) return void this.held.push(line); // a password is being typed
    if (this.busy) return void output.write(onScreen(line, output)); // no prompt is showing
    clearLine(output, 0);
    cursorTo(output, 0);
    output.write(onScreen(line, output));
    this.rl.prompt(true);
  }

  /** Reads one line with the echo off. Resolves null if the terminal closes first. */
  private readPassword(prompt: string): Promise<string | null> {
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve) => {
      const onClose = (): void => finish(null);
      const finish = (answer: string | null): void => {
        this.rl.off('close', onClose);
        this.screen.muted = false;
        this.screen.write('\n'); // the Enter that readline echoed while muted
        if (answer !== null && this.history[0] === answer) this.history.shift();
        for (const line of this.held.splice(0)) this.notice(line);
        resolve(answer);
      };
      this.rl.once('close', onClose);
      this.rl.question(prompt, (answer) => finish(answer));
      this.screen.muted = true; // after the prompt is written, before the first key
    });
  }
}
