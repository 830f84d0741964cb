// The server (VPS) model: what egress-server keeps in /etc/egress/server.json on the VPS.
import { z } from 'zod';
import { PortForward, forwardsOverlap, formatForwardSpec } from './forward.js';
import { Cidr4, Cidr6, HostName, IfaceName, IpAddr, Ipv4, Ipv6, Mtu, Port, SafeName, WgKey } from './primitives.js';

/** One client of the server: its name, public key and tunnel addresses. */
export const Peer = z
  .object({
    name: SafeName,
    publicKey: WgKey,
    address4: Ipv4,
    address6: Ipv6.optional(),
  })
  .strict();
export type Peer = z.infer<typeof Peer>;

export const ServerConfig = z
  .object({
    version: z.literal(1, { message: 'expected version 1' }),
    /** Tunnel interface on the VPS. */
    interface: IfaceName.default('egress0'),
    listenPort: Port.default(51820),
    /** Interface the VPS reaches the internet by; MASQUERADE and DNAT apply only there. */
    publicInterface: IfaceName,
    /** Host clients use as the endpoint (the SSH target when the VPS is behind cloud NAT). */
    endpointHost: HostName,
    /** Public addresses seen on publicInterface, when it has them. */
    publicAddress4: Ipv4.optional(),
    publicAddress6: Ipv6.optional(),
    subnet4: Cidr4,
    subnet6: Cidr6.optional(),
    /** The server's own tunnel addresses (first host of each subnet). */
    address4: Ipv4,
    address6: Ipv6.optional(),
    /** Server public key; the private key stays in a 0600 file on the VPS. */
    publicKey: WgKey,
    mtu: Mtu.default(1420),
    /** Resolvers clients should use through the tunnel (the VPS's upstream). */
    dns: z.array(IpAddr).default([]),
    peers: z.array(Peer).default([]),
    forwards: z.array(PortForward).default([]),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const names = new Set<string>();
    cfg.peers.forEach((p, i) => {
      if (names.has(p.name)) ctx.addIssue({ code: 'custom', path: ['peers', i, 'name'], message: `expected unique peer names, '${p.name}' appears twice` });
      names.add(p.name);
    });
    cfg.forwards.forEach((f, i) => {
      if (!names.has(f.peer)) ctx.addIssue({ code: 'custom', path: ['forwards', i, 'peer'], message: `expected the name of a peer (${[...names].join(', ') || 'none'})` });
      for (let j = 0; j < i; j++) {
        if (forwardsOverlap(cfg.forwards[j]!, f)) {
          ctx.addIssue({ code: 'custom', path: ['forwards', i, 'publicPort'], message: `expected a public port not already forwarded (${formatForwardSpec(cfg.forwards[j]!)})` });
        }
      }
      if (f.proto === 'udp' && f.publicPort <= cfg.listenPort && cfg.listenPort <= (f.publicPortEnd ?? f.publicPort)) {
        ctx.addIssue({ code: 'custom', path: ['forwards', i, 'publicPort'], message: `expected a public port other than the WireGuard listen port ${cfg.listenPort}/udp` });
      }
    });
  });
export type ServerConfig = z.infer<typeof ServerConfig>;
export type ServerConfigInput = z.input<typeof ServerConfig>;
