// Finds local resolver daemons that answer apps' name lookups over a Unix socket (nscd, systemd-resolved), whose
// queries leave by the host's normal route — the nft redirect of port 53 cannot see a Unix socket.
import { lstatSync, readFileSync, realpathSync } from 'node:fs';
import { hostsSources } from './nsswitch.js';

/** Where glibc's NSS finds nscd (`/var/run` is usually a link to `/run`). */
export const NSCD_SOCKETS = ['/run/nscd/socket', '/var/run/nscd/socket'] as const;
/** systemd-resolved's varlink socket, which nss-resolve (`resolve` in the hosts line) talks to. */
export const RESOLVED_VARLINK = '/run/systemd/resolve/io.systemd.Resolve';

/** What the host has that could answer lookups of a selected app outside its egress. */
export interface ResolverDaemons {
  /** Real paths of nscd sockets that exist, when nscd caches hosts (its socket also serves passwd, groups, …). */
  nscdSockets: string[];
  /** systemd-resolved's varlink socket, when it exists. */
  resolvedSocket?: string;
  /** Sources of /etc/nsswitch.conf's hosts line. */
  hosts: string[];
  /** Loopback nameservers of /etc/resolv.conf (a local stub such as systemd-resolved's 127.0.0.53). */
  loopbackResolvers: string[];
}

/** The loopback `nameserver` lines of a resolv.conf (127.0.0.0/8, ::1): a stub that forwards queries as itself. */
export function loopbackNameservers(resolvConf: string | undefined): string[] {
  const out: string[] = [];
  for (const line of (resolvConf ?? '').split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line.replace(/[#;].*/, ''));
    if (m && (/^127\./.test(m[1]!) || m[1] === '::1')) out.push(m[1]!);
  }
  return out;
}

function socketPath(path: string): string | undefined {
  try {
    const real = realpathSync(path);
    return lstatSync(real).isSocket() ? real : undefined;
  } catch {
    return undefined;
  }
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Whether nscd caches (and so answers) host lookups: unless /etc/nscd.conf says `enable-cache hosts no`. */
export function nscdCachesHosts(nscdConf: string | undefined): boolean {
  return !(nscdConf ?? '').split('\n').some((l) => /^\s*enable-cache\s+hosts\s+no\b/.test(l.replace(/#.*/, '')));
}

/** Looks at the sockets, /etc/nsswitch.conf and /etc/nscd.conf (no subprocess: run-as calls this on its fast path). */
export function detectResolverDaemons(root = ''): ResolverDaemons {
  const nsswitch = readText(`${root}/etc/nsswitch.conf`);
  const sockets = nscdCachesHosts(readText(`${root}/etc/nscd.conf`)) ? NSCD_SOCKETS.map((p) => socketPath(`${root}${p}`)) : [];
  const nscdSockets = [...new Set(sockets.filter((p): p is string => p !== undefined))];
  const resolvedSocket = socketPath(`${root}${RESOLVED_VARLINK}`);
  const loopbackResolvers = loopbackNameservers(readText(`${root}/etc/resolv.conf`));
  return { nscdSockets, ...(resolvedSocket ? { resolvedSocket } : {}), hosts: hostsSources(nsswitch), loopbackResolvers };
}

/** One sentence per way a lookup would bypass the egress; [] when none. */
export function bypassFindings(d: ResolverDaemons): string[] {
  const out: string[] = [];
  if (d.nscdSockets.length) out.push(`nscd answers host lookups (${d.nscdSockets.join(', ')}) and sends its queries by the normal route`);
  if (d.hosts.includes('resolve') && d.resolvedSocket) out.push(`systemd-resolved answers host lookups through NSS ('resolve' in /etc/nsswitch.conf's hosts line, ${d.resolvedSocket}) and sends its queries by the normal route`);
  const mdns = d.hosts.filter((s) => /^mdns/.test(s));
  if (mdns.length) out.push(`mDNS (${mdns.join(', ')} in /etc/nsswitch.conf's hosts line) asks the local network directly`);
  return out;
}

/** What to do for a bound user's own processes (not started by a launcher), per finding. */
export function bypassFixes(d: ResolverDaemons): string[] {
  const out: string[] = [];
  if (d.nscdSockets.length) out.push("turn off nscd's hosts cache ('enable-cache hosts no' in /etc/nscd.conf, then restart nscd) or stop nscd");
  if (d.hosts.includes('resolve') && d.resolvedSocket) out.push("drop 'resolve' from the hosts line of /etc/nsswitch.conf (keep 'dns': 127.0.0.53 is redirected through the egress)");
  if (d.hosts.some((s) => /^mdns/.test(s))) out.push("drop the mdns sources from the hosts line of /etc/nsswitch.conf");
  return out;
}
