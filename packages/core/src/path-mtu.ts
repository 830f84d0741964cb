// The tunnel MTU from the underlay path: the route's MTU to the endpoint (else its device's), minus WireGuard's overhead.
import { isIP } from 'node:net';
import type { Host } from './host/host.js';

/** Bytes WireGuard adds per packet: outer IP header (20 / 40) + UDP 8 + WireGuard 32. */
export const WG_OVERHEAD = { 4: 60, 6: 80 } as const;

/** The model's bounds for a tunnel MTU (IPv6 needs 1280). */
export const TUNNEL_MTU_MIN = 1280;
export const TUNNEL_MTU_MAX = 9000;

/** A derived tunnel MTU and one line saying how. */
export interface PathMtu {
  mtu: number;
  how: string;
}

/** The address and port of an endpoint "host:port" / "[v6]:port" (host may be a name). */
export function splitEndpoint(endpoint: string): { host: string; port: string } {
  const v6 = /^\[([^\]]+)\]:(\d+)$/.exec(endpoint);
  if (v6) return { host: v6[1]!, port: v6[2]! };
  const i = endpoint.lastIndexOf(':');
  return i > 0 ? { host: endpoint.slice(0, i), port: endpoint.slice(i + 1) } : { host: endpoint, port: '' };
}

/**
 * The tunnel MTU for an endpoint address from `ip -j route get ADDR` and `ip -j link show dev DEV` (pure): the route's
 * mtu metric when it has one (a locked route or a learned path MTU), else the device's, minus 60 (IPv4) / 80 (IPv6).
 */
export function tunnelMtuFrom(address: string, routeJson: string, linkJson: string | undefined): PathMtu | undefined {
  const family = isIP(address) === 6 ? 6 : 4;
  let route: { dev?: string; metrics?: Array<{ mtu?: number }> } | undefined;
  let link: { mtu?: number } | undefined;
  try {
    route = (JSON.parse(routeJson) as Array<typeof route>)[0];
    link = linkJson ? (JSON.parse(linkJson) as Array<typeof link>)[0] : undefined;
  } catch {
    return undefined;
  }
  const routeMtu = route?.metrics?.find((m) => typeof m.mtu === 'number')?.mtu;
  const under = routeMtu ?? link?.mtu;
  if (!under) return undefined;
  const source = routeMtu ? `the route to ${address} has mtu ${routeMtu}` : `${route?.dev ?? 'its device'} (the route to ${address}) has mtu ${under}`;
  const raw = under - WG_OVERHEAD[family];
  const mtu = alignedTunnelMtu(raw);
  const bound = raw < TUNNEL_MTU_MIN ? `, raised to the minimum ${TUNNEL_MTU_MIN}` : mtu !== raw ? `, rounded down to ${mtu} (a multiple of 16)` : '';
  return { mtu, how: `${source}, minus ${WG_OVERHEAD[family]} for an IPv${family} endpoint = ${raw}${bound}` };
}

/**
 * `raw` within 1280-9000, rounded down to a multiple of 16. WireGuard pads every packet up to a multiple of 16, capped
 * at the SENDER's MTU: a peer with a larger MTU (a VPS at 1420) would grow our largest packet (1340 → 1344) past what
 * our path carries, and an offloading wireguard-go's UDP GSO then drops it instead of fragmenting (seen in the lab: a
 * download over a 1400 uplink stalled). With a multiple-of-16 MTU our largest packet never grows.
 */
export function alignedTunnelMtu(raw: number): number {
  const bounded = Math.min(TUNNEL_MTU_MAX, Math.max(TUNNEL_MTU_MIN, raw));
  return bounded - (bounded % 16);
}

/** Resolves the endpoint's host (literal, else `getent ahosts`) and derives the tunnel MTU on `host`; undefined when it cannot tell. */
export async function pathTunnelMtu(host: Host, endpoint: string): Promise<PathMtu | undefined> {
  let address = splitEndpoint(endpoint).host;
  if (!isIP(address)) {
    const r = await host.run(['getent', 'ahosts', address]);
    address = r.exitCode === 0 ? (r.stdout.split(/\s+/)[0] ?? '') : '';
    if (!isIP(address)) return undefined;
  }
  const route = await host.run(['ip', '-j', 'route', 'get', address]);
  if (route.exitCode !== 0) return undefined;
  let dev: string | undefined;
  try {
    dev = (JSON.parse(route.stdout) as Array<{ dev?: string }>)[0]?.dev;
  } catch {
    return undefined;
  }
  const link = dev ? await host.run(['ip', '-j', 'link', 'show', 'dev', dev]) : undefined;
  return tunnelMtuFrom(address, route.stdout, link?.exitCode === 0 ? link.stdout : undefined);
}
