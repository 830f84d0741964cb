// The enrollment bundle provision and `peer add` write locally (0600): endpoint, keys, addresses, MTU, DNS, forwards.
import { type Bundle, joinHostPort, type Peer, type ServerConfig } from '@egress/core';

/** Default bundle path for a peer: ./egress-<name>.bundle.json. */
export function defaultBundlePath(name: string): string {
  return `./egress-${name}.bundle.json`;
}

/** Builds the bundle of one peer; `privateKey` only when the key was made here. */
export function makeBundle(config: ServerConfig, peer: Peer, privateKey?: string): Bundle {
  return {
    version: 1,
    kind: 'egress-bundle',
    name: peer.name,
    server: {
      endpoint: joinHostPort(config.endpointHost, config.listenPort),
      publicKey: config.publicKey,
      ...(config.publicAddress4 ? { publicAddress4: config.publicAddress4 } : {}),
      ...(config.publicAddress6 ? { publicAddress6: config.publicAddress6 } : {}),
      address4: config.address4,
      ...(config.address6 ? { address6: config.address6 } : {}),
    },
    client: {
      address4: peer.address4,
      ...(peer.address6 ? { address6: peer.address6 } : {}),
      publicKey: peer.publicKey,
      ...(privateKey ? { privateKey } : {}),
    },
    tunnel: { subnet4: config.subnet4, ...(config.subnet6 ? { subnet6: config.subnet6 } : {}), mtu: config.mtu, persistentKeepalive: 25 },
    dns: config.dns,
    forwards: config.forwards.filter((f) => f.peer === peer.name),
  };
}
