// The server's nftables table `inet egress`: forward accept for the tunnel, MASQUERADE out of the public
// interface, DNAT of forwards through one map lookup per family and protocol, MSS clamping on the tunnel.
import type { PortForward } from '../model/forward.js';
import type { ServerConfig } from '../model/server.js';
import { numericNftPriorities } from './nft-priority.js';

/** The table egress-server owns on the VPS. */
export const SERVER_NFT_TABLE = { family: 'inet', name: 'egress' } as const;

type Family = 4 | 6;

/** Name of the DNAT map for one family and protocol, e.g. `fwd4_tcp`. */
export function forwardMapName(family: Family, proto: PortForward['proto']): string {
  return `fwd${family}_${proto}`;
}

/** Map elements `PUBLIC : ADDR . TARGET` for one family and protocol, ranges expanded port by port, sorted by public port. */
export function forwardMapElements(config: ServerConfig, family: Family, proto: PortForward['proto']): string[] {
  const byName = new Map(config.peers.map((p) => [p.name, p]));
  const entries: Array<[number, string]> = [];
  for (const f of config.forwards) {
    if (f.proto !== proto) continue;
    const peer = byName.get(f.peer);
    const addr = family === 4 ? peer?.address4 : config.subnet6 ? peer?.address6 : undefined;
    if (!addr) continue;
    const end = f.publicPortEnd ?? f.publicPort;
    for (let port = f.publicPort; port <= end; port++) {
      entries.push([port, `${port} : ${addr} . ${f.targetPort + (port - f.publicPort)}`]);
    }
  }
  return entries.sort((a, b) => a[0] - b[0]).map(([, text]) => text);
}

function renderMap(config: ServerConfig, family: Family, proto: PortForward['proto']): string[] {
  const elements = forwardMapElements(config, family, proto);
  const lines = [`\tmap ${forwardMapName(family, proto)} {`, `\t\ttype inet_service : ${family === 4 ? 'ipv4_addr' : 'ipv6_addr'} . inet_service`];
  if (elements.length > 0) {
    lines.push('\t\telements = {', ...elements.map((e, i) => `\t\t\t${e}${i < elements.length - 1 ? ',' : ''}`), '\t\t}');
  }
  lines.push('\t}');
  return lines;
}

/** Renders the complete `table inet egress { … }` text for the server, as `nft -f` reads it. */
export function renderServerNft(config: ServerConfig): string {
  const pub = JSON.stringify(config.publicInterface);
  const tun = JSON.stringify(config.interface);
  const families: Family[] = config.subnet6 ? [4, 6] : [4];
  const lines: string[] = [`table ${SERVER_NFT_TABLE.family} ${SERVER_NFT_TABLE.name} {`];
  for (const family of families) {
    for (const proto of ['tcp', 'udp'] as const) lines.push(...renderMap(config, family, proto), '');
  }
  lines.push('\tchain prerouting {', '\t\ttype nat hook prerouting priority dstnat; policy accept;');
  for (const family of families) {
    for (const proto of ['tcp', 'udp'] as const) {
      lines.push(`\t\tiifname ${pub} fib daddr type local dnat ${family === 4 ? 'ip' : 'ip6'} to ${proto} dport map @${forwardMapName(family, proto)}`);
    }
  }
  lines.push(
    '\t}',
    '',
    '\tchain forward {',
    '\t\ttype filter hook forward priority filter; policy accept;',
    `\t\tiifname ${tun} tcp flags & (syn | rst) == syn tcp option maxseg size set rt mtu`,
    `\t\toifname ${tun} tcp flags & (syn | rst) == syn tcp option maxseg size set rt mtu`,
    `\t\tiifname ${tun} accept`,
    `\t\toifname ${tun} ct state established,related accept`,
    `\t\toifname ${tun} ct status dnat accept`,
    `\t\toifname ${tun} drop`,
    '\t}',
    '',
    '\tchain postrouting {',
    '\t\ttype nat hook postrouting priority srcnat; policy accept;',
    `\t\toifname ${pub} ip saddr ${config.subnet4} masquerade`,
  );
  if (config.subnet6) lines.push(`\t\toifname ${pub} ip6 saddr ${config.subnet6} masquerade`);
  lines.push('\t}', '}');
  return `${lines.join('\n')}\n`;
}

/** The nft file the boot unit loads: creates, deletes and recreates the table so loading it twice is harmless. */
export function renderServerNftFile(config: ServerConfig): string {
  const t = `table ${SERVER_NFT_TABLE.family} ${SERVER_NFT_TABLE.name}`;
  return `#!/usr/sbin/nft -f\n# Managed by egress-server; loaded by ${`wg-quick@${config.interface}.service`} before the tunnel comes up.\n${t}\ndelete ${t}\n${renderServerNft(config)}`;
}

/** Collapses an nft listing so a rendered table and `nft list table` output compare equal when they mean the same rules. */
export function normalizeNftText(text: string): string {
  return numericNftPriorities(text)
    .split('\n')
    .filter((l) => !l.trim().startsWith('#'))
    .join('\n')
    .replace(/tcp flags & \(syn \| rst\) == syn/g, 'tcp flags syn / syn,rst')
    .replace(/\s+/g, ' ')
    .replace(/ ?([{},;]) ?/g, '$1')
    .replace(/;}/g, '}')
    .trim();
}
