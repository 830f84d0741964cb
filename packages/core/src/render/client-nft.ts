// The client's one nftables table `inet egress`: selection marks, connmark, DNS redirect, kill switch, SNAT safety net.
import ipaddr from 'ipaddr.js';
import type { ClientState, Egress } from '../model/client.js';
import type { PortForward } from '../model/forward.js';
import { renderNetnsChains } from './client-netns.js';
import { outsideDirect } from './client-routing.js';
import { policyRules } from './client-nft-policy.js';
import { forwardedNft, presentCgroups, type AbsentParts } from './client-nft-forwarded.js';

/** Family and name of the client's nftables table. */
export const CLIENT_NFT_TABLE = { family: 'inet', name: 'egress' } as const;

/** Formats a mark the way `nft list` prints it: 0x01000000. */
export function hexMark(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
}

/** `meta mark set …` (or `ct mark set …`) keeping every bit outside the egress's mask. */
function setMasked(key: 'meta mark' | 'ct mark', e: Egress): string {
  if (e.mark === e.markMask) return `${key} set ${key} | ${hexMark(e.mark)}`;
  // nft prints `& ~mask | mark` as `& (~mask | mark) | mark` (same result); render that form so listings compare.
  return `${key} set ${key} & ${hexMark((~e.markMask | e.mark) >>> 0)} | ${hexMark(e.mark)}`;
}

/** Match on the egress's bit of a mark. */
function isMarked(key: 'meta mark' | 'ct mark', e: Egress): string {
  return `${key} & ${hexMark(e.markMask)} == ${hexMark(e.mark)}`;
}

const q = (s: string): string => `"${s}"`;
const comment = (e: Egress, text: string): string => ` comment ${q(`${e.name}: ${text}`)}`;

/** Number of segments of a cgroup path: the `level` nft matches it at. */
function cgroupLevel(path: string): number {
  return path.split('/').length;
}

function dnsOf(e: Egress, kind: 'ipv4' | 'ipv6'): string | undefined {
  return e.dns.find((a) => ipaddr.parse(a).kind() === kind);
}

/** Destination matches (with a trailing space) the kill switch of an outside-direct egress covers, as nft lists them. */
function killSwitchScopes(allowed: readonly string[], has6: boolean): string[] {
  const out: string[] = [];
  for (const c of allowed) {
    const v6 = c.includes(':');
    if (v6 && !has6) continue; // the whole family is refused below
    const shown = c.replace(/\/(32|128)$/, '');
    out.push(`${v6 ? 'ip6' : 'ip'} daddr ${shown} `);
  }
  // A family the egress lacks is refused by its `unreachable` rules and the mark chain's IPv6 reject.
  return out;
}

interface Chains {
  sets: string[];
  prerouting: string[];
  reply: string[];
  lanNat: string[];
  mark: string[];
  dns: string[];
  filter: string[];
  postFilter: string[];
  snat: string[];
  /** Regular chains of the allow policy (client-nft-policy.ts). */
  policy: string[];
}

function egressRules(e: Egress, c: Chains, absent: AbsentParts): void {
  const iface = q(e.interface);
  const marked = isMarked('meta mark', e);
  const tunnel = e.kind === 'wireguard';

  c.prerouting.push(`iifname ${iface} ip daddr 127.0.0.0/8 drop${comment(e, 'no loopback destinations from the egress')}`);
  if (tunnel) c.prerouting.push(`iifname ${iface} ct state new ${setMasked('ct mark', e)}${comment(e, 'connections arriving from the tunnel')}`);
  if (tunnel) forwardReplies(e, c);
  if (e.kind === 'wireguard') lanForwards(e, c);
  forwardedNft(e, setMasked('meta mark', e), { prerouting: c.prerouting, preroutingNat: c.lanNat });

  if (tunnel) c.mark.push(`${isMarked('ct mark', e)} ${setMasked('meta mark', e)}${comment(e, 'replies to connections from the tunnel')}`);
  for (const u of e.selectors.users) c.mark.push(`meta skuid ${u.uid} ${setMasked('meta mark', e)}${comment(e, `user ${u.name}`)}`);
  for (const g of presentCgroups(e, absent)) {
    c.mark.push(`socket cgroupv2 level ${cgroupLevel(g)} ${q(g)} ${setMasked('meta mark', e)}${comment(e, `cgroup ${g}`)}`);
  }
  if (e.selectors.shimSource) {
    if (e.address4) c.mark.push(`ip saddr ${e.address4} ${setMasked('meta mark', e)}${comment(e, `source ${e.address4}`)}`);
    if (e.address6) c.mark.push(`ip6 saddr ${e.address6} ${setMasked('meta mark', e)}${comment(e, `source ${e.address6}`)}`);
  }

  const dns4 = dnsOf(e, 'ipv4');
  const dns6 = e.address6 ? dnsOf(e, 'ipv6') : undefined;
  for (const [fam, dns] of [['ipv4', dns4], ['ipv6', dns6]] as const) {
    if (!dns) continue;
    const to = fam === 'ipv4' ? `dnat ip to ${dns}` : `dnat ip6 to ${dns}`;
    for (const proto of ['udp', 'tcp']) c.dns.push(`${marked} meta nfproto ${fam} ${proto} dport 53 ${to}${comment(e, `DNS to ${dns} through the egress`)}`);
  }

  // Output chains see the interface of the route picked before any reroute (mark, DNAT), so the output reject only
  // covers traffic routed by uid from the start; postrouting sees the final interface and drops the rest.
  for (const proto of ['udp', 'tcp']) c.filter.push(`${marked} fib daddr type local ${proto} dport 53 reject${comment(e, 'no DNS to local resolvers')}`);
  // Outside-direct: the kill switch covers the AllowedIPs (and a family the egress lacks), not other destinations.
  const scopes = outsideDirect(e) && e.kind === 'wireguard' ? killSwitchScopes(e.wireguard.allowedIps ?? [], !!e.address6) : [''];
  for (const u of e.selectors.users) {
    for (const to of scopes) {
      c.filter.push(`meta skuid ${u.uid} ${to}oifname != "lo" oifname != ${iface} meta l4proto tcp reject with tcp reset${comment(e, `kill switch for ${u.name}`)}`);
      c.filter.push(`meta skuid ${u.uid} ${to}oifname != "lo" oifname != ${iface} reject with icmpx admin-prohibited${comment(e, `kill switch for ${u.name}`)}`);
    }
  }
  const pol = policyRules(e, tunnel ? isMarked('ct mark', e) : undefined);
  c.filter.push(...pol.rules);
  if (pol.chain) c.policy.push(pol.chain);
  if (!e.address6) c.mark.push(`${marked} meta nfproto ipv6 oifname != "lo" reject with icmpx admin-prohibited${comment(e, 'no IPv6 on this egress')}`);
  for (const to of scopes) c.postFilter.push(`${marked} ${to}oifname != "lo" oifname != ${iface} drop${comment(e, 'kill switch')}`);

  const only = tunnel ? '' : `${marked} `;
  if (e.address4) c.snat.push(`${only}oifname ${iface} ip saddr != ${e.address4} snat ip to ${e.address4}${comment(e, 'source safety net')}`);
  if (e.address6) c.snat.push(`${only}oifname ${iface} ip6 saddr != ${e.address6} snat ip6 to ${e.address6}${comment(e, 'source safety net')}`);
}

/** Set of (remote address, protocol, remote port, local port) of flows that came in through a tunnel. */
export function forwardPeerSet(e: Egress, fam: 4 | 6): string {
  return `fwd${fam}_${e.name}`;
}

/** How long a flow from the tunnel stays in its set after its last packet in (each packet in refreshes it). */
export const FORWARD_PEER_TIMEOUT = '3m';

/**
 * Replies of port-forwarded services leave through the tunnel whatever the service bound. An unconnected UDP socket
 * bound to 0.0.0.0 or :: takes its reply's source address from a main-table route lookup (the uplink's address), so
 * the reply matches no connection from the tunnel and the connmark cannot apply. Prerouting records every flow that
 * arrives from the tunnel (remote address and port, local port); a route chain at raw priority, before conntrack,
 * gives outgoing packets of such a flow the tunnel address and the egress mark, so conntrack sees the reply of the
 * tunnel connection and routing sends it into the egress table (kill switch included). No forward list is needed.
 */
function forwardReplies(e: Egress, c: Chains): void {
  const iface = q(e.interface);
  for (const [fam, addr] of [[4, e.address4], [6, e.address6]] as const) {
    if (!addr) continue;
    const set = forwardPeerSet(e, fam);
    const ip = fam === 4 ? 'ip' : 'ip6';
    c.sets.push([
      `\tset ${set} {`,
      `\t\ttype ${fam === 4 ? 'ipv4_addr' : 'ipv6_addr'} . inet_proto . inet_service . inet_service`,
      '\t\tsize 65535',
      '\t\tflags dynamic,timeout',
      `\t\ttimeout ${FORWARD_PEER_TIMEOUT}`,
      '\t}',
    ].join('\n'));
    c.prerouting.push(`iifname ${iface} ct direction original meta l4proto { tcp, udp } update @${set} { ${ip} saddr . meta l4proto . th sport . th dport }${comment(e, `flows from the tunnel (IPv${fam})`)}`);
    c.reply.push(`meta l4proto { tcp, udp } ${ip} daddr . meta l4proto . th dport . th sport @${set} ${ip} saddr set ${addr} ${setMasked('meta mark', e)}${comment(e, `replies to flows from the tunnel leave by it (IPv${fam})`)}`);
  }
}

/** The forwards of an egress that go on to a host behind the client (its LAN). */
export function lanForwardsOf(e: Egress): PortForward[] {
  return e.kind === 'wireguard' ? e.wireguard.forwards.filter((f) => f.targetHost !== undefined) : [];
}

/**
 * Forwards to a LAN host: the VPS sends them to the tunnel address and target port; the client DNATs them on to the
 * host (same port). The host's replies (it routes them back through the client) get the egress's bit back from the
 * conntrack mark before routing, so they leave by the tunnel (kill switch included), never by another interface.
 */
function lanForwards(e: Egress, c: Chains): void {
  const lan = lanForwardsOf(e);
  if (lan.length === 0) return;
  const iface = q(e.interface);
  for (const f of lan) {
    const last = f.targetPort + ((f.publicPortEnd ?? f.publicPort) - f.publicPort);
    const ports = last === f.targetPort ? `${f.targetPort}` : `${f.targetPort}-${last}`;
    c.lanNat.push(`iifname ${iface} meta nfproto ipv4 ${f.proto} dport ${ports} dnat ip to ${f.targetHost}${comment(e, `forward ${ports}/${f.proto} to ${f.targetHost}`)}`);
  }
  c.prerouting.push(`iifname != ${iface} ct direction reply ${isMarked('ct mark', e)} ${setMasked('meta mark', e)}${comment(e, 'replies from LAN hosts leave by the tunnel')}`);
}

function chain(name: string, head: string, rules: string[]): string {
  return [`\tchain ${name} {`, `\t\t${head}`, ...rules.map((r) => `\t\t${r}`), '\t}'].join('\n');
}

/**
 * Renders the `table inet egress` of a client with every egress in it, exactly as `nft list table inet egress`
 * prints it back (so drift checks can compare text). Returns undefined when there is no egress.
 */
export function renderClientNft(state: ClientState, absent: AbsentParts = {}): string | undefined {
  if (state.egresses.length === 0) return undefined;
  const c: Chains = { sets: [], prerouting: [], reply: [], lanNat: [], mark: [], dns: [], filter: [], postFilter: [], snat: [], policy: [] };
  for (const e of state.egresses) egressRules(e, c, absent);
  const chains = [
    ...c.sets,
    chain('prerouting', 'type filter hook prerouting priority mangle; policy accept;', c.prerouting),
    c.lanNat.length ? chain('prerouting_nat', 'type nat hook prerouting priority dstnat; policy accept;', c.lanNat) : undefined,
    c.reply.length ? chain('output_reply', 'type route hook output priority raw; policy accept;', c.reply) : undefined,
    chain('output_mark', 'type route hook output priority mangle; policy accept;', c.mark),
    c.dns.length ? chain('output_dns', 'type nat hook output priority -100; policy accept;', c.dns) : undefined,
    chain('output_filter', 'type filter hook output priority filter; policy accept;', c.filter),
    ...c.policy,
    chain('postrouting_filter', 'type filter hook postrouting priority filter; policy accept;', c.postFilter),
    c.snat.length ? chain('postrouting_nat', 'type nat hook postrouting priority srcnat; policy accept;', c.snat) : undefined,
    ...renderNetnsChains(state),
  ].filter((x): x is string => x !== undefined);
  return `table ${CLIENT_NFT_TABLE.family} ${CLIENT_NFT_TABLE.name} {\n${chains.join('\n\n')}\n}\n`;
}
