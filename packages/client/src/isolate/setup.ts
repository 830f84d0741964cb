// Creates the namespace of one isolated run: veth into the egress, addresses, routes, rules, nft table, shared forwarding, resolv.conf.
import type { Host } from '@egress/core/host/host';
import type { Egress } from '@egress/core/model/client';
import type { VethAddresses } from './address-plan.js';
import { addForwardAccepts } from './iptables-accept.js';
import { noteNetnsDirs } from './leftovers.js';
import { withIsolateLock } from './lock.js';
import { ISOLATE_PRIORITY, type IsolateNames } from './names.js';
import { addNamespace, addVeth, change, writeNetnsEtc } from './plumbing.js';
import { renderIsolateNft } from './render-isolate.js';
import { claimSysctl, confKey } from './shared-sysctl.js';

/** Everything setup needs; `shared` lists the shared sysctl keys the run's record already names. */
export interface IsolateSetup {
  names: IsolateNames;
  egress: Egress;
  addrs: VethAddresses;
}

/** The shared sysctls a run needs for the egress interface (IPv6 only when the namespace gets IPv6). */
export function sharedKeysFor(egressIface: string, v6: boolean): string[] {
  return [confKey(4, egressIface, 'forwarding'), ...(v6 ? [confKey(6, egressIface, 'force_forwarding')] : [])];
}

/** Builds the namespace and its way out; on failure the caller tears down (every step is undone by teardownIsolation). */
export async function setupIsolation(host: Host, s: IsolateSetup): Promise<void> {
  const { names: n, egress: e, addrs: a } = s;
  const v6 = a.ns6 !== undefined;
  await noteNetnsDirs(host);
  await addNamespace(host, n, v6);
  await addVeth(host, n, a);
  const [orig4, orig6] = await withIsolateLock(host, async () => [
    await claimSysctl(host, confKey(4, e.interface, 'forwarding'), '1'),
    v6 ? await claimSysctl(host, confKey(6, e.interface, 'force_forwarding'), '1') : '1',
  ]);
  const all6 = v6 ? await host.readFile('/proc/sys/net/ipv6/conf/all/forwarding') : '1';

  await change(
    host,
    ['nft', '-f', '-'],
    renderIsolateNft({ names: n, egressIface: e.interface, addrs: a, guardIface4: orig4 === '0', guardIface6: v6 && orig6 === '0' && all6?.trim() === '0' }),
  );
  // Another firewall's FORWARD DROP policy (Docker, ufw) would drop the veth's traffic: add the narrowest accepts (our table still filters).
  await addForwardAccepts(host, n, v6);
  // Traffic from the veth looks up the egress's table; when that has no route (egress down), it is refused, never routed by main.
  const lookup = `rule add iif ${n.vethHost} lookup ${e.table} priority ${ISOLATE_PRIORITY.lookup}`;
  const fallback = `rule add iif ${n.vethHost} unreachable priority ${ISOLATE_PRIORITY.fallback}`;
  await change(host, ['ip', '-4', '-batch', '-'], `${lookup}\n${fallback}\n`);
  await change(host, ['ip', '-6', '-batch', '-'], `${v6 ? `${lookup}\n` : ''}${fallback}\n`);

  await writeNetnsEtc(host, n, e.dns, v6);
}
