// The wg-quick config of one wireguard egress: no private key inline, `Table = off` (egress owns routing).
import type { Egress } from '../model/client.js';
import { clientKeyPath, clientPskPath } from './client-paths.js';

type WireguardEgress = Extract<Egress, { kind: 'wireguard' }>;

/** Prefix length of a CIDR ("10.77.0.0/24" → 24). */
function prefixLength(cidr: string): string {
  return cidr.split('/')[1]!;
}

/** The interface addresses of a wireguard egress in CIDR form (tunnel address with the subnet's prefix). */
export function clientTunnelAddresses(e: WireguardEgress): string[] {
  const out: string[] = [];
  if (e.address4) out.push(`${e.address4}/${prefixLength(e.wireguard.subnet4)}`);
  if (e.address6 && e.wireguard.subnet6) out.push(`${e.address6}/${prefixLength(e.wireguard.subnet6)}`);
  return out;
}

/**
 * Renders /etc/wireguard/<iface>.conf for a wireguard egress. The key is set from its 0600 file in PostUp; the
 * tunnel's own sysctls (loose rp_filter, route_localnet for DNS redirected from 127.0.0.53) live and die with it.
 */
export function renderClientWgConfig(e: WireguardEgress): string {
  const lines = [
    `# egress '${e.name}': wg-quick config written by egress-client; do not edit (egress-client enroll rewrites it).`,
    '[Interface]',
    `Address = ${clientTunnelAddresses(e).join(', ')}`,
    `MTU = ${e.wireguard.mtu}`,
    'Table = off',
    `PostUp = wg set %i private-key ${clientKeyPath(e.name)}`,
    ...(e.wireguard.presharedKey ? [`PostUp = wg set %i peer ${e.wireguard.serverPublicKey} preshared-key ${clientPskPath(e.name)}`] : []),
    `PostUp = sysctl -q -w net.ipv4.conf.%i.rp_filter=2 net.ipv4.conf.%i.route_localnet=1${e.wireguard.forwards.some((f) => f.targetHost) ? ' net.ipv4.conf.%i.forwarding=1' : ''}`,
    '',
    '[Peer]',
    `PublicKey = ${e.wireguard.serverPublicKey}`,
    `Endpoint = ${e.wireguard.endpoint}`,
    `AllowedIPs = ${(e.wireguard.allowedIps ?? ['0.0.0.0/0', '::/0']).join(', ')}`,
  ];
  if (e.wireguard.persistentKeepalive > 0) lines.push(`PersistentKeepalive = ${e.wireguard.persistentKeepalive}`);
  return `${lines.join('\n')}\n`;
}
