// Runs a child with inherited stdio, forwards signals to it and turns its end into an exit code (128+N for signal N).
import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import { EgressError, NotFoundError, PermissionError } from '@egress/core/errors';

/** Signals always passed on to the child. SIGINT/SIGQUIT too when we are not on a terminal (the terminal sends those to both). */
const FORWARD: NodeJS.Signals[] = ['SIGTERM', 'SIGHUP', 'SIGUSR1', 'SIGUSR2'];
const TERMINAL: NodeJS.Signals[] = ['SIGINT', 'SIGQUIT'];

export interface ChildOptions {
  env: NodeJS.ProcessEnv;
  /** argv[0] the program sees (default: file). */
  argv0?: string;
  /** Called with each signal we receive, after it was forwarded (run uses it to stop a lingering group). */
  onSignal?: (signal: NodeJS.Signals) => void;
  /** Whether the parent's stdin is a terminal (default: process.stdin.isTTY). */
  tty?: boolean;
  /** Give the child a pipe on fd 3 and call this once it is spawned (the supervisor launch gates the app on it). */
  onSpawn?: (child: ChildProcess) => void;
}

/** Exit code of a finished child: its code, or 128 + the number of the signal that ended it. */
export function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (signal) return 128 + (constants.signals[signal] ?? 0);
  return code ?? 1;
}

/** Spawns file with args, stdio inherited, signals forwarded; resolves with the exit code to use. */
export function runChild(file: string, args: string[], options: ChildOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: options.onSpawn ? ['inherit', 'inherit', 'inherit', 'pipe'] : 'inherit', env: options.env, argv0: options.argv0 ?? file });
    if (options.onSpawn && child.pid !== undefined) options.onSpawn(child);
    const tty = options.tty ?? !!process.stdin.isTTY;
    const handlers = new Map<NodeJS.Signals, () => void>();
    for (const sig of [...FORWARD, ...TERMINAL]) {
      const forward = !TERMINAL.includes(sig) || !tty;
      const handler = () => {
        if (forward && child.exitCode === null && child.signalCode === null) child.kill(sig);
        options.onSignal?.(sig);
      };
      handlers.set(sig, handler);
      process.on(sig, handler);
    }
    const cleanup = () => {
      for (const [sig, h] of handlers) process.off(sig, h);
    };
    child.once('error', (err: NodeJS.ErrnoException) => {
      cleanup();
      if (err.code === 'ENOENT') reject(new NotFoundError(`cannot run ${file}: not found`, { cause: err }));
      else if (err.code === 'EACCES') reject(new PermissionError(`cannot run ${file}: permission denied`, { cause: err }));
      else reject(new EgressError('E_SPAWN', `cannot run ${file}: ${err.message}`, { cause: err }));
    });
    child.once('exit', (code, signal) => {
      cleanup();
      resolve(exitCodeOf(code, signal));
    });
  });
}
