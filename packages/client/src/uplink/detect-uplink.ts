// Turns `--interface IF [--gateway IP] [--dns IP]` into checked facts for an egress of kind `interface`, refusing bad input before any change.
import { ValidationError } from '@egress/core/errors';
import type { Host } from '@egress/core/host/host';
import { parseWith } from '@egress/core/model/parse';
import { IfaceName, IpAddr, Ipv4 } from '@egress/core/model/primitives';
import ipaddr from 'ipaddr.js';
import { findLease, type LeaseFacts } from './dhcp-lease.js';
import { networkOf, offLinkReason } from './on-link.js';
import { findResolvers, type ResolverSearch } from './resolver-sources.js';
import { readInterface, type InterfaceFacts } from './read-interface.js';

/** What the user asked for. */
export interface UplinkRequest {
  interface: string;
  /** `--gateway`, at most one IPv4 and one IPv6. */
  gateways?: readonly string[];
  /** `--dns`, resolvers reached through the interface. */
  dns?: readonly string[];
  /** `--address`: which of IF's IPv4 addresses the traffic leaves with (default: the first). */
  address?: string;
}

/** The checked way out through a local interface; `sources` says where each value came from. */
export interface UplinkPlan {
  interface: string;
  ifindex: number;
  pointToPoint: boolean;
  address4: string;
  network4: string;
  /** Absent on a point-to-point link (the default route needs no next hop). */
  gateway4?: string;
  address6?: string;
  network6?: string;
  gateway6?: string;
  /** Why IPv6 of selected traffic is refused (no global address or no default route through the interface). */
  v6Refused?: string;
  dns: string[];
  sources: { gateway4?: string; gateway6?: string; dns: string };
}

function refuse(field: string, value: string, message: string, hint?: string): never {
  throw new ValidationError(`${field}: ${message}`, [{ path: field, message: `${message} (got '${value}')` }], hint ? { hint } : {});
}

function family(ip: string): 4 | 6 {
  return ipaddr.parse(ip).kind() === 'ipv4' ? 4 : 6;
}

function isLocalResolver(ip: string): boolean {
  const range = ipaddr.parse(ip).range();
  return range === 'loopback' || range === 'unspecified';
}

/** Splits and checks `--gateway` values: addresses, at most one per family. */
function parseGateways(values: readonly string[]): { v4?: string; v6?: string } {
  const out: { v4?: string; v6?: string } = {};
  for (const v of values) {
    parseWith(IpAddr, v, '--gateway');
    const key = family(v) === 4 ? 'v4' : 'v6';
    if (out[key]) refuse('--gateway', v, `expected at most one IPv${key === 'v4' ? 4 : 6} gateway, got '${out[key]}' and '${v}'`);
    out[key] = v;
  }
  return out;
}

/** Picks the IPv4 next hop: --gateway, the main table's default route through IF, the DHCP lease; none on point-to-point links. */
function pickGateway4(facts: InterfaceFacts, given: string | undefined, lease: LeaseFacts | undefined): { gateway?: string; source?: string } {
  const nets = facts.v4.map((a) => networkOf(a.address, a.prefixlen)).join(', ');
  if (given) {
    const why = offLinkReason(given, facts.v4);
    if (why) refuse('--gateway', given, `gateway '${given}' is not on-link on '${facts.name}': ${why}; expected an address in ${nets}`);
    return { gateway: given, source: '--gateway' };
  }
  const route = facts.defaults4[0];
  if (route?.gateway && !offLinkReason(route.gateway, facts.v4)) return { gateway: route.gateway, source: 'main table default route' };
  if (route && !route.gateway) return { source: 'main table default route (no next hop)' };
  for (const r of lease?.routers ?? []) {
    if (family(r) === 4 && !offLinkReason(r, facts.v4)) return { gateway: r, source: lease!.source };
  }
  if (facts.pointToPoint) return { source: 'point-to-point link' };
  return refuse(
    '--gateway',
    '',
    `no gateway found for '${facts.name}' (no default route through it in the main table, no DHCP lease naming a router)`,
    `pass --gateway IP with the router of ${facts.name}, an address in ${nets}`,
  );
}

/** Picks IPv6 when IF has a global address and a default route (or --gateway); otherwise says why it is refused. */
function pickV6(facts: InterfaceFacts, given: string | undefined): Pick<UplinkPlan, 'address6' | 'network6' | 'gateway6' | 'v6Refused'> & { source?: string } {
  const addr = facts.v6[0];
  if (given) {
    if (!addr) refuse('--gateway', given, `'${facts.name}' has no usable global IPv6 address, so an IPv6 gateway cannot be used; expected an IPv4 gateway only`);
    const why = offLinkReason(given, facts.v6);
    if (why) refuse('--gateway', given, `gateway '${given}' is not on-link on '${facts.name}': ${why}; expected a link-local fe80:: address or one in ${facts.v6.map((a) => networkOf(a.address, a.prefixlen)).join(', ')}`);
    return { address6: addr.address, network6: networkOf(addr.address, addr.prefixlen), gateway6: given, source: '--gateway' };
  }
  if (!addr) return { v6Refused: `'${facts.name}' has no global IPv6 address` };
  const route = facts.defaults6[0];
  if (!route) return { v6Refused: `'${facts.name}' has no IPv6 default route in the main table` };
  if (route.gateway && offLinkReason(route.gateway, facts.v6)) return { v6Refused: `the IPv6 default route of '${facts.name}' has an off-link gateway ${route.gateway}` };
  const out: Pick<UplinkPlan, 'address6' | 'network6' | 'gateway6'> & { source: string } = {
    address6: addr.address,
    network6: networkOf(addr.address, addr.prefixlen),
    source: 'main table default route',
  };
  if (route.gateway) out.gateway6 = route.gateway;
  return out;
}

/** Picks resolvers: --dns, else the first source of `search` that names one; refuses local stubs and IPv6 resolvers the uplink cannot reach. */
function pickDns(facts: InterfaceFacts, given: readonly string[], search: ResolverSearch | undefined, v6: boolean): { dns: string[]; source: string } {
  for (const d of given) {
    parseWith(IpAddr, d, '--dns');
    if (isLocalResolver(d)) refuse('--dns', d, `'${d}' is a resolver on this machine, whose queries would not leave by '${facts.name}'; expected a resolver reached through '${facts.name}'`);
    if (family(d) === 6 && !v6) refuse('--dns', d, `'${d}' is an IPv6 resolver but IPv6 through '${facts.name}' is refused; expected an IPv4 resolver`);
  }
  if (given.length > 0) return { dns: [...given], source: '--dns' };
  if (search?.found) return search.found;
  return refuse(
    '--dns',
    '',
    `no resolver found for '${facts.name}' (tried: ${(search?.tried ?? []).join(', ')}; local stubs such as 127.0.0.53 do not count)`,
    `pass --dns IP with a resolver reachable through ${facts.name}`,
  );
}

/** The `--address` the user chose, when it is one of IF's IPv4 addresses. */
function pickAddress(facts: InterfaceFacts, wanted: string): InterfaceFacts['v4'][number] {
  const found = facts.v4.find((a) => a.address === wanted);
  if (!found) refuse('--address', wanted, `'${wanted}' is not an IPv4 address of '${facts.name}'; expected one of: ${facts.v4.map((a) => a.address).join(', ')}`);
  return found;
}

/** Reads IF through `host` and returns the checked uplink, or throws a ValidationError naming field, value and what is allowed. */
export async function detectUplink(host: Host, request: UplinkRequest): Promise<UplinkPlan> {
  const name = parseWith(IfaceName, request.interface, '--interface');
  const gateways = parseGateways(request.gateways ?? []);
  for (const d of request.dns ?? []) parseWith(IpAddr, d, '--dns');
  if (request.address !== undefined) parseWith(Ipv4, request.address, '--address');
  const facts = await readInterface(host, name);
  if (facts.loopback) refuse('--interface', name, `'${name}' is the loopback interface; expected an uplink such as eth0 or wlan0`);
  if (!facts.up) refuse('--interface', name, `'${name}' is down; expected an interface that is up`, `bring it up (ip link set ${name} up, or connect it) and try again`);
  if (facts.v4.length === 0) refuse('--interface', name, `'${name}' has no IPv4 address; expected an interface with an address`, `connect ${name} (or give it an address) and try again`);
  const addr4 = request.address === undefined ? facts.v4[0]! : pickAddress(facts, request.address);
  const needLease = !gateways.v4 || (request.dns ?? []).length === 0;
  const lease = needLease ? await findLease(host, name, facts.ifindex) : undefined;
  const g4 = pickGateway4(facts, gateways.v4, lease);
  const v6 = pickV6(facts, gateways.v6);
  const usable = (d: string) => !isLocalResolver(d) && (family(d) === 4 || v6.address6 !== undefined);
  const search = (request.dns ?? []).length > 0 ? undefined : await findResolvers(host, name, facts.ifindex, lease, usable);
  const dns = pickDns(facts, request.dns ?? [], search, v6.address6 !== undefined);
  const plan: UplinkPlan = {
    interface: name,
    ifindex: facts.ifindex,
    pointToPoint: facts.pointToPoint,
    address4: addr4.address,
    network4: networkOf(addr4.address, addr4.prefixlen),
    dns: dns.dns,
    sources: { dns: dns.source },
  };
  if (g4.gateway) plan.gateway4 = g4.gateway;
  if (g4.source) plan.sources.gateway4 = g4.source;
  if (v6.address6) {
    plan.address6 = v6.address6;
    plan.network6 = v6.network6!;
    if (v6.gateway6) plan.gateway6 = v6.gateway6;
    if (v6.source) plan.sources.gateway6 = v6.source;
  } else if (v6.v6Refused) plan.v6Refused = v6.v6Refused;
  return plan;
}
