// Forwarded and unit selectors: exact nft text, ip rules and sysctls; old state files still parse.
import { describe, expect, it } from 'vitest';
import { ClientState, type EgressInput } from '../model/client.js';
import { unitCgroupPath, UnitName } from '../model/selectors.js';
import { renderClient } from './client.js';
import { renderClientNft } from './client-nft.js';
import { forwardedRules } from './client-nft-forwarded.js';

const base: EgressInput = {
  name: 'vps',
  kind: 'wireguard',
  interface: 'egress0',
  mark: 0x01000000,
  markMask: 0x01000000,
  table: 7100,
  priority: 7100,
  address4: '10.77.0.2',
  dns: ['10.77.0.1'],
  selectors: { users: [], cgroups: ['egress/vps'] },
  wireguard: { endpoint: '198.51.100.2:51820', serverPublicKey: 'nKj0Z3mEjnij6kBZCfavXks08pg8B8p0q5thDKtcSAU=', publicKey: 'zrWgoz+XWrmY13w7SqNsDGYYWM83XZOaM9I/WgRY8xo=', mtu: 1420, persistentKeepalive: 25, subnet4: '10.77.0.0/24' },
};
const selected = ClientState.parse({
  version: 1,
  egresses: [{ ...base, selectors: { users: [], cgroups: ['egress/vps'], units: ['web.service'], interfaces: ['br0'], sources: [{ cidr: '192.168.50.0/24', via: 'lan0' }] } }],
});

describe('forwarded selectors', () => {
  it('an old state file (no units, interfaces, sources) parses with empty lists', () => {
    const old = ClientState.parse({ version: 1, egresses: [base] });
    expect(old.egresses[0]!.selectors).toEqual({ users: [], cgroups: ['egress/vps'], shimSource: true, units: [], interfaces: [], sources: [] });
  });

  it('marks in prerouting and sends DNS to the egress resolver, per interface and per source network', () => {
    const nft = renderClientNft(selected)!;
    // Traffic staying on its interface (container to container on a bridge, seen here through br_netfilter) is not marked.
    expect(nft).toContain('\t\tiifname "br0" fib daddr oifname != "br0" meta mark set meta mark | 0x01000000 comment "vps: forwarded from br0"\n');
    expect(nft).toContain('\t\tiifname "lan0" ip saddr 192.168.50.0/24 fib daddr oifname != "lan0" meta mark set meta mark | 0x01000000 comment "vps: forwarded from 192.168.50.0/24"\n');
    const dns = (m: string, fam: string, what: string) => ['fib daddr type local', `fib daddr oifname != "${m.split('"')[1]}"`].flatMap((to) => ['udp', 'tcp'].map((p) => `\t\t${m} ${to} ${fam}${p} dport 53 dnat ip to 10.77.0.1 comment "vps: DNS forwarded from ${what} to 10.77.0.1 through the egress"\n`)).join('');
    expect(nft).toContain(`\tchain prerouting_nat {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n${dns('iifname "br0"', 'meta nfproto ipv4 ', 'br0')}${dns('iifname "lan0" ip saddr 192.168.50.0/24', '', '192.168.50.0/24')}\t}`);
    // The unit's cgroup is marked like run's cgroup; the kill switch covers every marked packet, forwarded too.
    expect(nft).toContain('socket cgroupv2 level 2 "system.slice/web.service" meta mark set meta mark | 0x01000000 comment "vps: cgroup system.slice/web.service"');
    expect(nft).toContain('meta mark & 0x01000000 == 0x01000000 oifname != "lo" oifname != "egress0" drop comment "vps: kill switch"');
  });

  it('leaves out a cgroup that does not exist yet (nft could not load it)', () => {
    const nft = renderClientNft(selected, { cgroups: ['system.slice/web.service'] })!;
    expect(nft).not.toContain('web.service');
    expect(nft).toContain('"egress/vps"');
  });

  it('routes by iif (and from + iif) into the table, with a prohibit fallback; IPv6 unreachable without an address', () => {
    expect(forwardedRules(selected.egresses[0]!, false)).toEqual([
      { family: 4, priority: 7103, iif: 'br0', table: 7100, action: 'lookup' },
      { family: 4, priority: 7103, from: '192.168.50.0/24', iif: 'lan0', table: 7100, action: 'lookup' },
      { family: 4, priority: 7106, iif: 'br0', action: 'prohibit' },
      { family: 4, priority: 7106, from: '192.168.50.0/24', iif: 'lan0', action: 'prohibit' },
      { family: 6, priority: 7106, iif: 'br0', action: 'unreachable' },
    ]);
  });

  it('turns forwarding on only for the interfaces involved, and not for a missing interface or a down egress', () => {
    const keys = (o: Parameters<typeof renderClient>[1]) => renderClient(selected, o).sysctls.map((s) => `${s.key}=${s.value}`);
    expect(keys({})).toEqual([
      'net.ipv4.conf.all.src_valid_mark=1',
      'net.ipv4.conf.br0.forwarding=1',
      'net.ipv4.conf.br0.rp_filter=2',
      'net.ipv4.conf.lan0.forwarding=1',
      'net.ipv4.conf.lan0.rp_filter=2',
      'net.ipv4.conf.egress0.forwarding=1',
    ]);
    expect(keys({ absent: { interfaces: ['br0'] } })).not.toContain('net.ipv4.conf.br0.forwarding=1');
    expect(keys({ down: ['vps'] })).toEqual(['net.ipv4.conf.all.src_valid_mark=1']);
  });

  it('unit names: NAME.service with safe characters; template instances under their slice', () => {
    expect(unitCgroupPath('web.service')).toBe('system.slice/web.service');
    expect(unitCgroupPath('getty@tty1.service')).toBe('system.slice/system-getty.slice/getty@tty1.service');
    for (const bad of ['web', 'web.socket', '../x.service', 'a b.service', 'a;b.service', '.service', 'my-app@1.service']) expect(UnitName.safeParse(bad).success).toBe(false);
  });
});
