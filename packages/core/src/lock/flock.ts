// One lock per resource, held by the kernel (flock(2) through util-linux `flock`): a holder that dies — even by
// SIGKILL — releases it at once, so there is never a stale lock to take over. The lock file names its holder
// (pid and command) for the messages of those who wait or are refused.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConflictError, EgressError } from '../errors.js';

/** Who holds a lock, as written in the lock file. */
export interface LockHolder {
  pid: number;
  command: string;
  since: string;
}

export interface LockOptions {
  /** The lock file (its directory is created 0700). */
  path: string;
  /** What this process is doing, shown to others who wait: "egress-client up". */
  command: string;
  /** How long to wait for a busy lock; 0 refuses at once. */
  waitMs: number;
  /** Called once when the lock is busy and this process starts to wait. */
  onWait?: (holder: string) => void;
}

/** A held lock; `release` is idempotent (dying releases it too). */
export interface HeldLock {
  release(): Promise<void>;
}

/** "pid 123 (egress-client up, since 12:00:01Z)", or what is known when the file is empty or unreadable. */
export function describeHolder(path: string): string {
  try {
    const h = JSON.parse(readFileSync(path, 'utf8')) as LockHolder;
    process.kill(h.pid, 0); // a dead writer's name (it was killed) is not the holder's
    return `pid ${h.pid} (${h.command}, since ${h.since})`;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EPERM') return describeHolder(path);
    return UNKNOWN_HOLDER;
  }
}

const UNKNOWN_HOLDER = 'another process (its name is not written yet)';

/** The holder's name; a holder that just took the lock writes it within milliseconds, so wait briefly for it. */
async function holderName(path: string): Promise<string> {
  for (let i = 0; i < 50; i++) {
    const h = describeHolder(path);
    if (h !== UNKNOWN_HOLDER) return h;
    await new Promise((r) => setTimeout(r, 10));
  }
  return UNKNOWN_HOLDER;
}

const BUSY = 75;

/** How long a change waits for another one: EGRESS_LOCK_WAIT_MS when set (0 refuses at once), else `fallbackMs`. */
export function lockWaitMs(fallbackMs: number, env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.EGRESS_LOCK_WAIT_MS);
  return env.EGRESS_LOCK_WAIT_MS !== undefined && env.EGRESS_LOCK_WAIT_MS !== '' && Number.isFinite(n) && n >= 0 ? n : fallbackMs;
}

/** Starts `flock` holding `path` until its stdin closes; resolves true once held, false when busy or timed out. */
function tryFlock(path: string, waitSeconds: number): Promise<{ held: boolean; child: ChildProcessWithoutNullStreams }> {
  const args = waitSeconds > 0 ? ['-w', String(waitSeconds)] : ['-n'];
  // `cat` keeps the lock until our end of its stdin closes: on release, on exit, or when the kernel reaps us.
  const child = spawn('flock', [...args, '-E', String(BUSY), path, 'sh', '-c', 'echo held && exec cat >/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += String(d);
      if (out.includes('held')) resolve({ held: true, child });
    });
    child.stderr.on('data', (d: Buffer) => (err += String(d)));
    child.once('error', (e) => reject(new EgressError('E_LOCK', `cannot run flock (util-linux) for ${path}: ${e.message}`, { cause: e })));
    child.once('exit', (code) => {
      if (out.includes('held')) return;
      if (code === BUSY) resolve({ held: false, child });
      else reject(new EgressError('E_LOCK', `flock ${path} failed (exit ${code}): ${err.trim()}`));
    });
  });
}

/**
 * Takes the lock at `path`: at once when free; else says who holds it (onWait) and waits up to `waitMs`;
 * refuses with the holder when it is still busy then (or at once with waitMs 0).
 */
export async function acquireLock(options: LockOptions): Promise<HeldLock> {
  mkdirSync(dirname(options.path), { recursive: true, mode: 0o700 });
  let attempt = await tryFlock(options.path, 0);
  if (!attempt.held) {
    const holder = await holderName(options.path);
    if (options.waitMs <= 0) throw new ConflictError(`${options.command}: refused, ${holder} is changing the same thing (lock ${options.path})`, { hint: 'wait for it to finish, then run this again' });
    options.onWait?.(holder);
    attempt = await tryFlock(options.path, Math.max(1, Math.ceil(options.waitMs / 1000)));
    if (!attempt.held) {
      throw new ConflictError(`${options.command}: gave up after ${Math.round(options.waitMs / 1000)} s waiting for ${describeHolder(options.path)} (lock ${options.path})`, {
        hint: 'wait for it to finish, then run this again',
      });
    }
  }
  const holder: LockHolder = { pid: process.pid, command: options.command, since: new Date().toISOString().replace(/\.\d+Z$/, 'Z') };
  writeFileSync(options.path, `${JSON.stringify(holder)}\n`, { mode: 0o600 });
  const child = attempt.child;
  let released: Promise<void> | undefined;
  return {
    release: () =>
      (released ??= new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        // Forget our name before the kernel lets the next holder in, so nobody is told a finished holder's name.
        try {
          writeFileSync(options.path, '');
        } catch {
          // the name stays; describeHolder checks that its pid lives
        }
        child.once('exit', () => resolve());
        child.stdin.end();
      })),
  };
}

/** Runs `fn` holding the lock; releases it however `fn` ends. */
export async function withLock<T>(options: LockOptions, fn: () => Promise<T>): Promise<T> {
  const lock = await acquireLock(options);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}
