// Picks the veth addresses of one isolated run: a /30 from 10.239.0.0/16 (and a /64 of a ULA when the egress has IPv6) that no local network overlaps.
import ipaddr from 'ipaddr.js';

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

const SLOTS = 1 << 14; // /30s in a /16

type Net = [ipaddr.IPv4 | ipaddr.IPv6, number];

function parseNet(cidr: string): Net | undefined {
  try {
    const n = ipaddr.parseCIDR(cidr);
    return n[1] > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Whether two networks share an address (one contains the other). */
function overlaps(a: Net, b: Net): boolean {
  if (a[0].kind() !== b[0].kind()) return false;
  return a[0].match(b[0], Math.min(a[1], b[1]));
}

/** The veth addresses of slot `index` (0-16383). */
export function vethAddressesOf(index: number, v6: boolean): VethAddresses {
  const base = ipaddr.parse('10.239.0.0').toByteArray();
  const n = index * 4;
  const b2 = base[2]! + (n >> 8);
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

/** Picks the first free slot starting from the one the pid hashes to; `inUse` are CIDRs of local addresses and routes. */
export function pickVethAddresses(pid: number, inUse: readonly string[], v6: boolean): VethAddresses {
  // A default route (/0) is no network of ours; every other address and route is.
  const used = inUse.map(parseNet).filter((n): n is Net => n !== undefined);
  const pool = parseNet(ISOLATE_POOL4)!;
  if (used.some((u) => u[1] <= pool[1] && overlaps(u, pool))) throw new Error(`no free /30 left in ${ISOLATE_POOL4}`);
  for (let k = 0; k < SLOTS; k++) {
    const index = (pid + k) % SLOTS;
    const cand = vethAddressesOf(index, v6);
    const c4 = parseNet(cand.net4)!;
    if (used.some((u) => overlaps(u, c4))) continue;
    const c6 = cand.net6 ? parseNet(cand.net6)! : undefined;
    if (c6 && used.some((u) => overlaps(u, c6))) continue;
    return cand;
  }
  throw new Error(`no free /30 left in ${ISOLATE_POOL4}`);
}
