// Address planning with ipaddr.js: server .1 / ::1, peers from .2, ULA /64s, overlap checks against the host's routes and addresses.
import { createHash, randomBytes } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import { z } from 'zod';
import { ConflictError, ValidationError } from './errors.js';
import { parseWith } from './model/parse.js';

type Addr = ipaddr.IPv4 | ipaddr.IPv6;

function parseSubnet(cidr: string, field: string): { network: Addr; prefix: number } {
  let parsed: [Addr, number];
  try {
    parsed = ipaddr.parseCIDR(cidr);
  } catch {
    throw new ValidationError(`${field}: expected a network in CIDR form like 10.77.0.0/24 or fd7a:77::/64, got '${cidr}'`, [{ path: field, message: 'bad CIDR' }]);
  }
  const [addr, prefix] = parsed;
  const network = addr.kind() === 'ipv4' ? ipaddr.IPv4.networkAddressFromCIDR(cidr) : ipaddr.IPv6.networkAddressFromCIDR(cidr);
  return { network, prefix };
}

function toBig(a: Addr): bigint {
  return a.toByteArray().reduce((acc, b) => (acc << 8n) | BigInt(b), 0n);
}

function fromBig(n: bigint, kind: 'ipv4' | 'ipv6'): Addr {
  const len = kind === 'ipv4' ? 4 : 16;
  const bytes = Array.from({ length: len }, (_v, i) => Number((n >> BigInt(8 * (len - 1 - i))) & 0xffn));
  return ipaddr.fromByteArray(bytes);
}

function text(a: Addr): string {
  return a.kind() === 'ipv6' ? (a as ipaddr.IPv6).toRFC5952String() : a.toString();
}

/** The n-th address of a subnet (0 = the network address), as text. */
export function addressAt(subnet: string, n: number, field = 'subnet'): string {
  const { network, prefix } = parseSubnet(subnet, field);
  const bits = network.kind() === 'ipv4' ? 32 : 128;
  if (BigInt(n) >= 1n << BigInt(bits - prefix)) throw new ConflictError(`${field}: ${subnet} has no address number ${n}`);
  return text(fromBig(toBig(network) + BigInt(n), network.kind()));
}

/** The server's tunnel addresses: the first host of each subnet (.1 / ::1). */
export function serverAddresses(subnet4: string, subnet6?: string): { address4: string; address6?: string } {
  const address4 = addressAt(subnet4, 1, 'subnet4');
  return subnet6 ? { address4, address6: addressAt(subnet6, 1, 'subnet6') } : { address4 };
}

/** The first free peer address of a subnet from .2 (skipping `used`); ConflictError naming the subnet when it is full. */
export function allocatePeer(subnet: string, used: readonly string[], field = 'subnet'): string {
  const { network, prefix } = parseSubnet(subnet, field);
  const v4 = network.kind() === 'ipv4';
  const size = 1n << BigInt((v4 ? 32 : 128) - prefix);
  // v4: the network and broadcast addresses are not hosts; v6: only the subnet-router anycast (::0) is skipped.
  const last = v4 ? size - 2n : size - 1n;
  const taken = new Set(used.map((u) => text(ipaddr.parse(u.split('/')[0]!))));
  const base = toBig(network);
  const limit = last < 2n + 65536n ? last : 2n + 65536n;
  for (let i = 2n; i <= limit; i++) {
    const candidate = text(fromBig(base + i, network.kind()));
    if (!taken.has(candidate)) return candidate;
  }
  throw new ConflictError(`${field}: ${subnet} is full (${taken.size} addresses in use, the server has .1)`, { hint: 'remove a peer or provision with a larger --subnet' });
}

/** A unique local IPv6 /64 (fdXX:XXXX:XXXX::/64, RFC 4193): random, or derived from `seed` for a stable answer. */
export function defaultSubnet6(seed?: string): string {
  const id = seed === undefined ? randomBytes(5) : createHash('sha256').update(seed).digest().subarray(0, 5);
  const bytes = [0xfd, ...id, 0, 0, ...new Array<number>(8).fill(0)];
  return `${text(ipaddr.fromByteArray(bytes))}/64`;
}

/** Whether two CIDRs (or addresses) share any address; different families never overlap. */
export function overlaps(a: string, b: string): boolean {
  const pa = parseSubnet(a.includes('/') ? a : `${a}/${a.includes(':') ? 128 : 32}`, 'a');
  const pb = parseSubnet(b.includes('/') ? b : `${b}/${b.includes(':') ? 128 : 32}`, 'b');
  if (pa.network.kind() !== pb.network.kind()) return false;
  const shorter = pa.prefix <= pb.prefix ? pa : pb;
  const longer = shorter === pa ? pb : pa;
  return (longer.network as ipaddr.IPv4).match(shorter.network as ipaddr.IPv4, shorter.prefix);
}

/** A route or address the host already has, with where it came from (for messages). */
export interface HostCidr {
  cidr: string;
  /** e.g. "route 10.0.0.0/8 dev eth0", "address 10.77.0.5/24 on eth1". */
  source: string;
}

/** Refuses a subnet that overlaps a route or address of the host, naming the field, the subnet and the conflict. */
export function assertNoOverlap(subnet: string, hostCidrs: readonly HostCidr[], field: string): void {
  parseSubnet(subnet, field);
  const clash = hostCidrs.find((h) => overlaps(subnet, h.cidr));
  if (clash) {
    throw new ConflictError(`${field}: ${subnet} overlaps ${clash.source} that the host already has; nothing was changed`, { hint: `pass another ${field} (a private range the host does not use)` });
  }
}

const RouteJson = z.array(z.object({ dst: z.string(), dev: z.string().optional(), table: z.string().optional(), type: z.string().optional() }).loose());
const AddrJson = z.array(
  z.object({ ifname: z.string(), addr_info: z.array(z.object({ family: z.string(), local: z.string(), prefixlen: z.number(), scope: z.string().optional() }).loose()).default([]) }).loose(),
);

/** Networks the host uses, from `ip -j route show table all` and `ip -j addr` (default routes, local/broadcast/multicast and link-local entries left out). */
export function hostCidrsFrom(ipJsonRoutes: unknown, ipJsonAddrs: unknown): HostCidr[] {
  const routes = parseWith(RouteJson, ipJsonRoutes, 'ip -j route');
  const addrs = parseWith(AddrJson, ipJsonAddrs, 'ip -j addr');
  const out: HostCidr[] = [];
  for (const r of routes) {
    if (r.dst === 'default' || ['local', 'broadcast', 'multicast', 'anycast', 'unreachable', 'prohibit', 'blackhole', 'throw'].includes(r.type ?? 'unicast')) continue;
    const cidr = r.dst.includes('/') ? r.dst : `${r.dst}/${r.dst.includes(':') ? 128 : 32}`;
    const addr = ipaddr.parse(cidr.split('/')[0]!);
    if (addr.range() === 'linkLocal' || addr.range() === 'loopback') continue;
    out.push({ cidr, source: `route ${r.dst}${r.dev ? ` dev ${r.dev}` : ''}${r.table ? ` table ${r.table}` : ''}` });
  }
  for (const l of addrs) {
    for (const a of l.addr_info) {
      if (a.scope === 'host' || a.scope === 'link') continue;
      out.push({ cidr: `${a.local}/${a.prefixlen}`, source: `address ${a.local}/${a.prefixlen} on ${l.ifname}` });
    }
  }
  return out;
}
