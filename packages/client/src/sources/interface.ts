// Source `interface`: a local uplink (wlan0, a second NIC) → an egress of kind interface, no VPS and no keys.
import { ConflictError } from '@egress/core/errors';
import type { Host } from '@egress/core/host/host';
import type { EnrollSource } from '../enroll/pipeline.js';
import { detectUplink, type UplinkPlan } from '../uplink/detect-uplink.js';
import { egressFromUplink, listFlag } from '../uplink/egress-from-uplink.js';

/** Where each detected value came from, for the summary. */
function describeUplink(plan: UplinkPlan): string[] {
  return [
    `  leaves by ${plan.interface} (${plan.address4} in ${plan.network4}) via ${plan.gateway4 ?? 'the point-to-point peer'} (${plan.sources.gateway4 ?? 'detected'})`,
    plan.address6 ? `  IPv6 by ${plan.interface} (${plan.address6}) via ${plan.gateway6 ?? 'the link'}` : `  IPv6 refused: ${plan.v6Refused ?? 'no IPv6 on the interface'}`,
    `  DNS from ${plan.sources.dns}`,
  ];
}

export interface InterfaceFlags {
  interface: string;
  gateway?: string | string[];
  address?: string;
  dns?: string | string[];
  user: string;
}

/** Reads the interface (addresses, gateway, resolvers) and checks every flag against it. */
export async function interfaceSource(host: Host, name: string, o: InterfaceFlags): Promise<EnrollSource> {
  const plan = await detectUplink(host, { interface: o.interface, gateways: listFlag(o.gateway), dns: listFlag(o.dns), ...(o.address === undefined ? {} : { address: o.address }) });
  const dnsFlag = listFlag(o.dns).length > 0;
  return {
    name,
    kind: 'interface',
    conflicts(before) {
      const same = before.egresses.find((e) => e.name !== name && e.interface === plan.interface);
      if (same) throw new ConflictError(`--interface: egress '${same.name}' already leaves by ${plan.interface}`, { hint: `egress-client enroll --interface ${plan.interface} --user ${o.user} --name ${same.name}` });
    },
    build: (c) => egressFromUplink(plan, { name: c.name, allocation: c.allocation, users: c.users, cgroup2: c.cgroup2 }),
    // The interface's address is this host's own by design: only its resolvers are checked.
    facts: { dns: plan.dns },
    field: (f, i) => `${dnsFlag ? '--dns' : `${plan.sources.dns} DNS`}${i === undefined ? '' : `[${i}]`}`,
    secrets: [],
    describe: describeUplink(plan),
    document: { uplink: plan },
    unchanged: (user) => `egress ${name} already leaves by ${plan.interface} for ${user}: nothing changed`,
    applying: () => `Routing ${o.user || 'its cgroup'} out of ${plan.interface}`,
  };
}
