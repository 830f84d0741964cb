// Wires a lab's hosts: veth links, addresses, routes, and each host's hosts/hostname/resolv.conf and probe copy.
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { INTERNET_SERVICE_ADDRS, LAB_ADDR, LAB_HOSTS, LAB_LINKS } from './addresses.js';
import type { Lab } from './lab.js';
import { assetPath, HOST_PROBE_PATH } from './paths.js';
import { runOk } from './run.js';

/** Creates the veths from internet to vps and client, addresses and routes them, and writes each host's name files, resolver and probe. */
export async function wire(lab: Lab, opts: { uplinkMtu?: number } = {}): Promise<void> {
  const enterInternet = lab.enterArgv('internet');
  for (const link of LAB_LINKS) {
    const peerPid = lab.hosts[link.host].pid;
    await runOk([...enterInternet, 'ip', 'link', 'add', link.inetSide, 'type', 'veth', 'peer', 'name', link.hostSide, 'netns', String(peerPid)]);
  }
  const inet: string[] = INTERNET_SERVICE_ADDRS.map((a) => `address add ${a} dev lo${a.includes(':') ? ' nodad' : ''}`);
  const perHost: Record<string, string[]> = { vps: [], client: [] };
  for (const link of LAB_LINKS) {
    const mtu = opts.uplinkMtu !== undefined && link.host === 'client' && link.hostSide === 'eth0' ? ` mtu ${opts.uplinkMtu}` : '';
    inet.push(`link set ${link.inetSide}${mtu} up`);
    for (const a of link.inetAddrs) inet.push(`address add ${a} dev ${link.inetSide}${a.includes(':') ? ' nodad' : ''}`);
    const lines = perHost[link.host]!;
    lines.push(`link set ${link.hostSide}${mtu} up`);
    for (const a of link.hostAddrs) lines.push(`address add ${a} dev ${link.hostSide}${a.includes(':') ? ' nodad' : ''}`);
  }
  // Routes last: a gateway must be on a link that is up and addressed.
  const routes: Record<string, string[]> = { vps: [], client: [] };
  for (const link of LAB_LINKS) {
    for (const d of link.defaults) {
      routes[link.host]!.push(`route add ${d.via.includes(':') ? '::/0' : '0.0.0.0/0'} via ${d.via} dev ${link.hostSide} metric ${d.metric}`);
    }
  }
  await lab.exec('internet', ['ip', '-batch', '-'], { stdin: `${inet.join('\n')}\n`, check: true });
  await Promise.all(
    (['vps', 'client'] as const).map((h) =>
      lab.exec(h, ['ip', '-batch', '-'], { stdin: `${[...perHost[h]!, ...routes[h]!].join('\n')}\n`, check: true }),
    ),
  );
  const resolv = `nameserver ${LAB_ADDR.dnsV4}\nnameserver ${LAB_ADDR.dnsV6}\n`;
  const probe = readFileSync(assetPath('probe.mjs'), 'utf8');
  await Promise.all(
    LAB_HOSTS.map(async (h) => {
      await lab.writeFile(h, '/etc/hosts', `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t${h}\n`);
      await lab.writeFile(h, '/etc/hostname', `${h}\n`);
      await lab.writeFile(h, '/etc/resolv.conf', resolv);
      await lab.exec(h, ['install', '-d', '-m', '0755', dirname(HOST_PROBE_PATH)], { check: true });
      await lab.writeFile(h, HOST_PROBE_PATH, probe, '0644');
    }),
  );
}
