// Decides whether a gateway is directly reachable on an interface, from the interface's own prefixes.
import ipaddr from 'ipaddr.js';
import type { IfaceAddress } from './read-interface.js';

/** The network of an address and prefix in CIDR form ("192.0.2.130", 25 -> "192.0.2.128/25"). */
export function networkOf(address: string, prefixlen: number): string {
  const addr = ipaddr.parse(address);
  if (addr.kind() === 'ipv4') return `${ipaddr.IPv4.networkAddressFromCIDR(`${address}/${prefixlen}`).toString()}/${prefixlen}`;
  return `${ipaddr.IPv6.networkAddressFromCIDR(`${address}/${prefixlen}`).toString()}/${prefixlen}`;
}

/** Why `gateway` cannot be the next hop on an interface with `addresses`, or undefined when it can. */
export function offLinkReason(gateway: string, addresses: readonly IfaceAddress[]): string | undefined {
  const gw = ipaddr.parse(gateway);
  if (gw.kind() === 'ipv6' && (gw as ipaddr.IPv6).range() === 'linkLocal') return undefined;
  const sameFamily = addresses.filter((a) => ipaddr.parse(a.address).kind() === gw.kind());
  if (sameFamily.length === 0) return `the interface has no ${gw.kind() === 'ipv4' ? 'IPv4' : 'global IPv6'} address`;
  for (const a of sameFamily) {
    if (a.address === gw.toString() || ipaddr.parse(a.address).toNormalizedString() === gw.toNormalizedString()) return `it is the interface's own address`;
    if (a.peer && ipaddr.parse(a.peer).toNormalizedString() === gw.toNormalizedString()) return undefined;
    const prefix = ipaddr.parse(a.address);
    if (!gw.match(prefix, a.prefixlen)) continue;
    if (gw.kind() === 'ipv4' && a.prefixlen < 31) {
      const cidr = `${a.address}/${a.prefixlen}`;
      if (ipaddr.IPv4.networkAddressFromCIDR(cidr).toString() === gw.toString()) return `it is the network address of ${networkOf(a.address, a.prefixlen)}`;
      if (ipaddr.IPv4.broadcastAddressFromCIDR(cidr).toString() === gw.toString()) return `it is the broadcast address of ${networkOf(a.address, a.prefixlen)}`;
    }
    return undefined;
  }
  return `it is outside the interface's networks (${sameFamily.map((a) => networkOf(a.address, a.prefixlen)).join(', ')})`;
}
