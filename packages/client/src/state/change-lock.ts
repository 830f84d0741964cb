// The one lock every command that changes the client takes (enroll, up, down, uninstall; the daemon's repairs
// later): two changes never interleave. A second command waits with a message naming the holder, then runs.
import { lockWaitMs, withLock } from '@egress/core/lock/flock';
import type { Output } from '@egress/core/output';

/** The client's change lock (tmpfs: gone at reboot; never deleted while the system runs). */
export const CLIENT_LOCK_PATH = '/run/egress/client.lock';

/** Commands that change the client and so run under the lock. */
export const CHANGING_COMMANDS: ReadonlySet<string> = new Set(['enroll', 'up', 'down', 'uninstall', 'allow', 'disallow', 'select']);

/** Whether an invocation changes the client: a changing command, `forward add|remove` (not `forward list`), and
 *  `proxy --persist` / `proxy remove` (not a foreground proxy). */
export function changesClient(command: string, args: readonly string[], options: Record<string, unknown> = {}): boolean {
  if (CHANGING_COMMANDS.has(command)) return true;
  if (command === 'forward') return args[0] === 'add' || args[0] === 'remove';
  return command === 'proxy' && (options.persist === true || args[0] === 'remove');
}

/** Runs `fn` holding the client's change lock; says whom it waits for. */
export function withChangeLock<T>(command: string, output: Output, fn: () => Promise<T>, path = CLIENT_LOCK_PATH): Promise<T> {
  return withLock({ path, command: `egress-client ${command}`, waitMs: lockWaitMs(120_000), onWait: (holder) => output.info(`waiting for ${holder} to finish (one change at a time)`) }, fn);
}
