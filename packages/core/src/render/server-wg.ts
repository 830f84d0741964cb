// The wg-quick config of the server's tunnel interface (no private key inline: PostUp loads it from a 0600 file).
import type { ServerConfig } from '../model/server.js';
import { serverPaths } from './server-paths.js';

function prefixOf(cidr: string): string {
  return cidr.split('/')[1]!;
}

/** Renders /etc/wireguard/IF.conf for the server: interface addresses, listen port, MTU and one [Peer] per client. */
export function renderServerWgConfig(config: ServerConfig): string {
  const addresses = [`${config.address4}/${prefixOf(config.subnet4)}`];
  if (config.address6 && config.subnet6) addresses.push(`${config.address6}/${prefixOf(config.subnet6)}`);
  const lines = [
    '# Managed by egress-server; rewritten on every change.',
    '[Interface]',
    `Address = ${addresses.join(', ')}`,
    `ListenPort = ${config.listenPort}`,
    `MTU = ${config.mtu}`,
    `PostUp = wg set %i private-key ${serverPaths(config).key}`,
  ];
  for (const peer of config.peers) {
    const allowed = [`${peer.address4}/32`];
    if (peer.address6 && config.subnet6) allowed.push(`${peer.address6}/128`);
    lines.push('', '[Peer]', `# ${peer.name}`, `PublicKey = ${peer.publicKey}`, `AllowedIPs = ${allowed.join(', ')}`);
  }
  return `${lines.join('\n')}\n`;
}
