// The enrollment bundle: what a client needs to join a server, written 0600 by provision / peer add.
import { z } from 'zod';
import { PortForward } from './forward.js';
import { Cidr4, Cidr6, Endpoint, IpAddr, Ipv4, Ipv6, Keepalive, Mtu, SafeName, WgKey } from './primitives.js';

export const Bundle = z
  .object({
    version: z.literal(1, { message: 'expected version 1 (this egress reads bundle version 1)' }),
    kind: z.literal('egress-bundle', { message: "expected 'egress-bundle'" }),
    /** Peer name on the server. */
    name: SafeName,
    server: z
      .object({
        endpoint: Endpoint,
        publicKey: WgKey,
        /** Public addresses the internet will see (for status and doctor). */
        publicAddress4: Ipv4.optional(),
        publicAddress6: Ipv6.optional(),
        /** Server tunnel addresses. */
        address4: Ipv4,
        address6: Ipv6.optional(),
      })
      .strict(),
    client: z
      .object({
        address4: Ipv4,
        address6: Ipv6.optional(),
        publicKey: WgKey,
        /** Absent when the client made its own key (`peer add --public-key`). */
        privateKey: WgKey.optional(),
      })
      .strict(),
    tunnel: z
      .object({
        subnet4: Cidr4,
        subnet6: Cidr6.optional(),
        mtu: Mtu,
        persistentKeepalive: Keepalive.default(25),
      })
      .strict(),
    dns: z.array(IpAddr).default([]),
    forwards: z.array(PortForward).default([]),
  })
  .strict();
export type Bundle = z.infer<typeof Bundle>;
export type BundleInput = z.input<typeof Bundle>;
