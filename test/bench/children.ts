// Every process the benchmark starts besides the replicas (load workers, floor peers) is forked
// through a run's Children, so that one place can kill them all: at the normal end, on an error,
// on Ctrl-C. The registry belongs to the run (run-context.ts) rather than to this module, so
// that tearing a run down kills exactly the processes that run started.
// The replicas belong to the ClusterLauncher, which the bench stops separately.

import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

/** The processes one bench run has forked and that have not exited yet. */
export class Children {
  private readonly running = new Set<ChildProcess>();

  /** Forks a sibling module of this file. Compiled (dist/…/*.js) it runs under plain node, as
   *  the benchmark should; from the TypeScript source (a developer using tsx) it runs under tsx. */
  forkSibling(name: string, args: string[] = [], stdio: 'inherit' | 'ignore' = 'inherit'): ChildProcess {
    const here = fileURLToPath(import.meta.url);
    const typescript = here.endsWith('.ts');
    const script = join(dirname(here), `${name}${typescript ? '.ts' : '.js'}`);
    const child = fork(script, args, {
      execArgv: typescript ? ['--import', 'tsx'] : [],
      stdio: ['ignore', stdio, stdio, 'ipc'],
    });
    this.running.add(child);
    child.once('exit', () => this.running.delete(child));
    return child;
  }

  /** SIGKILLs every child still running. Synchronous, so that it also works from an 'exit'
   *  handler, the last resort when the bench dies by an uncaught error. */
  killAll(): void {
    for (const child of this.running) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    this.running.clear();
  }
}

/** Waits for the first IPC message of `type` from `child`; rejects if it exits first. */
export function nextMessage<T extends { type: string }>(child: ChildProcess, type: T['type'], timeoutMs = 60_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`no '${type}' from child ${child.pid} within ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (message: { type?: string }) => {
      if (message?.type === type) done(null, message as T);
    };
    const onExit = (code: number | null, signal: string | null) => done(new Error(`child ${child.pid} exited (${signal ?? code}) before sending '${type}'`));
    function done(error: Error | null, message?: T): void {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (error) reject(error);
      else resolve(message!);
    }
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}
