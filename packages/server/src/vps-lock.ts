// One change at a time per VPS: provision, peer add/remove, forward add/remove and deprovision of the same target
// take one kernel lock on this operator machine, then (once connected) the VPS's own lock, so operators on other
// machines take turns too; a second waits (told who holds it) or gives up with its name.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { lockWaitMs, withLock, type Output } from '@egress/core';
import { acquireRemoteLock, type HeldRemoteLock, type HoldingHost } from './ssh/remote-lock.js';
import type { CommandName } from './cli/options.js';
import type { SessionOpener } from './session.js';
import type { SessionGate } from './ssh/ssh-host.js';

/** Commands that change a VPS. */
export const CHANGING: ReadonlySet<CommandName> = new Set(['provision', 'peer add', 'peer remove', 'forward add', 'forward remove', 'deprovision']);

/** The lock file of a target ("root@vps:22" → ~/.cache/egress/locks/root@vps_22.lock). */
export function vpsLockPath(target: string, home = homedir()): string {
  return join(home, '.cache', 'egress', 'locks', `${target.toLowerCase().replace(/[^a-z0-9@._-]/g, '_')}.lock`);
}

/** Runs `fn` holding the VPS's lock when `command` changes it (and is not a dry run). */
export function withVpsLock<T>(command: CommandName, target: string, dryRun: boolean, output: Output, fn: () => Promise<T>): Promise<T> {
  if (!CHANGING.has(command) || dryRun) return fn();
  return withLock({ path: vpsLockPath(target), command: `egress-server ${command} ${target}`, waitMs: lockWaitMs(300_000), onWait: (holder) => output.info(`waiting for ${holder} to finish with ${target} (one change at a time)`) }, fn);
}

/**
 * The opener of a changing command: once connected, it takes the VPS's own change lock (held until the session's
 * host closes) before anything is read; other commands (and test hosts without `hold`) open as they are.
 */
export function lockingOpener(command: CommandName, target: string, dryRun: boolean, output: Output, open: SessionOpener): SessionOpener {
  if (!CHANGING.has(command) || dryRun) return open;
  return async (targetText, options, out) => {
    const session = await open(targetText, options, out);
    const host = session.host as typeof session.host & Partial<HoldingHost> & { setGate?: (gate: SessionGate) => void };
    if (typeof host.hold !== 'function') return session;
    const lockOptions = {
      command: `egress-server ${command} ${target}`,
      target,
      waitMs: lockWaitMs(300_000),
      onWait: (holder: string) => output.info(`waiting for ${holder} to finish with ${target} (one change at a time; lock on the VPS)`),
    };
    const keep = (lock: HeldRemoteLock | undefined): void => {
      if (!lock) return;
      const close = host.close.bind(host);
      host.close = async () => {
        await lock.release().catch(() => undefined);
        await close();
      };
    };
    if (typeof host.setGate === 'function') {
      // Taken before the session's first command, in the same exec as that command's batch when it is a batch of reads
      // (the facts): the lock costs no round trip of its own, and nothing is read before it is held.
      host.setGate(async (batch) => {
        const lock = await acquireRemoteLock(host as HoldingHost, lockOptions, batch);
        keep(lock);
        return lock?.batch ? { exitCode: lock.batch.exitCode, stdout: lock.batch.stdout, stderr: '' } : undefined;
      });
      return session;
    }
    try {
      keep(await acquireRemoteLock(host as HoldingHost, lockOptions));
    } catch (err) {
      await host.close();
      throw err;
    }
    return session;
  };
}
