// Plans WireGuard links (wg-quick up/down, syncconf or restart on change) and systemd units.
import { normalizePrefix } from './ip-format.js';
import type { CurrentState } from './read-state.js';
import type { Action, Step } from './step.js';
import type { HostState, Ownership, WireguardLinkSpec } from './types.js';
import { peerSetChange } from './wg-peer-set.js';

function down(name: string, config: string): Action {
  return { kind: 'run', argv: ['wg-quick', 'down', config], fallback: ['ip', 'link', 'del', 'dev', name] };
}

function up(config: string): Action {
  return { kind: 'run', argv: ['wg-quick', 'up', config] };
}

/** How a link is started, stopped and restarted: through its systemd unit where systemd runs, else wg-quick. */
interface LinkOps { up: Action[]; down: Action[]; restart: Action[] }

function linkOps(current: CurrentState, name: string, config: string, unit: string | undefined): LinkOps {
  if (unit && current.systemd) {
    const reload: Action = { kind: 'run', argv: ['systemctl', 'daemon-reload'] };
    // `stop` leaves no interface behind; the fallback removes one a plain `wg-quick up` made outside the unit.
    const stop: Action = { kind: 'run', argv: ['systemctl', 'stop', unit], fallback: ['ip', 'link', 'del', 'dev', name] };
    return { up: [reload, { kind: 'run', argv: ['systemctl', 'start', unit] }], down: [stop], restart: [reload, { kind: 'run', argv: ['systemctl', 'restart', unit] }] };
  }
  return { up: [up(config)], down: [down(name, config)], restart: [down(name, config), up(config)] };
}

function sameSet(a: string[], b: string[]): boolean {
  return JSON.stringify([...a].sort()) === JSON.stringify([...b].sort());
}

function normAddresses(list: string[]): string[] {
  return list.map((a) => normalizePrefix(a, a.includes(':') ? 6 : 4));
}

/** What has to happen to a link that exists: nothing, a live sync of peers, or a restart (addresses/MTU, or left down half-way). */
export function linkChange(current: CurrentState, l: WireguardLinkSpec, configChanged: boolean): 'none' | 'sync' | 'restart' {
  const cur = current.links.get(l.name)!;
  if (!sameSet(normAddresses(cur.addresses), normAddresses(l.addresses)) || (l.mtu !== undefined && cur.mtu !== l.mtu) || !cur.wg || cur.up === false) return 'restart';
  if (configChanged || !sameSet(cur.wg.peers, l.peers) || (l.listenPort !== undefined && cur.wg.listenPort !== l.listenPort)) return 'sync';
  return 'none';
}

/** Steps bringing desired links up or in line with their config; `changedFiles` are the paths this plan rewrites. */
export function planLinkUps(current: CurrentState, desired: HostState, changedFiles: Set<string>): Step[] {
  const steps: Step[] = [];
  for (const l of desired.links) {
    const ops = linkOps(current, l.name, l.configPath, l.unit);
    if (!current.links.has(l.name)) {
      const how = l.unit && current.systemd ? `systemctl start ${l.unit}` : `wg-quick up ${l.configPath}`;
      steps.push({ resource: 'link', title: `bring up ${l.name} (${how})`, recreates: l.name, do: ops.up, undo: ops.down });
      continue;
    }
    const change = linkChange(current, l, changedFiles.has(l.configPath));
    if (change === 'restart') {
      steps.push({
        resource: 'link',
        title: `restart ${l.name} (${current.links.get(l.name)!.up === false ? 'it is down' : 'addresses or MTU changed'})`,
        recreates: l.name,
        do: ops.restart,
        undo: [],
        undoLate: ops.restart,
      });
    } else if (change === 'sync') {
      // Whole peers added or removed: `wg set` for those only (other peers' sessions never notice); else syncconf.
      const cur = current.links.get(l.name)!;
      const oldText = current.files.get(l.configPath)?.content;
      const newText = desired.files.find((f) => f.path === l.configPath)?.content;
      const peerSet = oldText !== undefined && newText !== undefined && (l.listenPort === undefined || cur.wg!.listenPort === l.listenPort) ? peerSetChange(l.name, oldText, newText, cur.wg!.peers) : undefined;
      if (peerSet) {
        const what = [peerSet.added.length ? `+${peerSet.added.length}` : '', peerSet.removed.length ? `-${peerSet.removed.length}` : ''].filter(Boolean).join(' ');
        steps.push({ resource: 'link', title: `update peers of ${l.name} (wg set: ${what} peer${peerSet.added.length + peerSet.removed.length === 1 ? '' : 's'})`, do: peerSet.do, undo: peerSet.undo });
        continue;
      }
      steps.push({
        resource: 'link',
        title: `update peers of ${l.name} (wg syncconf)`,
        do: [{ kind: 'wg-sync', name: l.name, configPath: l.configPath }],
        undo: [],
        undoLate: [{ kind: 'wg-sync', name: l.name, configPath: l.configPath }],
      });
    }
  }
  return steps;
}

/** Steps taking down owned links that are not desired (`units`: the unit of each link, from the ownership's units). */
export function planLinkDowns(current: CurrentState, desired: HostState, ownership: Ownership): Step[] {
  const wanted = new Set(desired.links.map((l) => l.name));
  return ownership.links
    .filter((n) => current.links.has(n) && !wanted.has(n))
    .sort()
    .map((n) => {
      const config = current.journal.links[n];
      const unit = ownership.units.find((u) => u === `wg-quick@${n}.service`);
      const ops = linkOps(current, n, config ?? n, unit);
      return {
        resource: 'link' as const,
        title: `take down ${n}`,
        removes: n,
        do: ops.down,
        undo: config ? linkOps(current, n, config, unit).up : [],
      };
    });
}

/** Unit steps (enable/disable), or a note when systemd does not run on the host. */
export function planUnits(current: CurrentState, desired: HostState, ownership: Ownership): { steps: Step[]; notes: string[] } {
  if (!current.systemd) {
    const notes = desired.units.some((u) => u.enable) ? ['systemd not running: boot unit written but not enabled'] : [];
    return { steps: [], notes };
  }
  const steps: Step[] = [];
  const wanted = new Map(desired.units.map((u) => [u.name, u.enable]));
  const names = [...new Set([...ownership.units, ...wanted.keys()])].sort();
  for (const n of names) {
    const enabled = current.units.get(n) ?? false;
    const want = wanted.get(n) ?? false;
    if (enabled === want) continue;
    const enable: Action = { kind: 'run', argv: ['systemctl', 'enable', n] };
    const disable: Action = { kind: 'run', argv: ['systemctl', 'disable', n] };
    const reload: Action = { kind: 'run', argv: ['systemctl', 'daemon-reload'] };
    steps.push(want ? { resource: 'unit', title: `enable ${n}`, do: [reload, enable], undo: [disable] } : { resource: 'unit', title: `disable ${n}`, do: [disable], undo: [enable] });
  }
  return { steps, notes: [] };
}
