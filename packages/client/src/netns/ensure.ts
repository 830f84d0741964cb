// Keeps the plumbing of named namespaces as the client state says: creates what is missing (after `netns add`, at
// boot from `up --fence-only`, on every daemon pass), removes what the state no longer has (before the kill switch
// and rules go, so a veth never forwards by the main table).
import type { Host } from '@egress/core/host/host';
import type { ClientState } from '@egress/core/model/client';
import type { NamedNetns } from '@egress/core/model/netns';
import { NETNS_VETH_PREFIX, namespacesWithEgress, netnsNames } from '@egress/core/render/client-netns';
import { lanForwardsOf } from '@egress/core/render/client-nft';
import { vethAddressesOf } from '@egress/core/render/veth-addresses';
import { z } from 'zod';
import { addForwardAccepts, taggedForwardAccepts } from '../isolate/iptables-accept.js';
import { noteNetnsDirs } from '../isolate/leftovers.js';
import { addNamespace, addVeth, removeVethNamespace, writeNetnsEtc } from '../isolate/plumbing.js';
import { confKey, readSysctl, savedSysctls, writeSysctl } from '../isolate/shared-sysctl.js';

const Links = z.array(z.object({ ifname: z.string(), flags: z.array(z.string()).default([]), addr_info: z.array(z.object({ local: z.string() }).passthrough()).default([]) }).passthrough());

/** The comment tagging a named namespace's iptables accepts (never an --isolate owner's tag). */
export function acceptTag(name: string): string {
  return `egress-netns:${name}`;
}

async function links(host: Host, argv: string[]): Promise<z.infer<typeof Links>> {
  const r = await host.run(argv);
  if (r.exitCode !== 0) return [];
  const p = Links.safeParse(JSON.parse(r.stdout || '[]'));
  return p.success ? p.data : [];
}

/** Whether a link is up and carries `address`. */
function carries(l: z.infer<typeof Links>[number] | undefined, address: string): boolean {
  return !!l && l.flags.includes('UP') && l.addr_info.some((i) => i.local === address);
}

const key = (n: NamedNetns): string => `${n.name}/${n.slot}`;

/** Removes the namespaces `before` has and `after` does not, and host veths of named namespaces no state names; returns what it did. */
export async function removeGoneNamespaces(host: Host, before: ClientState, after: ClientState): Promise<string[]> {
  const kept = new Set((after.namespaces ?? []).map(key));
  const done: string[] = [];
  const tags = await taggedForwardAccepts(host);
  for (const n of before.namespaces ?? []) {
    if (kept.has(key(n))) continue;
    await removeVethNamespace(host, netnsNames(n));
    for (const a of tags.filter((t) => t.tag === acceptTag(n.name))) await host.run(a.argv, { change: true });
    done.push(`remove namespace ${n.name}`);
  }
  const wanted = new Set((after.namespaces ?? []).map((n) => netnsNames(n).vethHost));
  for (const l of await links(host, ['ip', '-j', 'link', 'show'])) {
    if (new RegExp(`^${NETNS_VETH_PREFIX}\\d{1,5}h$`).test(l.ifname) && !wanted.has(l.ifname)) {
      await host.run(['ip', 'link', 'del', 'dev', l.ifname], { change: true });
      done.push(`remove stray veth ${l.ifname}`);
    }
  }
  return done;
}

/**
 * Forwarding on a tunnel whose last namespace went: back to what a new link gets (the `default` value; wg-quick makes
 * the link, so that is its original), unless LAN forwards (its PostUp) or a live `run --isolate` (its saved original) need it.
 * Runs after the engine: the engine restores the value it journaled, which is 1 when a `run --isolate` had turned
 * forwarding on before the namespace was added.
 */
export async function resetTunnelForwarding(host: Host, before: ClientState, after: ClientState): Promise<string[]> {
  const done: string[] = [];
  const held = await savedSysctls(host);
  for (const e of after.egresses) {
    if (!(before.namespaces ?? []).some((n) => n.egress === e.name) || (after.namespaces ?? []).some((n) => n.egress === e.name) || lanForwardsOf(e).length) continue;
    for (const [family, name] of [[4, 'forwarding'], [6, 'force_forwarding']] as const) {
      const k = confKey(family, e.interface, name);
      const [now, fresh] = await Promise.all([readSysctl(host, k), readSysctl(host, confKey(family, 'default', name))]);
      if (now === undefined || fresh === undefined || now === fresh || held.includes(k)) continue;
      await writeSysctl(host, k, fresh);
      done.push(`restore ${k} = ${fresh}`);
    }
  }
  return done;
}

/** Creates or repairs every namespace of `state` (namespace, veth, addresses, routes, forwarding, /etc/netns files, accepts); returns what it did. */
export async function ensureNamespaces(host: Host, state: ClientState): Promise<string[]> {
  const done: string[] = [];
  const tags = (await taggedForwardAccepts(host)).map((t) => t.tag);
  for (const { n, e } of namespacesWithEgress(state)) {
    const p = netnsNames(n);
    const a = vethAddressesOf(n.slot, n.ipv6);
    const exists = (await host.run(['test', '-e', `/run/netns/${p.ns}`])).exitCode === 0;
    const [hostEnd] = await links(host, ['ip', '-j', 'addr', 'show', 'dev', p.vethHost]);
    const [nsEnd] = exists ? await links(host, ['ip', '-n', p.ns, '-j', 'addr', 'show', 'dev', p.vethNs]) : [];
    if (!exists || !carries(hostEnd, a.host4) || !carries(nsEnd, a.ns4)) {
      // Rebuild the veth from scratch (processes inside keep the namespace; their next connection uses the new veth).
      if (hostEnd) await host.run(['ip', 'link', 'del', 'dev', p.vethHost], { change: true });
      if (!exists) {
        await noteNetnsDirs(host);
        await addNamespace(host, p, n.ipv6);
      }
      await addVeth(host, p, a);
      done.push(`${exists ? 'repair' : 'create'} namespace ${n.name} (${p.vethHost} ${a.host4} <-> ${a.ns4} via ${e.name})`);
    } else {
      for (const k of [confKey(4, p.vethHost, 'forwarding'), ...(n.ipv6 ? [confKey(6, p.vethHost, 'force_forwarding')] : [])]) {
        if ((await readSysctl(host, k)) === '1') continue;
        await writeSysctl(host, k, '1');
        done.push(`set ${k}=1`);
      }
    }
    if (await writeNetnsEtc(host, p, e.dns, n.ipv6)) done.push(`write ${p.etcDir}/resolv.conf`);
    if (!tags.includes(acceptTag(n.name)) && (await addForwardAccepts(host, { vethHost: p.vethHost, ns: acceptTag(n.name) }, n.ipv6)).length) done.push(`accept ${p.vethHost} in FORWARD`);
  }
  return done;
}
