// A host-wide lock for the isolate bookkeeping (shared sysctl originals), so two runs starting or ending at once
// agree. A kernel lock (flock): waiters sleep in the kernel instead of polling, and a run that dies releases it,
// so 20 runs starting together all get their turn (none fails on a timeout while others poll).
import type { Host } from '@egress/core/host/host';
import { LocalHost } from '@egress/core/host/local-host';
import { withLock } from '@egress/core/lock/flock';

/** The lock file (outside the run records' directory, which uninstall removes; never deleted while the system runs). */
export const ISOLATE_LOCK = '/run/egress/isolate.lock';

/** Runs `fn` while holding the lock. A fake host (unit tests) has no machine to lock: `fn` just runs. */
export async function withIsolateLock<T>(host: Host, fn: () => Promise<T>, timeoutMs = 120_000): Promise<T> {
  if (!(host instanceof LocalHost)) return fn();
  return withLock({ path: ISOLATE_LOCK, command: `egress-client run --isolate (pid ${process.pid})`, waitMs: timeoutMs }, fn);
}
