// One change at a time per VPS from this operator machine: provision, peer add/remove, forward add/remove and
// deprovision of the same target take one kernel lock; a second waits (told who holds it) or gives up with its name.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { lockWaitMs, withLock, type Output } from '@egress/core';
import type { CommandName } from './cli/options.js';

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
