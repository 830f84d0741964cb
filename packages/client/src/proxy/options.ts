// The proxy's inputs, checked with zod before anything listens: --listen, --allow, --egress and the 0600 --auth-file.
import { readFileSync, statSync } from 'node:fs';
import { BlockList, isIP } from 'node:net';
import { z } from 'zod';
import { ValidationError } from '@egress/core/errors';
import { SafeName } from '@egress/core/model/primitives';

export interface ListenAddress {
  host: string;
  port: number;
  family: 4 | 6;
}

export interface ProxyConfig {
  egress?: string;
  listen: ListenAddress[];
  /** Sources allowed besides loopback, as CIDR text. */
  allow: string[];
  users?: Map<string, string>;
}

const ListenText = z.string().transform((s, ctx): ListenAddress => {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(s) ?? /^([^:[\]]+):(\d{1,5})$/.exec(s);
  const host = m?.[1];
  const port = Number(m?.[2]);
  const family = host ? isIP(host) : 0;
  if (!m || !host || (family !== 4 && family !== 6) || !Number.isInteger(port) || port < 1 || port > 65535) {
    ctx.addIssue({ code: 'custom', message: `expected ADDR:PORT with an IP address and a port 1-65535 (IPv6 as [ADDR]:PORT), got '${s}'` });
    return z.NEVER;
  }
  return { host, port, family };
});

const AllowText = z.string().superRefine((s, ctx) => {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(s);
  const fam = m ? isIP(m[1]!) : 0;
  const len = Number(m?.[2]);
  if (!((fam === 4 && len <= 32) || (fam === 6 && len <= 128))) ctx.addIssue({ code: 'custom', message: `expected a CIDR such as 192.168.1.0/24 or fd00::/64, got '${s}'` });
});

export const ProxyFlags = z
  .object({
    egress: SafeName.optional(),
    listen: z.array(ListenText).prefault(['127.0.0.1:1080']),
    allow: z.array(AllowText).default([]),
    authFile: z.string().min(1).optional(),
  })
  .strict();

export function isLoopback(host: string): boolean {
  return isIP(host) === 4 ? host.startsWith('127.') : host === '::1';
}

/** One line of the auth file: USER:PASSWORD, each 1-255 bytes (the SOCKS5 limit), the user without ':'. */
const AuthLine = z.object({
  username: z.string().min(1).refine((s) => Buffer.byteLength(s) <= 255, 'username longer than 255 bytes'),
  password: z.string().min(1).refine((s) => Buffer.byteLength(s) <= 255, 'password longer than 255 bytes'),
});

/** Reads USER:PASSWORD lines ('#' comments and blank lines ignored) from a file that only its owner may read. */
export function readAuthFile(path: string): Map<string, string> {
  const st = statSync(path);
  if (!st.isFile()) throw new ValidationError(`--auth-file: ${path} is not a regular file`, [{ path: 'auth-file', message: 'not a file' }]);
  if ((st.mode & 0o077) !== 0) {
    const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
    throw new ValidationError(`--auth-file: ${path} has mode ${mode}; it holds passwords, so it must not be readable by group or others (chmod 600)`, [
      { path: 'auth-file', message: `mode ${mode}, expected 0600 or stricter` },
    ]);
  }
  const users = new Map<string, string>();
  readFileSync(path, 'utf8')
    .split('\n')
    .forEach((raw, i) => {
      const line = raw.replace(/\r$/, '');
      if (line.trim() === '' || line.trimStart().startsWith('#')) return;
      const at = line.indexOf(':');
      const parsed = AuthLine.safeParse(at < 0 ? {} : { username: line.slice(0, at), password: line.slice(at + 1) });
      if (!parsed.success) {
        const why = parsed.error.issues.map((x) => `${x.path.join('.') || 'line'}: ${x.message}`).join('; ');
        throw new ValidationError(`--auth-file: ${path} line ${i + 1}: expected USER:PASSWORD (${why})`, [{ path: `auth-file:${i + 1}`, message: why }]);
      }
      users.set(parsed.data.username, parsed.data.password);
    });
  if (users.size === 0) throw new ValidationError(`--auth-file: ${path} has no USER:PASSWORD line`, [{ path: 'auth-file', message: 'empty' }]);
  return users;
}

/** Checks the flags; a non-loopback listen address needs --allow (else anyone on that network could use the egress). */
export function parseProxyConfig(options: Record<string, unknown>): ProxyConfig {
  const input = {
    ...(options.egress !== undefined ? { egress: options.egress } : {}),
    ...(options.listen !== undefined ? { listen: options.listen } : {}),
    ...(options.allow !== undefined ? { allow: options.allow } : {}),
    ...(options.authFile !== undefined ? { authFile: options.authFile } : {}),
  };
  const r = ProxyFlags.safeParse(input);
  if (!r.success) {
    const issues = r.error.issues.map((i) => ({ path: `--${String(i.path[0] ?? '')}`.replace('authFile', 'auth-file'), message: i.message }));
    throw new ValidationError(`proxy: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, issues);
  }
  const { listen, allow, authFile, egress } = r.data;
  const open = listen.filter((l) => !isLoopback(l.host));
  if (open.length > 0 && allow.length === 0) {
    const where = open.map((l) => (l.family === 6 ? `[${l.host}]:${l.port}` : `${l.host}:${l.port}`)).join(', ');
    throw new ValidationError(`--listen: ${where} is not a loopback address; give --allow CIDR for the sources that may use the proxy`, [
      { path: '--allow', message: 'required when listening on a non-loopback address' },
    ]);
  }
  return { ...(egress ? { egress } : {}), listen, allow, ...(authFile ? { users: readAuthFile(authFile) } : {}) };
}

/** Who may connect: loopback always, and the --allow ranges. */
export function accessList(allow: string[]): (address: string) => boolean {
  const list = new BlockList();
  list.addSubnet('127.0.0.0', 8, 'ipv4');
  list.addAddress('::1', 'ipv6');
  for (const cidr of allow) {
    const [addr, len] = cidr.split('/') as [string, string];
    list.addSubnet(addr, Number(len), isIP(addr) === 4 ? 'ipv4' : 'ipv6');
  }
  return (address) => {
    const a = address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
    const fam = isIP(a);
    return fam !== 0 && list.check(a, fam === 4 ? 'ipv4' : 'ipv6');
  };
}
