// Port forwards: a public port (or range) on the VPS mapped to a port on one peer.
import { z } from 'zod';
import { ValidationError } from '../errors.js';
import { Port, SafeName } from './primitives.js';

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
  })
  .strict()
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

/** Renders a forward back to its SPEC form, `8080/tcp:80`, `6000-6010/udp:7000`. */
export function formatForwardSpec(f: PortForward): string {
  const range = f.publicPortEnd !== undefined ? `${f.publicPort}-${f.publicPortEnd}` : `${f.publicPort}`;
  return `${range}/${f.proto}:${f.targetPort}`;
}

const SPEC_RE = /^(\d{1,5})(?:-(\d{1,5}))?(?:\/(tcp|udp))?(?::(\d{1,5}))?$/;

/**
 * Parses `PUBLIC[-PUBLIC_END][/tcp|/udp][:TARGET_PORT]` (tcp when omitted, target = public when omitted)
 * into a forward for `peer`. `field` names the flag in error messages.
 */
export function parseForwardSpec(spec: string, peer: string, field = '--forward'): PortForward {
  const m = SPEC_RE.exec(spec.trim());
  if (!m) {
    throw new ValidationError(
      `${field}: expected PUBLIC[-PUBLIC_END][/tcp|/udp][:TARGET_PORT] like 8080/tcp:80 or 6000-6010/udp, got '${spec}'`,
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
    targetPort: m[4] !== undefined ? Number(m[4]) : publicPort,
  };
  const parsed = PortForward.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const sub = issue.path.join('.');
    throw new ValidationError(`${field}: '${spec}': ${sub ? `${sub}: ` : ''}${issue.message}`, [{ path: field, message: issue.message }]);
  }
  return parsed.data;
}

/** Whether two forwards claim a common public port of the same protocol. */
export function forwardsOverlap(a: PortForward, b: PortForward): boolean {
  if (a.proto !== b.proto) return false;
  const aEnd = a.publicPortEnd ?? a.publicPort;
  const bEnd = b.publicPortEnd ?? b.publicPort;
  return a.publicPort <= bEnd && b.publicPort <= aEnd;
}
