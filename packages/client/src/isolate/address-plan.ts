// Picks the veth addresses of one isolated run: a /30 from 10.239.0.0/16 (and a /64 of a ULA when the egress has IPv6) that no local network overlaps.
import ipaddr from 'ipaddr.js';
import { ISOLATE_POOL4, vethAddressesOf, type VethAddresses } from '@egress/core/render/veth-addresses';

export { ISOLATE_POOL4, ISOLATE_POOL6, vethAddressesOf, type VethAddresses } from '@egress/core/render/veth-addresses';

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
