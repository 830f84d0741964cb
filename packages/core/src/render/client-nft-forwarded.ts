// Selectors beyond users: forwarded traffic (`select add --interface IF` / `--source CIDR`: a bridge, a LAN port, a
// network behind this host) and systemd units / extra cgroups. Marks, DNS and rules for traffic this host forwards.
import ipaddr from 'ipaddr.js';
import type { RuleSpec, SysctlSpec } from '../engine/types.js';
import type { ClientState, Egress } from '../model/client.js';
import { unitCgroupPath } from '../model/selectors.js';
import { egressCgroupPath } from './client-paths.js';

/** What is not on the host right now: such selectors are left out of the nft table until it appears. */
export interface AbsentParts {
  /** cgroup paths (relative to /sys/fs/cgroup) that do not exist: `socket cgroupv2` needs them at load time. */
  cgroups?: readonly string[];
  /** Interfaces that do not exist (a Docker bridge made later): their per-interface sysctls wait. */
  interfaces?: readonly string[];
}

/** The newer selector lists of an egress (an object built without the schema, e.g. in a test, may lack them). */
function extra(e: Egress): { units: string[]; interfaces: string[]; sources: Array<{ cidr: string; via: string }> } {
  const s = e.selectors as Partial<Egress['selectors']>;
  return { units: s.units ?? [], interfaces: s.interfaces ?? [], sources: s.sources ?? [] };
}

/** Offsets of the forwarded selectors' rules inside the egress's range: lookup at +3, fallback at +6. */
export const FORWARDED_RULE_OFFSETS = { lookup: 3, fallback: 6 } as const;

/** Every cgroup path an egress selects: its own and `--cgroup` ones, then its units' (system.slice/NAME.service). */
export function selectedCgroups(e: Egress): string[] {
  return [...new Set([...e.selectors.cgroups, ...extra(e).units.map(unitCgroupPath)])];
}

/** The cgroups of an egress that must exist before egress's table can name them (all but its own directory). */
export function foreignCgroups(e: Egress): string[] {
  return selectedCgroups(e).filter((g) => g !== egressCgroupPath(e.name));
}

/** The selected cgroups of an egress present on the host now (nft refuses a path that does not exist). */
export function presentCgroups(e: Egress, absent: AbsentParts = {}): string[] {
  const gone = new Set(absent.cgroups ?? []);
  return selectedCgroups(e).filter((g) => !gone.has(g));
}

/** Whether an egress carries forwarded traffic (an interface or source selector). */
export function forwards(e: Egress): boolean {
  return extra(e).interfaces.length > 0 || extra(e).sources.length > 0;
}

/** Interfaces forwarded traffic of an egress arrives on (its interface selectors, its sources' interfaces). */
export function forwardedInterfaces(e: Egress): string[] {
  return [...new Set([...extra(e).interfaces, ...extra(e).sources.map((s) => s.via)])];
}

/** The nft match of one forwarded selector (with a trailing space), as `nft list` prints it. */
function forwardedMatches(e: Egress): Array<{ match: string; iface: string; what: string; v4only: boolean }> {
  return [
    ...extra(e).interfaces.map((i) => ({ match: `iifname "${i}" `, iface: i, what: `forwarded from ${i}`, v4only: false })),
    ...extra(e).sources.map((s) => ({ match: `iifname "${s.via}" ip saddr ${s.cidr} `, iface: s.via, what: `forwarded from ${s.cidr}`, v4only: true })),
  ];
}

/**
 * nft rules of the forwarded selectors: the mark in prerouting (routing then takes the egress's table; the postrouting
 * kill switch and SNAT of the egress apply to the forwarded packets as to local ones), and DNS to anywhere sent to
 * the egress's resolvers (destination NAT before routing, so it is marked and leaves by the egress too).
 */
export function forwardedNft(e: Egress, setMark: string, c: { prerouting: string[]; preroutingNat: string[] }): void {
  const dns4 = e.dns.find((a) => ipaddr.parse(a).kind() === 'ipv4');
  const dns6 = e.address6 ? e.dns.find((a) => ipaddr.parse(a).kind() === 'ipv6') : undefined;
  for (const m of forwardedMatches(e)) {
    // Traffic to the same interface (container to container on a bridge, which br_netfilter — loaded by Docker —
    // shows to these hooks too) is not leaving: never marked, so the kill switch does not drop it.
    const leaving = `fib daddr oifname != "${m.iface}" `;
    c.prerouting.push(`${m.match}${leaving}${setMark} comment "${e.name}: ${m.what}"`);
    for (const [fam, dns] of [['ipv4', dns4], ['ipv6', m.v4only ? undefined : dns6]] as const) {
      if (!dns) continue;
      const family = m.v4only ? '' : `meta nfproto ${fam} `;
      // DNS to this host itself (a bridge's dnsmasq would ask by the normal route) and DNS leaving: to the egress.
      for (const to of ['fib daddr type local ', leaving]) {
        for (const proto of ['udp', 'tcp']) c.preroutingNat.push(`${m.match}${to}${family}${proto} dport 53 dnat ${fam === 'ipv4' ? 'ip' : 'ip6'} to ${dns} comment "${e.name}: DNS ${m.what} to ${dns} through the egress"`);
      }
    }
  }
}

/**
 * ip rules of the forwarded selectors: `iif IF` (and `from CIDR iif IF`) look up the egress's table, then the same
 * matches again as `prohibit` (`unreachable` for a family the egress lacks): routing refuses forwarded traffic of a
 * down egress even without the nft table (outside-direct egresses: only their table's prohibit routes). Locally made
 * traffic (iif lo) never matches.
 */
export function forwardedRules(e: Egress, outsideDirect: boolean): RuleSpec[] {
  const rules: RuleSpec[] = [];
  for (const family of [4, 6] as const) {
    const hasFamily = family === 4 ? !!e.address4 : !!e.address6;
    const matches: Array<Partial<RuleSpec>> = [
      ...extra(e).interfaces.map((i) => ({ iif: i })),
      ...(family === 4 ? extra(e).sources.map((s) => ({ from: s.cidr, iif: s.via })) : []),
    ];
    if (hasFamily) for (const m of matches) rules.push({ family, priority: e.priority + FORWARDED_RULE_OFFSETS.lookup, ...m, table: e.table, action: 'lookup' });
    if (hasFamily && outsideDirect) continue;
    for (const m of matches) rules.push({ family, priority: e.priority + FORWARDED_RULE_OFFSETS.fallback, ...m, action: hasFamily ? 'prohibit' : 'unreachable' });
  }
  return rules;
}

/**
 * Per-interface sysctls forwarded selectors need, for the egresses that are up: forwarding on the interfaces traffic
 * arrives on and on the egress's own (its replies come back by it), loose rp_filter on the arriving ones (their
 * source's route back is the egress's table once marked). Only IPv4 and only those interfaces: never ip_forward for
 * all. Keys already in `have` are skipped; the engine journals the previous values and restores them on removal.
 */
export function forwardedSysctls(state: ClientState, down: ReadonlySet<string>, absent: AbsentParts, have: readonly SysctlSpec[]): SysctlSpec[] {
  const gone = new Set(absent.interfaces ?? []);
  const seen = new Set(have.map((s) => s.key));
  const out: SysctlSpec[] = [];
  const add = (key: string, value: string): void => {
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ key, value });
  };
  for (const e of state.egresses) {
    if (down.has(e.name) || !forwards(e)) continue;
    for (const i of forwardedInterfaces(e)) {
      if (gone.has(i)) continue;
      add(`net.ipv4.conf.${i}.forwarding`, '1');
      add(`net.ipv4.conf.${i}.rp_filter`, '2');
    }
    add(`net.ipv4.conf.${e.interface}.forwarding`, '1');
  }
  return out;
}
