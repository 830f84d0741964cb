// The standard wg-quick config of one peer, for any WireGuard client (wg-quick, the Android/iOS/desktop apps):
// no egress needed on that device. Written 0600 by `egress-server peer add --wg-quick FILE`, shown by `--qr`.
import { joinHostPort } from '../model/primitives.js';
import type { Peer, ServerConfig } from '../model/server.js';

/** Renders the config: the peer's addresses as host routes, the server's resolvers, everything through the tunnel. */
export function renderPeerWgQuick(config: ServerConfig, peer: Peer, privateKey: string): string {
  const addresses = [`${peer.address4}/32`, ...(peer.address6 ? [`${peer.address6}/128`] : [])];
  const lines = [
    `# egress peer '${peer.name}': a standard WireGuard config (wg-quick or any WireGuard app); keep it private.`,
    '[Interface]',
    `PrivateKey = ${privateKey}`,
    `Address = ${addresses.join(', ')}`,
    ...(config.dns.length ? [`DNS = ${config.dns.join(', ')}`] : []),
    `MTU = ${config.mtu}`,
    '',
    '[Peer]',
    `PublicKey = ${config.publicKey}`,
    `Endpoint = ${joinHostPort(config.endpointHost, config.listenPort)}`,
    // IPv6 goes into the tunnel too, also on a server without it: refused there rather than leaking beside it.
    'AllowedIPs = 0.0.0.0/0, ::/0',
    'PersistentKeepalive = 25',
  ];
  return `${lines.join('\n')}\n`;
}
