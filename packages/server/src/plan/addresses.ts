// Tunnel address planning on the server: subnets that do not collide with the VPS's routes, the next free peer address.
import ipaddr from 'ipaddr.js';
import { ConflictError, type ServerConfig } from '@egress/core';

/** Default IPv4 tunnel subnets tried in order when --subnet is not given. */
export const DEFAULT_SUBNETS4 = Array.from({ length: 23 }, (_, i) => `10.${77 + i}.0.0/24`);
/** Default IPv6 tunnel subnet (ULA). */
export const DEFAULT_SUBNET6 = 'fd7a:77::/64';

/** Whether two CIDRs (same family) share any address. */
export function cidrsOverlap(a: string, b: string): boolean {
  const [na, la] = ipaddr.parseCIDR(a);
  const [nb, lb] = ipaddr.parseCIDR(b);
  if (na.kind() !== nb.kind()) return false;
  return la <= lb ? nb.match(na, la) : na.match(nb, lb);
}

/** The network of a CIDR in canonical form (host bits cleared), e.g. 10.77.0.5/24 -> 10.77.0.0/24. */
export function networkOf(cidr: string): string {
  const [addr, len] = ipaddr.parseCIDR(cidr);
  const bytes = addr.toByteArray();
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, len - i * 8));
    bytes[i]! &= (0xff << (8 - keep)) & 0xff;
  }
  const net = ipaddr.fromByteArray(bytes);
  return `${net.kind() === 'ipv6' ? (net as ipaddr.IPv6).toRFC5952String() : net.toString()}/${len}`;
}

/** The address at host index `n` of a subnet (1 = first host). */
export function hostAt(cidr: string, n: number): string {
  const [addr, len] = ipaddr.parseCIDR(networkOf(cidr));
  const bytes = addr.toByteArray();
  const size = addr.kind() === 'ipv4' ? 32 : 128;
  if (size - len < 31 && n >= 2 ** (size - len) - (addr.kind() === 'ipv4' ? 1 : 0)) {
    throw new ConflictError(`subnet ${cidr} has no room for host number ${n}`, { hint: 'provision a larger --subnet' });
  }
  let carry = n;
  for (let i = bytes.length - 1; i >= 0 && carry > 0; i--) {
    const v = bytes[i]! + (carry % 256);
    bytes[i] = v % 256;
    carry = Math.floor(carry / 256) + Math.floor(v / 256);
  }
  const out = ipaddr.fromByteArray(bytes);
  return out.kind() === 'ipv6' ? (out as ipaddr.IPv6).toRFC5952String() : out.toString();
}

/** Routes and addresses of the VPS that a tunnel subnet must not overlap (defaults and the tunnel's own routes excluded). */
export function occupiedPrefixes(routes: ReadonlyArray<{ family: 4 | 6; dst: string; dev?: string; table?: string }>, family: 4 | 6, tunnel: string): string[] {
  return routes
    .filter((r) => r.family === family && r.dst !== 'default' && r.dev !== tunnel && r.table !== 'local')
    .filter((r) => !(family === 6 && /^(fe80|ff00)::/.test(r.dst)))
    .map((r) => (r.dst.includes('/') ? r.dst : `${r.dst}/${family === 4 ? 32 : 128}`))
    .filter((r) => {
      try {
        ipaddr.parseCIDR(r);
        return true;
      } catch {
        return false;
      }
    });
}

/** Picks the tunnel subnet: the requested one (refused when it overlaps a VPS route) or the first free default. */
export function chooseSubnet(requested: string | undefined, defaults: readonly string[], occupied: readonly string[], field = '--subnet'): string {
  if (requested) {
    const net = networkOf(requested);
    const clash = occupied.find((o) => cidrsOverlap(net, o));
    if (clash) throw new ConflictError(`${field}: ${requested} overlaps ${clash}, already routed on the VPS; nothing was changed`, { hint: 'choose a private subnet the VPS does not use, e.g. 10.77.0.0/24' });
    return net;
  }
  const free = defaults.find((d) => !occupied.some((o) => cidrsOverlap(d, o)));
  if (!free) throw new ConflictError(`no free default tunnel subnet: all of ${defaults[0]}..${defaults[defaults.length - 1]} overlap VPS routes`, { hint: 'pass --subnet CIDR' });
  return free;
}

/** An IPv4 address as a 32-bit number, undefined when it is not a dotted quad. */
function ipv4Number(address: string): number | undefined {
  const parts = address.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return undefined;
    n = n * 256 + Number(p);
  }
  return n;
}

/**
 * The lowest host number (2 and up; 1 is the server) no peer uses. The subnet is parsed once and each peer's address
 * turned into its host number (O(peers), not one subnet parse per candidate: `peer add` on a 1,000-peer server).
 */
export function nextPeerIndex(config: Pick<ServerConfig, 'subnet4' | 'peers'>): number {
  const base = ipv4Number(networkOf(config.subnet4).split('/')[0]!)!;
  const used = new Set<number>();
  for (const p of config.peers) {
    const a = ipv4Number(p.address4);
    if (a !== undefined) used.add(a - base);
  }
  let n = 2;
  while (used.has(n)) n++;
  return n;
}
