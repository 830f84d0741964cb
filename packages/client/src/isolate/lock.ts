// A host-wide lock for the isolate bookkeeping (shared sysctl originals), so two runs starting or ending at once agree.
import type { Host } from '@egress/core/host/host';
import { ISOLATE_RUN_DIR } from './names.js';
import { ownerAlive } from './record.js';

/** The lock directory (mkdir is atomic); it holds a file naming its owner pid. */
export const ISOLATE_LOCK = `${ISOLATE_RUN_DIR}/lock`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The pid written in the lock, or undefined while it is being taken (not written yet) or free. */
async function lockHolder(host: Host): Promise<number | undefined> {
  const n = Number((await host.readFile(`${ISOLATE_LOCK}/owner`).catch(() => undefined))?.trim());
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/** Runs `fn` while holding the lock; a lock whose owner died is taken over. Gives up after `timeoutMs`. */
export async function withIsolateLock<T>(host: Host, fn: () => Promise<T>, timeoutMs = 10_000): Promise<T> {
  const pid = process.pid;
  const deadline = Date.now() + timeoutMs;
  await host.run(['mkdir', '-p', '-m', '0700', '--', ISOLATE_RUN_DIR]);
  for (;;) {
    if ((await host.run(['mkdir', '-m', '0700', '--', ISOLATE_LOCK])).exitCode === 0) break;
    const holder = await lockHolder(host);
    if (holder !== undefined && holder !== pid && !(await ownerAlive(host, holder)) && (await lockHolder(host)) === holder) {
      // Take over a dead holder's lock by renaming it away (atomic), so a lock someone just took is never removed.
      const stale = `${ISOLATE_LOCK}.stale-${pid}`;
      if ((await host.run(['mv', '-T', '--', ISOLATE_LOCK, stale])).exitCode === 0) await host.run(['rm', '-rf', '--', stale]);
      continue;
    }
    if (Date.now() > deadline) throw new Error(`isolate lock ${ISOLATE_LOCK} is held by pid ${holder || 'unknown'}`);
    await sleep(25);
  }
  try {
    await host.run(['sh', '-c', 'echo "$1" > "$2"', 'lock', String(pid), `${ISOLATE_LOCK}/owner`]);
    return await fn();
  } finally {
    await host.run(['rm', '-rf', '--', ISOLATE_LOCK]);
  }
}
