// The client model: each egress the client has, as saved in /etc/egress/client.json (0600).
import { z } from 'zod';
import { PortForward } from './forward.js';
import { ForwardedSource, UnitName } from './selectors.js';
import { NamedNetns, checkNamespaces } from './netns.js';
import { CgroupPath, Endpoint, IfaceName, IpAddr, Ipv4, Ipv6, Keepalive, Mark, Mtu, RulePriority, SafeName, TableId, Uid, UserName, WgKey, Cidr4, Cidr6 } from './primitives.js';

/** A user whose every process is routed through an egress. */
export const SelectedUser = z.object({ name: UserName, uid: Uid }).strict();
export type SelectedUser = z.infer<typeof SelectedUser>;

/** What traffic an egress carries. */
export const Selectors = z
  .object({
    users: z.array(SelectedUser).default([]),
    /** cgroup v2 paths (relative to the hierarchy root) whose sockets are marked. */
    cgroups: z.array(CgroupPath).default([]),
    /** Route traffic whose source is the egress address (the LD_PRELOAD shim binds to it). */
    shimSource: z.boolean({ message: 'expected true or false' }).default(true),
    /** systemd services (NAME.service) whose cgroup's sockets are marked (`select add --unit`). */
    units: z.array(UnitName).default([]),
    /** Interfaces whose forwarded traffic goes through the egress (`select add --interface`: a bridge, a LAN port). */
    interfaces: z.array(IfaceName).default([]),
    /** Source networks whose forwarded traffic goes through the egress (`select add --source`), with the interface they arrive on. */
    sources: z.array(ForwardedSource).default([]),
  })
  .strict();
export type Selectors = z.infer<typeof Selectors>;

/** WireGuard-specific part of an egress (kind `wireguard`). */
export const WireguardPath = z
  .object({
    endpoint: Endpoint,
    serverPublicKey: WgKey,
    /** The client's own public key; the private key lives in a 0600 file beside the state. */
    publicKey: WgKey,
    mtu: Mtu,
    persistentKeepalive: Keepalive,
    /** The server's tunnel addresses (a third-party wg-quick file does not say them). */
    serverAddress4: Ipv4.optional(),
    serverAddress6: Ipv6.optional(),
    subnet4: Cidr4,
    subnet6: Cidr6.optional(),
    /** Public addresses of the VPS, for status and doctor. */
    publicAddress4: Ipv4.optional(),
    publicAddress6: Ipv6.optional(),
    forwards: z.array(PortForward).default([]),
    /** What the peer carries (wg-quick AllowedIPs); absent = everything. Selected traffic elsewhere is refused. */
    allowedIps: z.array(z.union([Cidr4, Cidr6])).min(1).optional(),
    /**
     * With narrower AllowedIPs: 'direct' lets selected traffic to other destinations take the normal route (opt-in,
     * `--outside-allowed direct`); absent, it is refused. Traffic to AllowedIPs never goes direct either way.
     */
    outsideAllowed: z.literal('direct', { message: "expected 'direct' or nothing" }).optional(),
    /** A PresharedKey lives in a 0600 file beside the private key. */
    presharedKey: z.boolean().optional(),
  })
  .strict();
export type WireguardPath = z.infer<typeof WireguardPath>;

/** Local-interface part of an egress (kind `interface`). */
export const InterfacePath = z
  .object({
    gateway4: Ipv4.optional(),
    gateway6: Ipv6.optional(),
  })
  .strict();
export type InterfacePath = z.infer<typeof InterfacePath>;

/** A group allowed to use an egress; `members` are its uids as resolved from /etc/group and /etc/passwd at load time. */
export const AllowedGroup = z.object({ name: UserName, gid: Uid, members: z.array(Uid).optional() }).strict();
export type AllowedGroup = z.infer<typeof AllowedGroup>;

/**
 * Who may use an egress besides root and its bound users (`egress-client allow`). Absent (an older state) means
 * only those: the tunnel address's source path is refused in the kernel for every other uid.
 */
export const Access = z
  .object({
    users: z.array(SelectedUser).default([]),
    groups: z.array(AllowedGroup).default([]),
  })
  .strict();
export type Access = z.infer<typeof Access>;

const EgressBase = {
  name: SafeName,
  /** Tunnel interface (kind wireguard) or the chosen uplink (kind interface). */
  interface: IfaceName,
  /** The mark bit of this egress and the mask it lives in (others' bits are kept). */
  mark: Mark,
  markMask: Mark,
  /** Routing table owned by this egress. */
  table: TableId,
  /** First of this egress's ip rule priorities; it owns [priority, priority + 9]. */
  priority: RulePriority,
  /** Source addresses of the egress (tunnel addresses, or the interface's). */
  address4: Ipv4.optional(),
  address6: Ipv6.optional(),
  /** Resolvers selected traffic's DNS is sent to, through the egress. */
  dns: z.array(IpAddr).default([]),
  selectors: Selectors,
  access: Access.optional(),
};

/** The mark must only use bits of its mask (others' bits are kept). */
function markInMask(e: { mark: number; markMask: number }, ctx: z.RefinementCtx): void {
  if ((e.mark & e.markMask) >>> 0 !== e.mark) ctx.addIssue({ code: 'custom', path: ['mark'], message: `expected a mark inside markMask (0x${e.markMask.toString(16)})` });
}

export const Egress = z.discriminatedUnion(
  'kind',
  [
    z.object({ ...EgressBase, kind: z.literal('wireguard'), wireguard: WireguardPath }).strict().superRefine(markInMask),
    z.object({ ...EgressBase, kind: z.literal('interface'), uplink: InterfacePath }).strict().superRefine(markInMask),
  ],
  { message: "expected kind 'wireguard' or 'interface'" },
);
export type Egress = z.infer<typeof Egress>;
export type EgressInput = z.input<typeof Egress>;

export const ClientState = z
  .object({
    version: z.literal(1, { message: 'expected version 1' }),
    egresses: z.array(Egress).default([]),
    /** Named network namespaces (`netns add`); absent when there are none (older state files stay valid). */
    namespaces: z.array(NamedNetns).optional(),
  })
  .strict()
  .superRefine((st, ctx) => {
    checkNamespaces(st, ctx);
    const seen = { name: new Map<string, number>(), interface: new Map<string, number>(), table: new Map<number, number>(), user: new Map<string, number>() };
    st.egresses.forEach((e, i) => {
      for (const [key, value] of [['name', e.name], ['interface', e.interface], ['table', e.table]] as const) {
        const map = seen[key] as Map<string | number, number>;
        if (map.has(value)) ctx.addIssue({ code: 'custom', path: ['egresses', i, key], message: `expected a ${key} no other egress uses (egress '${st.egresses[map.get(value)!]!.name}' has it)` });
        map.set(value, i);
      }
      st.egresses.forEach((o, j) => {
        if (j < i && (o.mark & e.markMask) !== 0 && (o.mark & e.mark) !== 0) {
          ctx.addIssue({ code: 'custom', path: ['egresses', i, 'mark'], message: `expected a mark bit no other egress uses (egress '${o.name}' has it)` });
        }
        if (j < i && Math.abs(o.priority - e.priority) < 10) {
          ctx.addIssue({ code: 'custom', path: ['egresses', i, 'priority'], message: `expected a priority range not overlapping egress '${o.name}' (${o.priority}-${o.priority + 9})` });
        }
      });
      e.selectors.users.forEach((u, k) => {
        if (seen.user.has(u.name)) ctx.addIssue({ code: 'custom', path: ['egresses', i, 'selectors', 'users', k], message: `expected a user bound to one egress only ('${u.name}' is bound to '${st.egresses[seen.user.get(u.name)!]!.name}')` });
        seen.user.set(u.name, i);
      });
    });
  });
export type ClientState = z.infer<typeof ClientState>;

/** Facts about an egress that ordinary users may read (for `exec`): no keys, no peers. 0644. */
export const PublicEgressFacts = z
  .object({
    version: z.literal(1, { message: 'expected version 1' }),
    name: SafeName,
    kind: z.enum(['wireguard', 'interface'], { message: "expected kind 'wireguard' or 'interface'" }),
    interface: IfaceName,
    address4: Ipv4.optional(),
    address6: Ipv6.optional(),
    dns: z.array(IpAddr).default([]),
    /** The egress's cgroup (relative to the cgroup2 root) under which `run` makes one group per app. */
    cgroup: CgroupPath.optional(),
    /** Uids that may use the egress (root, bound users, `allow`); absent in facts written before the policy existed. */
    allowedUids: z.array(Uid).optional(),
  })
  .strict();
export type PublicEgressFacts = z.infer<typeof PublicEgressFacts>;
