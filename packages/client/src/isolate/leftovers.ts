// What `run --isolate` leaves beside its per-run objects: the /etc/netns and /run/netns directories `ip netns`
// creates when they are missing, and /run/egress/isolate. Runs note which of them egress created; a full
// uninstall removes those (when empty and no run is alive) and the records directory.
import type { Host } from '@egress/core/host/host';
import { withIsolateLock } from './lock.js';
import { ISOLATE_RUN_DIR } from './names.js';
import { listRecordPids } from './record.js';
import { sweepIsolations } from './sweep.js';

/** The list of directories egress created for isolated runs (one path a line; beside the runs' records, not among them). */
export const CREATED_NETNS_DIRS = '/run/egress/isolate-created-dirs';

/** Directories `ip netns add` and the per-namespace /etc files need. */
export const NETNS_DIRS = ['/etc/netns', '/run/netns'] as const;

/** Notes which of /etc/netns and /run/netns are missing now, before a run creates them (under the isolate lock). */
export async function noteNetnsDirs(host: Host): Promise<void> {
  await withIsolateLock(host, async () => {
    const known = new Set(((await host.readFile(CREATED_NETNS_DIRS)) ?? '').split('\n').filter(Boolean));
    const missing: string[] = [];
    for (const d of NETNS_DIRS) if (!known.has(d) && (await host.run(['test', '-e', d])).exitCode !== 0) missing.push(d);
    if (missing.length) await host.writeFile(CREATED_NETNS_DIRS, `${[...known, ...missing].join('\n')}\n`, { mode: 0o600 });
  });
}

/**
 * After the last egress is uninstalled: sweeps dead runs, then — when no run is alive — removes the netns
 * directories egress created (only when empty; /run/netns is unmounted first, as `ip netns` mounts it on
 * itself) and /run/egress/isolate. Returns what stays and why.
 */
export async function removeIsolateLeftovers(host: Host): Promise<string[]> {
  const [runDir, list] = await Promise.all([host.run(['test', '-d', ISOLATE_RUN_DIR]), host.run(['test', '-e', CREATED_NETNS_DIRS])]);
  if (runDir.exitCode !== 0 && list.exitCode !== 0) return [];
  await sweepIsolations(host);
  const live = await listRecordPids(host);
  if (live.length) return [`isolated runs are still alive (pids ${live.join(', ')}); ${ISOLATE_RUN_DIR} stays`];
  const stays: string[] = [];
  const created = ((await host.readFile(CREATED_NETNS_DIRS)) ?? '').split('\n').filter((d) => (NETNS_DIRS as readonly string[]).includes(d));
  for (const d of created) {
    const entries = await host.run(['ls', '-A', '--', d]);
    if (entries.exitCode !== 0) continue;
    if (entries.stdout.trim()) {
      stays.push(`${d} holds others' entries; it stays`);
      continue;
    }
    if (d === '/run/netns') await host.run(['umount', '--', d]);
    const rm = await host.run(['rmdir', '--', d], { change: true });
    if (rm.exitCode !== 0) stays.push(`${d}: ${rm.stderr.trim()}`);
  }
  if (runDir.exitCode === 0) await host.run(['rm', '-rf', '--', ISOLATE_RUN_DIR], { change: true });
  await host.removeFile(CREATED_NETNS_DIRS);
  return stays;
}
