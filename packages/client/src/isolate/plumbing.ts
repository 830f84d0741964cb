// The namespace plumbing `run --isolate` and named namespaces (`netns add`) share: a network namespace, a veth pair
// into it with addresses and a default route, and its /etc/netns files; and their removal.
import type { Host } from '@egress/core/host/host';
import type { VethAddresses } from '@egress/core/render/veth-addresses';
import { renderNsswitch, renderResolvConf } from './render-isolate.js';
import { confKey } from './shared-sysctl.js';

/** The names of one namespace's objects (IsolateNames and NetnsNames both are). */
export interface VethNamespace {
  ns: string;
  vethHost: string;
  vethNs: string;
  etcDir: string;
}

/** Runs one change and throws with its stderr when it fails. */
export async function change(host: Host, argv: string[], stdin?: string): Promise<void> {
  await host.run(argv, { check: true, change: true, ...(stdin === undefined ? {} : { stdin }) });
}

/** Creates the namespace; without IPv6 it has none at all, so apps fail at once instead of trying a path that does not exist. */
export async function addNamespace(host: Host, p: VethNamespace, v6: boolean): Promise<void> {
  await change(host, ['ip', 'netns', 'add', p.ns]);
  if (!v6) await change(host, ['nsenter', `--net=/run/netns/${p.ns}`, '--', 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
}

/** Adds the veth pair into an existing namespace: addresses, both ends up, the namespace's default routes, forwarding on the host end. */
export async function addVeth(host: Host, p: VethNamespace, a: VethAddresses): Promise<void> {
  const v6 = a.ns6 !== undefined;
  await change(host, ['ip', 'link', 'add', p.vethHost, 'type', 'veth', 'peer', 'name', p.vethNs, 'netns', p.ns]);
  const hostBatch = [`address add ${a.host4}/30 dev ${p.vethHost}`, ...(v6 ? [`address add ${a.host6}/64 dev ${p.vethHost} nodad`] : []), `link set ${p.vethHost} up`];
  await change(host, ['ip', '-batch', '-'], `${hostBatch.join('\n')}\n`);
  const nsBatch = [
    'link set lo up',
    `address add ${a.ns4}/30 dev ${p.vethNs}`,
    ...(v6 ? [`address add ${a.ns6}/64 dev ${p.vethNs} nodad`] : []),
    `link set ${p.vethNs} up`,
    `route add default via ${a.host4} dev ${p.vethNs}`,
  ];
  await change(host, ['ip', '-n', p.ns, '-batch', '-'], `${nsBatch.join('\n')}\n`);
  if (v6) await change(host, ['ip', '-6', '-n', p.ns, 'route', 'add', 'default', 'via', a.host6!, 'dev', p.vethNs]);
  await change(host, ['sysctl', '-q', '-w', `${confKey(4, p.vethHost, 'forwarding')}=1`, ...(v6 ? [`${confKey(6, p.vethHost, 'force_forwarding')}=1`] : [])]);
}

/** Writes /etc/netns/NS/resolv.conf (the egress's resolvers) and nsswitch.conf, which `ip netns exec` binds over /etc; returns whether a file changed. */
export async function writeNetnsEtc(host: Host, p: VethNamespace, dns: readonly string[], v6: boolean): Promise<boolean> {
  const files: Array<[string, string | undefined]> = [
    [`${p.etcDir}/resolv.conf`, renderResolvConf(dns, v6)],
    [`${p.etcDir}/nsswitch.conf`, renderNsswitch(await host.readFile('/etc/nsswitch.conf'))],
  ];
  let changed = false;
  for (const [path, content] of files) {
    if (content === undefined || (await host.readFile(path)) === content) continue;
    await host.writeFile(path, content, { mode: 0o644 });
    changed = true;
  }
  return changed;
}

/** Removes the veth, the namespace and its /etc/netns directory; each step tolerates an object that is already gone. */
export async function removeVethNamespace(host: Host, p: VethNamespace): Promise<void> {
  const [veth, ns, etc] = await Promise.all([host.run(['ip', 'link', 'show', 'dev', p.vethHost]), host.run(['test', '-e', `/run/netns/${p.ns}`]), host.run(['test', '-e', p.etcDir])]);
  if (veth.exitCode === 0) await host.run(['ip', 'link', 'del', 'dev', p.vethHost], { change: true });
  if (ns.exitCode === 0) await host.run(['ip', 'netns', 'del', p.ns], { change: true });
  if (etc.exitCode === 0) await host.run(['rm', '-rf', '--', p.etcDir], { change: true });
}
