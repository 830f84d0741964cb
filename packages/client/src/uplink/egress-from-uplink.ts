// Builds the Egress of kind `interface` for a checked uplink, with this client's allocation and users (pure).
import type { Egress, SelectedUser } from '@egress/core/model/client';
import { selectorsFor } from '../enroll/selectors-for.js';
import type { UplinkPlan } from './detect-uplink.js';

export interface UplinkChoices {
  name: string;
  allocation: { mark: number; markMask: number; table: number; priority: number };
  users: SelectedUser[];
  /** Whether cgroup v2 is mounted at /sys/fs/cgroup (then `egress/<name>` is selected too, for `run`). */
  cgroup2: boolean;
}

/** The default egress name for an interface: its name in lowercase with anything else than [a-z0-9_-] as '-'. */
export function defaultEgressName(iface: string): string {
  const s = iface.toLowerCase().replace(/[^a-z0-9_-]/g, '-').replace(/^[^a-z0-9]+/, '');
  return (s || 'uplink').slice(0, 32);
}

/** The egress leaving by `plan.interface`: its address as source, its gateway in the egress table, its resolvers. */
export function egressFromUplink(plan: UplinkPlan, c: UplinkChoices): Extract<Egress, { kind: 'interface' }> {
  return {
    name: c.name,
    kind: 'interface',
    interface: plan.interface,
    mark: c.allocation.mark,
    markMask: c.allocation.markMask,
    table: c.allocation.table,
    priority: c.allocation.priority,
    address4: plan.address4,
    ...(plan.address6 ? { address6: plan.address6 } : {}),
    dns: [...plan.dns],
    selectors: selectorsFor(c),
    uplink: {
      ...(plan.gateway4 ? { gateway4: plan.gateway4 } : {}),
      ...(plan.gateway6 ? { gateway6: plan.gateway6 } : {}),
    },
  };
}

/** The list form of a repeatable flag given once or comma-separated ("--gateway 192.0.2.1,fe80::1"). */
export function listFlag(value: unknown): string[] {
  const parts = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return parts
    .flatMap((v) => String(v).split(','))
    .map((s) => s.trim())
    .filter((s) => s !== '');
}
