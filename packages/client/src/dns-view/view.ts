// The DNS view of launched apps: a private mount namespace where `hosts:` resolves through the egress's DNS
// (egress resolv.conf, nsswitch.conf without resolve/mdns) and nscd's and systemd-resolved's sockets are hidden.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { bypassFindings, detectResolverDaemons, type ResolverDaemons } from './daemons.js';
import { renderNsswitch } from './nsswitch.js';

/** Where the view's files of an egress live (root-owned, read by every app of it). */
export const VIEW_DIR = '/run/egress/dns-view';

/** What a view does: files bound over /etc's, sockets hidden (a socket bound over by /dev/null refuses connections). */
export interface DnsViewPlan {
  binds: Array<{ from: string; to: string }>;
  hide: string[];
}

/** The resolv.conf of a view: the egress's resolvers (at most 3, as glibc reads). */
export function renderViewResolvConf(egress: string, dns: readonly string[]): string {
  return [`# egress-client: the resolvers of egress '${egress}', reached through it.`, ...dns.slice(0, 3).map((d) => `nameserver ${d}`), ''].join('\n');
}

/**
 * Plans the view for apps of `egress`: undefined when nothing on the host would answer them outside the egress (then
 * apps start without an extra step). With `etcHandled` (run --isolate: ip netns exec binds /etc/netns files) only the
 * sockets are hidden.
 */
export function planDnsView(egress: string, dns: readonly string[], daemons: ResolverDaemons, nsswitch: string | undefined, etcHandled = false): DnsViewPlan | undefined {
  // A loopback stub in resolv.conf also gets a view (when the egress has resolvers): the stub would send the app's
  // queries as itself, which only the nft redirect stops — with the view they go to the egress's resolver directly,
  // routed by the app's own selection (uid rule, cgroup mark), so they hold even while the nft table is missing.
  const stubOnly = daemons.loopbackResolvers.length > 0 && dns.length > 0;
  if (bypassFindings(daemons).length === 0 && !stubOnly) return undefined;
  const hide = [...daemons.nscdSockets, ...(daemons.resolvedSocket ? [daemons.resolvedSocket] : [])];
  const binds: DnsViewPlan['binds'] = [];
  if (!etcHandled) {
    const dir = `${VIEW_DIR}/${egress}`;
    if (renderNsswitch(nsswitch)) binds.push({ from: `${dir}/nsswitch.conf`, to: '/etc/nsswitch.conf' });
    if (dns.length) binds.push({ from: `${dir}/resolv.conf`, to: '/etc/resolv.conf' });
  }
  return { binds, hide };
}

/** The shell script that makes the view inside a fresh mount namespace and then execs the app's argv ("$@"). */
export function viewScript(plan: DnsViewPlan): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const steps = [
    ...plan.binds.map((b) => `mount --bind ${q(b.from)} ${q(b.to)}`),
    ...plan.hide.map((p) => `mount --bind /dev/null ${q(p)}`),
  ];
  return `set -e; ${steps.join('; ')}; exec "$@"`;
}

/** argv prefix that runs the rest in the view: `unshare --mount` (private propagation) and the script. */
export function viewArgv(plan: DnsViewPlan): string[] {
  return ['unshare', '--mount', '--propagation', 'private', '--', '/bin/sh', '-c', viewScript(plan), 'egress-dns-view'];
}

function writeIfChanged(path: string, content: string): void {
  let old: string | undefined;
  try {
    old = readFileSync(path, 'utf8');
  } catch {
    old = undefined;
  }
  if (old !== content) writeFileSync(path, content, { mode: 0o644 });
}

/**
 * The argv prefix that starts an app of `egress` in its DNS view, writing the view's files when they changed;
 * [] when the host has no resolver daemon or NSS source that would bypass the egress. Root only.
 */
export function dnsViewPrefix(egress: string, dns: readonly string[], opts: { etcHandled?: boolean; root?: string } = {}): string[] {
  const daemons = detectResolverDaemons(opts.root ?? '');
  let nsswitch: string | undefined;
  try {
    nsswitch = readFileSync(`${opts.root ?? ''}/etc/nsswitch.conf`, 'utf8');
  } catch {
    nsswitch = undefined;
  }
  const plan = planDnsView(egress, dns, daemons, nsswitch, !!opts.etcHandled);
  if (!plan) return [];
  if (plan.binds.length) {
    const dir = `${VIEW_DIR}/${egress}`;
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    const ns = renderNsswitch(nsswitch);
    if (ns) writeIfChanged(`${dir}/nsswitch.conf`, ns);
    if (dns.length) writeIfChanged(`${dir}/resolv.conf`, renderViewResolvConf(egress, dns));
  }
  return viewArgv(plan);
}
