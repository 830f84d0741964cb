// Finds the gateway and resolvers a DHCP client got for an interface: dhclient, NetworkManager, systemd-networkd, dhcpcd.
import type { Host } from '@egress/core/host/host';
import ipaddr from 'ipaddr.js';

/** What a DHCP lease says about the way out. */
export interface LeaseFacts {
  /** Where it was read ("/var/lib/dhcp/dhclient.wlan0.leases", "dhcpcd -U wlan0"). */
  source: string;
  routers: string[];
  dns: string[];
}

function ips(list: string): string[] {
  return list
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter((s) => s !== '' && ipaddr.isValid(s) && !s.includes('%'));
}

/** Parses dhclient's lease file and returns the last lease of `iface` (dhclient appends newer leases). */
export function parseDhclientLeases(text: string, iface: string, source: string): LeaseFacts | undefined {
  let found: LeaseFacts | undefined;
  for (const block of text.matchAll(/lease\s*\{([\s\S]*?)\n\s*\}/g)) {
    const body = block[1]!;
    const ifm = /^\s*interface\s+"([^"]+)"\s*;/m.exec(body);
    if (ifm && ifm[1] !== iface) continue;
    const routers = /^\s*option\s+routers\s+([^;]+);/m.exec(body);
    const dns = /^\s*option\s+domain-name-servers\s+([^;]+);/m.exec(body);
    found = { source, routers: routers ? ips(routers[1]!) : [], dns: dns ? ips(dns[1]!) : [] };
  }
  return found;
}

/** Parses the KEY=VALUE lease of systemd-networkd (`/run/systemd/netif/leases/IFINDEX`) and NetworkManager's internal client. */
export function parseKeyValueLease(text: string, source: string): LeaseFacts | undefined {
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) values.set(m[1]!, m[2]!.replace(/^"(.*)"$/, '$1'));
  }
  if (!values.has('ADDRESS') && !values.has('ROUTER') && !values.has('DNS')) return undefined;
  return { source, routers: ips(values.get('ROUTER') ?? ''), dns: ips(values.get('DNS') ?? '') };
}

/** Parses `dhcpcd -U IF` (shell assignments like routers='192.0.2.1'). */
export function parseDhcpcdDump(text: string, source: string): LeaseFacts | undefined {
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([a-z0-9_]+)=(?:'([^']*)'|"([^"]*)"|(\S*))$/.exec(line.trim());
    if (m) values.set(m[1]!, m[2] ?? m[3] ?? m[4] ?? '');
  }
  if (!values.has('routers') && !values.has('domain_name_servers')) return undefined;
  return { source, routers: ips(values.get('routers') ?? ''), dns: ips(values.get('domain_name_servers') ?? '') };
}

/** Lists a directory's entries through the host ([] when it does not exist). */
async function listDir(host: Host, dir: string): Promise<string[]> {
  const r = await host.run(['ls', '-1', '--', dir]);
  return r.exitCode === 0 ? r.stdout.split('\n').filter((s) => s !== '') : [];
}

/** Looks for a lease of `iface` in the places the common DHCP clients keep one; the first that names a router or resolver wins. */
export async function findLease(host: Host, iface: string, ifindex: number): Promise<LeaseFacts | undefined> {
  const candidates: Array<{ path: string; parse: (text: string, path: string) => LeaseFacts | undefined }> = [];
  const dhclient = (text: string, path: string) => parseDhclientLeases(text, iface, path);
  // systemd-networkd names its lease after the interface index.
  candidates.push({ path: `/run/systemd/netif/leases/${ifindex}`, parse: parseKeyValueLease });
  for (const dir of ['/var/lib/NetworkManager']) {
    for (const f of await listDir(host, dir)) {
      if (f.endsWith(`-${iface}.lease`) && f.startsWith('internal-')) candidates.push({ path: `${dir}/${f}`, parse: parseKeyValueLease });
      else if (f.endsWith(`-${iface}.lease`)) candidates.push({ path: `${dir}/${f}`, parse: dhclient });
    }
  }
  for (const dir of ['/var/lib/dhcp', '/var/lib/dhclient']) {
    for (const f of await listDir(host, dir)) {
      if (f === `dhclient.${iface}.leases` || f === `dhclient-${iface}.leases` || f === 'dhclient.leases' || (f.endsWith('.leases') && f.includes(iface))) {
        candidates.push({ path: `${dir}/${f}`, parse: dhclient });
      }
    }
  }
  for (const c of candidates) {
    const text = await host.readFile(c.path);
    const lease = text === undefined ? undefined : c.parse(text, c.path);
    if (lease && (lease.routers.length > 0 || lease.dns.length > 0)) return lease;
  }
  // dhcpcd keeps a binary lease; it prints it as shell assignments.
  const r = await host.run(['dhcpcd', '-U', iface]);
  if (r.exitCode === 0) {
    const lease = parseDhcpcdDump(r.stdout, `dhcpcd -U ${iface}`);
    if (lease && (lease.routers.length > 0 || lease.dns.length > 0)) return lease;
  }
  return undefined;
}
