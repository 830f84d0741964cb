// The VPS's own change lock: two operator machines (each with its own local lock) changing the same VPS take turns.
// One exec on the session's connection runs `flock` on /run/egress-server/change.lock and keeps its channel open
// for the whole session; the remote `cat` holding it ends when our end closes — on release, when the connection
// closes, or when sshd sees the operator die — so a lock never outlives its holder (the kernel drops a flock with
// its last process). The holder's name (operator user@host, pid, command, since) is written beside it.
import { hostname, userInfo } from 'node:os';
import { ConflictError, EgressError, PermissionError } from '@egress/core';
import { isSudoPasswordError, type HeldChannel } from './ssh-host.js';
import { span } from '../timing.js';

export const REMOTE_LOCK_DIR = '/run/egress-server';
export const REMOTE_LOCK_PATH = `${REMOTE_LOCK_DIR}/change.lock`;
const BUSY = 75;
/** The lock directory cannot be made: not root (the root check that follows refuses with its own message). */
const NO_DIR = 3;

/**
 * $1: seconds to wait (0: refuse at once); $2: our holder line; $3: the lock directory. Prints `busy HOLDER` when another holds it
 * (reading its name for up to a second, as a new holder writes it right after taking the lock), then `held`.
 * $4 (may be empty): a batch script (batch-script.ts) run once the lock is held, in the same exec, its output after `held`
 * and then `\n$5 DONE <exit>` ($5: its marker): the first read of a run costs no round trip of its own.
 */
export const REMOTE_LOCK_SCRIPT = [
  'd=$3',
  `mkdir -p -m 0700 "$d" 2>/dev/null && exec 9>>"$d/change.lock" || exit ${NO_DIR}`,
  'if ! flock -n 9; then',
  '  i=0; h=""',
  `  while [ $i -lt 10 ]; do h=$(cat "$d/change.holder" 2>/dev/null); [ -n "$h" ] && break; sleep 0.1; i=$((i+1)); done`,
  '  echo "busy $h"',
  `  [ "$1" -gt 0 ] && flock -w "$1" 9 || exit ${BUSY}`,
  'fi',
  `printf '%s\\n' "$2" > "$d/change.holder"`,
  'echo held',
  'if [ -n "$4" ]; then sh -c "$4" egress-batch </dev/null; printf \'\\n%s DONE %s\\n\' "$5" "$?"; fi',
  'cat >/dev/null',
  // Forget our name before the lock goes, so nobody waiting is told a finished holder's name.
  ': > "$d/change.holder"',
].join('\n');

/** Who holds the VPS's lock, as written on the VPS. */
export interface RemoteHolder {
  by: string;
  pid: number;
  command: string;
  since: string;
}

/** "pid 123 of root@laptop (egress-server provision root@vps, since 12:00:01Z)"; the raw text when it is not ours. */
export function describeRemoteHolder(line: string): string {
  try {
    const h = JSON.parse(line) as RemoteHolder;
    if (typeof h.pid === 'number' && typeof h.by === 'string') return `pid ${h.pid} of ${h.by} (${h.command}, since ${h.since})`;
  } catch {
    // fall through
  }
  return line.trim() ? `an unknown holder (${line.trim().slice(0, 120)})` : 'another operator (its name is not written yet)';
}

export interface RemoteLockOptions {
  /** What we do, shown to others: "egress-server provision root@vps". */
  command: string;
  /** The VPS as named in messages. */
  target: string;
  waitMs: number;
  onWait: (holder: string) => void;
  /** The lock directory (tests); default /run/egress-server. */
  dir?: string;
}

/** The part of SshHost the lock needs. */
export interface HoldingHost {
  hold(argv: readonly string[], onData: (text: string) => void): Promise<HeldChannel>;
}

/** A held VPS lock; `release` is idempotent (closing the connection releases it too). */
export interface HeldRemoteLock {
  release(): Promise<void>;
  /** What the first batch printed (stdout) and its exit code, when one was given. */
  batch?: { exitCode: number; stdout: string };
}

/** A batch to run under the lock in the lock's own exec: its script and the marker its output is split on. */
export interface LockBatch {
  script: string;
  marker: string;
}

/**
 * Splits what came after `held`: the batch's stdout and exit code once its DONE line is there, else undefined.
 * `from`: where to start looking (what earlier calls already searched, less a line's length): the output of a large
 * batch arrives in many chunks and is searched once, not once per chunk.
 */
export function batchDone(text: string, marker: string, from = 0): { exitCode: number; stdout: string } | undefined {
  const re = new RegExp(`\\n${marker} DONE (\\d+)\\n`, 'g');
  re.lastIndex = Math.max(0, from);
  const m = re.exec(text);
  return m ? { exitCode: Number(m[1]), stdout: text.slice(0, m.index) } : undefined;
}

/**
 * Takes the VPS's change lock over the session: at once when free; else says who holds it (onWait) and waits up
 * to `waitMs`, or refuses naming the holder. Undefined when the lock directory cannot be made (not root).
 */
export async function acquireRemoteLock(host: HoldingHost, options: RemoteLockOptions, batch?: LockBatch): Promise<HeldRemoteLock | undefined> {
  const me: RemoteHolder = { by: `${userInfo().username}@${hostname()}`, pid: process.pid, command: options.command, since: new Date().toISOString().replace(/\.\d+Z$/, 'Z') };
  const waitSeconds = options.waitMs <= 0 ? 0 : Math.max(1, Math.ceil(options.waitMs / 1000));
  let text = '';
  let holder: string | undefined;
  let onHeld: () => void = () => undefined;
  const held = new Promise<void>((resolve) => (onHeld = resolve));
  let isHeld = false;
  const after: string[] = [];
  let tail = '';
  let batchSeen = false;
  let onBatch: (r: { exitCode: number; stdout: string }) => void = () => undefined;
  const batchDoneP = new Promise<{ exitCode: number; stdout: string }>((resolve) => (onBatch = resolve));
  const endLock = span('lock');
  const argv = ['sh', '-c', REMOTE_LOCK_SCRIPT, 'egress-lock', String(waitSeconds), JSON.stringify(me), options.dir ?? REMOTE_LOCK_DIR, batch?.script ?? '', batch?.marker ?? ''];
  const channel = await host.hold(argv, (d) => {
    if (isHeld) {
      // After `held`: the batch's output, up to its DONE line. Kept as chunks and only the recent tail searched: a
      // string grown chunk by chunk and searched each time is copied whole each time (~100 ms for 300 KB of facts).
      if (!batch || batchSeen) return;
      after.push(d);
      tail = (tail + d).slice(-(batch.marker.length + 64) - d.length);
      if (!tail.includes(`${batch.marker} DONE `)) return;
      const done = batchDone(after.join(''), batch.marker);
      if (done) {
        batchSeen = true;
        onBatch(done);
      }
      return;
    }
    text += d;
    for (;;) {
      const nl = text.indexOf('\n');
      if (nl < 0) break;
      const line = text.slice(0, nl);
      text = text.slice(nl + 1);
      if (line.startsWith('busy ')) {
        holder = describeRemoteHolder(line.slice(5));
        if (waitSeconds > 0) options.onWait(holder);
      } else if (line === 'held') {
        isHeld = true;
        onHeld();
        after.push(text);
        tail = text.slice(-((batch?.marker.length ?? 0) + 64));
        const done = batch ? batchDone(text, batch.marker) : undefined;
        if (done) {
          batchSeen = true;
          onBatch(done);
        }
        break;
      }
    }
  });
  const outcome = await Promise.race([held.then(() => 'held' as const), channel.closed]);
  endLock();
  if (outcome !== 'held') {
    if (outcome.code === NO_DIR) return undefined;
    const name = holder ?? 'another operator';
    const path = `${options.dir ?? REMOTE_LOCK_DIR}/change.lock`;
    if (outcome.code === BUSY && waitSeconds === 0) throw new ConflictError(`${options.command}: refused, ${name} is changing ${options.target} (lock ${path} on the VPS)`, { hint: 'wait for it to finish, then run this again' });
    if (outcome.code === BUSY) throw new ConflictError(`${options.command}: gave up after ${waitSeconds} s waiting for ${name} (lock ${path} on the VPS)`, { hint: 'wait for it to finish, then run this again' });
    // A sudoer who would need a password: the same refusal the first sudo command gives, nothing was changed.
    if (isSudoPasswordError(outcome.stderr)) {
      throw new PermissionError(`sudo on ${options.target} needs a password; egress runs sudo non-interactively (sudo -n)`, {
        hint: 'allow the user passwordless sudo (NOPASSWD in /etc/sudoers.d) or connect as root',
      });
    }
    throw new EgressError('E_LOCK', `cannot take the change lock ${path} on ${options.target} (exit ${outcome.code}): ${outcome.stderr.trim() || 'no message'}`, {
      hint: 'the VPS needs flock (util-linux) and a writable /run',
    });
  }
  let released: Promise<void> | undefined;
  const release = () =>
    (released ??= (async () => {
      channel.end();
      await channel.closed;
    })());
  if (!batch) return { release };
  // The channel closing before the batch's DONE line (connection lost, lock script killed): the batch did not complete.
  const ran = await Promise.race([batchDoneP, channel.closed.then((c) => ({ exitCode: c.code === 0 ? 255 : c.code, stdout: after.join('') }))]);
  return { release, batch: ran };
}
