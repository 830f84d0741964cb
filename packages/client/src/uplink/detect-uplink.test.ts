import { ValidationError, type Host, type RunResult } from '@egress/core';
import { describe, expect, it } from 'vitest';
import { detectUplink, type UplinkRequest } from './detect-uplink.js';
import { offLinkReason } from './on-link.js';

// Outputs captured from iproute2 6.1 for a veth carrying 192.0.2.130/25 and 2001:db8:3::5/64.
const WLAN = {
  ifindex: 3,
  ifname: 'wlan0',
  flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'],
  mtu: 1500,
  operstate: 'UP',
  link_type: 'ether',
  addr_info: [
    { family: 'inet', local: '192.0.2.130', prefixlen: 25, scope: 'global', label: 'wlan0', valid_life_time: 4294967295, preferred_life_time: 4294967295 },
    { family: 'inet6', local: '2001:db8:3::5', prefixlen: 64, scope: 'global', nodad: true, valid_life_time: 4294967295, preferred_life_time: 4294967295 },
    { family: 'inet6', local: 'fe80::c4ac:1eff:fe0b:9c4b', prefixlen: 64, scope: 'link', valid_life_time: 4294967295, preferred_life_time: 4294967295 },
  ],
};
const ETH_DEFAULT = { dst: 'default', gateway: '192.0.2.1', dev: 'eth0', metric: 100, flags: [] };

interface Scene {
  links?: unknown[];
  defaults4?: unknown[];
  defaults6?: unknown[];
  files?: Record<string, string>;
  dirs?: Record<string, string[]>;
  dhcpcd?: string;
  resolvectl?: string;
  nmcli?: string;
}

/** A host that answers the read-only commands detectUplink runs from canned iproute2 output; records every argv. */
function scriptedHost(scene: Scene): Host & { calls: string[][] } {
  const links = (scene.links ?? [WLAN]) as Array<{ ifname: string }>;
  const calls: string[][] = [];
  const ok = (stdout: string): RunResult => ({ exitCode: 0, stdout, stderr: '' });
  return {
    name: 'scripted',
    calls,
    async run(argv) {
      calls.push([...argv]);
      const a = argv.join(' ');
      if (a.startsWith('ip -j addr show dev ')) {
        const l = links.find((x) => x.ifname === argv[5]);
        return l ? ok(JSON.stringify([l])) : { exitCode: 1, stdout: '', stderr: `Device "${argv[5]}" does not exist.\n` };
      }
      if (a === 'ip -j link show') return ok(JSON.stringify([{ ifindex: 1, ifname: 'lo', flags: ['LOOPBACK', 'UP'] }, ...links]));
      if (a === 'ip -j -4 route show table main default') return ok(JSON.stringify(scene.defaults4 ?? [ETH_DEFAULT]));
      if (a === 'ip -j -6 route show table main default') return ok(JSON.stringify(scene.defaults6 ?? []));
      if (argv[0] === 'ls') {
        const d = scene.dirs?.[argv[3]!];
        return d ? ok(d.map((f) => `${f}\n`).join('')) : { exitCode: 2, stdout: '', stderr: 'No such file or directory\n' };
      }
      if (argv[0] === 'dhcpcd') return scene.dhcpcd ? ok(scene.dhcpcd) : { exitCode: 127, stdout: '', stderr: 'not found' };
      if (a === 'resolvectl dns wlan0') return scene.resolvectl ? ok(scene.resolvectl) : { exitCode: 127, stdout: '', stderr: 'not found' };
      if (a === 'nmcli -t -g IP4.DNS,IP6.DNS device show wlan0') return scene.nmcli ? ok(scene.nmcli) : { exitCode: 127, stdout: '', stderr: 'not found' };
      throw new Error(`unexpected command: ${a}`);
    },
    async readFile(path) {
      return scene.files?.[path];
    },
    async writeFile() {
      throw new Error('detectUplink must not write');
    },
    async removeFile() {
      throw new Error('detectUplink must not remove');
    },
    async close() {},
  };
}

async function refusal(scene: Scene, req: UplinkRequest): Promise<ValidationError> {
  const err = await detectUplink(scriptedHost(scene), req).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ValidationError);
  return err as ValidationError;
}

describe('detectUplink', () => {
  it('takes the gateway from the main table, v6 from the global address and default route, DNS from --dns', async () => {
    const host = scriptedHost({
      defaults4: [ETH_DEFAULT, { dst: 'default', gateway: '192.0.2.129', dev: 'wlan0', metric: 600, flags: [] }],
      defaults6: [{ dst: 'default', gateway: 'fe80::1', dev: 'wlan0', metric: 1024, flags: [], pref: 'medium' }],
    });
    const plan = await detectUplink(host, { interface: 'wlan0', dns: ['203.0.113.53'] });
    expect(plan).toEqual({
      interface: 'wlan0',
      ifindex: 3,
      pointToPoint: false,
      address4: '192.0.2.130',
      network4: '192.0.2.128/25',
      gateway4: '192.0.2.129',
      address6: '2001:db8:3::5',
      network6: '2001:db8:3::/64',
      gateway6: 'fe80::1',
      dns: ['203.0.113.53'],
      sources: { gateway4: 'main table default route', gateway6: 'main table default route', dns: '--dns' },
    });
    expect(host.calls.every((c) => c[0] === 'ip' || c[0] === 'ls' || c[0] === 'dhcpcd')).toBe(true);
  });

  it('reads router and resolvers from a dhclient lease when the main table has no route through IF, and refuses v6 without a route', async () => {
    const lease = [
      'lease {',
      '  interface "eth0";',
      '  option routers 192.0.2.1;',
      '}',
      'lease {',
      '  interface "wlan0";',
      '  fixed-address 192.0.2.130;',
      '  option routers 192.0.2.200;',
      '  option domain-name-servers 198.51.100.53;',
      '}',
      'lease {',
      '  interface "wlan0";',
      '  fixed-address 192.0.2.130;',
      '  option routers 192.0.2.129;',
      '  option domain-name-servers 203.0.113.53,127.0.0.53;',
      '}',
    ].join('\n');
    const plan = await detectUplink(
      scriptedHost({ dirs: { '/var/lib/dhcp': ['dhclient.wlan0.leases'] }, files: { '/var/lib/dhcp/dhclient.wlan0.leases': lease } }),
      { interface: 'wlan0' },
    );
    expect(plan.gateway4).toBe('192.0.2.129');
    expect(plan.dns).toEqual(['203.0.113.53']);
    expect(plan.sources).toEqual({ gateway4: '/var/lib/dhcp/dhclient.wlan0.leases', dns: '/var/lib/dhcp/dhclient.wlan0.leases' });
    expect(plan.address6).toBeUndefined();
    expect(plan.v6Refused).toBe("'wlan0' has no IPv6 default route in the main table");
  });

  it('reads a systemd-networkd lease by interface index and a dhcpcd dump', async () => {
    const networkd = '# This is private data. Do not parse.\nADDRESS=192.0.2.130\nROUTER=192.0.2.129\nDNS=203.0.113.53 203.0.113.54\n';
    const a = await detectUplink(scriptedHost({ files: { '/run/systemd/netif/leases/3': networkd } }), { interface: 'wlan0' });
    expect([a.gateway4, a.dns, a.sources.dns]).toEqual(['192.0.2.129', ['203.0.113.53', '203.0.113.54'], '/run/systemd/netif/leases/3']);
    const b = await detectUplink(scriptedHost({ dhcpcd: "ip_address='192.0.2.130'\nrouters='192.0.2.129'\ndomain_name_servers='203.0.113.53'\n" }), { interface: 'wlan0' });
    expect([b.gateway4, b.dns, b.sources.gateway4]).toEqual(['192.0.2.129', ['203.0.113.53'], 'dhcpcd -U wlan0']);
  });

  it('takes --gateway over everything else and accepts an IPv6 link-local gateway', async () => {
    const plan = await detectUplink(scriptedHost({}), { interface: 'wlan0', gateways: ['192.0.2.254', 'fe80::1'], dns: ['203.0.113.53', '2001:db8:53::1'] });
    expect([plan.gateway4, plan.gateway6, plan.address6, plan.sources.gateway4]).toEqual(['192.0.2.254', 'fe80::1', '2001:db8:3::5', '--gateway']);
  });

  it('leaves with the --address chosen among the interface addresses, and refuses one it does not have', async () => {
    const two = { ...WLAN, addr_info: [...WLAN.addr_info, { family: 'inet', local: '192.0.2.131', prefixlen: 25, scope: 'global', label: 'wlan0' }] };
    const plan = await detectUplink(scriptedHost({ links: [two] }), { interface: 'wlan0', gateways: ['192.0.2.129'], dns: ['203.0.113.53'], address: '192.0.2.131' });
    expect([plan.address4, plan.network4]).toEqual(['192.0.2.131', '192.0.2.128/25']);
    const err = await refusal({ links: [two] }, { interface: 'wlan0', gateways: ['192.0.2.129'], dns: ['203.0.113.53'], address: '192.0.2.2' });
    expect(err.message).toBe("--address: '192.0.2.2' is not an IPv4 address of 'wlan0'; expected one of: 192.0.2.130, 192.0.2.131");
  });

  it('refuses an unknown interface, naming the ones that exist', async () => {
    const err = await refusal({}, { interface: 'wlan9', dns: ['203.0.113.53'] });
    expect(err.message).toBe("--interface: no interface named 'wlan9' on scripted; expected one of: wlan0");
  });

  it('refuses a malformed interface name before reading anything', async () => {
    const host = scriptedHost({});
    const err = await detectUplink(host, { interface: 'wlan0; rm -rf /' }).catch((e: unknown) => e);
    expect((err as ValidationError).message).toMatch(/^--interface: expected an interface name of 1-15 letters/);
    expect(host.calls).toEqual([]);
  });

  it('refuses an interface with no IPv4 address, and one that is down', async () => {
    const bare = { ...WLAN, addr_info: [WLAN.addr_info[2]] };
    expect((await refusal({ links: [bare] }, { interface: 'wlan0', dns: ['203.0.113.53'] })).message).toBe(
      "--interface: 'wlan0' has no IPv4 address; expected an interface with an address",
    );
    const down = { ...WLAN, flags: ['BROADCAST', 'MULTICAST'] };
    expect((await refusal({ links: [down] }, { interface: 'wlan0', dns: ['203.0.113.53'] })).message).toBe("--interface: 'wlan0' is down; expected an interface that is up");
  });

  it('refuses an off-link gateway with the networks that are allowed', async () => {
    const err = await refusal({}, { interface: 'wlan0', gateways: ['192.0.2.1'], dns: ['203.0.113.53'] });
    expect(err.message).toBe("--gateway: gateway '192.0.2.1' is not on-link on 'wlan0': it is outside the interface's networks (192.0.2.128/25); expected an address in 192.0.2.128/25");
    expect(err.issues).toEqual([{ path: '--gateway', message: expect.stringContaining("(got '192.0.2.1')") }]);
  });

  it('refuses a missing gateway and resolver with a hint', async () => {
    const noGw = await refusal({}, { interface: 'wlan0', dns: ['203.0.113.53'] });
    expect(noGw.message).toMatch(/^--gateway: no gateway found for 'wlan0'/);
    expect(noGw.hint).toBe('pass --gateway IP with the router of wlan0, an address in 192.0.2.128/25');
    const noDns = await refusal({}, { interface: 'wlan0', gateways: ['192.0.2.129'] });
    expect(noDns.message).toBe(
      "--dns: no resolver found for 'wlan0' (tried: DHCP lease, resolvectl dns wlan0, /run/systemd/resolve/netif/3, /run/systemd/netif/links/3, nmcli device show wlan0, /etc/resolv.conf; local stubs such as 127.0.0.53 do not count)",
    );
    const stubOnly = await refusal({ files: { '/etc/resolv.conf': 'nameserver 127.0.0.53\noptions edns0\n' } }, { interface: 'wlan0', gateways: ['192.0.2.129'] });
    expect(stubOnly.message).toMatch(/^--dns: no resolver found for 'wlan0' \(tried: .*\/etc\/resolv\.conf;/);
  });

  it('finds resolvers without a lease: systemd-resolved, networkd, NetworkManager, then /etc/resolv.conf, in that order', async () => {
    const conf = '# static\nnameserver 127.0.0.53\nnameserver 198.51.100.53\nnameserver 2001:db8::53\nsearch example.org\n';
    const only = (scene: Scene) => detectUplink(scriptedHost(scene), { interface: 'wlan0', gateways: ['192.0.2.129'] });
    const fromConf = await only({ files: { '/etc/resolv.conf': conf } });
    expect([fromConf.dns, fromConf.sources.dns]).toEqual([['198.51.100.53'], '/etc/resolv.conf']);
    const withV6 = await only({ files: { '/etc/resolv.conf': conf }, defaults6: [{ dst: 'default', gateway: '2001:db8:3::1', dev: 'wlan0', metric: 600, flags: [] }] });
    expect(withV6.dns).toEqual(['198.51.100.53', '2001:db8::53']);
    const nm = await only({ files: { '/etc/resolv.conf': conf }, nmcli: '192.0.2.140 | 192.0.2.141\n' });
    expect([nm.dns, nm.sources.dns]).toEqual([['192.0.2.140', '192.0.2.141'], 'nmcli device show wlan0']);
    const networkd = await only({ files: { '/etc/resolv.conf': conf, '/run/systemd/netif/links/3': 'ADMIN_STATE=configured\nDNS=192.0.2.150\n' }, nmcli: '192.0.2.140\n' });
    expect([networkd.dns, networkd.sources.dns]).toEqual([['192.0.2.150'], '/run/systemd/netif/links/3']);
    const resolved = await only({ files: { '/etc/resolv.conf': conf, '/run/systemd/resolve/netif/3': 'LLMNR=yes\nSERVERS=192.0.2.160#dns.example\n' }, nmcli: '192.0.2.140\n' });
    expect([resolved.dns, resolved.sources.dns]).toEqual([['192.0.2.160'], '/run/systemd/resolve/netif/3']);
    const ctl = await only({ files: { '/etc/resolv.conf': conf }, resolvectl: 'Link 3 (wlan0): 192.0.2.170 fe80::1%3 127.0.0.53\n', nmcli: '192.0.2.140\n' });
    expect([ctl.dns, ctl.sources.dns]).toEqual([['192.0.2.170'], 'resolvectl dns wlan0']);
    const given = await detectUplink(scriptedHost({ files: { '/etc/resolv.conf': conf } }), { interface: 'wlan0', gateways: ['192.0.2.129'], dns: ['192.0.2.180'] });
    expect([given.dns, given.sources.dns]).toEqual([['192.0.2.180'], '--dns']);
  });

  it('refuses a local stub resolver, bad addresses and two gateways of one family', async () => {
    expect((await refusal({}, { interface: 'wlan0', gateways: ['192.0.2.129'], dns: ['127.0.0.53'] })).message).toMatch(/^--dns: '127.0.0.53' is a resolver on this machine/);
    expect((await refusal({}, { interface: 'wlan0', gateways: ['192.0.2.999'] })).message).toBe("--gateway: expected an IPv4 or IPv6 address, got '192.0.2.999'");
    expect((await refusal({}, { interface: 'wlan0', gateways: ['192.0.2.129', '192.0.2.130'] })).message).toBe(
      "--gateway: expected at most one IPv4 gateway, got '192.0.2.129' and '192.0.2.130'",
    );
  });
});

describe('offLinkReason', () => {
  const addrs = [{ address: '192.0.2.130', prefixlen: 25 }];
  it('accepts an address inside the prefix and names what is wrong otherwise', () => {
    expect(offLinkReason('192.0.2.129', addrs)).toBeUndefined();
    expect(offLinkReason('192.0.2.130', addrs)).toBe("it is the interface's own address");
    expect(offLinkReason('192.0.2.128', addrs)).toBe('it is the network address of 192.0.2.128/25');
    expect(offLinkReason('192.0.2.255', addrs)).toBe('it is the broadcast address of 192.0.2.128/25');
    expect(offLinkReason('2001:db8::1', addrs)).toBe('the interface has no global IPv6 address');
    expect(offLinkReason('10.0.0.1', [{ address: '10.0.0.2', prefixlen: 32, peer: '10.0.0.1' }])).toBeUndefined();
  });
});
