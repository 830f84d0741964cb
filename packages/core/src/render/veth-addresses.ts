// Addresses of a veth pair into an egress (run --isolate, named namespaces): slot N is the Nth /30 of 10.239.0.0/16 (and a /64 of a ULA).

/** Pool of IPv4 /30s for veth pairs. */
export const ISOLATE_POOL4 = '10.239.0.0/16';
/** ULA /48 whose /64s carry the veth's IPv6 ("eg" "is" in hex). */
export const ISOLATE_POOL6 = 'fd65:6769:7300::/48';

/** Addresses of both veth ends. */
export interface VethAddresses {
  index: number;
  /** e.g. 10.239.4.0/30 */
  net4: string;
  host4: string;
  ns4: string;
  /** Present when the egress carries IPv6. */
  net6?: string;
  host6?: string;
  ns6?: string;
}

/** The veth addresses of slot `index` (0-16383). */
export function vethAddressesOf(index: number, v6: boolean): VethAddresses {
  const n = index * 4;
  const b2 = n >> 8;
  const b3 = n & 0xff;
  const out: VethAddresses = {
    index,
    net4: `10.239.${b2}.${b3}/30`,
    host4: `10.239.${b2}.${b3 + 1}`,
    ns4: `10.239.${b2}.${b3 + 2}`,
  };
  if (v6) {
    const word = index.toString(16);
    out.net6 = `fd65:6769:7300:${word}::/64`;
    out.host6 = `fd65:6769:7300:${word}::1`;
    out.ns6 = `fd65:6769:7300:${word}::2`;
  }
  return out;
}
