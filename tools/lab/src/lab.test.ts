// The lab's own end-to-end tests: real namespaces, veths, sshd, DNS and whoami (needs root).
import { readFileSync, existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LAB_ADDR } from './addresses.js';
import type { Lab } from './lab.js';
import { labDir } from './paths.js';
import { nsOf, pidsInNamespaces } from './procs.js';
import { rootSnapshot, withoutForeignNetns, type RootSnapshot } from './root-snapshot.js';
import { startLab } from './start.js';
import { BACKPORTS_WIREGUARD_GO, HOST_SYSTEM_WIREGUARD_GO } from './wireguard-go.js';

const NAME = `labt-${process.pid}`;
let lab: Lab;
let before: RootSnapshot;

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('the lab tests need root (they build network namespaces): run them as root, as .ci/run does');
  before = await rootSnapshot();
  lab = await startLab({ name: NAME });
}, 60_000);

afterAll(async () => {
  await lab?.down();
});

describe('lab hosts and links', () => {
  it('whoami sees each host by its own uplink address, v4 and v6, tcp and udp', async () => {
    expect(await lab.probe('client')).toBe('192.0.2.2');
    expect(await lab.probe('vps')).toBe('198.51.100.2');
    expect(await lab.probe('client', { v6: true })).toBe('2001:db8:2::2');
    expect(await lab.probe('vps', { v6: true })).toBe('2001:db8:100::2');
    expect(await lab.probe('client', { udp: true })).toBe('192.0.2.2');
    expect(await lab.probe('vps', { udp: true, v6: true })).toBe('2001:db8:100::2');
  });

  it('vps and client run the offload-capable wireguard-go from the setup cache (wg-quick starts /usr/bin/wireguard-go); the system one stays runnable', async () => {
    // tools/setup.sh fetches it on Debian 12 (as .ci/run does); without it this test says so instead of passing.
    expect(existsSync(BACKPORTS_WIREGUARD_GO), `${BACKPORTS_WIREGUARD_GO} missing: run tools/setup.sh`).toBe(true);
    expect(lab.wireguardGo).toBe(BACKPORTS_WIREGUARD_GO);
    for (const h of ['vps', 'client'] as const) {
      const r = await lab.exec(h, ['sh', '-c', `readlink -f /usr/bin/wireguard-go; ${HOST_SYSTEM_WIREGUARD_GO} --version | head -1`], { check: true });
      const [first, system] = r.stdout.trim().split('\n');
      expect(first).toBe(BACKPORTS_WIREGUARD_GO);
      expect(system).toBe('wireguard-go v0.0.20220316'); // Debian 12's own, still runnable
    }
    const v = await lab.exec('client', ['wireguard-go', '--version'], { check: true });
    expect(v.stdout.split('\n')[0]).toBe('wireguard-go v0.0.20230223'); // Debian's 0.0.20231211 build reports its upstream version.go
  });

  it('appuser and otheruser exist only in the client and can run the probe', async () => {
    expect(await lab.probe('client', { user: 'appuser' })).toBe('192.0.2.2');
    const id = await lab.exec('client', ['sh', '-c', 'id -un; echo $HOME; pwd'], { user: 'appuser', check: true });
    expect(id.stdout).toBe('appuser\n/home/appuser\n/\n');
    const other = await lab.exec('client', ['id', '-u', 'otheruser'], { check: true });
    expect(Number(other.stdout.trim())).toBeGreaterThanOrEqual(1000);
    expect((await lab.exec('vps', ['id', 'appuser'])).exitCode).not.toBe(0);
    expect(readFileSync('/etc/passwd', 'utf8')).not.toMatch(/^appuser:/m);
  });

  it('hosts reach each other over both address families', async () => {
    for (const [host, target] of [
      ['client', LAB_ADDR.vpsV4], ['client', LAB_ADDR.vpsV6], ['vps', LAB_ADDR.clientV4], ['vps', LAB_ADDR.clientV6],
      ['client', LAB_ADDR.whoamiV4], ['internet', LAB_ADDR.clientWlanV4], ['vps', LAB_ADDR.clientWlanV6],
    ] as const) {
      const r = await lab.exec(host, ['ping', '-c', '1', '-W', '2', target]);
      expect(r.exitCode, `${host} -> ${target}: ${r.stdout}${r.stderr}`).toBe(0);
    }
  });

  it('client has two uplinks with eth0 preferred and wlan0 as a second default route', async () => {
    const routes = (await lab.exec('client', ['ip', '-4', 'route', 'show', 'default'], { check: true })).stdout;
    expect(routes).toBe('default via 192.0.2.1 dev eth0 metric 100 \ndefault via 192.0.2.129 dev wlan0 metric 600 \n');
    const viaWlan = await lab.exec('client', ['ip', 'route', 'get', LAB_ADDR.whoamiV4, 'oif', 'wlan0'], { check: true });
    expect(viaWlan.stdout).toContain('via 192.0.2.129 dev wlan0 src 192.0.2.130');
  });

  it('the DNS server answers the test zone and logs which address asked', async () => {
    const a = await lab.exec('client', ['dig', '+short', '+time=2', '+tries=1', 'whoami.egress.test', 'A'], { check: true });
    expect(a.stdout).toBe('203.0.113.10\n');
    const aaaa = await lab.exec('vps', ['dig', '+short', '+tcp', '+time=2', '+tries=1', `@${LAB_ADDR.dnsV6}`, 'whoami.egress.test', 'AAAA'], { check: true });
    expect(aaaa.stdout).toBe('2001:db8:113::10\n');
    const asker = await lab.exec('client', ['dig', '+short', '+time=2', '+tries=1', 'asker.egress.test', 'TXT'], { user: 'appuser', check: true });
    expect(asker.stdout).toBe('"192.0.2.2"\n');
    const nx = await lab.exec('client', ['dig', '+time=2', '+tries=1', 'nope.egress.test'], { check: true });
    expect(nx.stdout).toContain('status: NXDOMAIN');
    const queries = await lab.dnsQueries();
    expect(queries).toContainEqual({ from: '192.0.2.2', name: 'whoami.egress.test', type: 'A', proto: 'udp' });
    expect(queries).toContainEqual({ from: '2001:db8:100::2', name: 'whoami.egress.test', type: 'AAAA', proto: 'tcp' });
    expect(queries).toContainEqual({ from: '192.0.2.2', name: 'asker.egress.test', type: 'TXT', proto: 'udp' });
  });

  it('sshd in vps takes the lab key for root and refuses passwords', async () => {
    const ok = await lab.exec('client', ['ssh', '-o', 'BatchMode=yes', '-i', lab.ssh.identity, lab.ssh.target, 'hostname; id -un'], { timeoutMs: 15_000 });
    expect(ok.stdout, ok.stderr).toBe('vps\nroot\n');
    const known = await lab.readFile('client', lab.ssh.knownHosts);
    expect(known).toContain(lab.ssh.hostKeyLine);
    expect(lab.ssh.hostKeyLine).toMatch(/^198\.51\.100\.2 ssh-ed25519 AAAA[A-Za-z0-9+/=]+$/);
    const cfg = (await lab.exec('vps', ['/usr/sbin/sshd', '-T', '-f', '/etc/ssh/sshd_config'], { check: true })).stdout;
    expect(cfg).toMatch(/^permitrootlogin without-password$/m);
    expect(cfg).toMatch(/^passwordauthentication no$/m);
    const mode = (await lab.exec('client', ['stat', '-c', '%a', lab.ssh.identity], { check: true })).stdout;
    expect(mode).toBe('600\n');
  });

  it('each host has its own files, sockets, sysfs and cgroup2', async () => {
    await lab.writeFile('client', '/etc/egress/marker', 'client\n', '0600');
    await lab.writeFile('vps', '/run/wireguard/marker', 'vps\n');
    expect(await lab.readFile('client', '/etc/egress/marker')).toBe('client\n');
    expect(await lab.readFile('vps', '/etc/egress/marker')).toBeUndefined();
    expect(await lab.readFile('client', '/run/wireguard/marker')).toBeUndefined();
    expect(existsSync('/etc/egress/marker')).toBe(false);
    // /usr is an overlay too: a package removed or installed inside a host (apt on the "VPS") never touches the machine.
    await lab.exec('vps', ['sh', '-c', 'rm /usr/bin/iperf3 && touch /usr/bin/egress-lab-marker'], { check: true });
    expect(existsSync('/usr/bin/iperf3')).toBe(true);
    expect(existsSync('/usr/bin/egress-lab-marker')).toBe(false);
    expect((await lab.exec('client', ['test', '-x', '/usr/bin/iperf3'])).exitCode).toBe(0);
    expect((await lab.exec('client', ['ls', '/sys/class/net'], { check: true })).stdout).toBe('eth0\nlo\nwlan0\n');
    expect((await lab.exec('client', ['stat', '-f', '-c', '%T', '/sys/fs/cgroup'], { check: true })).stdout).toBe('cgroup2fs\n');
    expect((await lab.exec('vps', ['hostname'], { check: true })).stdout).toBe('vps\n');
    expect((await lab.exec('client', ['sysctl', '-n', 'net.ipv4.ip_forward'], { check: true })).stdout).toBe('0\n');
    expect((await lab.exec('internet', ['sysctl', '-n', 'net.ipv4.ip_forward'], { check: true })).stdout).toBe('1\n');
    // Global (non-net) sysctls are read-only inside a host, so nothing run there can change the machine's kernel settings.
    expect((await lab.exec('client', ['sh', '-c', 'echo 1 > /proc/sys/kernel/sysrq'])).exitCode).not.toBe(0);
    expect((await lab.exec('client', ['sh', '-c', 'echo 1 > /sys/kernel/mm/ksm/run'])).stderr).toContain('Read-only file system');
    const cg = await lab.exec('client', ['sh', '-c', `mkdir /sys/fs/cgroup/lab-test-${process.pid} && rmdir /sys/fs/cgroup/lab-test-${process.pid}`]);
    expect(cg.exitCode, cg.stderr).toBe(0);
  });

  it('exec returns when the command leaves a daemon behind, and reports timeouts as exit 124', async () => {
    const started = Date.now();
    const r = await lab.exec('vps', ['sh', '-c', 'echo before; sleep 60 & echo after']);
    expect(r).toEqual({ exitCode: 0, stdout: 'before\nafter\n', stderr: '' });
    expect(Date.now() - started).toBeLessThan(5_000);
    const slow = await lab.exec('vps', ['sleep', '10'], { timeoutMs: 200 });
    expect(slow.exitCode).toBe(124);
    await expect(lab.exec('vps', ['sh', '-c', 'echo oops >&2; exit 3'], { check: true })).rejects.toThrow('`sh -c echo oops >&2; exit 3` in vps exited 3: oops');
  });

  it('spawn runs a service as a user, capture sees the traffic', async () => {
    const server = lab.spawn('client', [process.execPath, '-e', `require('net').createServer(s => s.end('hi from ' + process.getuid())).listen(9099, () => console.log('listening'))`], { user: 'appuser' });
    for (let i = 0; i < 100 && !server.output().includes('listening'); i++) await new Promise((r) => setTimeout(r, 20));
    const cap = await lab.capture('internet', 'to-client', 'tcp port 9099');
    const uid = (await lab.exec('client', ['id', '-u', 'appuser'], { check: true })).stdout.trim();
    const r = await lab.exec('internet', [process.execPath, '-e', `require('net').connect(9099, '192.0.2.2').on('data', d => process.stdout.write(d))`], { check: true, timeoutMs: 5000 });
    expect(r.stdout).toBe(`hi from ${uid}`);
    const lines = await cap.stop();
    expect(lines.some((l) => /IP 192\.0\.2\.1\.\d+ > 192\.0\.2\.2\.9099: Flags \[S\]/.test(l)), lines.join('\n')).toBe(true);
    server.kill();
    expect((await server.exited).signal).toBe('SIGTERM');
  });

  it('down kills every process in the hosts (also daemons it did not start), and leaves the root namespace as it was', async () => {
    const wg = await lab.exec('client', ['wireguard-go', 'wgtest'], { check: true, env: { WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1' } });
    expect(wg.exitCode).toBe(0);
    // Hosts share the machine's PID space: pick the wireguard-go that lives in this client's network namespace.
    const all = (await lab.exec('client', ['pgrep', '-x', 'wireguard-go'], { check: true })).stdout.trim().split('\n').map(Number);
    const pid = all.find((p) => nsOf(p, 'net') === lab.hosts.client.net) ?? 0;
    expect(pid).toBeGreaterThan(0);
    const ids = new Set([lab.hosts.client.net, lab.hosts.client.mnt, lab.hosts.vps.net, lab.hosts.internet.net]);
    expect(pidsInNamespaces(ids).length).toBeGreaterThan(3);
    await lab.down();
    expect(pidsInNamespaces(ids)).toEqual([]);
    expect(nsOf(pid, 'net')).toBeUndefined(); // gone, or a zombie waiting for its reaper
    expect(existsSync(labDir(NAME))).toBe(false);
    // Exact comparison; only netns other tools on a shared machine add meanwhile (never named after this lab) are left out.
    const ours = (netns: string) => netns.includes(NAME) || netns.startsWith('eg-lab');
    expect(withoutForeignNetns(await rootSnapshot(), ours)).toEqual(withoutForeignNetns(before, ours));
  });
});
