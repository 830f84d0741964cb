// Which selected cgroups and interfaces are missing on the host right now (a unit not started yet, a Docker bridge
// not made yet): the renderer leaves them out until they appear, and the supervisor re-renders when they do.
import type { Host } from '@egress/core/host/host';
import type { ClientState } from '@egress/core/model/client';
import { forwardedInterfaces, foreignCgroups, type AbsentParts } from '@egress/core/render/client';

/** Where nft resolves `socket cgroupv2` paths. */
const CGROUP_ROOT = '/sys/fs/cgroup';

/** The selected cgroups (other than egress's own, which it creates) and forwarded interfaces that do not exist now. */
export async function absentParts(host: Host, state: ClientState): Promise<AbsentParts> {
  const cgroups: string[] = [];
  const interfaces: string[] = [];
  for (const e of state.egresses) {
    for (const g of foreignCgroups(e)) if ((await host.run(['test', '-d', `${CGROUP_ROOT}/${g}`])).exitCode !== 0) cgroups.push(g);
    for (const i of forwardedInterfaces(e)) if ((await host.run(['ip', 'link', 'show', 'dev', i])).exitCode !== 0) interfaces.push(i);
  }
  return { cgroups, interfaces };
}
