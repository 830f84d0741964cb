// Builds the wireguard Egress a bundle describes, with this client's allocation, users, DNS and cgroup selector.
import type { Bundle } from '@egress/core/model/bundle';
import type { Egress, SelectedUser } from '@egress/core/model/client';
import { selectorsFor } from './selectors-for.js';
import type { Allocation } from '../state/allocate.js';

export interface EgressChoices {
  name: string;
  allocation: Allocation;
  users: SelectedUser[];
  /** Resolvers to use instead of the bundle's (`--dns`, or what an enrolled egress already has). */
  dns?: string[];
  /** Whether cgroup v2 is mounted at /sys/fs/cgroup (then `egress/<name>` is selected too). */
  cgroup2: boolean;
  /** Tunnel MTU derived from this client's path to the endpoint (path-mtu.ts); the bundle's when absent. */
  mtu?: number;
}

/** The fields every egress takes from its allocation: name, interface, mark, table, priorities (pure). */
export function allocatedFields(name: string, a: Allocation): Pick<Egress, 'name' | 'interface' | 'mark' | 'markMask' | 'table' | 'priority'> {
  return { name, interface: a.interface, mark: a.mark, markMask: a.markMask, table: a.table, priority: a.priority };
}

/** The egress for `bundle` (pure). */
export function egressFromBundle(bundle: Bundle, c: EgressChoices): Extract<Egress, { kind: 'wireguard' }> {
  const s = bundle.server;
  return {
    ...allocatedFields(c.name, c.allocation),
    kind: 'wireguard',
    address4: bundle.client.address4,
    ...(bundle.client.address6 ? { address6: bundle.client.address6 } : {}),
    dns: c.dns ? [...c.dns] : [...bundle.dns],
    selectors: selectorsFor(c),
    wireguard: {
      endpoint: s.endpoint,
      serverPublicKey: s.publicKey,
      publicKey: bundle.client.publicKey,
      mtu: c.mtu ?? bundle.tunnel.mtu,
      persistentKeepalive: bundle.tunnel.persistentKeepalive,
      serverAddress4: s.address4,
      ...(s.address6 ? { serverAddress6: s.address6 } : {}),
      subnet4: bundle.tunnel.subnet4,
      ...(bundle.tunnel.subnet6 ? { subnet6: bundle.tunnel.subnet6 } : {}),
      ...(s.publicAddress4 ? { publicAddress4: s.publicAddress4 } : {}),
      ...(s.publicAddress6 ? { publicAddress6: s.publicAddress6 } : {}),
      forwards: bundle.forwards.filter((f) => f.peer === bundle.name),
    },
  };
}
