import { describe, expect, it } from 'vitest';
import { pickVethAddresses, vethAddressesOf } from './address-plan.js';
import { isolateNames, ownerPidOf } from './names.js';
import { renderIsolateNft, renderNsswitch, renderResolvConf } from './render-isolate.js';
import { isolatedArgv } from './run-isolated.js';
import { confKey } from './shared-sysctl.js';

describe('isolate names', () => {
  it('stamps the owner pid on every object and keeps veth names within 15 characters', () => {
    expect(isolateNames(4194304)).toEqual({
      pid: 4194304,
      ns: 'egiso-4194304',
      vethHost: 'egiso4194304h',
      vethNs: 'egiso4194304n',
      nftTable: 'egiso_4194304',
      etcDir: '/etc/netns/egiso-4194304',
      recordPath: '/run/egress/isolate/4194304.json',
    });
    expect(isolateNames(9_999_999).vethHost.length).toBeLessThanOrEqual(15);
    expect(() => isolateNames(0)).toThrow(/1-9999999/);
  });

  it('reads the owner back from a name and ignores names that are not ours', () => {
    expect(ownerPidOf('ns', 'egiso-123')).toBe(123);
    expect(ownerPidOf('vethHost', 'egiso123h')).toBe(123);
    expect(ownerPidOf('nftTable', 'egiso_123')).toBe(123);
    expect(ownerPidOf('record', '123.json')).toBe(123);
    expect(ownerPidOf('ns', 'egiso-123x')).toBeUndefined();
    expect(ownerPidOf('vethHost', 'egiso123n')).toBeUndefined();
    expect(ownerPidOf('ns', 'eg-lab-client')).toBeUndefined();
  });
});

describe('veth addresses', () => {
  it('maps a slot to a /30 and a ULA /64', () => {
    expect(vethAddressesOf(0, false)).toEqual({ index: 0, net4: '10.239.0.0/30', host4: '10.239.0.1', ns4: '10.239.0.2' });
    expect(vethAddressesOf(16383, true)).toEqual({
      index: 16383,
      net4: '10.239.255.252/30',
      host4: '10.239.255.253',
      ns4: '10.239.255.254',
      net6: 'fd65:6769:7300:3fff::/64',
      host6: 'fd65:6769:7300:3fff::1',
      ns6: 'fd65:6769:7300:3fff::2',
    });
  });

  it('starts at the slot the pid hashes to and skips networks in use', () => {
    expect(pickVethAddresses(5, ['192.0.2.2/25'], false).net4).toBe('10.239.0.20/30');
    expect(pickVethAddresses(5, ['10.239.0.20/30', '10.239.0.25/32'], false).net4).toBe('10.239.0.28/30');
    expect(pickVethAddresses(16384 + 5, ['0.0.0.0/0'], false).net4).toBe('10.239.0.20/30');
    expect(() => pickVethAddresses(5, ['10.0.0.0/8'], false)).toThrow('no free /30 left in 10.239.0.0/16');
  });
});

describe('isolate renderers', () => {
  it('renders the run table: kill switch, own source only, nothing to the host, masquerade, guard for a non-forwarding uplink', () => {
    const text = renderIsolateNft({ names: isolateNames(42), egressIface: 'wlan0', addrs: vethAddressesOf(42, false), guardIface4: true, guardIface6: false });
    expect(text).toBe(
      [
        'table inet egiso_42 {',
        '\tchain forward {',
        '\t\ttype filter hook forward priority filter; policy accept;',
        '\t\tiifname "egiso42h" oifname != "wlan0" drop comment "egiso-42: kill switch: only out by the egress"',
        '\t\tiifname "egiso42h" tcp flags syn tcp option maxseg size set rt mtu comment "egiso-42: fit the egress MTU (a tunnel is smaller than the veth)"',
        '\t\tiifname "egiso42h" meta nfproto ipv4 ip saddr != 10.239.0.170 drop comment "egiso-42: only the namespace address"',
        '\t\tiifname "egiso42h" meta nfproto ipv6 drop comment "egiso-42: no IPv6 on this egress"',
        '\t\toifname "egiso42h" iifname != "wlan0" drop comment "egiso-42: only the egress reaches the namespace"',
        '\t\toifname "egiso42h" ct state != { established, related } drop comment "egiso-42: no connections into the namespace"',
        '\t\tiifname "wlan0" meta nfproto ipv4 oifname != "egiso*" oifname != "egns*" drop comment "egiso-42: wlan0 forwards only to isolated runs and named namespaces"',
        '\t}',
        '',
        '\tchain input {',
        '\t\ttype filter hook input priority filter; policy accept;',
        '\t\tiifname "egiso42h" icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit } accept comment "egiso-42: neighbour discovery"',
        '\t\tiifname "egiso42h" drop comment "egiso-42: the namespace cannot reach this host"',
        '\t}',
        '',
        '\tchain postrouting {',
        '\t\ttype nat hook postrouting priority srcnat; policy accept;',
        '\t\tiifname "egiso42h" oifname "wlan0" masquerade comment "egiso-42: leave with the egress address"',
        '\t}',
        '}',
        '',
      ].join('\n'),
    );
    const v6 = renderIsolateNft({ names: isolateNames(42), egressIface: 'egress0', addrs: vethAddressesOf(42, true), guardIface4: false, guardIface6: false });
    expect(v6).toContain('iifname "egiso42h" meta nfproto ipv6 ip6 saddr != fd65:6769:7300:2a::2 drop');
    expect(v6).not.toContain('forwards only to isolated runs');
  });

  it('writes the egress resolvers into resolv.conf, IPv6 ones only with IPv6', () => {
    expect(renderResolvConf(['203.0.113.53', '2001:db8:113::53'], false)).toBe(
      '# Written by egress-client (run --isolate, netns add): resolvers of the egress, reached through it.\nnameserver 203.0.113.53\n',
    );
    expect(renderResolvConf(['203.0.113.53', '2001:db8:113::53'], true)).toContain('nameserver 2001:db8:113::53\n');
  });

  it('replaces host lookups through local services (systemd-resolved, mDNS) with files + dns', () => {
    const resolved = 'passwd: files systemd\nhosts: files mdns4_minimal [NOTFOUND=return] resolve [!UNAVAIL=return] dns myhostname\nnetworks: files\n';
    expect(renderNsswitch(resolved)).toBe('passwd: files systemd\nhosts: files dns\nnetworks: files\n');
    expect(renderNsswitch('hosts: files dns\n')).toBeUndefined();
    expect(renderNsswitch(undefined)).toBeUndefined();
  });

  it('runs the app inside the namespace, as the invoking user when that is not root', () => {
    expect(isolatedArgv('egiso-7', { uid: 1000, gid: 1000, name: 'alice' }, ['curl', '-s', 'x'])).toEqual([
      'netns', 'exec', 'egiso-7', 'setpriv', '--reuid=1000', '--regid=1000', '--init-groups', '--', 'curl', '-s', 'x',
    ]);
    expect(isolatedArgv('egiso-7', { uid: 0, gid: 0 }, ['id'])).toEqual(['netns', 'exec', 'egiso-7', 'id']);
  });

  it('writes VLAN interface names the way sysctl wants them', () => {
    expect(confKey(4, 'eth0.100', 'forwarding')).toBe('net.ipv4.conf.eth0/100.forwarding');
    expect(confKey(6, 'wlan0', 'force_forwarding')).toBe('net.ipv6.conf.wlan0.force_forwarding');
  });
});
