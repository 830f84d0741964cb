// Pure renderers of one isolated run: its nftables table, the namespace's resolv.conf and nsswitch.conf.
import ipaddr from 'ipaddr.js';
import { NETNS_VETH_PREFIX } from '@egress/core/render/client-netns';
import type { VethAddresses } from './address-plan.js';
import { ISOLATE_PREFIX, type IsolateNames } from './names.js';

/** What the nftables table of one run needs to know. */
export interface IsolateNftInput {
  names: IsolateNames;
  /** The egress's interface (tunnel or uplink): the only way out for forwarded traffic. */
  egressIface: string;
  addrs: VethAddresses;
  /** The egress interface did not forward before egress turned forwarding on for it: forward nothing else that arrives on it. */
  guardIface4: boolean;
  guardIface6: boolean;
}

/**
 * Renders `table inet egiso_<pid>`: forwarded traffic from the veth may only leave by the egress interface (kill switch),
 * only with the namespace's own source, and is masqueraded to the egress address; nothing from the veth reaches the host
 * itself; replies are the only thing forwarded back in.
 */
export function renderIsolateNft(input: IsolateNftInput): string {
  const { names, egressIface, addrs } = input;
  const veth = `"${names.vethHost}"`;
  const out = `"${egressIface}"`;
  const c = (text: string): string => ` comment "${names.ns}: ${text}"`;
  const forward = [
    `iifname ${veth} oifname != ${out} drop${c('kill switch: only out by the egress')}`,
    `iifname ${veth} tcp flags syn tcp option maxseg size set rt mtu${c('fit the egress MTU (a tunnel is smaller than the veth)')}`,
    `iifname ${veth} meta nfproto ipv4 ip saddr != ${addrs.ns4} drop${c('only the namespace address')}`,
    addrs.ns6
      ? `iifname ${veth} meta nfproto ipv6 ip6 saddr != ${addrs.ns6} drop${c('only the namespace address')}`
      : `iifname ${veth} meta nfproto ipv6 drop${c('no IPv6 on this egress')}`,
    `oifname ${veth} iifname != ${out} drop${c('only the egress reaches the namespace')}`,
    `oifname ${veth} ct state != { established, related } drop${c('no connections into the namespace')}`,
  ];
  // Named namespaces (`netns add`) are the egress's too: their replies pass.
  const others = `oifname != "${ISOLATE_PREFIX}*" oifname != "${NETNS_VETH_PREFIX}*"`;
  if (input.guardIface4) forward.push(`iifname ${out} meta nfproto ipv4 ${others} drop${c(`${egressIface} forwards only to isolated runs and named namespaces`)}`);
  if (input.guardIface6) forward.push(`iifname ${out} meta nfproto ipv6 ${others} drop${c(`${egressIface} forwards only to isolated runs and named namespaces`)}`);
  const inputRules = [
    `iifname ${veth} icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit } accept${c('neighbour discovery')}`,
    `iifname ${veth} drop${c('the namespace cannot reach this host')}`,
  ];
  const nat = [`iifname ${veth} oifname ${out} masquerade${c('leave with the egress address')}`];
  const chain = (name: string, head: string, rules: string[]): string => [`\tchain ${name} {`, `\t\t${head}`, ...rules.map((r) => `\t\t${r}`), '\t}'].join('\n');
  return [
    `table inet ${names.nftTable} {`,
    chain('forward', 'type filter hook forward priority filter; policy accept;', forward),
    '',
    chain('input', 'type filter hook input priority filter; policy accept;', inputRules),
    '',
    chain('postrouting', 'type nat hook postrouting priority srcnat; policy accept;', nat),
    '}',
    '',
  ].join('\n');
}

/** The namespace's resolv.conf: the egress's resolvers (IPv6 ones only when the namespace has IPv6). */
export function renderResolvConf(dns: readonly string[], v6: boolean): string {
  const servers = dns.filter((d) => v6 || ipaddr.parse(d).kind() === 'ipv4').slice(0, 3);
  return ['# Written by egress-client (run --isolate, netns add): resolvers of the egress, reached through it.', ...servers.map((d) => `nameserver ${d}`), ''].join('\n');
}

/** The namespace's nsswitch.conf: the same `hosts: files dns` view launched apps get (see dns-view). */
export { renderNsswitch } from '../dns-view/nsswitch.js';
