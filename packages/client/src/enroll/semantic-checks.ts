// Checks that a well-formed egress makes sense on this host before anything changes: tunnel addresses inside their
// subnet and not its network/broadcast, subnets that are not the whole internet, loopback or this host's own
// networks, an endpoint outside the tunnel, sane DNS servers. Every source (bundle, wg-quick file, interface) feeds
// the same facts and names its own fields.
import ipaddr from 'ipaddr.js';
import { ValidationError } from '@egress/core/errors';
import type { Host } from '@egress/core/host/host';
import { splitHostPort } from '@egress/core/model/primitives';
import { readJson } from '../state/host-usage.js';

/** At most this many DNS servers (resolv.conf reads 3; wg-quick sets them all). */
export const MAX_DNS = 8;

/** What a source says about the tunnel, in the model's terms. */
export interface TunnelFacts {
  address4?: string;
  address6?: string;
  /** The tunnel networks the addresses live in (a bundle's tunnel.subnet, a wg-quick Address's CIDR). */
  subnet4?: string;
  subnet6?: string;
  serverAddress4?: string;
  serverAddress6?: string;
  /** host:port or [v6]:port; a host name is only checked for shape (it is resolved later). */
  endpoint?: string;
  dns: string[];
  serverPublicKey?: string;
  clientPublicKey?: string;
}
export type FactField = keyof TunnelFacts;

/** This host's own addresses and routed networks (the egress's own interface left out). */
export interface HostNetworks {
  addresses: Array<{ ifname: string; address: string; prefixlen: number }>;
  /** Destination networks of the main table's routes (not default), e.g. 192.168.1.0/24. */
  routes: Array<{ ifname: string; dst: string }>;
}

/** One refused fact: the field as the source names it, the value and why. */
export interface SemanticProblem {
  field: string;
  value: string;
  reason: string;
}

type Addr = ipaddr.IPv4 | ipaddr.IPv6;

function parse(a: string): Addr | undefined {
  try {
    return ipaddr.parse(a);
  } catch {
    return undefined;
  }
}

function parseCidr(c: string): [Addr, number] | undefined {
  try {
    return ipaddr.parseCIDR(c);
  } catch {
    return undefined;
  }
}

function inside(a: Addr, net: [Addr, number]): boolean {
  return a.kind() === net[0].kind() && a.match(net[0] as never, net[1]);
}

/** Two networks overlap when one contains the other's first address. */
function overlaps(a: [Addr, number], b: [Addr, number]): boolean {
  if (a[0].kind() !== b[0].kind()) return false;
  return a[0].match(b[0] as never, b[1]) || b[0].match(a[0] as never, a[1]);
}

function networkOf(net: [Addr, number]): string {
  return net[0].kind() === 'ipv4' ? ipaddr.IPv4.networkAddressFromCIDR(`${net[0].toString()}/${net[1]}`).toString() : ipaddr.IPv6.networkAddressFromCIDR(`${net[0].toString()}/${net[1]}`).toString();
}

/** Ranges no tunnel address, subnet or endpoint may be in. */
const BAD_RANGE: Record<string, string> = {
  loopback: 'a loopback address (it never leaves this host)',
  unspecified: 'the unspecified address',
  multicast: 'a multicast address',
  broadcast: 'the broadcast address',
};

/** Why an address cannot be a tunnel address, a server or a resolver, or undefined when it can. */
function badRange(a: Addr): string | undefined {
  return BAD_RANGE[a.range()];
}

/** Every problem of `t` on a host with `net`; `field` names a fact as the source spells it. */
export function semanticProblems(t: TunnelFacts, net: HostNetworks, field: (f: FactField, index?: number) => string): SemanticProblem[] {
  const out: SemanticProblem[] = [];
  const add = (f: FactField, value: string, reason: string, index?: number) => out.push({ field: field(f, index), value, reason });
  const subnets: Array<{ f: 'subnet4' | 'subnet6'; net: [Addr, number]; text: string }> = [];

  for (const f of ['subnet4', 'subnet6'] as const) {
    const text = t[f];
    if (text === undefined) continue;
    const n = parseCidr(text);
    if (!n) continue; // the schema refuses malformed networks
    const [a, len] = n;
    if (len === 0) add(f, text, 'the whole internet cannot be the tunnel network (it would swallow every route); use the tunnel\'s own network, e.g. 10.66.0.0/24');
    else if (a.range() === 'loopback') add(f, text, 'a loopback network cannot be a tunnel network');
    else if (a.range() === 'linkLocal') add(f, text, 'a link-local network cannot be a tunnel network');
    else if (a.range() === 'multicast') add(f, text, 'a multicast network cannot be a tunnel network');
    else if (a.range() === 'unspecified') add(f, text, 'the unspecified address cannot start a tunnel network');
    else {
      const own = net.addresses.find((h) => overlaps(n, [parse(h.address)!, h.prefixlen]));
      const route = own ? undefined : net.routes.find((r) => { const rn = parseCidr(r.dst); return rn && overlaps(n, rn); });
      if (own) add(f, text, `overlaps this host's own network ${networkOf([parse(own.address)!, own.prefixlen])}/${own.prefixlen} on ${own.ifname} (traffic to it would be taken by the tunnel or the tunnel by it)`);
      else if (route) add(f, text, `overlaps ${route.dst}, which this host routes by ${route.ifname}`);
      subnets.push({ f, net: n, text });
    }
  }

  for (const [f, sf] of [['address4', 'subnet4'], ['address6', 'subnet6']] as const) {
    const text = t[f];
    if (text === undefined) continue;
    const a = parse(text);
    if (!a) continue;
    const bad = badRange(a);
    if (bad) {
      add(f, text, `the tunnel address cannot be ${bad}`);
      continue;
    }
    const sText = t[sf];
    const n = sText === undefined ? undefined : parseCidr(sText);
    if (n && !inside(a, n)) add(f, text, `is outside the tunnel network ${sText}`);
    else if (n && n[1] > 0) {
      const max = a.kind() === 'ipv4' ? 32 : 128;
      const net0 = networkOf(n);
      if (n[1] < max - 1 && a.toString() === parse(net0)!.toString()) add(f, text, `is the network address of ${sText}, not a host in it`);
      if (a.kind() === 'ipv4' && n[1] < 31 && a.toString() === ipaddr.IPv4.broadcastAddressFromCIDR(`${n[0].toString()}/${n[1]}`).toString()) add(f, text, `is the broadcast address of ${sText}, not a host in it`);
    }
    const serverText = f === 'address4' ? t.serverAddress4 : t.serverAddress6;
    if (serverText !== undefined && parse(serverText)?.toString() === a.toString()) add(f, text, `is the server's tunnel address too; the client needs its own`);
    const mine = net.addresses.find((h) => parse(h.address)?.toString() === a.toString());
    if (mine) add(f, text, `is already an address of this host (${mine.ifname}); the tunnel needs an address of its own`);
  }

  for (const f of ['serverAddress4', 'serverAddress6'] as const) {
    const text = t[f];
    const a = text === undefined ? undefined : parse(text);
    if (!text || !a) continue;
    const bad = badRange(a);
    if (bad) add(f, text, `the server's tunnel address cannot be ${bad}`);
  }

  if (t.endpoint !== undefined) {
    const hp = splitHostPort(t.endpoint);
    const a = hp ? parse(hp.host) : undefined;
    if (a) {
      const bad = badRange(a);
      if (bad) add('endpoint', t.endpoint, `the server cannot be reached at ${bad}`);
      const inTunnel = subnets.find((s) => inside(a, s.net));
      if (inTunnel) add('endpoint', t.endpoint, `is inside the tunnel network ${inTunnel.text}: the tunnel's own packets would be routed into the tunnel`);
    }
  }

  if (t.dns.length > MAX_DNS) add('dns', `${t.dns.length} servers`, `at most ${MAX_DNS} DNS servers are allowed`);
  t.dns.slice(0, MAX_DNS).forEach((d, i) => {
    const a = parse(d);
    if (!a) return;
    const bad = badRange(a);
    if (bad) add('dns', d, `a DNS server cannot be ${bad} (selected DNS is sent through the egress)`, i);
  });

  if (t.serverPublicKey !== undefined && t.serverPublicKey === t.clientPublicKey) add('serverPublicKey', t.serverPublicKey, "is the client's own public key; the server's key must differ");
  return out;
}

/** Throws one ValidationError listing every problem, before anything on the host changes. */
export function assertSemantics(t: TunnelFacts, net: HostNetworks, field: (f: FactField, index?: number) => string): void {
  const problems = semanticProblems(t, net, field);
  if (!problems.length) return;
  const lines = problems.map((p) => `${p.field}: '${p.value}' ${p.reason}`);
  throw new ValidationError(`${lines.join('\n')}\nnothing was changed`, problems.map((p) => ({ path: p.field, message: p.reason })));
}

interface AddrJson {
  ifname?: string;
  addr_info?: Array<{ local?: string; prefixlen?: number; scope?: string }>;
}
interface RouteJson {
  dst?: string;
  dev?: string;
  type?: string;
}

/**
 * Reads this host's addresses and main-table routes (`ip -j addr`, `ip -j route`), leaving out lo and `egressInterfaces`
 * (enrolled egresses' own tunnels: several peers of one server share its subnet, and a re-enroll finds its own).
 */
export async function readHostNetworks(host: Host, egressInterfaces: readonly string[] = []): Promise<HostNetworks> {
  const skip = new Set(['lo', ...egressInterfaces]);
  const net: HostNetworks = { addresses: [], routes: [] };
  for (const l of await readJson<AddrJson>(host, ['ip', '-j', 'addr', 'show'])) {
    if (!l.ifname || skip.has(l.ifname)) continue;
    for (const a of l.addr_info ?? []) {
      if (a.local === undefined || a.prefixlen === undefined || !parse(a.local) || a.scope === 'link') continue;
      net.addresses.push({ ifname: l.ifname, address: a.local, prefixlen: a.prefixlen });
    }
  }
  for (const fam of ['-4', '-6']) {
    for (const r of await readJson<RouteJson>(host, ['ip', '-j', fam, 'route', 'show'])) {
      if (!r.dst || r.dst === 'default' || !r.dev || skip.has(r.dev) || (r.type && r.type !== 'unicast')) continue;
      const dst = r.dst.includes('/') ? r.dst : `${r.dst}/${r.dst.includes(':') ? 128 : 32}`;
      const n = parseCidr(dst);
      if (!n || n[0].range() === 'linkLocal' || n[0].range() === 'multicast') continue;
      net.routes.push({ ifname: r.dev, dst });
    }
  }
  return net;
}
