// `egress-client uninstall [EGRESS]`: remove everything of the egress (or all) and nothing else.
import { PermissionError } from '@egress/core/errors';
import type { Host } from '@egress/core/host/host';
import type { ClientState } from '@egress/core/model/client';
import { SafeName } from '@egress/core/model/primitives';
import { CLIENT_PATHS, EGRESS_DIR, cgroupParent, clientKeyPath, clientPskPath } from '@egress/core/render/client-paths';
import { applyClient } from '../apply-client.js';
import { syncForwardAccepts } from '../select/forward-accept.js';
import { CGROUP_ROOT, removeEgressCgroup } from '../cgroup.js';
import type { CommandContext, Invocation } from '../cli.js';
import { exitCode, type ExitStatus } from '../exit-status.js';
import { readCreatedDirs, removeCreatedDirs } from '../state/created-dirs.js';
import { clearDown } from '../state/down-markers.js';
import { staleTemps } from '../state/stale-temps.js';
import { loadClientState, selectEgresses } from '../state/store.js';

/** `egress-client uninstall [EGRESS]`. */
export async function uninstallCommand(inv: Invocation, ctx: CommandContext): Promise<ExitStatus> {
  const name = inv.args[0];
  if (!ctx.isRoot) throw new PermissionError('uninstall must run as root', { hint: `sudo egress-client uninstall${name ? ` ${name}` : ''}` });
  const host = await ctx.host();
  const before = await loadClientState(host);
  if (!before.egresses.some((e) => name === undefined || e.name === name)) {
    // Nothing (or not that one) enrolled: an uninstall killed after its last state change may have left the rest.
    const finished = await finishInterrupted(host, before, name, ctx);
    if (finished) return finished;
    if (name === undefined) {
      // Nothing enrolled (e.g. another uninstall just finished): remove what isolated runs left, and succeed.
      const stays = await (await import('../isolate/leftovers.js')).removeIsolateLeftovers(host);
      for (const l of stays) ctx.output.warn(l);
      ctx.output.result('no egress is enrolled; nothing to remove');
      ctx.output.document({ command: 'uninstall', removed: [], remaining: [], steps: [], leftovers: stays });
      return exitCode(0);
    }
  }
  const targets = selectEgresses(before, name, 'uninstall').map((e) => e.name);
  const after: ClientState = { ...before, egresses: before.egresses.filter((e) => !targets.includes(e.name)) };
  // Named namespaces of the removed egresses go with them.
  const keptNs = before.namespaces?.filter((n) => !targets.includes(n.egress)) ?? [];
  if (keptNs.length) after.namespaces = keptNs;
  else delete after.namespaces;
  ctx.output.step(`Removing ${targets.join(', ')}`);
  const { steps } = await applyClient(host, { before, after, output: ctx.output });
  // Accepts of the removed egresses' forwarded selectors in a foreign FORWARD chain (Docker's DOCKER-USER) go too.
  steps.push(...(await syncForwardAccepts(host, after)));
  const leftovers: string[] = [];
  for (const t of targets) {
    if (!(await removeEgressCgroup(host, t))) leftovers.push(`cgroup egress/${t} still has processes; it is removed once they exit and you run uninstall again`);
    // A PresharedKey file (also one left by a re-enroll of a file that dropped it); the key goes last (it marks an
    // unfinished uninstall for the next run).
    if ((await host.readFile(clientPskPath(t))) !== undefined) await host.removeFile(clientPskPath(t));
    await clearDown(host, t);
    await host.removeFile(clientKeyPath(t));
  }
  // Saved proxies of the removed egresses (all of them once none is left) go too, and stop (also without a daemon).
  const dropped = await (await import('../proxy/persist.js')).dropProxiesOf(host, targets, after.egresses.length);
  await (await import('../proxy/running.js')).stopRecordedProxies(host, dropped);
  if (after.egresses.length === 0) {
    // The apt source and pin of --userspace-wireguard backports, and wireguard-go back as it was before.
    const apt = await (await import('../enroll/userspace-wireguard.js')).removeAptFiles(host);
    if (apt.leftover) leftovers.push(apt.leftover);
    // The group `egress` of the supervisor's socket, with its members, when egress created it (its record is in
    // /etc/egress, so before the directories go); a group of that name that was there before stays.
    if ((await (await import('../daemon/socket-group.js')).removeSocketGroup(host)) === 'kept') {
      ctx.output.info("group 'egress' left in place: it existed before egress-client (egress did not create it)");
    }
    // Directories enroll created (empty by now): remove them so /etc is as it was before enroll.
    await removeCreatedDirs(host);
    // What `run --isolate` left beside its runs (netns directories egress created, /run/egress/isolate).
    leftovers.push(...(await (await import('../isolate/leftovers.js')).removeIsolateLeftovers(host)));
  }
  for (const l of leftovers) ctx.output.warn(l);
  ctx.output.result(`removed egress ${targets.join(', ')}${after.egresses.length ? ` (still enrolled: ${after.egresses.map((e) => e.name).join(', ')})` : ''}`);
  ctx.output.document({ command: 'uninstall', removed: targets, remaining: after.egresses.map((e) => e.name), steps, leftovers });
  return exitCode(0);
}

/** Key files in /etc/egress whose egress is not enrolled (left by an uninstall killed after its state change). */
async function orphanKeys(host: Host, state: ClientState): Promise<string[]> {
  const r = await host.run(['find', EGRESS_DIR, '-maxdepth', '1', '-type', 'f', '-name', '*.key']);
  const names = r.stdout.split('\n').filter(Boolean).map((p) => p.slice(EGRESS_DIR.length + 1, -'.key'.length));
  return names.filter((n) => SafeName.safeParse(n).success && !state.egresses.some((e) => e.name === n));
}

/** Egress cgroups (children of egress's cgroup parent) whose egress is not enrolled. */
async function orphanCgroups(host: Host, state: ClientState): Promise<string[]> {
  const parent = `${CGROUP_ROOT}/${cgroupParent()}`;
  const r = await host.run(['find', parent, '-mindepth', '1', '-maxdepth', '1', '-type', 'd']);
  const names = r.exitCode === 0 ? r.stdout.split('\n').filter(Boolean).map((p) => p.slice(parent.length + 1)) : [];
  return names.filter((n) => SafeName.safeParse(n).success && !state.egresses.some((e) => e.name === n));
}

/** Finishes what an interrupted run left (the engine's pending record, key files, cgroups, created dirs); undefined when nothing was left. */
async function finishInterrupted(host: Host, state: ClientState, name: string | undefined, ctx: CommandContext): Promise<ExitStatus | undefined> {
  const journal = await host.readFile(CLIENT_PATHS.journal);
  const keys = (await orphanKeys(host, state)).filter((n) => name === undefined || n === name);
  const dirs = state.egresses.length === 0 ? await readCreatedDirs(host) : [];
  const cgroups = (await orphanCgroups(host, state)).filter((n) => name === undefined || n === name);
  const temps = await staleTemps(host);
  if (journal === undefined && !keys.length && !dirs.length && !cgroups.length && !temps.length) return undefined;
  ctx.output.step('Finishing an interrupted run');
  const { steps } = await applyClient(host, { before: state, after: state, output: ctx.output });
  for (const n of keys) {
    if ((await host.readFile(clientPskPath(n))) !== undefined) await host.removeFile(clientPskPath(n));
    await host.removeFile(clientKeyPath(n));
  }
  for (const n of new Set([...keys, ...cgroups])) await removeEgressCgroup(host, n);
  if (state.egresses.length === 0) {
    await (await import('../daemon/socket-group.js')).removeSocketGroup(host);
    await removeCreatedDirs(host);
  }
  ctx.output.result(`nothing enrolled${name ? ` as '${name}'` : ''}; removed what an interrupted run left (${[...steps, ...keys.map((k) => `key ${k}`)].length + dirs.length} item(s))`);
  ctx.output.document({ command: 'uninstall', removed: [], remaining: state.egresses.map((e) => e.name), steps, leftovers: [], finished: keys });
  return exitCode(0);
}
