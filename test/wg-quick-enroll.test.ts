// Enroll from a provider-style wg-quick file in the lab: the VPS is a plain `wg-quick` server with a hand-written nft
// masquerade (no egress-server at all). run-as, exec and run are seen with the VPS's address, DNS goes through the
// tunnel, the kill switch holds, narrow AllowedIPs carry only their network, a PostUp hook is refused and never run,
// and uninstall leaves the client as before.
import { randomBytes } from 'node:crypto';
import { startLab, type Lab } from '@egress/lab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, clientSnapshot, killClientWireguardGo } from './client-helpers.js';

const NAME = `wgq-${randomBytes(3).toString('hex')}`;
const CONF = '/root/examplevpn-fra12.conf';
const SUDO_OTHERUSER = { SUDO_UID: '1002', SUDO_GID: '1002', SUDO_USER: 'otheruser' };
let lab: Lab;
let before: Record<string, string>;
let keys: { server: { priv: string; pub: string }; client: { priv: string; pub: string }; psk: string };

async function vps(script: string): Promise<string> {
  const r = await lab.exec('vps', ['sh', '-c', script], { timeoutMs: 60_000 });
  expect(r.exitCode, `${script}\n${r.stderr}`).toBe(0);
  return r.stdout.trim();
}

async function keyPair(): Promise<{ priv: string; pub: string }> {
  const priv = await vps('wg genkey');
  const pub = (await lab.exec('vps', ['wg', 'pubkey'], { stdin: `${priv}\n`, check: true })).stdout.trim();
  return { priv, pub };
}

/** The client file as a provider hands it out: comments, both families, DNS, keepalive, CRLF. */
function providerConf(o: { allowed?: string; dns?: string; extra?: string[] } = {}): string {
  return [
    '# ExampleVPN - Frankfurt #12',
    '# Generated for account 4711 on 2026-11-30. Keep this file private.',
    '[Interface]',
    `PrivateKey = ${keys.client.priv}`,
    'Address = 10.99.0.2/32, fd99::2/128',
    `DNS = ${o.dns ?? `${lab.addr.dnsV4}, ${lab.addr.dnsV6}`}`,
    ...(o.extra ?? []),
    '',
    '[Peer]',
    '# fra12.examplevpn.test',
    `PublicKey = ${keys.server.pub}`,
    `PresharedKey = ${keys.psk}`,
    `Endpoint = ${lab.addr.vpsV4}:51820`,
    `AllowedIPs = ${o.allowed ?? '0.0.0.0/0, ::/0'}`,
    'PersistentKeepalive = 25',
    '',
  ].join('\r\n');
}

beforeAll(async () => {
  lab = await startLab({ name: 'wg-quick-enroll' });
  before = await clientSnapshot(lab);
  keys = { server: await keyPair(), client: await keyPair(), psk: await vps('wg genpsk') };
  // A WireGuard server made by hand: wg-quick, forwarding, one nft masquerade table. No egress-server.
  const serverConf = [
    '[Interface]',
    'Address = 10.99.0.1/24, fd99::1/64',
    'ListenPort = 51820',
    `PrivateKey = ${keys.server.priv}`,
    '',
    '[Peer]',
    `PublicKey = ${keys.client.pub}`,
    `PresharedKey = ${keys.psk}`,
    'AllowedIPs = 10.99.0.2/32, fd99::2/128',
    '',
  ].join('\n');
  await lab.writeFile('vps', '/etc/wireguard/wg0.conf', serverConf, '0600');
  await vps('wg-quick up wg0 2>&1');
  await vps('sysctl -q -w net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1');
  await lab.exec('vps', ['nft', '-f', '-'], {
    stdin: 'table inet byhand {\n  chain post {\n    type nat hook postrouting priority 100;\n    oifname "eth0" ip saddr 10.99.0.0/24 masquerade\n    oifname "eth0" ip6 saddr fd99::/64 masquerade\n  }\n}\n',
    check: true,
  });
  await lab.writeFile('client', CONF, providerConf(), '0644');
}, 240_000);

afterAll(async () => {
  // uninstall removes egress/NAME from the cgroup2 hierarchy, which outlives the lab (it is the machine's).
  if (lab) {
    await client(lab, ['uninstall', NAME]).catch(() => undefined);
    await client(lab, ['uninstall', 'corp']).catch(() => undefined);
    await client(lab, ['uninstall', 'corpd']).catch(() => undefined);
  }
  await lab?.down();
});

const runAs = (user: string) => [...lab.egressClientArgv, 'run-as', user, '--'];

async function digAs(user: string, args: string[]): Promise<string> {
  const r = await lab.exec('client', ['dig', '+short', '+time=3', '+tries=2', ...args, 'TXT', 'asker.egress.test'], { user, timeoutMs: 20_000 });
  expect(r.exitCode, r.stderr).toBe(0);
  return r.stdout.trim().replace(/"/g, '');
}

describe('enroll a wg-quick file from a plain WireGuard server (lab)', () => {
  it('refuses a file with PostUp and never runs it; nothing changes', async () => {
    await lab.writeFile('client', '/root/hooked.conf', providerConf({ extra: ['PostUp = touch /root/pwned-by-hook', 'PreDown = touch /root/pwned-by-hook'] }), '0600');
    const r = await client(lab, ['enroll', '/root/hooked.conf', '--user', 'appuser', '--name', 'hooked']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('hooked.conf line 7: PostUp: shell hooks (PostUp at line 7, PreDown at line 8) would run commands as root');
    expect(r.stderr).toContain('hint: remove the PostUp/PreDown lines');
    expect((await lab.exec('client', ['test', '-e', '/root/pwned-by-hook'])).exitCode).toBe(1);
    expect(await clientSnapshot(lab)).toEqual(before);
  });

  it('refuses well-formed but wrong .conf files and bundles (semantic checks) naming field and value; nothing changes', async () => {
    const good = providerConf();
    const cases: Array<[string, string, RegExp]> = [
      [good.replace('Address = 10.99.0.2/32', `Address = ${lab.addr.clientV4}/32`), 'line 5: Address', /'192\.0\.2\.2' is already an address of this host \(eth0\)/],
      [good.replace('Address = 10.99.0.2/32', 'Address = 192.0.2.77/24'), 'line 5: Address', /overlaps this host's own network 192\.0\.2\.0\/25 on eth0/],
      [good.replace(`Endpoint = ${lab.addr.vpsV4}:51820`, 'Endpoint = 127.0.0.1:51820'), 'line 12: Endpoint', /the server cannot be reached at a loopback address/],
      [good.replace(/DNS = .*/, 'DNS = 127.0.0.53'), 'line 6: DNS', /'127\.0\.0\.53' a DNS server cannot be a loopback address/],
      [good.replace(`PublicKey = ${keys.server.pub}`, `PublicKey = ${keys.client.pub}`), 'line 10: PublicKey', /client's own public key/],
    ];
    for (const [text, at, why] of cases) {
      await lab.writeFile('client', '/root/wrong.conf', text, '0600');
      const r = await client(lab, ['enroll', '/root/wrong.conf', '--user', 'appuser']);
      expect(r.exitCode, r.stderr).toBe(2);
      expect(r.stderr).toContain(`wrong.conf ${at}:`);
      expect(r.stderr).toMatch(why);
      expect(r.stderr).toContain('nothing was changed');
      expect(r.stderr).not.toContain(keys.client.priv);
    }
    // The same checks for an egress bundle.
    const bundle = (client4: string, subnet4: string, dns: string[]) => JSON.stringify({
      version: 1, kind: 'egress-bundle', name: 'wrong',
      server: { endpoint: `${lab.addr.vpsV4}:51820`, publicKey: keys.server.pub, address4: '10.99.0.1' },
      client: { address4: client4, publicKey: keys.client.pub, privateKey: keys.client.priv },
      tunnel: { subnet4, mtu: 1420, persistentKeepalive: 25 }, dns, forwards: [],
    });
    const bundles: Array<[string, string, RegExp]> = [
      [bundle('10.99.0.255', '10.99.0.0/24', []), 'bundle.client.address4', /broadcast address of 10\.99\.0\.0\/24/],
      [bundle('10.99.0.2', '0.0.0.0/0', []), 'bundle.tunnel.subnet4', /whole internet/],
      [bundle('10.99.0.2', '10.99.0.0/24', ['224.0.0.251']), 'bundle.dns[0]', /a DNS server cannot be a multicast address/],
    ];
    for (const [text, field, why] of bundles) {
      await lab.writeFile('client', '/root/wrong.json', text, '0600');
      const r = await client(lab, ['enroll', '/root/wrong.json', '--user', 'appuser']);
      expect(r.exitCode, r.stderr).toBe(2);
      expect(r.stderr).toContain(`${field}:`);
      expect(r.stderr).toMatch(why);
    }
    await lab.exec('client', ['rm', '-f', '/root/wrong.conf', '/root/wrong.json']);
    expect(await clientSnapshot(lab)).toEqual(before);
  });

  it('enrolls the provider file: run-as, exec and run are seen with the VPS address (v4 and v6); the file and keys stay private', async () => {
    const original = await lab.readFile('client', CONF);
    const r = await client(lab, ['enroll', CONF, '--user', 'appuser', '--name', NAME]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain(`enrolled egress ${NAME}`);
    expect(r.stdout + r.stderr).not.toContain(keys.client.priv);
    expect(r.stdout + r.stderr).not.toContain(keys.psk);
    expect(await lab.readFile('client', CONF)).toBe(original);
    const modes = await lab.exec('client', ['stat', '-c', '%a %n', `/etc/egress/${NAME}.key`, `/etc/egress/${NAME}.psk`], { check: true });
    expect(modes.stdout).toBe(`600 /etc/egress/${NAME}.key\n600 /etc/egress/${NAME}.psk\n`);
    // The handshake used the PresharedKey (the server would drop every packet without it).
    const hs = await lab.exec('vps', ['wg', 'show', 'wg0', 'latest-handshakes'], { check: true });
    expect(Number(hs.stdout.trim().split(/\s+/)[1])).toBeGreaterThan(0);

    for (const udp of [false, true]) {
      expect(await lab.probe('client', { udp, prefix: runAs('appuser') })).toBe(lab.addr.vpsV4);
      expect(await lab.probe('client', { udp, v6: true, prefix: runAs('appuser') })).toBe(lab.addr.vpsV6);
    }
    expect(await lab.probe('client', {})).toBe(lab.addr.clientV4);
    const exec = [...lab.egressClientArgv, 'exec', '--egress', NAME, '--'];
    // As root (always allowed): since issue 18 otheruser would first need `allow` (which changes /etc/group).
    expect(await lab.probe('client', { prefix: exec })).toBe(lab.addr.vpsV4);
    const run = [...lab.egressClientArgv, 'run', '--egress', NAME, '--', ...lab.probeArgv()];
    const ran = await lab.exec('client', run, { env: SUDO_OTHERUSER, timeoutMs: 30_000 });
    expect(ran.exitCode, ran.stderr).toBe(0);
    expect(ran.stdout.trim().split('\n').pop()).toBe(lab.addr.vpsV4);
  });

  it("sends appuser's DNS through the tunnel (the file's resolver, also via 127.0.0.53)", async () => {
    expect(await digAs('appuser', [])).toBe(lab.addr.vpsV4);
    expect(await digAs('appuser', ['@127.0.0.53'])).toBe(lab.addr.vpsV4);
    expect(await digAs('appuser', [`@${lab.addr.dnsV4}`])).toBe(lab.addr.vpsV4);
    expect(await digAs('root', [])).toBe(lab.addr.clientV4);
  });

  it('status and doctor work for it as for a bundle egress', async () => {
    const s = await client(lab, ['status', '--json']);
    expect(s.exitCode, s.stderr).toBe(0);
    expect(s.stdout).toContain(NAME);
    const d = await client(lab, ['doctor', NAME]);
    expect(d.exitCode, d.stdout + d.stderr).toBe(0);
    expect(d.stdout + d.stderr).toContain('private key');
    const down = await client(lab, ['down', NAME]);
    expect(down.exitCode, down.stderr).toBe(0);
    const refused = await lab.exec('client', lab.probeArgv(), { user: 'appuser', timeoutMs: 15_000 });
    expect(refused.exitCode).not.toBe(0);
    const up = await client(lab, ['up', NAME]);
    expect(up.exitCode, up.stderr).toBe(0);
    expect(await lab.probe('client', { prefix: runAs('appuser') })).toBe(lab.addr.vpsV4);
    expect(d.stdout + d.stderr).not.toContain(keys.client.priv);
  });

  it('holds the kill switch when the tunnel dies: nothing of appuser leaves by an uplink; up restores', async () => {
    await killClientWireguardGo(lab);
    const filter = `host ${lab.addr.whoamiV4} or host ${lab.addr.whoamiV6} or port 53`;
    const caps = [await lab.capture('client', 'eth0', filter), await lab.capture('client', 'wlan0', filter)];
    for (const argv of [lab.probeArgv(), lab.probeArgv({ udp: true }), lab.probeArgv({ v6: true }), ['dig', '+time=2', '+tries=1', 'TXT', 'asker.egress.test']]) {
      const r = await lab.exec('client', argv, { user: 'appuser', timeoutMs: 15_000 });
      const failed = r.exitCode !== 0 || /timed out|refused|unreachable|not permitted|EACCES|ENETUNREACH/i.test(r.stdout + r.stderr);
      expect(failed, `${argv.join(' ')} succeeded with the tunnel dead: ${r.stdout}`).toBe(true);
    }
    expect((await Promise.all(caps.map((c) => c.stop()))).flat()).toEqual([]);
    const up = await client(lab, ['up', NAME]);
    expect(up.exitCode, up.stderr).toBe(0);
    expect(await lab.probe('client', { prefix: runAs('appuser') })).toBe(lab.addr.vpsV4);
  });

  it('uninstall leaves the client exactly as before enroll', async () => {
    const u = await client(lab, ['uninstall', NAME]);
    expect(u.exitCode, u.stderr).toBe(0);
    await lab.exec('client', ['rm', '-f', '/root/hooked.conf']);
    expect(await clientSnapshot(lab)).toEqual(before);
  });

  it('with AllowedIPs of one network: carries traffic to it, refuses the rest (0 packets on the uplinks), IPv6 refused', async () => {
    await lab.writeFile('client', '/root/corp.conf', providerConf({ allowed: `${lab.addr.dnsV4}/32`, dns: lab.addr.dnsV4 }), '0600');
    const r = await client(lab, ['enroll', '/root/corp.conf', '--user', 'appuser']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain(`carries only ${lab.addr.dnsV4}/32 (other destinations refused)`);
    expect(r.stdout).toContain('IPv6 refused for the selected apps');
    // Inside AllowedIPs: through the tunnel.
    expect(await digAs('appuser', [`@${lab.addr.dnsV4}`])).toBe(lab.addr.vpsV4);
    // Outside: refused, and not one packet of appuser's on either uplink.
    const filter = `host ${lab.addr.whoamiV4} or host ${lab.addr.whoamiV6}`;
    const caps = [await lab.capture('client', 'eth0', filter), await lab.capture('client', 'wlan0', filter)];
    for (const argv of [lab.probeArgv(), lab.probeArgv({ udp: true }), lab.probeArgv({ v6: true }), lab.probeArgv({ v6: true, udp: true })]) {
      const p = await lab.exec('client', argv, { user: 'appuser', timeoutMs: 15_000 });
      expect(p.exitCode, `${argv.join(' ')}: ${p.stdout}`).not.toBe(0);
    }
    expect((await Promise.all(caps.map((c) => c.stop()))).flat()).toEqual([]);
    const d = await client(lab, ['doctor', 'corp']);
    expect(d.exitCode, d.stdout + d.stderr).toBe(0);
    // Control: root still reaches whoami directly, and the capture would have seen it.
    const ctl = await lab.capture('client', 'eth0', filter);
    expect(await lab.probe('client', {})).toBe(lab.addr.clientV4);
    expect((await ctl.stop()).length).toBeGreaterThan(0);
    const u = await client(lab, ['uninstall', 'corp']);
    expect(u.exitCode, u.stderr).toBe(0);
    await lab.exec('client', ['rm', '-f', '/root/corp.conf']);
    expect(await clientSnapshot(lab)).toEqual(before);
  });
  it('--outside-allowed direct: AllowedIPs through the tunnel (refused when it dies, 0 packets), other destinations direct, IPv6 refused', async () => {
    await lab.writeFile('client', '/root/corpd.conf', providerConf({ allowed: `${lab.addr.dnsV4}/32`, dns: lab.addr.dnsV4 }), '0600');
    const r = await client(lab, ['enroll', '/root/corpd.conf', '--user', 'appuser', '--outside-allowed', 'direct']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain(`carries only ${lab.addr.dnsV4}/32 (other destinations go direct)`);
    const doc = await client(lab, ['doctor', 'corpd']);
    expect(doc.exitCode, doc.stdout + doc.stderr).toBe(0);
    expect(await digAs('appuser', [`@${lab.addr.dnsV4}`])).toBe(lab.addr.vpsV4);
    expect(await lab.probe('client', { user: 'appuser' })).toBe(lab.addr.clientV4);
    const v6 = await lab.exec('client', lab.probeArgv({ v6: true }), { user: 'appuser', timeoutMs: 15_000 });
    expect(v6.exitCode).not.toBe(0);
    // The tunnel dies: traffic to AllowedIPs is refused and never leaves by an uplink; the rest still goes direct.
    await killClientWireguardGo(lab);
    const caps = [await lab.capture('client', 'eth0', `host ${lab.addr.dnsV4}`), await lab.capture('client', 'wlan0', `host ${lab.addr.dnsV4}`)];
    for (const args of [[`@${lab.addr.dnsV4}`], ['+tcp', `@${lab.addr.dnsV4}`]]) {
      const d = await lab.exec('client', ['dig', '+short', '+time=2', '+tries=1', ...args, 'TXT', 'asker.egress.test'], { user: 'appuser', timeoutMs: 15_000 });
      expect(d.exitCode !== 0 || /timed out|refused|unreachable|not permitted/i.test(d.stdout + d.stderr), `dig ${args.join(' ')} answered with the tunnel dead: ${d.stdout}`).toBe(true);
    }
    expect((await Promise.all(caps.map((c) => c.stop()))).flat()).toEqual([]);
    expect(await lab.probe('client', { user: 'appuser' })).toBe(lab.addr.clientV4);
    const up = await client(lab, ['up', 'corpd']);
    expect(up.exitCode, up.stderr).toBe(0);
    expect(await digAs('appuser', [`@${lab.addr.dnsV4}`])).toBe(lab.addr.vpsV4);
    const u = await client(lab, ['uninstall', 'corpd']);
    expect(u.exitCode, u.stderr).toBe(0);
    await lab.exec('client', ['rm', '-f', '/root/corpd.conf']);
    expect(await clientSnapshot(lab)).toEqual(before);
  });
});
