// Runs an argv from the lab's own process and collects its output.
import { spawn } from 'node:child_process';

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface RunOpts {
  stdin?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** Working directory (default `/`). */
  cwd?: string;
  /** Called with each stderr chunk as it arrives (the demo streams `[#]` lines). */
  onStderr?: (chunk: string) => void;
  onStdout?: (chunk: string) => void;
}

/** How long output may stay silent after a command exited before its pipes are closed (a daemon it left holds them). */
const EXIT_GRACE_MS = 500;

/** Exit code reported when a command was killed for running past its timeout (as timeout(1) does). */
export const TIMEOUT_EXIT = 124;

/** Runs argv (no shell) and resolves with exit code and output; never rejects on a nonzero exit. */
export function run(argv: readonly string[], opts: RunOpts = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const [cmd, ...args] = argv;
    if (!cmd) throw new Error('run: empty argv');
    const child = spawn(cmd, args, { cwd: opts.cwd ?? '/', env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; opts.onStdout?.(d); });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; opts.onStderr?.(d); });
    child.stdin.on('error', () => {});
    child.stdin.end(opts.stdin ?? '');
    const timer = opts.timeoutMs
      ? setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, opts.timeoutMs)
      : undefined;
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      resolve({ exitCode: 127, stdout, stderr: `${stderr}${cmd}: ${e.message}\n` });
    });
    // A command that leaves a daemon behind (`sh -c 'x &'`) exits while the daemon still holds its pipes:
    // resolve shortly after the exit instead of waiting for the daemon to end.
    // Output is never cut: the grace restarts with every chunk, and a due timer first lets pending reads run (setImmediate).
    let exited = false;
    let settled = false;
    let lastData = Date.now();
    const noteData = (): void => { lastData = Date.now(); };
    child.stdout.on('data', noteData);
    child.stderr.on('data', noteData);
    const graceCheck = (): void => {
      if (settled) return;
      if (Date.now() - lastData < EXIT_GRACE_MS) { setTimeout(graceCheck, EXIT_GRACE_MS).unref(); return; }
      setImmediate(() => {
        if (settled) return;
        if (Date.now() - lastData < EXIT_GRACE_MS) { setTimeout(graceCheck, EXIT_GRACE_MS).unref(); return; }
        child.stdout.destroy();
        child.stderr.destroy();
        child.emit('close', child.exitCode, child.signalCode);
      });
    };
    child.on('exit', () => {
      if (exited) return;
      exited = true;
      noteData();
      setTimeout(graceCheck, EXIT_GRACE_MS).unref();
    });
    child.on('close', (code, signal) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      if (timedOut) resolve({ exitCode: TIMEOUT_EXIT, stdout, stderr: `${stderr}[lab] killed after ${opts.timeoutMs} ms: ${argv.join(' ')}\n` });
      else resolve({ exitCode: code ?? 128 + signalNumber(signal), stdout, stderr });
    });
  });
}

/** Runs argv and throws with its stderr when it exits nonzero. */
export async function runOk(argv: readonly string[], opts: RunOpts = {}): Promise<RunResult> {
  const r = await run(argv, opts);
  if (r.exitCode !== 0) throw new Error(`lab: \`${argv.join(' ')}\` exited ${r.exitCode}: ${r.stderr.trim() || r.stdout.trim()}`);
  return r;
}

function signalNumber(signal: NodeJS.Signals | null): number {
  const table: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15, SIGPIPE: 13 };
  return signal ? (table[signal] ?? 0) : 0;
}
