// Port forwards: a public port (or range) on the VPS mapped to a port on one peer.
import { z } from 'zod';
import { ValidationError } from '../errors.js';
import ipaddr from 'ipaddr.js';
import { IfaceName, IpAddr, Port, SafeName } from './primitives.js';

export const Protocol = z.enum(['tcp', 'udp'], { message: "expected 'tcp' or 'udp'" });
export type Protocol = z.infer<typeof Protocol>;

export const PortForward = z
  .object({
    proto: Protocol,
    publicPort: Port,
    /** Last port of a range; absent for a single port. */
    publicPortEnd: Port.optional(),
    peer: SafeName,
    targetPort: Port,
    /** A host behind the client (its LAN) the client forwards to; absent: a service on the client itself. */
    targetHost: IpAddr.optional(),
    /** Client side only: the interface the client reaches targetHost by (found by the client, never by the server). */
    via: IfaceName.optional(),
  })
  .strict()
  .superRefine((f, ctx) => {
    const why = f.targetHost === undefined ? undefined : unusableTargetHost(f.targetHost);
    if (why) ctx.addIssue({ code: 'custom', path: ['targetHost'], message: why });
  })
  .refine((f) => f.publicPortEnd === undefined || f.publicPortEnd > f.publicPort, {
    message: 'expected the end of a port range above its start',
    path: ['publicPortEnd'],
  })
  .refine((f) => f.targetPort + ((f.publicPortEnd ?? f.publicPort) - f.publicPort) <= 65535, {
    message: 'expected the target range to end at or below port 65535',
    path: ['targetPort'],
  });
export type PortForward = z.infer<typeof PortForward>;

/** Number of ports a forward covers. */
export function forwardSize(f: PortForward): number {
  return (f.publicPortEnd ?? f.publicPort) - f.publicPort + 1;
}

/** Why an address cannot be a forward's LAN host (it would loop back into the client or nowhere), or undefined. */
export function unusableTargetHost(host: string): string | undefined {
  if (!ipaddr.isValid(host)) return `expected an IPv4 address or a bracketed IPv6 address, got '${host}'`;
  const addr = ipaddr.process(host);
  if (addr.kind() === 'ipv6') return `'${host}' is an IPv6 address; LAN hosts are IPv4 only for now; expected an IPv4 address`;
  const range = addr.range();
  if (['loopback', 'unspecified', 'multicast', 'broadcast', 'linkLocal'].includes(range)) {
    return `'${host}' is a ${range} address, which would not reach a host behind the client; expected the LAN address of that host`;
  }
  return undefined;
}

/** Renders a forward back to its SPEC form, `8080/tcp:80`, `6000-6010/udp:7000`, `443/tcp:192.0.2.10:443`. */
export function formatForwardSpec(f: PortForward): string {
  const range = f.publicPortEnd !== undefined ? `${f.publicPort}-${f.publicPortEnd}` : `${f.publicPort}`;
  const host = f.targetHost === undefined ? '' : f.targetHost.includes(':') ? `[${f.targetHost}]:` : `${f.targetHost}:`;
  return `${range}/${f.proto}:${host}${f.targetPort}`;
}

const SPEC_RE = /^(\d{1,5})(?:-(\d{1,5}))?(?:\/(tcp|udp))?(?::(?:(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:.]+\]):)?(\d{1,5}))?$/;

/**
 * Parses `PUBLIC[-PUBLIC_END][/tcp|/udp][:[LAN_HOST:]TARGET_PORT]` (tcp when omitted, target = public when omitted;
 * LAN_HOST an IPv4 address or a bracketed IPv6 one)
 * into a forward for `peer`. `field` names the flag in error messages.
 */
export function parseForwardSpec(spec: string, peer: string, field = '--forward'): PortForward {
  const m = SPEC_RE.exec(spec.trim());
  if (!m) {
    throw new ValidationError(
      `${field}: expected PUBLIC[-PUBLIC_END][/tcp|/udp][:[LAN_HOST:]TARGET_PORT] like 8080/tcp:80, 6000-6010/udp or 443/tcp:192.168.1.10:443, got '${spec}'`,
      [{ path: field, message: 'bad forward spec' }],
    );
  }
  const publicPort = Number(m[1]);
  const publicPortEnd = m[2] !== undefined ? Number(m[2]) : undefined;
  const input = {
    proto: (m[3] ?? 'tcp') as Protocol,
    publicPort,
    ...(publicPortEnd !== undefined ? { publicPortEnd } : {}),
    peer,
    targetPort: m[5] !== undefined ? Number(m[5]) : publicPort,
    ...(m[4] !== undefined ? { targetHost: m[4].replace(/^\[|\]$/g, '') } : {}),
  };
  const parsed = PortForward.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const sub = issue.path.join('.');
    throw new ValidationError(`${field}: '${spec}': ${sub ? `${sub}: ` : ''}${issue.message}`, [{ path: field, message: issue.message }]);
  }
  return parsed.data;
}

/** Whether two forwards of one peer land on a common port of the client (the client tells them apart by that port). */
export function targetsOverlap(a: PortForward, b: PortForward): boolean {
  if (a.proto !== b.proto || a.peer !== b.peer) return false;
  const aEnd = a.targetPort + forwardSize(a) - 1;
  const bEnd = b.targetPort + forwardSize(b) - 1;
  return a.targetPort <= bEnd && b.targetPort <= aEnd;
}

/** Whether two forwards claim a common public port of the same protocol. */
export function forwardsOverlap(a: PortForward, b: PortForward): boolean {
  if (a.proto !== b.proto) return false;
  const aEnd = a.publicPortEnd ?? a.publicPort;
  const bEnd = b.publicPortEnd ?? b.publicPort;
  return a.publicPort <= bEnd && b.publicPort <= aEnd;
}
