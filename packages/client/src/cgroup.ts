// The egress's cgroup v2 directory (`egress/<name>` under /sys/fs/cgroup), selected by `socket cgroupv2` in nft.
import type { Host } from '@egress/core/host/host';
import type { ClientState } from '@egress/core/model/client';
import { attachCgroupBpf, attachSelectedCgroupMark, detachCgroupBpf, detachSelectedCgroupMark } from './cgroup-bpf.js';
import { unitCgroupPath } from '@egress/core/model/selectors';
import type { Egress } from '@egress/core/model/client';
import { cgroupParent, egressCgroupPath } from '@egress/core/render/client-paths';

/** Where nft resolves `socket cgroupv2` paths. */
export const CGROUP_ROOT = '/sys/fs/cgroup';

/** Whether cgroup v2 is mounted at /sys/fs/cgroup (a unified hierarchy), so cgroup selection works. */
export async function cgroup2Usable(host: Host): Promise<boolean> {
  return (await host.run(['test', '-f', `${CGROUP_ROOT}/cgroup.controllers`])).exitCode === 0;
}

/** Creates /sys/fs/cgroup/egress/<name> (nft needs it to exist when the table is loaded). */
export async function ensureEgressCgroup(host: Host, egress: string): Promise<void> {
  const dir = `${CGROUP_ROOT}/${egressCgroupPath(egress)}`;
  if ((await host.run(['test', '-d', dir])).exitCode === 0) return;
  await host.run(['mkdir', '-p', '--', dir], { check: true, change: true });
}

/** Removes the egress's cgroup directory (and its parent when empty); leaves them when processes remain. */
export async function removeEgressCgroup(host: Host, egress: string): Promise<boolean> {
  const dir = `${CGROUP_ROOT}/${egressCgroupPath(egress)}`;
  if ((await host.run(['test', '-d', dir])).exitCode !== 0) return true;
  // Its programs go with it; detached first so a group that cannot go yet (processes left) keeps none.
  await detachCgroupBpf(host, egress);
  // Sub-groups made by `run` first (deepest first), then the egress's own directory.
  const sub = await host.run(['find', dir, '-mindepth', '1', '-depth', '-type', 'd']);
  for (const d of sub.stdout.split('\n').filter(Boolean)) await host.run(['rmdir', '--', d], { change: true });
  const r = await host.run(['rmdir', '--', dir], { change: true });
  // Then the parent's now-empty directories, innermost first (rmdir leaves any that still hold something).
  const parts = cgroupParent().split('/');
  for (let i = parts.length; i > 0; i--) await host.run(['rmdir', '--', `${CGROUP_ROOT}/${parts.slice(0, i).join('/')}`]);
  return r.exitCode === 0;
}

/**
 * Creates the cgroup of every egress of `state` that selects by cgroup and attaches its BPF fence (idempotent).
 * Returns a warning per egress whose fence this host forbids (a container without CAP_BPF): its cgroup selection then
 * rests on the nft rules alone — still fail-closed while the table is there, not through a flushed ruleset.
 */
export async function ensureCgroupFences(host: Host, state: ClientState, before?: ClientState): Promise<string[]> {
  const wanted = state.egresses.filter((e) => e.selectors.cgroups.length);
  const foreign = state.egresses.flatMap((e) => foreignCgroupsOf(e).map((path) => ({ e, path })));
  const dropped = (before?.egresses ?? []).flatMap(foreignCgroupsOf).filter((p) => !foreign.some((f) => f.path === p));
  if (!(wanted.length || foreign.length || dropped.length) || !(await cgroup2Usable(host))) return [];
  const warnings: string[] = [];
  for (const e of wanted) {
    await ensureEgressCgroup(host, e.name);
    if ((await attachCgroupBpf(host, e)) === 'forbidden') {
      warnings.push(`egress ${e.name}: this host does not allow BPF (a container without CAP_BPF?): apps started with 'run' are marked by the nft rules only, so they are not fenced while another program has flushed the ruleset (the supervisor restores it)`);
    }
  }
  // Units and --cgroup paths that exist now: their sockets are marked at creation, so they hold through a flushed ruleset.
  for (const { e, path } of foreign) {
    if ((await host.run(['test', '-d', `${CGROUP_ROOT}/${path}`])).exitCode !== 0) continue;
    if ((await attachSelectedCgroupMark(host, path, e)) === 'forbidden') {
      warnings.push(`egress ${e.name}: this host does not allow BPF: ${path} is marked by the nft rules only, so it is not fenced while another program has flushed the ruleset (the supervisor restores it)`);
    }
  }
  for (const path of dropped) await detachSelectedCgroupMark(host, path);
  return warnings;
}

/** The cgroups an egress selects that it does not run itself: `select add --cgroup` paths and `--unit` services. */
export function foreignCgroupsOf(e: Egress): string[] {
  return [...e.selectors.cgroups.filter((g) => g !== egressCgroupPath(e.name)), ...e.selectors.units.map(unitCgroupPath)];
}
