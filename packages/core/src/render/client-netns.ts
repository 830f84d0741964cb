// Named namespaces (`egress-client netns add`): their ip rules (the veth looks up the egress's table, else
// unreachable), the forwarding sysctls of the egress interface, and their chains in the client's `inet egress` table.
import type { RuleSpec, SysctlSpec } from '../engine/types.js';
import type { ClientState, Egress } from '../model/client.js';
import type { NamedNetns } from '../model/netns.js';
import { vethAddressesOf } from './veth-addresses.js';

/** ip rule priorities of named namespaces: `iif VETH lookup TABLE`, then `iif VETH unreachable` (before every egress range, after --isolate's 4900-4901). */
export const NETNS_PRIORITY = { lookup: 4910, fallback: 4911 } as const;

/** Prefix of the host ends of named namespaces' veths. */
export const NETNS_VETH_PREFIX = 'egns';

/** Everything one named namespace's plumbing is called. */
export interface NetnsNames {
  /** `ip netns` name: /run/netns/NAME. */
  ns: string;
  /** Host end of the veth pair (`egns<slot>h`). */
  vethHost: string;
  /** The namespace end, as apps inside see it. */
  vethNs: string;
  /** Per-namespace /etc files `ip netns exec` binds over /etc (resolv.conf, nsswitch.conf). */
  etcDir: string;
}

/** The names of one named namespace's objects. */
export function netnsNames(n: Pick<NamedNetns, 'name' | 'slot'>): NetnsNames {
  return { ns: n.name, vethHost: `${NETNS_VETH_PREFIX}${n.slot}h`, vethNs: 'eth0', etcDir: `/etc/netns/${n.name}` };
}

/** The namespaces of `state` paired with their (enrolled) egress. */
export function namespacesWithEgress(state: ClientState): Array<{ n: NamedNetns; e: Egress }> {
  const out: Array<{ n: NamedNetns; e: Egress }> = [];
  for (const n of state.namespaces ?? []) {
    const e = state.egresses.find((x) => x.name === n.egress);
    if (e) out.push({ n, e });
  }
  return out;
}

/** ip rules of every named namespace: routing decides before nft, so a flushed ruleset or a down egress never lets the veth use the main table. */
export function renderNetnsRules(state: ClientState): RuleSpec[] {
  const rules: RuleSpec[] = [];
  for (const { n, e } of namespacesWithEgress(state)) {
    const iif = netnsNames(n).vethHost;
    for (const family of [4, 6] as const) {
      if (family === 4 || n.ipv6) rules.push({ family, priority: NETNS_PRIORITY.lookup, iif, table: e.table, action: 'lookup' });
      rules.push({ family, priority: NETNS_PRIORITY.fallback, iif, action: 'unreachable' });
    }
  }
  return rules;
}

/** Forwarding on the interface of each up egress a namespace uses (replies come in there); the engine restores the originals. */
export function renderNetnsSysctls(state: ClientState, down: ReadonlySet<string>): SysctlSpec[] {
  const out: SysctlSpec[] = [];
  for (const e of state.egresses) {
    const mine = (state.namespaces ?? []).filter((n) => n.egress === e.name);
    if (mine.length === 0 || down.has(e.name)) continue;
    out.push({ key: `net.ipv4.conf.${e.interface}.forwarding`, value: '1' });
    if (mine.some((n) => n.ipv6)) out.push({ key: `net.ipv6.conf.${e.interface}.force_forwarding`, value: '1' });
  }
  return out;
}

function chain(name: string, head: string, rules: string[]): string {
  return [`\tchain ${name} {`, `\t\t${head}`, ...rules.map((r) => `\t\t${r}`), '\t}'].join('\n');
}

/**
 * The chains of named namespaces in `table inet egress` (none without namespaces): forwarded traffic from a veth may
 * only leave by its egress's interface (kill switch, also while the egress is down), only with the namespace's own
 * address; only replies from the egress go back in; nothing from the veth reaches this host. The egress's source
 * safety net (postrouting_nat) gives what leaves by the tunnel the egress address.
 */
export function renderNetnsChains(state: ClientState): string[] {
  const forward: string[] = [];
  const input: string[] = [];
  for (const { n, e } of namespacesWithEgress(state)) {
    const veth = `"${netnsNames(n).vethHost}"`;
    const out = `"${e.interface}"`;
    const a = vethAddressesOf(n.slot, n.ipv6);
    const c = (text: string): string => ` comment "netns ${n.name}: ${text}"`;
    forward.push(
      `iifname ${veth} oifname != ${out} drop${c('kill switch: only out by the egress')}`,
      `iifname ${veth} tcp flags syn tcp option maxseg size set rt mtu${c('fit the egress MTU')}`,
      `iifname ${veth} ip saddr != ${a.ns4} drop${c('only the namespace address')}`,
      a.ns6 ? `iifname ${veth} ip6 saddr != ${a.ns6} drop${c('only the namespace address')}` : `iifname ${veth} meta nfproto ipv6 drop${c('no IPv6 in this namespace')}`,
      `oifname ${veth} iifname != ${out} drop${c('only the egress reaches the namespace')}`,
      `oifname ${veth} ct state != { established, related } drop${c('no connections into the namespace')}`,
    );
    input.push(
      `iifname ${veth} icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert } accept${c('neighbour discovery')}`,
      `iifname ${veth} drop${c('the namespace cannot reach this host')}`,
    );
  }
  if (forward.length === 0) return [];
  return [chain('netns_forward', 'type filter hook forward priority filter; policy accept;', forward), chain('netns_input', 'type filter hook input priority filter; policy accept;', input)];
}
