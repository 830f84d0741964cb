// Finds the interface a LAN forward's host is reached by, refusing targets that would loop or leave the LAN.
import { ValidationError } from '@egress/core/errors';
import type { Host } from '@egress/core/host/host';
import type { Egress } from '@egress/core/model/client';
import type { PortForward } from '@egress/core/model/forward';
import { formatForwardSpec } from '@egress/core/model/forward';
import ipaddr from 'ipaddr.js';

type WireguardEgress = Extract<Egress, { kind: 'wireguard' }>;

interface RouteGet {
  type?: string;
  dev?: string;
  gateway?: string;
}

function refuse(field: string, f: PortForward, why: string): never {
  throw new ValidationError(`${field}: '${formatForwardSpec(f)}': ${f.targetHost} ${why}; expected the address of a host on a LAN of this client`, [{ path: field, message: `${why} (got '${f.targetHost}')` }]);
}

/**
 * The interface the client reaches `f.targetHost` by: a directly connected LAN (no gateway), not lo, not a tunnel of
 * egress, not inside the tunnel subnet. Forwards to the client itself need no LAN host (drop `HOST:`).
 */
export async function lanInterfaceFor(host: Host, e: WireguardEgress, all: readonly Egress[], f: PortForward, field: string): Promise<string> {
  const target = f.targetHost!;
  const addr = ipaddr.process(target);
  for (const cidr of [e.wireguard.subnet4, e.wireguard.subnet6]) {
    if (!cidr) continue;
    const [net, len] = ipaddr.parseCIDR(cidr);
    if (net.kind() === addr.kind() && addr.match(net, len)) refuse(field, f, `is inside the tunnel subnet ${cidr}, so the forward would loop`);
  }
  const r = await host.run(['ip', '-j', 'route', 'get', target]);
  if (r.exitCode !== 0) refuse(field, f, `has no route on this client (${r.stderr.trim()})`);
  const route = (JSON.parse(r.stdout) as RouteGet[])[0] ?? {};
  if (route.type === 'local' || route.dev === 'lo') refuse(field, f, `is an address of this client itself; forward to the client with '${formatForwardSpec({ ...f, targetHost: undefined })}'`);
  const egressIf = all.find((x) => x.interface === route.dev);
  if (egressIf) refuse(field, f, `is reached by ${route.dev}, the interface of egress '${egressIf.name}', so the forward would loop`);
  if (route.gateway || !route.dev) refuse(field, f, `is not on a LAN of this client (routed via ${route.gateway ?? '?'} on ${route.dev ?? '?'})`);
  return route.dev;
}

/** The egress's forwards with `via` filled for every LAN forward (refusing loops before anything changes). */
export async function withLanInterfaces(host: Host, e: WireguardEgress, all: readonly Egress[], field: string): Promise<PortForward[]> {
  const out: PortForward[] = [];
  for (const f of e.wireguard.forwards) {
    if (!f.targetHost) {
      out.push(f);
      continue;
    }
    out.push({ ...f, via: await lanInterfaceFor(host, e, all, f, field) });
  }
  return out;
}

/**
 * A running tunnel of an egress with LAN forwards forwards what arrives on it (wg-quick's PostUp does this at each
 * up; a forward added to a running tunnel needs it now). Nothing is changed when it is already on or not needed.
 */
export async function ensureTunnelForwarding(host: Host, e: Egress): Promise<void> {
  if (e.kind !== 'wireguard' || !e.wireguard.forwards.some((f) => f.targetHost)) return;
  const key = `net.ipv4.conf.${e.interface}.forwarding`;
  const r = await host.run(['sysctl', '-n', key]);
  if (r.exitCode === 0 && r.stdout.trim() !== '1') await host.run(['sysctl', '-q', '-w', `${key}=1`], { check: true, change: true });
}
