// Enrolling from a wg-quick file on a FakeHost: keys copied 0600, the file untouched, hooks never run, AllowedIPs
// and IPv6 decided as documented, uninstall back to the start.
import { beforeEach, describe, expect, it } from 'vitest';
import { generateKeyPair } from '@egress/core/keys';
import { FakeHost, dumpMachine } from '@egress/core/testing';
import { runOn } from '../testing/fake-cli.js';

const server = generateKeyPair();
const me = generateKeyPair();
const psk = generateKeyPair().privateKey;

function conf(o: { allowed?: string; extra?: string } = {}): string {
  return [
    '# Example VPN - server 12',
    '[Interface]',
    `PrivateKey = ${me.privateKey}`,
    'Address = 10.66.0.2/32, fd66::2/128',
    'DNS = 10.66.0.1, fd66::1',
    ...(o.extra ? [o.extra] : []),
    '',
    '[Peer]',
    `PublicKey = ${server.publicKey}`,
    `PresharedKey = ${psk}`,
    'Endpoint = 198.51.100.2:51820',
    `AllowedIPs = ${o.allowed ?? '0.0.0.0/0, ::/0'}`,
    'PersistentKeepalive = 25',
    '',
  ].join('\r\n');
}

let host: FakeHost;
const cli = (argv: string[]) => runOn(host, argv);

beforeEach(() => {
  host = new FakeHost();
  host.machine.dirs.add('/etc/systemd').add('/etc/systemd/system');
  host.on('sh', () => ({ exitCode: 0, stdout: '', stderr: '' }));
  // `getent group` falls through to the fake's group database (enroll creates group egress, uninstall removes it).
  host.on('getent', (argv) => (argv[1] === 'group' ? undefined : argv.at(-1) === 'appuser' ? { exitCode: 0, stdout: 'appuser:x:1001:1001::/home/appuser:/bin/bash\n', stderr: '' } : { exitCode: 2, stdout: '', stderr: '' }));
});

describe('enroll FILE.conf', () => {
  it('copies both keys to 0600 files, never prints them, leaves the file as it was, and uninstall restores the host', async () => {
    const text = conf();
    await host.writeFile('/root/vpn.conf', text, { mode: 0o644 });
    const start = dumpMachine(host.machine);
    const r = await cli(['enroll', '/root/vpn.conf', '--user', 'appuser']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).not.toContain(me.privateKey);
    expect(r.stdout + r.stderr).not.toContain(psk);
    expect(host.calls.some((c) => c.argv.some((a) => a.includes(me.privateKey) || a.includes(psk)))).toBe(false);
    const m = host.machine;
    expect(m.files.get('/root/vpn.conf')).toMatchObject({ content: text, mode: 0o644 });
    expect(m.files.get('/etc/egress/vpn.key')).toMatchObject({ content: `${me.privateKey}\n`, mode: 0o600 });
    expect(m.files.get('/etc/egress/vpn.psk')).toMatchObject({ content: `${psk}\n`, mode: 0o600 });
    const wg = m.files.get('/etc/wireguard/egress0.conf')!.content;
    expect(wg).toContain('Address = 10.66.0.2/32, fd66::2/128\n');
    expect(wg).toContain(`PostUp = wg set %i peer ${server.publicKey} preshared-key /etc/egress/vpn.psk\n`);
    expect(wg).toContain('AllowedIPs = 0.0.0.0/0, ::/0\n');
    const state = JSON.parse(m.files.get('/etc/egress/client.json')!.content);
    expect(state.egresses[0]).toMatchObject({ name: 'vpn', kind: 'wireguard', address4: '10.66.0.2', address6: 'fd66::2', dns: ['10.66.0.1', 'fd66::1'] });
    expect(state.egresses[0].wireguard.allowedIps).toBeUndefined();
    const again = await cli(['enroll', '/root/vpn.conf', '--user', 'appuser', '--json']);
    expect(JSON.parse(again.stdout)).toMatchObject({ changed: false, steps: [] });
    const u = await cli(['uninstall', 'vpn']);
    expect(u.code, u.stderr).toBe(0);
    expect(dumpMachine(host.machine)).toBe(start);
  });

  it('re-enrolling a file with a new PresharedKey rewrites the 0600 file and loads it into the running tunnel from the file', async () => {
    await host.writeFile('/root/vpn.conf', conf(), { mode: 0o600 });
    expect((await cli(['enroll', '/root/vpn.conf', '--user', 'appuser'])).code).toBe(0);
    host.on('wg', (argv) => (argv[1] === 'set' ? { exitCode: 0, stdout: '', stderr: '' } : undefined)); // FakeHost's wg lacks `set`
    const psk2 = generateKeyPair().privateKey;
    await host.writeFile('/root/vpn.conf', conf().replace(psk, psk2), { mode: 0o600 });
    const calls = host.calls.length;
    const r = await cli(['enroll', '/root/vpn.conf', '--user', 'appuser']);
    expect(r.code, r.stderr).toBe(0);
    expect(host.machine.files.get('/etc/egress/vpn.psk')).toMatchObject({ content: `${psk2}\n`, mode: 0o600 });
    const argvs = host.calls.slice(calls).map((c) => c.argv.join(' '));
    expect(argvs).toContain(`wg set egress0 peer ${server.publicKey} preshared-key /etc/egress/vpn.psk`);
    expect(argvs.some((a) => a.includes(psk2))).toBe(false);
    expect(r.stdout + r.stderr).not.toContain(psk2);
  });

  it('with narrow IPv4-only AllowedIPs: routes only those networks, refuses IPv6 (no IPv6 address), says so', async () => {
    await host.writeFile('/root/corp.conf', conf({ allowed: '10.0.0.0/8, 192.0.2.0/24' }), { mode: 0o600 });
    const r = await cli(['enroll', '/root/corp.conf', '--user', 'appuser']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('carries only 10.0.0.0/8, 192.0.2.0/24 (other destinations refused)');
    expect(r.stdout).toContain('IPv6 refused for the selected apps: AllowedIPs carry no IPv6 network');
    const state = JSON.parse(host.machine.files.get('/etc/egress/client.json')!.content);
    expect(state.egresses[0].address6).toBeUndefined();
    expect(state.egresses[0].dns).toEqual(['10.66.0.1']);
    expect(state.egresses[0].wireguard.allowedIps).toEqual(['10.0.0.0/8', '192.0.2.0/24']);
    const routes = host.machine.routes.filter((x) => x.table === 7100);
    expect(routes.map((x) => `${x.family} ${x.dst}`).sort()).toEqual(['4 10.0.0.0/8', '4 192.0.2.0/24']);
    expect(host.machine.rules.filter((x) => x.family === 6 && x.priority >= 7100 && x.priority <= 7109).every((x) => x.action === 'unreachable')).toBe(true);
  });

  it('--outside-allowed direct: prohibit routes under the allowed networks, no IPv4 prohibit fallback, kept while down', async () => {
    await host.writeFile('/root/corp.conf', conf({ allowed: '10.0.0.0/8' }), { mode: 0o600 });
    const r = await cli(['enroll', '/root/corp.conf', '--user', 'appuser', '--outside-allowed', 'direct']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('carries only 10.0.0.0/8 (other destinations go direct)');
    const state = JSON.parse(host.machine.files.get('/etc/egress/client.json')!.content);
    expect(state.egresses[0].wireguard.outsideAllowed).toBe('direct');
    const routes = () => host.machine.routes.filter((x) => x.table === 7100).map((x) => `${x.dst} ${x.type ?? 'unicast'}`).sort();
    expect(routes()).toEqual(['10.0.0.0/8 prohibit', '10.0.0.0/8 unicast']);
    expect(host.machine.rules.filter((x) => x.family === 4 && x.action === 'prohibit')).toEqual([]);
    expect((await cli(['down', 'corp'])).code).toBe(0);
    expect(routes()).toEqual(['10.0.0.0/8 prohibit']);
    expect((await cli(['up', 'corp'])).code).toBe(0);
    expect(routes()).toEqual(['10.0.0.0/8 prohibit', '10.0.0.0/8 unicast']);
  });

  it.each(['PreUp', 'PostUp', 'PreDown', 'PostDown'])('refuses a file with %s, naming it, running nothing and changing nothing', async (hook) => {
    await host.writeFile('/root/hook.conf', conf({ extra: `${hook} = touch /tmp/pwned` }), { mode: 0o600 });
    const before = dumpMachine(host.machine);
    const calls = host.calls.length;
    const r = await cli(['enroll', '/root/hook.conf', '--user', 'appuser']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`hook.conf line 6: ${hook}: shell hooks (${hook} at line 6) would run commands as root`);
    expect(r.stderr).toContain(`hint: remove the ${hook} lines`);
    expect(host.calls.slice(calls).some((c) => c.argv.join(' ').includes('pwned'))).toBe(false);
    expect(host.calls.slice(calls).filter((c) => c.change)).toEqual([]);
    expect(dumpMachine(host.machine)).toBe(before);
  });

  it('says Table, FwMark and SaveConfig are ignored, and refuses a second peer and --outside-allowed direct', async () => {
    await host.writeFile('/root/t.conf', conf({ extra: 'Table = 1234\nFwMark = 0x99\nSaveConfig = true' }), { mode: 0o600 });
    const r = await cli(['enroll', '/root/t.conf', '--user', 'appuser', '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('t.conf: Table (line 6), FwMark (line 7), SaveConfig (line 8) ignored');
    await host.writeFile('/root/two.conf', `${conf()}[Peer]\nPublicKey = ${generateKeyPair().publicKey}\n`, { mode: 0o600 });
    const two = await cli(['enroll', '/root/two.conf', '--user', 'appuser']);
    expect(two.stderr).toContain('two.conf line 13: [Peer]: expected one [Peer] section (an egress goes to one server), got 2');
    const d = await cli(['enroll', '/root/t.conf', '--user', 'appuser', '--outside-allowed', 'direct']);
    expect(d.code).not.toBe(0);
    expect(d.stderr).toContain('t.conf line 14: AllowedIPs: --outside-allowed direct: AllowedIPs = 0.0.0.0/0, ::/0 cover every destination');
    const bad = await cli(['enroll', '/root/t.conf', '--user', 'appuser', '--outside-allowed', 'sometimes']);
    expect(bad.stderr).toContain("--outside-allowed: expected 'refuse' (the default) or 'direct', got 'sometimes'");
  });
});
