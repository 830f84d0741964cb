// Reads what the kernel knows about one interface: index, state, addresses and the main table's routes through it.
import { NotFoundError, ValidationError } from '@egress/core/errors';
import type { Host } from '@egress/core/host/host';
import { z } from 'zod';
import { IpRouteJson } from '@egress/core/engine/ip-format';
import { IpLink, parseIpJson, type IpAddrInfo } from './ip-json.js';

/** One usable address of an interface with its prefix length. */
export interface IfaceAddress {
  address: string;
  prefixlen: number;
  /** Peer address of a point-to-point address, when the kernel shows one. */
  peer?: string;
}

/** What egress needs to know about a local uplink. */
export interface InterfaceFacts {
  name: string;
  ifindex: number;
  /** Administratively up (flag UP). */
  up: boolean;
  /** Has carrier (LOWER_UP) or reports operstate UP/UNKNOWN. */
  lowerUp: boolean;
  /** ppp, tun, wireguard…: a default route needs no gateway. */
  pointToPoint: boolean;
  loopback: boolean;
  /** IPv4 addresses (scope global). */
  v4: IfaceAddress[];
  /** Global IPv6 addresses that are usable (not tentative, deprecated or failed DAD). */
  v6: IfaceAddress[];
  /** Default routes of the main table that leave by this interface, best metric first. */
  defaults4: IpRouteJson[];
  defaults6: IpRouteJson[];
}

function usable4(a: IpAddrInfo): boolean {
  return a.family === 'inet' && a.scope !== 'host';
}

function usable6(a: IpAddrInfo): boolean {
  return a.family === 'inet6' && a.scope === 'global' && !a.tentative && !a.deprecated && !a.dadfailed;
}

function toAddress(a: IpAddrInfo): IfaceAddress {
  return a.address && a.address !== a.local ? { address: a.local, prefixlen: a.prefixlen, peer: a.address } : { address: a.local, prefixlen: a.prefixlen };
}

function byMetric(a: IpRouteJson, b: IpRouteJson): number {
  return (a.metric ?? 0) - (b.metric ?? 0);
}

/** Reads one interface through `host`; refuses an unknown name with the interfaces that exist. */
export async function readInterface(host: Host, name: string): Promise<InterfaceFacts> {
  const argv = ['ip', '-j', 'addr', 'show', 'dev', name];
  const r = await host.run(argv);
  if (r.exitCode !== 0) {
    if (/does not exist|Cannot find device/i.test(r.stderr)) {
      const names = await listInterfaces(host);
      throw new ValidationError(`--interface: no interface named '${name}' on ${host.name}; expected one of: ${names.join(', ') || '(none)'}`, [
        { path: '--interface', message: `unknown interface '${name}'` },
      ]);
    }
    throw new NotFoundError(`could not read interface '${name}': ${r.stderr.trim()}`);
  }
  const links = parseIpJson(z.array(IpLink), r.stdout, argv);
  const link = links.find((l) => l.ifname === name);
  if (!link) throw new NotFoundError(`interface '${name}' disappeared while it was being read`);
  const defaults4 = await readDefaults(host, 4, name);
  const defaults6 = await readDefaults(host, 6, name);
  return {
    name,
    ifindex: link.ifindex,
    up: link.flags.includes('UP'),
    lowerUp: link.flags.includes('LOWER_UP') || link.operstate === 'UP',
    pointToPoint: link.flags.includes('POINTOPOINT') || link.link_type === 'none',
    loopback: link.flags.includes('LOOPBACK'),
    v4: link.addr_info.filter(usable4).map(toAddress),
    v6: link.addr_info.filter(usable6).map(toAddress),
    defaults4,
    defaults6,
  };
}

/** Default routes of the main table through `dev` for one family, best metric first. */
async function readDefaults(host: Host, family: 4 | 6, dev: string): Promise<IpRouteJson[]> {
  const argv = ['ip', '-j', `-${family}`, 'route', 'show', 'table', 'main', 'default'];
  const r = await host.run(argv, { check: true });
  const routes = parseIpJson(z.array(IpRouteJson), r.stdout, argv);
  return routes.filter((rt) => rt.dev === dev && (rt.type === undefined || rt.type === 'unicast')).sort(byMetric);
}

/** Names of the host's interfaces except loopback, for "expected one of" messages. */
export async function listInterfaces(host: Host): Promise<string[]> {
  const argv = ['ip', '-j', 'link', 'show'];
  const r = await host.run(argv);
  if (r.exitCode !== 0) return [];
  return parseIpJson(z.array(IpLink), r.stdout, argv)
    .filter((l) => !l.flags.includes('LOOPBACK'))
    .map((l) => l.ifname);
}
