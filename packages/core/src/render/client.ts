// The client's whole desired state: wg-quick configs, the `inet egress` table, rules, routes, sysctls, files, boot unit.
import type { FileSpec, HostState, Ownership, UnitSpec, WireguardLinkSpec } from '../engine/types.js';
import type { ClientState, Egress, PublicEgressFacts } from '../model/client.js';
import { allowedUids } from '../policy/access.js';
import { CLIENT_NFT_TABLE, lanForwardsOf, renderClientNft } from './client-nft.js';
import { forwardedSysctls, type AbsentParts } from './client-nft-forwarded.js';
import { CLIENT_PATHS, clientWgConfigPath, publicFactsPath } from './client-paths.js';
import { NETNS_PRIORITY, renderNetnsRules, renderNetnsSysctls } from './client-netns.js';
import { renderUnitDropIn, unitDropInPath, unitDropInPaths } from './client-unit-dropin.js';
import { renderClientRoutes, renderClientRules } from './client-routing.js';
import { clientTunnelAddresses, renderClientWgConfig } from './client-wg.js';

export * from './client-netns.js';
export * from './client-unit-dropin.js';
export * from './client-nft.js';
export * from './client-nft-forwarded.js';
export * from './client-paths.js';
export * from './client-routing.js';
export * from './client-wg.js';

export interface ClientRenderOptions {
  /** Egresses that are enrolled but down: their tunnel and routes are absent, their kill switch stays. */
  down?: readonly string[];
  /** The boot unit's ExecStart argv (absolute node + bin path); no unit when absent (no systemd). */
  bootCommand?: readonly string[];
  /** Selected cgroups and interfaces not on the host now (their rules and sysctls wait until they appear). */
  absent?: AbsentParts;
}

/** The facts of an egress every user may read (no keys, no peers). */
export function publicFactsOf(e: Egress): PublicEgressFacts {
  return {
    version: 1,
    name: e.name,
    kind: e.kind,
    interface: e.interface,
    ...(e.address4 ? { address4: e.address4 } : {}),
    ...(e.address6 ? { address6: e.address6 } : {}),
    dns: e.dns,
    ...(e.selectors.cgroups[0] ? { cgroup: e.selectors.cgroups[0] } : {}),
    allowedUids: allowedUids(e),
  };
}

/** Renders the systemd unit that runs the supervisor (`egress-client daemon`) from boot, restarted when it fails. */
export function renderClientUnit(bootCommand: readonly string[]): string {
  return [
    '# Written by egress-client enroll; removed by egress-client uninstall.',
    '[Unit]',
    'Description=egress client supervisor: hold enrolled egresses up and repair drift',
    'Wants=network-online.target',
    'After=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${bootCommand.join(' ')} daemon`,
    // Stopping or restarting the supervisor ends the supervisor only: a userspace tunnel (wireguard-go) it started
    // lives in this unit's cgroup and keeps carrying traffic (the kill switch holds either way).
    'KillMode=process',
    'Restart=on-failure',
    'RestartSec=2s',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/**
 * The early boot unit: loads only kernel state (kill switch table, selection rules with their prohibit fallbacks,
 * egress cgroups) with every egress down, before any network is up, so a dedicated user's traffic never leaves
 * directly between network-up and the tunnel. No network wait; the tunnel comes up later from egress-client.service.
 */
export function renderClientFenceUnit(bootCommand: readonly string[]): string {
  return [
    '# Written by egress-client enroll; removed by egress-client uninstall.',
    '[Unit]',
    'Description=egress client: kill switch and selection rules before the network',
    'DefaultDependencies=no',
    'After=local-fs.target',
    'Before=network-pre.target egress-client.service',
    'Wants=network-pre.target',
    'Conflicts=shutdown.target',
    'Before=shutdown.target',
    '',
    '[Service]',
    'Type=oneshot',
    'RemainAfterExit=yes',
    `ExecStart=${bootCommand.join(' ')} up --fence-only`,
    '',
    '[Install]',
    'WantedBy=sysinit.target',
    '',
  ].join('\n');
}

/** Serializes the client state the way it is saved in /etc/egress/client.json. */
export function renderClientStateFile(state: ClientState): string {
  return `${JSON.stringify(state, null, 2)}\n`;
}

/** Renders everything egress wants on a client for `state` (pure: same input, same bytes). */
export function renderClient(state: ClientState, options: ClientRenderOptions = {}): HostState {
  const down = new Set(options.down ?? []);
  const files: FileSpec[] = [];
  const links: WireguardLinkSpec[] = [];
  const units: UnitSpec[] = [];
  const hs: HostState = { files, nft: [], sysctls: [], rules: [], routes: [], links, units };
  if (state.egresses.length === 0) return hs;

  files.push({ path: CLIENT_PATHS.state, content: renderClientStateFile(state), mode: 0o600 });
  for (const e of state.egresses) {
    files.push({ path: publicFactsPath(e.name), content: `${JSON.stringify(publicFactsOf(e), null, 2)}\n`, mode: 0o644 });
    if (e.kind === 'wireguard') {
      const configPath = clientWgConfigPath(e.interface);
      files.push({ path: configPath, content: renderClientWgConfig(e), mode: 0o600 });
      if (!down.has(e.name)) links.push({ kind: 'wireguard', name: e.interface, configPath, addresses: clientTunnelAddresses(e), peers: [e.wireguard.serverPublicKey] });
    } else if (!down.has(e.name)) {
      // The path's sysctls, not the fence's: a down egress (the early boot unit's `up --fence-only`, an uplink that is
      // gone) leaves them out, so the fence never depends on an interface that may not exist yet.
      hs.sysctls.push({ key: `net.ipv4.conf.${e.interface}.rp_filter`, value: '2' }, { key: `net.ipv4.conf.${e.interface}.route_localnet`, value: '1' });
    }
    hs.rules.push(...renderClientRules(e));
    // A down egress keeps only its prohibit routes (the kill switch of an outside-direct egress lives there).
    hs.routes.push(...renderClientRoutes(e).filter((r) => !down.has(e.name) || r.type === 'prohibit'));
  }
  // LAN forwards: the LAN interface forwards the hosts' replies (loose rp_filter: their route back is the tunnel's).
  const lanIfs = [...new Set(state.egresses.filter((e) => !down.has(e.name)).flatMap((e) => lanForwardsOf(e).map((f) => f.via).filter((v): v is string => v !== undefined)))];
  for (const via of lanIfs) hs.sysctls.push({ key: `net.ipv4.conf.${via}.forwarding`, value: '1' }, { key: `net.ipv4.conf.${via}.rp_filter`, value: '2' });
  hs.rules.push(...renderNetnsRules(state));
  hs.sysctls.push(...renderNetnsSysctls(state, down));
  hs.sysctls.push(...forwardedSysctls(state, down, options.absent ?? {}, hs.sysctls));
  hs.nft.push({ ...CLIENT_NFT_TABLE, ruleset: renderClientNft(state, options.absent)! });
  hs.sysctls.unshift({ key: 'net.ipv4.conf.all.src_valid_mark', value: '1' });
  if (options.bootCommand) {
    files.push({ path: CLIENT_PATHS.unit, content: renderClientUnit(options.bootCommand), mode: 0o644 });
    units.push({ name: CLIENT_PATHS.unitName, enable: true });
    files.push({ path: CLIENT_PATHS.fenceUnit, content: renderClientFenceUnit(options.bootCommand), mode: 0o644 });
    units.push({ name: CLIENT_PATHS.fenceUnitName, enable: true });
    for (const unit of new Set(state.egresses.flatMap((e) => e.selectors.units))) {
      files.push({ path: unitDropInPath(unit), content: renderUnitDropIn(unit, options.bootCommand), mode: 0o644 });
    }
  }
  return hs;
}

/** What egress owns on a client holding the egresses of `states` (pass the before and after states on a change). */
export function clientOwnership(...states: ClientState[]): Ownership {
  const egresses = states.flatMap((s) => s.egresses);
  const uniq = <T>(xs: T[]): T[] => [...new Set(xs)];
  return {
    nftTables: [{ ...CLIENT_NFT_TABLE }],
    rulePriorities: [
      ...uniq(egresses.map((e) => e.priority)).map((p): [number, number] => [p, p + 9]),
      ...(states.some((s) => s.namespaces?.length) ? [[NETNS_PRIORITY.lookup, NETNS_PRIORITY.fallback] as [number, number]] : []),
    ],
    routeTables: uniq(egresses.map((e) => e.table)),
    links: uniq(egresses.filter((e) => e.kind === 'wireguard').map((e) => e.interface)),
    files: uniq([
      CLIENT_PATHS.state,
      CLIENT_PATHS.unit,
      CLIENT_PATHS.fenceUnit,
      ...egresses.flatMap((e) => [publicFactsPath(e.name), ...(e.kind === 'wireguard' ? [clientWgConfigPath(e.interface)] : [])]),
      ...unitDropInPaths(egresses),
    ]),
    journalPath: CLIENT_PATHS.journal,
    units: [CLIENT_PATHS.unitName, CLIENT_PATHS.fenceUnitName],
  };
}
