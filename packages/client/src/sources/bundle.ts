// Source `bundle`: egress's own enrollment bundle (from egress-server) → an egress of kind wireguard and its key file.
import { ConflictError } from '@egress/core/errors';
import type { Host } from '@egress/core/host/host';
import { pathTunnelMtu } from '@egress/core/path-mtu';
import type { ClientState } from '@egress/core/model/client';
import { clientKeyPath } from '@egress/core/render/client-paths';
import { loadBundle } from '../enroll/bundle.js';
import { egressFromBundle } from '../enroll/egress-from-bundle.js';
import type { EnrollSource } from '../enroll/pipeline.js';
import type { FactField } from '../enroll/semantic-checks.js';

/** How a bundle names each checked fact. */
const BUNDLE_FIELDS: Record<FactField, string> = {
  address4: 'bundle.client.address4',
  address6: 'bundle.client.address6',
  subnet4: 'bundle.tunnel.subnet4',
  subnet6: 'bundle.tunnel.subnet6',
  serverAddress4: 'bundle.server.address4',
  serverAddress6: 'bundle.server.address6',
  endpoint: 'bundle.server.endpoint',
  dns: 'bundle.dns',
  serverPublicKey: 'bundle.server.publicKey',
  clientPublicKey: 'bundle.client.publicKey',
};

/** Reads and checks the bundle at `path`; `dns` (from --dns) replaces the bundle's resolvers. */
export async function bundleSource(host: Host, path: string, o: { name?: string; dns?: string; user: string }): Promise<EnrollSource> {
  const loaded = await loadBundle(host, path, o.name);
  const b = loaded.bundle;
  const name = loaded.name;
  // The tunnel MTU from this client's own path to the endpoint (its uplink may be smaller than the VPS's).
  const pathMtu = await pathTunnelMtu(host, b.server.endpoint);
  const dnsFlag = o.dns !== undefined;
  return {
    name,
    kind: 'wireguard',
    conflicts(before: ClientState, existing) {
      const other = before.egresses.find((e) => e.kind === 'wireguard' && e.wireguard.publicKey === b.client.publicKey);
      if (!existing && other) throw new ConflictError(`bundle: this bundle is already enrolled as egress '${other.name}'`, { hint: `egress-client enroll ${path} --user ${o.user} --name ${other.name}` });
    },
    // --dns wins; without it a re-enroll keeps the resolvers the egress has (an earlier --dns is remembered).
    build: (c) => {
      const dns = dnsFlag ? [o.dns!] : c.existing?.dns;
      return egressFromBundle(b, { name: c.name, allocation: c.allocation, users: c.users, cgroup2: c.cgroup2, ...(dns ? { dns } : {}), ...(pathMtu ? { mtu: pathMtu.mtu } : {}) });
    },
    facts: {
      address4: b.client.address4,
      ...(b.client.address6 ? { address6: b.client.address6 } : {}),
      subnet4: b.tunnel.subnet4,
      ...(b.tunnel.subnet6 ? { subnet6: b.tunnel.subnet6 } : {}),
      serverAddress4: b.server.address4,
      ...(b.server.address6 ? { serverAddress6: b.server.address6 } : {}),
      endpoint: b.server.endpoint,
      dns: dnsFlag ? [o.dns!] : b.dns,
      serverPublicKey: b.server.publicKey,
      clientPublicKey: b.client.publicKey,
    },
    field: (f, i) => (f === 'dns' && dnsFlag ? '--dns' : `${BUNDLE_FIELDS[f]}${i === undefined ? '' : `[${i}]`}`),
    secrets: [{ path: clientKeyPath(name), text: `${loaded.privateKey}\n` }],
    reloadSecrets: (e) => [['wg', 'set', e.interface, 'private-key', clientKeyPath(name)]],
    unchanged: (user) => `egress ${name} is already enrolled for ${user} with this bundle: nothing changed`,
    applying: (e) => `Bringing egress ${name} up on ${e.interface}`,
    warnings: (e, user) => (e.dns.length ? [] : [`the bundle names no DNS resolver and --dns was not given: ${user}'s DNS to local resolvers will be refused`]),
  };
}
