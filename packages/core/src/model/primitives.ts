// Strict schemas for every name and number that reaches a shell, a file or the kernel.
import ipaddr from 'ipaddr.js';
import { z } from 'zod';

/** TCP/UDP port, 1–65535. */
export const Port = z
  .number({ message: 'expected a port number 1-65535' })
  .int({ message: 'expected a whole port number 1-65535' })
  .min(1, { message: 'expected a port 1-65535' })
  .max(65535, { message: 'expected a port 1-65535' });

/** A Linux interface name: 1–15 characters of letters, digits, '_', '.', '-' (no '/', ':', whitespace). */
export const IfaceName = z
  .string({ message: 'expected an interface name' })
  .regex(/^[A-Za-z0-9_.-]{1,15}$/, { message: "expected an interface name of 1-15 letters, digits, '_', '.' or '-'" })
  .refine((s) => s !== '.' && s !== '..', { message: "expected an interface name other than '.' or '..'" });

/** A POSIX user name as useradd accepts it: starts with a letter or '_', then letters, digits, '_', '-', '.'; at most 32. */
export const UserName = z
  .string({ message: 'expected a user name' })
  .regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/, { message: "expected a user name: a letter or '_' then up to 31 letters, digits, '_', '.' or '-'" });

/** A name egress uses in file names and comments (peer, egress, client): 1-32 of [a-z0-9_-], starting alphanumeric. */
export const SafeName = z
  .string({ message: 'expected a name' })
  .regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, { message: "expected a name of 1-32 lowercase letters, digits, '_' or '-', starting with a letter or digit" });

/** A cgroup v2 path relative to the hierarchy root, e.g. "egress/run-123". */
export const CgroupPath = z
  .string({ message: 'expected a cgroup path' })
  .regex(/^[A-Za-z0-9_.@-]+(\/[A-Za-z0-9_.@-]+)*$/, { message: "expected a cgroup path of segments of letters, digits, '_', '.', '@' or '-' separated by '/'" })
  .refine((s) => !s.split('/').some((p) => p === '.' || p === '..'), { message: "expected a cgroup path without '.' or '..' segments" });

/** A WireGuard key: base64 of exactly 32 bytes (44 characters ending in '='). */
export const WgKey = z
  .string({ message: 'expected a WireGuard key' })
  .regex(/^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/, { message: 'expected a WireGuard key: base64 of 32 bytes (44 characters ending in =)' });

/** An IPv4 address in dotted-quad form. */
export const Ipv4 = z
  .string({ message: 'expected an IPv4 address' })
  .refine((s) => ipaddr.IPv4.isValidFourPartDecimal(s), { message: 'expected an IPv4 address like 192.0.2.1' });

/** An IPv6 address (no zone id). */
export const Ipv6 = z
  .string({ message: 'expected an IPv6 address' })
  .refine((s) => !s.includes('%') && ipaddr.IPv6.isValid(s), { message: 'expected an IPv6 address like 2001:db8::1' });

/** An IPv4 or IPv6 address. */
export const IpAddr = z
  .string({ message: 'expected an IP address' })
  .refine((s) => ipaddr.IPv4.isValidFourPartDecimal(s) || (!s.includes('%') && ipaddr.IPv6.isValid(s)), {
    message: 'expected an IPv4 or IPv6 address',
  });

function isCidr(s: string, kind: 'ipv4' | 'ipv6'): boolean {
  try {
    const [addr, len] = ipaddr.parseCIDR(s);
    if (addr.kind() !== kind) return false;
    if (!/^\d+$/.test(s.split('/')[1] ?? '')) return false;
    if (kind === 'ipv4' && !ipaddr.IPv4.isValidFourPartDecimal(s.split('/')[0]!)) return false;
    return len >= 0;
  } catch {
    return false;
  }
}

/** An IPv4 network in CIDR form, e.g. 10.77.0.0/24. */
export const Cidr4 = z
  .string({ message: 'expected an IPv4 CIDR' })
  .refine((s) => isCidr(s, 'ipv4'), { message: 'expected an IPv4 network in CIDR form like 10.77.0.0/24' });

/** An IPv6 network in CIDR form, e.g. fd00:77::/64. */
export const Cidr6 = z
  .string({ message: 'expected an IPv6 CIDR' })
  .refine((s) => isCidr(s, 'ipv6'), { message: 'expected an IPv6 network in CIDR form like fd7a:77::/64' });

/** A host name (RFC 1123) or an IP address. */
export const HostName = z
  .string({ message: 'expected a host name or address' })
  .refine(
    (s) =>
      ipaddr.IPv4.isValidFourPartDecimal(s) ||
      (!s.includes('%') && ipaddr.IPv6.isValid(s)) ||
      (s.length <= 253 && /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(s)),
    { message: 'expected a host name (letters, digits, - and .) or an IP address' },
  );

/** Splits "host:port" or "[v6]:port"; returns undefined when it is not that shape. */
export function splitHostPort(s: string): { host: string; port: number } | undefined {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(s) ?? /^([^:[\]]+):(\d{1,5})$/.exec(s);
  if (!m) return undefined;
  return { host: m[1]!, port: Number(m[2]) };
}

/** Formats host and port as an endpoint, bracketing IPv6. */
export function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** A WireGuard endpoint "host:port" or "[v6]:port". */
export const Endpoint = z.string({ message: 'expected host:port' }).refine(
  (s) => {
    const hp = splitHostPort(s);
    return !!hp && HostName.safeParse(hp.host).success && Port.safeParse(hp.port).success;
  },
  { message: 'expected host:port (port 1-65535, IPv6 in brackets)' },
);

/** An fwmark bit value: a nonzero 32-bit unsigned integer. */
export const Mark = z
  .number({ message: 'expected a mark' })
  .int({ message: 'expected a whole-number mark' })
  .min(1, { message: 'expected a mark 0x1-0xffffffff' })
  .max(0xffffffff, { message: 'expected a mark 0x1-0xffffffff' });

/** A routing table id egress may own: 1–2^31-1, not the kernel's local/main/default (253–255). */
export const TableId = z
  .number({ message: 'expected a routing table id' })
  .int({ message: 'expected a whole-number routing table id' })
  .min(1, { message: 'expected a routing table id 1-2147483647' })
  .max(2147483647, { message: 'expected a routing table id 1-2147483647' })
  .refine((n) => n < 253 || n > 255, { message: 'expected a routing table id other than 253-255 (default/main/local)' });

/** An `ip rule` priority in the range egress may use (1–32765; 0 and 32766+ belong to the kernel). */
export const RulePriority = z
  .number({ message: 'expected a rule priority' })
  .int({ message: 'expected a whole-number rule priority' })
  .min(1, { message: 'expected a rule priority 1-32765' })
  .max(32765, { message: 'expected a rule priority 1-32765' });

/** Numeric uid or gid. */
export const Uid = z
  .number({ message: 'expected a uid 0-4294967294' })
  .int({ message: 'expected a whole-number uid 0-4294967294' })
  .min(0, { message: 'expected a uid 0-4294967294' })
  .max(4294967294, { message: 'expected a uid 0-4294967294' });

/** Link MTU for the tunnel. */
export const Mtu = z
  .number({ message: 'expected an MTU 1280-9000' })
  .int({ message: 'expected a whole-number MTU 1280-9000' })
  .min(1280, { message: 'expected an MTU 1280-9000' })
  .max(9000, { message: 'expected an MTU 1280-9000' });

/** WireGuard PersistentKeepalive in seconds (0 = off). */
export const Keepalive = z
  .number({ message: 'expected a keepalive interval 0-65535 seconds' })
  .int({ message: 'expected a whole-number keepalive interval 0-65535 seconds' })
  .min(0, { message: 'expected a keepalive interval 0-65535 seconds' })
  .max(65535, { message: 'expected a keepalive interval 0-65535 seconds' });
