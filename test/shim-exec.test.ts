// `egress-client exec` end to end: an ordinary user's dynamically linked app goes through the egress by the
// LD_PRELOAD shim (TCP, UDP, IPv6, DNS) while the same user's other processes go direct; static programs are
// warned about; with the tunnel down the app's traffic fails and nothing of it reaches an uplink.
import { randomBytes } from 'node:crypto';
import { startLab, type Lab } from '@egress/lab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allowUser, client, enroll, provision, tearDownClientLab, waitUntil } from './client-helpers.js';

// The cgroup2 hierarchy is shared by every lab on the machine: a unique egress name keeps ours apart.
const NAME = `shim-${randomBytes(3).toString('hex')}`;
let lab: Lab;
let exec: string[];

beforeAll(async () => {
  lab = await startLab({ name: 'shim-exec' });
  await provision(lab, []);
  await enroll(lab, ['--name', NAME]);
  // Since issue 18 only allowed users may send from the egress address (exec).
  await allowUser(lab, 'otheruser', NAME);
  exec = [...lab.egressClientArgv, 'exec', '--egress', NAME, '--'];
}, 240_000);

// uninstall removes egress/NAME from the cgroup2 hierarchy, which outlives the lab (it is the machine's).
afterAll(() => tearDownClientLab(lab, { egress: NAME }));

/** The probe's argv as one shell word list (paths have no spaces). */
function probeShell(opts: { v6?: boolean; udp?: boolean } = {}): string {
  return [...lab.probeArgv(opts), '1500'].join(' ');
}

describe('egress-client exec (LD_PRELOAD shim) in the lab', () => {
  it('reads only the 0644 public facts: an ordinary user can read them, not the state', async () => {
    const facts = await lab.exec('client', ['stat', '-c', '%a %U', `/etc/egress/public/${NAME}.json`, '/etc/egress/public', '/etc/egress/client.json']);
    expect(facts.stdout.trim().split('\n')).toEqual(['644 root', '755 root', '600 root']);
    const json = JSON.parse((await lab.exec('client', ['cat', `/etc/egress/public/${NAME}.json`], { user: 'otheruser', check: true })).stdout);
    expect(json).toMatchObject({ version: 1, name: NAME, kind: 'wireguard', interface: 'egress0', dns: [lab.addr.dnsV4, lab.addr.dnsV6] });
    expect((await lab.exec('client', ['cat', '/etc/egress/client.json'], { user: 'otheruser' })).exitCode).not.toBe(0);
  });

  it('sends TCP, UDP and IPv6 of the app through the VPS while the same user is seen directly at the same time', async () => {
    const [tcp, direct, udp, v6, v6udp, directV6] = await Promise.all([
      lab.probe('client', { user: 'otheruser', prefix: exec }),
      lab.probe('client', { user: 'otheruser' }),
      lab.probe('client', { user: 'otheruser', udp: true, prefix: exec }),
      lab.probe('client', { user: 'otheruser', v6: true, prefix: exec }),
      lab.probe('client', { user: 'otheruser', v6: true, udp: true, prefix: exec }),
      lab.probe('client', { user: 'otheruser', v6: true }),
    ]);
    expect({ tcp, udp, v6, v6udp }).toEqual({ tcp: lab.addr.vpsV4, udp: lab.addr.vpsV4, v6: lab.addr.vpsV6, v6udp: lab.addr.vpsV6 });
    expect({ direct, directV6 }).toEqual({ direct: lab.addr.clientV4, directV6: lab.addr.clientV6 });
  });

  it("resolves the app's names through the egress (the DNS server sees the VPS), the user's other lookups directly", async () => {
    const lookup = (name: string) => [process.execPath, '-e', `require('dns').lookup(${JSON.stringify(name)}, { all: true }, (e, a) => { if (e) { console.error(e.code); process.exit(1); } console.log(a.map((x) => x.address).sort().join(' ')); })`];
    const viaShim = await lab.exec('client', [...exec, ...lookup('client.egress.test')], { user: 'otheruser' });
    expect(viaShim.exitCode, viaShim.stderr).toBe(0);
    expect(viaShim.stdout.trim()).toBe(`${lab.addr.clientV4} ${lab.addr.clientV6}`);
    const direct = await lab.exec('client', lookup('vps.egress.test'), { user: 'otheruser' });
    expect(direct.exitCode, direct.stderr).toBe(0);
    const queries = await lab.dnsQueries();
    const from = (name: string) => [...new Set(queries.filter((q) => q.name === name).map((q) => q.from))];
    expect(from('client.egress.test')).toEqual([lab.addr.vpsV4]);
    expect(from('vps.egress.test')).toEqual([lab.addr.clientV4]);
  });

  it('sends the DNS of a program with its own resolver (dig) through the egress too', async () => {
    const viaShim = await lab.exec('client', [...exec, 'dig', '+short', '+time=3', '+tries=2', 'TXT', 'asker.egress.test'], { user: 'otheruser' });
    expect(viaShim.exitCode, viaShim.stderr).toBe(0);
    expect(viaShim.stdout.trim()).toBe(`"${lab.addr.vpsV4}"`);
    const direct = await lab.exec('client', ['dig', '+short', '+time=3', '+tries=2', 'TXT', 'asker.egress.test'], { user: 'otheruser' });
    expect(direct.stdout.trim()).toBe(`"${lab.addr.clientV4}"`);
  });

  it('prepends the shim to an existing LD_PRELOAD and passes exit codes through', async () => {
    const r = await lab.exec('client', [...exec, 'sh', '-c', 'echo "$LD_PRELOAD|$EGRESS_BIND_IFACE"; exit 7'], { user: 'otheruser', env: { LD_PRELOAD: '/usr/lib/x86_64-linux-gnu/libc.so.6' } });
    expect(r.exitCode).toBe(7);
    expect(r.stdout.trim()).toMatch(/^\/\S+\/packages\/shim\/build\/libegress-shim\.so:\/usr\/lib\/x86_64-linux-gnu\/libc\.so\.6\|egress0$/);
  });

  it('refuses a statically linked program and points to run (launch-cover.test.ts covers Go, wrappers and the override)', async () => {
    await lab.exec('client', ['cc', '-static', '-O2', '-o', '/tmp/static-true', '-x', 'c', '-'], { stdin: 'int main(void){return 0;}\n', check: true });
    const r = await lab.exec('client', [...exec, '/tmp/static-true'], { user: 'otheruser' });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain('error: exec: refusing to start /tmp/static-true: /tmp/static-true is statically linked: the LD_PRELOAD shim cannot send its traffic through egress');
    expect(r.stderr).toContain(`egress-client run --egress ${NAME} -- /tmp/static-true`);
  });

  it('refuses a missing egress by name, before running anything', async () => {
    const r = await lab.exec('client', [...lab.egressClientArgv, 'exec', '--egress', 'nosuch', '--', 'touch', '/tmp/ran'], { user: 'otheruser' });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain(`--egress: no egress named 'nosuch' (enrolled: ${NAME})`);
    expect((await lab.exec('client', ['test', '-e', '/tmp/ran'])).exitCode).not.toBe(0);
  });

  it('kill switch: with the tunnel taken down the running app fails and none of its packets reach an uplink', async () => {
    const loop = lab.spawn('client', [...exec, 'sh', '-c', `while :; do ${probeShell()} || echo fail; ${probeShell({ udp: true })} || echo fail; sleep 0.2; done`], { user: 'otheruser' });
    await waitUntil('the looping app to reach whoami through the VPS', 20_000, () => loop.output().includes(lab.addr.vpsV4));
    const filter = `host ${lab.addr.whoamiV4} or host ${lab.addr.whoamiV6} or port 53`;
    const caps = [await lab.capture('client', 'eth0', filter), await lab.capture('client', 'wlan0', filter)];
    const down = await client(lab, ['down', NAME]);
    expect(down.exitCode, down.stderr).toBe(0);
    const mark = loop.output().length;
    await waitUntil('four failed attempts after down', 30_000, () => (loop.output().slice(mark).match(/^fail$/gm) ?? []).length >= 4);
    const after = loop.output().slice(mark);
    expect(after).not.toContain(lab.addr.clientV4);
    expect(after).not.toContain(lab.addr.clientWlanV4);
    // The shim refuses to bind to an address that is gone: ENETUNREACH, not a direct connection.
    expect(after).toMatch(/ENETUNREACH/);
    loop.kill('SIGTERM');
    await loop.exited;
    expect((await Promise.all(caps.map((c) => c.stop()))).flat()).toEqual([]);

    // exec itself refuses while the egress is down, and works again after up.
    const refused = await lab.exec('client', [...exec, 'true'], { user: 'otheruser' });
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stderr).toContain(`egress '${NAME}' is down: interface egress0 does not exist`);
    const up = await client(lab, ['up', NAME]);
    expect(up.exitCode, up.stderr).toBe(0);
    let seen = '';
    for (let i = 0; i < 20 && seen !== lab.addr.vpsV4; i++) seen = await lab.probe('client', { user: 'otheruser', prefix: exec }).catch(() => '');
    expect(seen).toBe(lab.addr.vpsV4);
  });
});
