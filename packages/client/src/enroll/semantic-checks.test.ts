// Semantic checks, table-driven: every case refused for a bundle and for a wg-quick file alike, naming the field and
// the value, with nothing changed on a FakeHost (the real pipeline, renderer and engine).
import { beforeEach, describe, expect, it } from 'vitest';
import { generateKeyPair } from '@egress/core/keys';
import { FakeHost, dumpMachine } from '@egress/core/testing';
import { runOn } from '../testing/fake-cli.js';
import { MAX_DNS } from './semantic-checks.js';

const server = generateKeyPair();
const me = generateKeyPair();

/** One tunnel as both sources can say it. */
interface Tunnel {
  address4: string;
  subnet4: string;
  server4: string;
  address6?: string;
  subnet6?: string;
  server6?: string;
  endpoint: string;
  dns: string[];
  serverKey: string;
}
const base: Tunnel = { address4: '10.77.0.2', subnet4: '10.77.0.0/24', server4: '10.77.0.1', address6: 'fd77::2', subnet6: 'fd77::/64', server6: 'fd77::1', endpoint: '198.51.100.2:51820', dns: ['203.0.113.53'], serverKey: server.publicKey };

function bundleOf(t: Tunnel): string {
  return JSON.stringify({
    version: 1,
    kind: 'egress-bundle',
    name: 'laptop',
    server: { endpoint: t.endpoint, publicKey: t.serverKey, address4: t.server4, ...(t.server6 ? { address6: t.server6 } : {}) },
    client: { address4: t.address4, ...(t.address6 ? { address6: t.address6 } : {}), publicKey: me.publicKey, privateKey: me.privateKey },
    tunnel: { subnet4: t.subnet4, ...(t.subnet6 ? { subnet6: t.subnet6 } : {}), mtu: 1420, persistentKeepalive: 25 },
    dns: t.dns,
    forwards: [],
  });
}

/** The wg-quick form: Address carries the subnet's prefix (line 3), DNS line 4, Endpoint line 7. */
function confOf(t: Tunnel): string {
  const p = (s: string | undefined) => s!.split('/')[1];
  return [
    '[Interface]',
    `PrivateKey = ${me.privateKey}`,
    `Address = ${t.address4}/${p(t.subnet4)}${t.address6 ? `, ${t.address6}/${p(t.subnet6)}` : ''}`,
    `DNS = ${t.dns.join(', ')}`,
    '[Peer]',
    `PublicKey = ${t.serverKey}`,
    `Endpoint = ${t.endpoint}`,
    'AllowedIPs = 0.0.0.0/0, ::/0',
    '',
  ].join('\r\n');
}

interface Case {
  name: string;
  change: Partial<Tunnel>;
  /** Field and reason expected for the bundle, and for the .conf (undefined: the case cannot be said in a .conf). */
  bundle: [string, RegExp];
  conf?: [string, RegExp];
}

const CASES: Case[] = [
  { name: 'address is the network address', change: { address4: '10.77.0.0' }, bundle: ['bundle.client.address4', /network address of 10.77.0.0\/24/], conf: ['wg0.conf line 3: Address', /network address/] },
  { name: 'address is the broadcast address', change: { address4: '10.77.0.255' }, bundle: ['bundle.client.address4', /broadcast address of/], conf: ['wg0.conf line 3: Address', /broadcast address/] },
  { name: 'address outside the subnet', change: { address4: '10.78.0.2' }, bundle: ['bundle.client.address4', /outside the tunnel network 10.77.0.0\/24/] },
  { name: "address equal to the server's", change: { address4: '10.77.0.1' }, bundle: ['bundle.client.address4', /server's tunnel address too/] },
  { name: "address equal to the client's eth0 address", change: { address4: '192.168.1.10', subnet4: '10.0.0.0/8' }, bundle: ['bundle.client.address4', /outside the tunnel network|already an address of this host \(eth0\)/], conf: ['wg0.conf line 3: Address', /overlaps this host's own network 192.168.1.0\/24 on eth0/] },
  { name: "address equal to the client's eth0 address (/32)", change: { address4: '192.168.1.10', subnet4: '192.168.1.10/32' }, bundle: ['bundle.client.address4', /already an address of this host \(eth0\)/], conf: ['wg0.conf line 3: Address', /already an address of this host \(eth0\)/] },
  { name: 'subnet is the whole internet', change: { subnet4: '0.0.0.0/0' }, bundle: ['bundle.tunnel.subnet4', /whole internet/], conf: ['wg0.conf line 3: Address', /prefix length 1-32/] },
  { name: 'subnet is loopback', change: { address4: '127.0.0.2', subnet4: '127.0.0.0/8', server4: '127.0.0.1' }, bundle: ['bundle.tunnel.subnet4', /loopback network/], conf: ['wg0.conf line 3: Address', /loopback/] },
  { name: 'subnet is link-local', change: { address4: '169.254.7.2', subnet4: '169.254.7.0/24', server4: '169.254.7.1' }, bundle: ['bundle.tunnel.subnet4', /link-local/], conf: ['wg0.conf line 3: Address', /link-local/] },
  { name: 'subnet is multicast', change: { address4: '224.1.1.2', subnet4: '224.1.1.0/24', server4: '224.1.1.1' }, bundle: ['bundle.tunnel.subnet4', /multicast network/], conf: ['wg0.conf line 3: Address', /multicast/] },
  { name: "subnet overlaps the client's own network", change: { address4: '192.168.200.2', subnet4: '192.168.0.0/16', server4: '192.168.200.1' }, bundle: ['bundle.tunnel.subnet4', /overlaps this host's own network 192.168.1.0\/24 on eth0/], conf: ['wg0.conf line 3: Address', /overlaps this host's own network/] },
  { name: 'subnet overlaps a network the client routes', change: { address4: '172.20.0.2', subnet4: '172.20.0.0/24', server4: '172.20.0.1' }, bundle: ['bundle.tunnel.subnet4', /overlaps 172.16.0.0\/12, which this host routes by eth0/], conf: ['wg0.conf line 3: Address', /overlaps 172.16.0.0\/12/] },
  { name: 'IPv6 subnet overlaps the client\'s own IPv6 network', change: { address6: '2001:db8:1::77', subnet6: '2001:db8:1::/64', server6: '2001:db8:1::1' }, bundle: ['bundle.tunnel.subnet6', /overlaps this host's own network 2001:db8:1::\/64/], conf: ['wg0.conf line 3: Address', /overlaps this host's own network 2001:db8:1::\/64/] },
  { name: 'subnet contains the endpoint', change: { endpoint: '10.77.0.9:51820' }, bundle: ['bundle.server.endpoint', /inside the tunnel network 10.77.0.0\/24/], conf: ['wg0.conf line 7: Endpoint', /inside the tunnel network/] },
  { name: 'endpoint is loopback', change: { endpoint: '127.0.0.1:51820' }, bundle: ['bundle.server.endpoint', /loopback address/], conf: ['wg0.conf line 7: Endpoint', /loopback address/] },
  { name: 'endpoint is IPv6 loopback', change: { endpoint: '[::1]:51820' }, bundle: ['bundle.server.endpoint', /loopback address/], conf: ['wg0.conf line 7: Endpoint', /loopback address/] },
  { name: 'endpoint is unspecified', change: { endpoint: '0.0.0.0:51820' }, bundle: ['bundle.server.endpoint', /unspecified address/], conf: ['wg0.conf line 7: Endpoint', /unspecified address/] },
  { name: 'endpoint is multicast', change: { endpoint: '239.1.1.1:51820' }, bundle: ['bundle.server.endpoint', /multicast address/], conf: ['wg0.conf line 7: Endpoint', /multicast address/] },
  { name: 'DNS is loopback', change: { dns: ['127.0.0.53'] }, bundle: ['bundle.dns[0]', /DNS server cannot be a loopback address/], conf: ['wg0.conf line 4: DNS', /loopback address/] },
  { name: 'DNS is multicast', change: { dns: ['203.0.113.53', '224.0.0.251'] }, bundle: ['bundle.dns[1]', /DNS server cannot be a multicast address/], conf: ['wg0.conf line 4: DNS', /multicast address/] },
  { name: 'DNS is 0.0.0.0', change: { dns: ['0.0.0.0'] }, bundle: ['bundle.dns[0]', /unspecified address/], conf: ['wg0.conf line 4: DNS', /unspecified address/] },
  { name: 'DNS is ::', change: { dns: ['::'] }, bundle: ['bundle.dns[0]', /unspecified address/], conf: ['wg0.conf line 4: DNS', /unspecified address/] },
  { name: 'too many DNS servers', change: { dns: Array.from({ length: MAX_DNS + 1 }, (_, i) => `203.0.113.${i + 1}`) }, bundle: ['bundle.dns', /at most 8 DNS servers/], conf: ['wg0.conf line 4: DNS', /at most 8 DNS servers/] },
  { name: 'client address ::1', change: { address6: '::1', subnet6: '::1/128', server6: 'fd77::1' }, bundle: ['bundle.client.address6', /loopback address/], conf: ['wg0.conf line 3: Address', /loopback/] },
  { name: 'IPv6 address is the subnet-router address', change: { address6: 'fd77::' }, bundle: ['bundle.client.address6', /network address of fd77::\/64/], conf: ['wg0.conf line 3: Address', /network address/] },
  { name: 'IPv6 subnet is ::/0', change: { subnet6: '::/0' }, bundle: ['bundle.tunnel.subnet6', /whole internet/], conf: ['wg0.conf line 3: Address', /prefix length 1-128/] },
  { name: "server public key equal to the client's", change: { serverKey: me.publicKey }, bundle: ['bundle.server.publicKey', /client's own public key/], conf: ['wg0.conf line 6: PublicKey', /client's own public key/] },
];

let host: FakeHost;
const cli = (argv: string[]) => runOn(host, argv);

const ADDRS = [
  { ifname: 'lo', addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8, scope: 'host' }] },
  { ifname: 'eth0', addr_info: [{ family: 'inet', local: '192.168.1.10', prefixlen: 24, scope: 'global' }, { family: 'inet6', local: '2001:db8:1::10', prefixlen: 64, scope: 'global' }, { family: 'inet6', local: 'fe80::1', prefixlen: 64, scope: 'link' }] },
];
const ROUTES4 = [{ dst: 'default', gateway: '192.168.1.1', dev: 'eth0' }, { dst: '192.168.1.0/24', dev: 'eth0' }, { dst: '172.16.0.0/12', gateway: '192.168.1.1', dev: 'eth0' }];

beforeEach(async () => {
  host = new FakeHost();
  host.machine.dirs.add('/etc/systemd').add('/etc/systemd/system');
  host.on('sh', () => ({ exitCode: 0, stdout: '', stderr: '' }));
  host.on('getent', (argv) => (argv.at(-1) === 'appuser' ? { exitCode: 0, stdout: 'appuser:x:1001:1001::/home/appuser:/bin/bash\n', stderr: '' } : { exitCode: 2, stdout: '', stderr: '' }));
  // This host's own networks (the FakeHost has no eth0): what `ip -j addr` and the main table say.
  host.on('ip', (argv) => {
    const a = argv.join(' ');
    if (a === 'ip -j addr show') return { exitCode: 0, stdout: JSON.stringify(ADDRS), stderr: '' };
    if (a === 'ip -j -4 route show') return { exitCode: 0, stdout: JSON.stringify(ROUTES4), stderr: '' };
    return undefined;
  });
});

async function refusedUnchanged(path: string, text: string, field: string, reason: RegExp, value?: string): Promise<void> {
  await host.writeFile(path, text, { mode: 0o600 });
  const before = dumpMachine(host.machine);
  const calls = host.calls.length;
  const r = await cli(['enroll', path, '--user', 'appuser']);
  expect(r.code, r.stderr).not.toBe(0);
  expect(r.stderr).toContain(`${field}:`);
  expect(r.stderr).toMatch(reason);
  if (value !== undefined) expect(r.stderr).toContain(value);
  expect(r.stderr).not.toContain(me.privateKey);
  expect(dumpMachine(host.machine)).toBe(before);
  expect(host.calls.slice(calls).filter((c) => c.change)).toEqual([]);
}

describe('semantic checks refuse a well-formed but wrong bundle, changing nothing', () => {
  it.each(CASES.map((c) => [c.name, c] as const))('bundle: %s', async (_n, c) => {
    await refusedUnchanged('/root/b.json', bundleOf({ ...base, ...c.change }), c.bundle[0], c.bundle[1]);
  });
});

describe('semantic checks refuse the same mistakes in a wg-quick file, naming the line and the key', () => {
  it.each(CASES.filter((c) => c.conf).map((c) => [c.name, c] as const))('wg0.conf: %s', async (_n, c) => {
    await refusedUnchanged('/root/wg0.conf', confOf({ ...base, ...c.change }), c.conf![0], c.conf![1]);
  });
});

describe('semantic checks let a sane tunnel through', () => {
  it('the base bundle and the base .conf enroll on this host', async () => {
    await host.writeFile('/root/b.json', bundleOf(base), { mode: 0o600 });
    const r = await cli(['enroll', '/root/b.json', '--user', 'appuser']);
    expect(r.code, r.stderr).toBe(0);
    await cli(['uninstall', 'laptop']);
    await host.writeFile('/root/wg0.conf', confOf(base), { mode: 0o600 });
    const c = await cli(['enroll', '/root/wg0.conf', '--user', 'appuser']);
    expect(c.code, c.stderr).toBe(0);
    expect(c.stdout).toContain('enrolled egress wg0');
  });

  it("a second peer of the same server enrolls beside the first (enrolled egresses' tunnels are not this host's networks)", async () => {
    await host.writeFile('/root/b.json', bundleOf(base), { mode: 0o600 });
    expect((await cli(['enroll', '/root/b.json', '--user', 'appuser'])).code).toBe(0);
    ADDRS.push({ ifname: 'egress0', addr_info: [{ family: 'inet', local: '10.77.0.2', prefixlen: 24, scope: 'global' }] });
    try {
      const other = generateKeyPair();
      const second = JSON.parse(bundleOf({ ...base, address6: undefined, subnet6: undefined, server6: undefined })) as { name: string; client: Record<string, string> };
      second.name = 'second';
      second.client = { address4: '10.77.0.3', publicKey: other.publicKey, privateKey: other.privateKey };
      await host.writeFile('/root/b2.json', JSON.stringify(second), { mode: 0o600 });
      host.on('getent', (argv) => (['appuser', 'otheruser'].includes(argv.at(-1)!) ? { exitCode: 0, stdout: `${argv.at(-1)}:x:${argv.at(-1) === 'appuser' ? 1001 : 1002}:1002::/home/x:/bin/sh\n`, stderr: '' } : { exitCode: 2, stdout: '', stderr: '' }));
      const r = await cli(['enroll', '/root/b2.json', '--user', 'otheruser']);
      expect(r.code, r.stderr).toBe(0);
      // The same subnet on a non-egress interface is still refused.
      ADDRS.at(-1)!.ifname = 'wg9';
      const third = generateKeyPair();
      await host.writeFile('/root/b3.json', JSON.stringify({ ...second, name: 'third', client: { address4: '10.77.0.4', publicKey: third.publicKey, privateKey: third.privateKey } }), { mode: 0o600 });
      host.on('getent', (argv) => (argv.at(-1) === 'thirduser' ? { exitCode: 0, stdout: 'thirduser:x:1003:1003::/home/x:/bin/sh\n', stderr: '' } : { exitCode: 2, stdout: '', stderr: '' }));
      const refused = await cli(['enroll', '/root/b3.json', '--user', 'thirduser']);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain("bundle.tunnel.subnet4: '10.77.0.0/24' overlaps this host's own network 10.77.0.0/24 on wg9");
    } finally {
      ADDRS.pop();
    }
  });

  it('--dns replaces a bad resolver and is the field named when it is bad itself', async () => {
    await host.writeFile('/root/b.json', bundleOf(base), { mode: 0o600 });
    const before = dumpMachine(host.machine);
    const r = await cli(['enroll', '/root/b.json', '--user', 'appuser', '--dns', '127.0.0.1']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("--dns: '127.0.0.1' a DNS server cannot be a loopback address");
    expect(dumpMachine(host.machine)).toBe(before);
  });
});
