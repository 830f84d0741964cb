// Boot persistence on the VPS: the sysctl drop-in and the wg-quick@IF drop-in that loads the nft file first.
import type { ServerConfig } from '../model/server.js';
import { serverPaths } from './server-paths.js';

/** A narrow accept egress adds to an iptables chain whose policy drops (Docker, ufw), marked with comment `egress`. */
export interface IptablesAccept {
  tool: 'iptables' | 'ip6tables';
  chain: 'FORWARD' | 'INPUT';
  /** Match and target after the chain name, e.g. `-i egress0 -m comment --comment egress -j ACCEPT`. */
  rule: string[];
}

/** Accepts in and out of the tunnel egress inserts in a native nft forward chain whose policy drops, marked `comment egress`. */
export interface NftAccept {
  tool: 'nft';
  family: string;
  table: string;
  chain: string;
  iface: string;
}

/** A narrow accept in another firewall, re-added at boot by the wg-quick drop-in. */
export type FirewallAccept = IptablesAccept | NftAccept;

/** Options of the server renderer that come from facts read on the VPS. */
export interface ServerRenderOptions {
  /** Keep accepting router advertisements on the public interface once forwarding is on (accept_ra was not 0). */
  acceptRa?: boolean;
  /** Accepts to re-add at boot in other firewalls' chains. */
  firewallAccepts?: FirewallAccept[];
}

/** The sysctl key for a per-interface setting (dots in names become '/', as sysctl(8) expects). */
export function ifaceSysctlKey(family: 'ipv4' | 'ipv6', iface: string, setting: string): string {
  return `net.${family}.conf.${iface.replace(/\./g, '/')}.${setting}`;
}

/** The runtime sysctls the server needs, in file order. */
export function serverSysctls(config: ServerConfig, options: ServerRenderOptions = {}): Array<{ key: string; value: string }> {
  const out = [{ key: 'net.ipv4.ip_forward', value: '1' }];
  if (config.subnet6) {
    out.push({ key: 'net.ipv6.conf.all.forwarding', value: '1' });
    if (options.acceptRa) out.push({ key: ifaceSysctlKey('ipv6', config.publicInterface, 'accept_ra'), value: '2' });
  }
  return out;
}

/** Renders /etc/sysctl.d/90-egress.conf. */
export function renderServerSysctl(config: ServerConfig, options: ServerRenderOptions = {}): string {
  const lines = ['# Managed by egress-server: forward tunnel traffic.', ...serverSysctls(config, options).map((s) => `${s.key} = ${s.value}`)];
  return `${lines.join('\n')}\n`;
}

/** The shell command that adds an accept unless it is already there (idempotent, for boot; no single quotes). */
export function firewallAcceptBootCommand(a: FirewallAccept): string {
  if (a.tool === 'nft') {
    const chain = `${a.family} ${a.table} ${a.chain}`;
    const insert = (dir: string) => `nft insert rule ${chain} ${dir} ${a.iface} accept comment egress`;
    return `nft list chain ${chain} >/dev/null 2>&1 || exit 0; nft list chain ${chain} | grep -qw egress || { ${insert('oifname')} && ${insert('iifname')}; }`;
  }
  const rule = a.rule.join(' ');
  return `${a.tool} -C ${a.chain} ${rule} 2>/dev/null || ${a.tool} -I ${a.chain} ${rule}`;
}

/** Renders the systemd drop-in of wg-quick@IF: nft table and sysctls before the interface, narrow accepts after. */
export function renderServerDropIn(config: ServerConfig, options: ServerRenderOptions = {}): string {
  const paths = serverPaths(config);
  const lines = [
    '# Managed by egress-server: load the egress nftables table and sysctls before the tunnel comes up.',
    '[Unit]',
    'Wants=network-online.target',
    'After=network-online.target nftables.service firewalld.service ufw.service docker.service',
    '',
    '[Service]',
    `ExecStartPre=nft -f ${paths.nft}`,
    `ExecStartPre=sysctl -q -p ${paths.sysctl}`,
    ...(options.firewallAccepts ?? []).map((a) => `ExecStartPost=-/bin/sh -c '${firewallAcceptBootCommand(a)}'`),
  ];
  return `${lines.join('\n')}\n`;
}
