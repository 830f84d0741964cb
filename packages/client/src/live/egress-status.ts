// The live status of each egress: interface, handshake, transfer, users, mark/table/priorities, kill switch, DNS.
import type { Host } from '@egress/core/host/host';
import type { ClientState, Egress } from '@egress/core/model/client';
import { renderClientRules } from '@egress/core/render/client-routing';
import { selectionFacts } from '../egress-facts.js';
import { describeImplementation, tunnelImplementation, tunnelImplementations, type TunnelImplementation } from '@egress/core/wireguard-impl';
import { wgPeers } from '../wg-show.js';
import { hasRule, readLive, type LiveClient } from './read-live.js';

export interface EgressStatus {
  name: string;
  kind: Egress['kind'];
  interface: string;
  up: boolean;
  addresses: string[];
  endpoint?: string;
  /** Unix seconds of the latest handshake (0: none). */
  latestHandshake: number;
  rxBytes: number;
  txBytes: number;
  users: Array<{ name: string; uid: number }>;
  cgroups: string[];
  /** systemd services, and forwarded traffic by interface or source network (`select add`). */
  units: string[];
  interfaces: string[];
  sources: Array<{ cidr: string; via: string }>;
  /** Who else may use the egress (`allow`): users and groups by name. */
  allowed: string[];
  /** Named namespaces (`netns add`) whose only way out is this egress. */
  namespaces: string[];
  mark: string;
  markMask: string;
  table: number;
  priorities: [number, number];
  killSwitch: { armed: boolean; nft: boolean; fallbackRules: boolean };
  dns: string[];
  /** Wireguard egresses whose interface exists: kernel module or userspace program, version, offloads. */
  implementation?: TunnelImplementation;
}

/** Sysctl keys doctor and status look at for an egress. */
export function sysctlKeysOf(e: Egress): string[] {
  return ['net.ipv4.conf.all.src_valid_mark', `net.ipv4.conf.${e.interface}.rp_filter`, `net.ipv4.conf.${e.interface}.route_localnet`];
}

/** What carries each up tunnel of `egresses`, read in one command (status reads them all at once). */
export async function implementationsFor(host: Host, egresses: readonly Egress[], live: LiveClient): Promise<Map<string, TunnelImplementation>> {
  return tunnelImplementations(host, egresses.filter((e) => e.kind === 'wireguard' && live.links.has(e.interface)).map((e) => e.interface));
}

/** Reads the live state once for all egresses of `state`. */
export async function readLiveFor(host: Host, state: ClientState): Promise<LiveClient> {
  return readLive(host, {
    tables: state.egresses.map((e) => e.table),
    links: state.egresses.map((e) => e.interface),
    sysctls: [...new Set(state.egresses.flatMap(sysctlKeysOf))],
  });
}

/** Whether the kill switch of `e` is in place: its nft reject rules and its prohibit/unreachable fallback rules. */
export function killSwitchOf(e: Egress, live: LiveClient): EgressStatus['killSwitch'] {
  const nft = !!live.nft && live.nft.includes(`"${e.name}: kill switch"`);
  const fallbackRules = renderClientRules(e)
    .filter((r) => r.action !== 'lookup')
    .every((r) => hasRule(live, r));
  return { armed: nft && fallbackRules, nft, fallbackRules };
}

/** Status of one egress from the live state and `wg show` (`state` adds the named namespaces using it). */
export async function egressStatus(host: Host, e: Egress, live: LiveClient, state?: ClientState, impls?: ReadonlyMap<string, TunnelImplementation>): Promise<EgressStatus> {
  const link = live.links.get(e.interface);
  const peers = e.kind === 'wireguard' && link ? ((await wgPeers(host, e.interface)) ?? []) : [];
  const peer = e.kind === 'wireguard' ? peers.find((p) => p.publicKey === e.wireguard.serverPublicKey) : undefined;
  return {
    name: e.name,
    kind: e.kind,
    interface: e.interface,
    // An uplink stays up when its egress is down: an interface egress is up when its table has its routes.
    up: !!link?.up && (e.kind === 'wireguard' || (live.routes.get(e.table)?.size ?? 0) > 0),
    addresses: link?.addresses ?? [],
    ...(e.kind === 'wireguard' ? { endpoint: peer?.endpoint ?? e.wireguard.endpoint } : {}),
    latestHandshake: peer?.latestHandshake ?? 0,
    rxBytes: peer?.rxBytes ?? 0,
    txBytes: peer?.txBytes ?? 0,
    ...selectionFacts(e),
    allowed: [...(e.access?.users ?? []).map((u) => `user ${u.name}`), ...(e.access?.groups ?? []).map((g) => `group ${g.name}`)],
    namespaces: (state?.namespaces ?? []).filter((n) => n.egress === e.name).map((n) => n.name),
    killSwitch: killSwitchOf(e, live),
    dns: e.dns,
    ...(e.kind === 'wireguard' && link ? { implementation: impls?.get(e.interface) ?? (await tunnelImplementation(host, e.interface)) } : {}),
  };
}

/** "12s ago", "3m ago", "never". */
export function ago(unixSeconds: number, now = Date.now() / 1000): string {
  if (!unixSeconds) return 'never';
  const s = Math.max(0, Math.round(now - unixSeconds));
  if (s < 120) return `${s}s ago`;
  if (s < 7200) return `${Math.round(s / 60)}m ago`;
  return `${Math.round(s / 3600)}h ago`;
}

/** Bytes for people: 1.2 KiB, 3.4 MiB. */
export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** The status of one egress as lines for people. */
export function formatStatus(s: EgressStatus): string {
  return [
    `egress ${s.name} (${s.kind}): ${s.up ? 'up' : 'DOWN'} on ${s.interface}${s.addresses.length ? ` ${s.addresses.join(', ')}` : ''}`,
    ...(s.implementation ? [`  tunnel ${describeImplementation(s.implementation)}`] : []),
    ...(s.kind === 'wireguard' ? [`  peer ${s.endpoint ?? '?'}: latest handshake ${ago(s.latestHandshake)}, transfer ${bytes(s.rxBytes)} received, ${bytes(s.txBytes)} sent`] : []),
    `  users ${s.users.map((u) => `${u.name} (uid ${u.uid})`).join(', ') || 'none'}${s.cgroups.length ? `; cgroup ${s.cgroups.join(', ')}` : ''}`,
    ...(s.units.length ? [`  units ${s.units.join(', ')}`] : []),
    ...(s.interfaces.length || s.sources.length ? [`  forwarded traffic from ${[...s.interfaces, ...s.sources.map((x) => `${x.cidr} via ${x.via}`)].join(', ')}`] : []),
    ...(s.namespaces.length ? [`  namespaces ${s.namespaces.map((n) => `${n} (/run/netns/${n})`).join(', ')}`] : []),
    ...(s.allowed.length ? [`  also allowed ${s.allowed.join(', ')}`] : []),
    `  mark ${s.mark}/${s.markMask}, table ${s.table}, priorities ${s.priorities[0]}-${s.priorities[1]}`,
    `  kill switch ${s.killSwitch.armed ? 'armed' : `NOT ARMED (nft ${s.killSwitch.nft ? 'ok' : 'missing'}, fallback rules ${s.killSwitch.fallbackRules ? 'ok' : 'missing'})`}`,
    `  DNS ${s.dns.length ? `${s.dns.join(', ')} through the egress` : 'none: DNS to local resolvers is refused'}`,
  ].join('\n');
}
