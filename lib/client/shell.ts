// The REPL's meaning, apart from its terminal: runs one typed line against a connector and says
// what happened in lines of text. The terminal (terminal.ts) and script mode (script.ts) differ
// only in how they read lines and passwords and where they print, which ShellIo hides.

import type { ChatResults } from '../chat/types.js';
import { parseCommand, type Command } from './commands.js';
import type { Connector, ReplyTo } from './connector.js';
import { ClientError } from './errors.js';
import {
  formatDeleted,
  formatError,
  formatHelp,
  formatList,
  formatLogin,
  formatMessage,
  formatRead,
  formatSearching,
  formatSent,
  formatStatus,
  printable,
} from './format.js';

interface ShellIo {
  /** A line of a command's output. */
  print(line: string): void;
  /** A line that arrives on its own (a message, a failover), between commands or during one. */
  notice(line: string): void;
  /** The next password, or null if the input ended first. */
  readPassword(prompt: string): Promise<string | null>;
}

interface ShellOptions {
  /** Ask for a new account's password twice (on a terminal, where a typo is invisible). */
  confirmNewPassword: boolean;
  /** Milliseconds on a clock that never goes back: performance.now() unless a test injects one. */
  now?: () => number;
}

/** A search for the primary is worth a line only once it has lasted this long, and then at most
 *  one line per this long: a failover that takes a quarter of a second is not news. */
const SEARCH_NOTICE_MS = 1000;

export class Shell {
  /** Commands that failed so far (script mode exits non-zero if any did). */
  failures = 0;
  private readonly now: () => number;
  /** When the connector began waiting for a primary (null: it is not waiting), and when the
   *  last line about it was printed. */
  private searchingSince: number | null = null;
  private searchNoticeAt = -Infinity;

  constructor(
    private readonly connector: Connector,
    private readonly io: ShellIo,
    private readonly options: ShellOptions,
  ) {
    this.now = options.now ?? (() => performance.now());
    connector.on('push', (message) => io.notice(formatMessage(message)));
    connector.on('searching', (progress) => this.searching(formatSearching(progress)));
    connector.on('found', () => (this.searchingSince = null));
    connector.on('failover', ({ replica, view }) => io.notice(`reconnected to replica ${replica} (view ${view})`));
    connector.on('session-lost', (reason) => io.notice(`you are logged out: ${printable(reason)}`));
    connector.on('offline', (reason) => {
      io.notice(`lost contact with the cluster (${printable(reason)}); will try again at the next command`);
    });
  }

  /** Finds the primary before the first command, so that the user sees where they are. */
  async start(): Promise<void> {
    await this.guard(async () => {
      await this.connector.connect();
      const { replica, view, address } = this.connector.status();
      this.io.print(`connected to replica ${replica} (view ${view}) at ${printable(String(address))}`);
    });
  }

  /** Runs one line. Resolves 'quit' when the user asked to leave. */
  async run(line: string): Promise<'continue' | 'quit'> {
    const parsed = parseCommand(line);
    if (parsed === null) return 'continue';
    if (!parsed.ok) {
      this.fail(`error: ${parsed.code}: ${parsed.message}`);
      return 'continue';
    }
    if (parsed.command.name === 'quit') return 'quit';
    const command = parsed.command;
    await this.guard(() => this.execute(command));
    return 'continue';
  }

  /** Runs `work`; a ClientError (no answer, connector closed, …) is that command's failure. */
  private async guard(work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (error) {
      if (!(error instanceof ClientError)) throw error;
      this.fail(formatError(error.code, error.message));
    } finally {
      this.searchingSince = null; // answered or given up: the search is over either way
    }
  }

  /** The connector is waiting for a primary: say so calmly — only once the wait has lasted
   *  SEARCH_NOTICE_MS, and then at most once per SEARCH_NOTICE_MS. */
  private searching(line: string): void {
    const now = this.now();
    this.searchingSince ??= now;
    if (now - this.searchingSince < SEARCH_NOTICE_MS || now - this.searchNoticeAt < SEARCH_NOTICE_MS) return;
    this.searchNoticeAt = now;
    this.io.notice(line);
  }

  private async execute(command: Exclude<Command, { name: 'quit' }>): Promise<void> {
    const connector = this.connector;
    switch (command.name) {
      case 'create':
        return this.create(command.account);
      case 'login':
        return this.login(command.account);
      case 'logout':
        return this.report(await connector.call({ kind: 'logout' }), () => 'logged out');
      case 'list':
        return this.report(await connector.call({ kind: 'list', pattern: command.pattern, page: command.page }), formatList);
      case 'send':
        return this.report(await connector.call({ kind: 'send', to: command.to, text: command.text }), formatSent);
      case 'read':
        return this.report(await connector.call({ kind: 'read', count: command.count }), formatRead);
      case 'delete':
        return this.report(await connector.call({ kind: 'delete', ids: command.ids }), formatDeleted);
      case 'delete-account':
        return this.report(await connector.call({ kind: 'delete-account' }), (r) => `deleted account ${printable(r.name)}`);
      case 'status':
        return formatStatus(this.connector.status()).forEach((line) => this.io.print(line));
      case 'help':
        return formatHelp(command.topic).forEach((line) => this.io.print(line));
    }
  }

  private async create(account: string): Promise<void> {
    const password = await this.io.readPassword('password: ');
    if (!this.usablePassword(password)) return;
    if (this.options.confirmNewPassword && (await this.io.readPassword('repeat password: ')) !== password) {
      return this.fail('error: PASSWORD_MISMATCH: the two passwords differ; nothing was created');
    }
    this.report(await this.connector.createAccount(account, password), (r) => `created account ${printable(r.name)}`);
  }

  private async login(account: string): Promise<void> {
    const password = await this.io.readPassword('password: ');
    if (!this.usablePassword(password)) return;
    this.report(await this.connector.login(account, password), formatLogin);
  }

  private usablePassword(password: string | null): password is string {
    if (password === null) this.fail('error: NO_PASSWORD: the input ended before the password');
    else if (password === '') this.fail('error: NO_PASSWORD: the password is empty');
    return password !== null && password !== '';
  }

  private report<K extends keyof ChatResults>(reply: ReplyTo<K>, describe: (result: ChatResults[K]) => string | string[]): void {
    if (!reply.ok) return this.fail(formatError(reply.error.code, reply.error.message));
    for (const line of [describe(reply.result)].flat()) this.io.print(line);
  }

  private fail(line: string): void {
    this.failures += 1;
    this.io.print(line);
  }
}
