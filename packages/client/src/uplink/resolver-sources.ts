// Finds the resolvers of an interface the way the host itself does: DHCP lease, systemd-resolved, NetworkManager, /etc/resolv.conf.
import type { Host } from '@egress/core/host/host';
import ipaddr from 'ipaddr.js';
import type { LeaseFacts } from './dhcp-lease.js';

/** Resolvers found for an interface and where they came from. */
export interface ResolverFacts {
  dns: string[];
  source: string;
}

/** The outcome of a search: what was found (if anything) and every source that was looked at, in order. */
export interface ResolverSearch {
  found?: ResolverFacts;
  tried: string[];
}

/** Addresses in a text, one per word; drops `#server-name` and `%zone` suffixes and anything that is not an address. */
export function addressesIn(text: string): string[] {
  return text
    .split(/[\s,|]+/)
    .map((w) => w.trim().replace(/#.*$/, '').replace(/^\[(.*)\](?::\d+)?$/, '$1'))
    .filter((w) => w !== '' && !w.includes('%') && ipaddr.isValid(w));
}

/** `resolvectl dns IF` prints `Link 3 (wlan0): 192.0.2.1 2001:db8::53`; returns the addresses after the colon. */
export function parseResolvectlDns(text: string): string[] {
  return text.split('\n').flatMap((line) => {
    const m = /^Link \d+ \([^)]*\):(.*)$/.exec(line.trim());
    return m ? addressesIn(m[1]!) : [];
  });
}

/** Values of `KEY=…` lines of a systemd state file (`/run/systemd/resolve/netif/N`, `/run/systemd/netif/links/N`). */
export function stateFileServers(text: string, keys: readonly string[]): string[] {
  return text.split('\n').flatMap((line) => {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    return m && keys.includes(m[1]!) ? addressesIn(m[2]!) : [];
  });
}

/** `nameserver` lines of a resolv.conf. */
export function resolvConfServers(text: string): string[] {
  return text.split('\n').flatMap((line) => {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    return m ? addressesIn(m[1]!) : [];
  });
}

/**
 * Looks for IF's resolvers in order — the DHCP lease, systemd-resolved's per-link servers (`resolvectl dns IF`, its
 * state file, systemd-networkd's link state), NetworkManager (`nmcli`), then /etc/resolv.conf — and returns the first
 * source that names one `usable` accepts (not a local stub, a family the egress carries).
 */
export async function findResolvers(host: Host, iface: string, ifindex: number, lease: LeaseFacts | undefined, usable: (ip: string) => boolean): Promise<ResolverSearch> {
  const tried: string[] = [];
  const pick = (list: string[], source: string): ResolverSearch | undefined => {
    tried.push(source);
    const dns = [...new Set(list.filter(usable))];
    return dns.length > 0 ? { found: { dns, source }, tried } : undefined;
  };
  const file = async (path: string, keys: readonly string[]): Promise<string[]> => {
    const text = await host.readFile(path);
    return text === undefined ? [] : stateFileServers(text, keys);
  };
  const run = async (argv: string[]): Promise<string | undefined> => {
    const r = await host.run(argv);
    return r.exitCode === 0 ? r.stdout : undefined;
  };

  const fromLease = pick(lease?.dns ?? [], lease?.source ?? 'DHCP lease');
  if (fromLease) return fromLease;

  const resolvectl = await run(['resolvectl', 'dns', iface]);
  const r1 = pick(resolvectl === undefined ? [] : parseResolvectlDns(resolvectl), `resolvectl dns ${iface}`);
  if (r1) return r1;
  const resolvedFile = `/run/systemd/resolve/netif/${ifindex}`;
  const r2 = pick(await file(resolvedFile, ['SERVERS', 'DNS']), resolvedFile);
  if (r2) return r2;
  const networkdFile = `/run/systemd/netif/links/${ifindex}`;
  const r3 = pick(await file(networkdFile, ['DNS']), networkdFile);
  if (r3) return r3;

  const nmcli = await run(['nmcli', '-t', '-g', 'IP4.DNS,IP6.DNS', 'device', 'show', iface]);
  const nm = pick(nmcli === undefined ? [] : addressesIn(nmcli), `nmcli device show ${iface}`);
  if (nm) return nm;

  const conf = await host.readFile('/etc/resolv.conf');
  return pick(conf === undefined ? [] : resolvConfServers(conf), '/etc/resolv.conf') ?? { tried };
}
