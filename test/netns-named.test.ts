// Issue 15, named namespaces: `netns add NAME` makes /run/netns/NAME whose only way out is the tunnel egress. Apps in it
// are seen with the VPS's address, see only lo and their veth, resolve through the tunnel; with the tunnel down nothing
// of theirs leaves by an uplink; a process that stays inside works again once the tunnel is back, also across a daemon
// SIGKILL and restart and a rebuild from the boot fence; a real podman container joined to it behaves the same; `netns remove` and `uninstall` leave the host as before.
import { startLab, type Lab, type LabProcess } from '@egress/lab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, clientSnapshot, enroll, provision, waitUntil } from './client-helpers.js';

const NS = 'vpnns';
let lab: Lab;
let beforeEnroll: Record<string, string>;
let beforeAdd: Record<string, string>;
let stayer: LabProcess | undefined;
let daemon: LabProcess | undefined;

/** The host state to compare, plus what named namespaces touch beyond clientSnapshot. */
async function snapshot(): Promise<Record<string, string>> {
  const extra = await lab.exec('client', ['sh', '-c', 'ls -la /run/netns /etc/netns 2>&1; ip netns list; iptables -w -S FORWARD 2>&1']);
  // The tunnel is taken down and up in between: its link-local address and stable_secret are new (not ours to keep).
  const fresh = /fe80::\S* dev egress0|egress0\.stable_secret/;
  const all: Record<string, string> = { ...(await clientSnapshot(lab)), netns: extra.stdout };
  // The lab client's /etc is the machine's: other engineers' apt installs change it meanwhile; compare what egress writes.
  all.etc = all.etc!.split('\n').filter((l) => /^\/etc\/(egress|netns|wireguard|systemd\/system\/egress)/.test(l)).join('\n');
  return Object.fromEntries(Object.entries(all).map(([k, v]) => [k, v.split('\n').filter((l) => !fresh.test(l)).join('\n')]));
}

/** Runs argv inside the named namespace the way users do (ip netns exec binds /etc/netns/NAME/resolv.conf). */
function inNs(argv: string[], timeoutMs = 20_000) {
  return lab.exec('client', ['ip', 'netns', 'exec', NS, ...argv], { timeoutMs });
}

/** Every attempt from the namespace fails and the uplinks carry none of its packets. */
async function expectNothingLeaves(): Promise<void> {
  const filter = `host ${lab.addr.whoamiV4} or host ${lab.addr.whoamiV6} or port 53`;
  const caps = [await lab.capture('client', 'eth0', filter), await lab.capture('client', 'wlan0', filter)];
  for (const [what, argv] of [
    ['tcp', lab.probeArgv()],
    ['udp', lab.probeArgv({ udp: true })],
    ['tcp v6', lab.probeArgv({ v6: true })],
    ['dns', ['dig', '+time=2', '+tries=1', 'TXT', 'asker.egress.test']],
    ['dns to the uplink resolver', ['dig', '+time=2', '+tries=1', `@${lab.addr.dnsV4}`, 'TXT', 'asker.egress.test']],
  ] as const) {
    const r = await inNs([...argv], 15_000);
    const failed = r.exitCode !== 0 || /timed out|refused|unreachable|no servers/i.test(r.stdout + r.stderr);
    expect(failed, `${what} from the namespace succeeded with the tunnel down: ${r.stdout}`).toBe(true);
  }
  // The process that stayed inside fails too.
  const mark = stayer!.output().length;
  await waitUntil('the process inside to try again', 15_000, () => /FAIL/.test(stayer!.output().slice(mark)));
  const seen = (await Promise.all(caps.map((c) => c.stop()))).flat();
  expect(seen).toEqual([]);
}

/** Waits until the process that stayed in the namespace (never re-entered) is seen with the VPS's address again. */
async function stayerSeesVps(): Promise<void> {
  const mark = stayer!.output().length;
  await waitUntil('the process inside to be seen with the VPS address', 30_000, () => stayer!.output().slice(mark).split('\n').includes(lab.addr.vpsV4));
}

beforeAll(async () => {
  lab = await startLab({ name: 'netns-named' });
  await provision(lab);
  // Like a host running Docker or ufw: forwarding is dropped by another firewall's iptables policy.
  for (const tool of ['iptables', 'ip6tables']) expect((await lab.exec('client', [tool, '-w', '-P', 'FORWARD', 'DROP'])).exitCode).toBe(0);
  beforeEnroll = await snapshot();
  await enroll(lab);
  beforeAdd = await snapshot();
}, 240_000);

afterAll(async () => {
  stayer?.kill('SIGKILL');
  daemon?.kill('SIGKILL');
  await lab?.down();
});

describe('egress-client netns (lab)', () => {
  it('refuses a bad name naming the field, value and what is allowed; --dry-run changes nothing', async () => {
    const bad = await client(lab, ['netns', 'add', 'Bad/Name']);
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stderr).toMatch(/NAME: expected a namespace name of 1-32 lowercase.*got 'Bad\/Name'/);
    const dry = await client(lab, ['netns', 'add', NS, '--dry-run']);
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(new RegExp(`create namespace ${NS}`));
    expect(await snapshot()).toEqual(beforeAdd);
  });

  it('a run --isolate that started before the namespace and ends after it leaves the namespace working (no daemon to repair it)', async () => {
    const NS2 = 'isofirst';
    const fwd = async () => (await lab.exec('client', ['sysctl', '-n', 'net.ipv4.conf.egress0.forwarding'])).stdout.trim();
    expect(await fwd()).toBe('0');
    await lab.exec('client', ['rm', '-f', '/tmp/iso-end']);
    // The isolated run claims egress0's forwarding first and saves the 0 it found.
    const iso = lab.spawn('client', [...lab.egressClientArgv, 'run', '--isolate', '--', 'sh', '-c', 'while [ ! -e /tmp/iso-end ]; do sleep 0.05; done']);
    await waitUntil('the isolated run to start', 30_000, () => /isolated in egiso-/.test(iso.output()));
    expect(await fwd()).toBe('1');
    const add = await client(lab, ['netns', 'add', NS2]);
    expect(add.exitCode, add.stderr).toBe(0);
    expect(await lab.probe('client', { prefix: ['ip', 'netns', 'exec', NS2] })).toBe(lab.addr.vpsV4);
    await lab.exec('client', ['touch', '/tmp/iso-end'], { check: true });
    expect((await iso.exited).code).toBe(0);
    // Its teardown forgets the saved 0 instead of writing it over what the namespace needs (replies come in on egress0).
    expect(await fwd()).toBe('1');
    expect(await lab.probe('client', { prefix: ['ip', 'netns', 'exec', NS2] })).toBe(lab.addr.vpsV4);
    expect((await lab.exec('client', ['ls', '-A', '/run/egress/isolate/sysctl'])).stdout.trim()).toBe('');
    const rm = await client(lab, ['netns', 'remove', NS2]);
    expect(rm.exitCode, rm.stderr).toBe(0);
    expect(await fwd()).toBe('0');
    expect(await snapshot()).toEqual(beforeAdd);
  });

  it('netns add (FORWARD policy DROP, like Docker): apps inside are seen with the VPS address, see only lo and the veth, and resolve through the tunnel; add again changes nothing', async () => {
    const add = await client(lab, ['netns', 'add', NS, '--json']);
    expect(add.exitCode, add.stderr).toBe(0);
    expect(JSON.parse(add.stdout)).toMatchObject({ command: 'netns', action: 'add', name: NS, path: `/run/netns/${NS}`, changed: true });
    expect(await lab.probe('client', { prefix: ['ip', 'netns', 'exec', NS] })).toBe(lab.addr.vpsV4);
    expect(await lab.probe('client', { prefix: ['ip', 'netns', 'exec', NS], udp: true })).toBe(lab.addr.vpsV4);
    expect(await lab.probe('client', { prefix: ['ip', 'netns', 'exec', NS], v6: true })).toBe(lab.addr.vpsV6);
    expect(await lab.probe('client', { prefix: ['nsenter', `--net=/run/netns/${NS}`] })).toBe(lab.addr.vpsV4);
    const links = await inNs(['ip', '-br', 'link']);
    expect(links.stdout.split('\n').filter(Boolean).map((l) => l.split(/[\s@]+/)[0]).sort()).toEqual(['eth0', 'lo']);
    const dns = await inNs(['dig', '+short', '+time=3', '+tries=2', 'TXT', 'asker.egress.test']);
    expect(dns.stdout.trim()).toBe(`"${lab.addr.vpsV4}"`);
    expect(await lab.dnsQueries()).toContainEqual({ from: lab.addr.vpsV4, name: 'asker.egress.test', type: 'TXT', proto: 'udp' });
    // The narrowest accepts for its veth, tagged with its name, where FORWARD's policy drops.
    expect((await lab.exec('client', ['iptables', '-w', '-S', 'FORWARD'])).stdout).toMatch(new RegExp(`-i egns\\d+h .*egress-netns:${NS}.* -j ACCEPT`));
    const again = await client(lab, ['netns', 'add', NS, '--json']);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ changed: false, steps: [] });
    const list = await client(lab, ['netns', 'list', '--json']);
    expect(JSON.parse(list.stdout).namespaces).toEqual([expect.objectContaining({ name: NS, present: true })]);
    const status = await client(lab, ['status', '--json']);
    expect(JSON.parse(status.stdout).egresses[0].namespaces).toEqual([NS]);
    expect((await client(lab, ['status'])).stdout).toContain(`  namespaces ${NS} (/run/netns/${NS})`);
  });

  it('tunnel down: the namespace is refused, 0 packets on the uplinks; tunnel up: a process that stayed inside works again', async () => {
    const loop = `while :; do ${lab.probeArgv().join(' ')} || echo FAIL; sleep 0.3; done`;
    stayer = lab.spawn('client', ['ip', 'netns', 'exec', NS, 'sh', '-c', loop]);
    await stayerSeesVps();
    const down = await client(lab, ['down']);
    expect(down.exitCode, down.stderr).toBe(0);
    await expectNothingLeaves();
    const up = await client(lab, ['up']);
    expect(up.exitCode, up.stderr).toBe(0);
    await stayerSeesVps();
  });

  it('a podman container joined to the namespace: seen with the VPS address, only lo and the veth; tunnel down: it fails with 0 packets on the uplinks; tunnel up: its next connection works without a restart', async () => {
    // Podman's storage in a temp dir of the lab client (its own mount namespace); crun runs without cgroups (hybrid host).
    const dir = (await lab.exec('client', ['mktemp', '-d', '/tmp/egress-podman.XXXXXX'])).stdout.trim();
    const pod = ['podman', '--root', `${dir}/root`, '--runroot', `${dir}/runroot`, '--tmpdir', `${dir}/tmp`, '--cgroup-manager=cgroupfs', '--events-backend=file', '--runtime', 'crun'];
    const rootfs = `mkdir -p ${dir}/rootfs/bin && cp /bin/busybox ${dir}/rootfs/bin/ && for a in sh ip nc sleep; do ln -s busybox ${dir}/rootfs/bin/$a; done`;
    expect((await lab.exec('client', ['sh', '-c', rootfs])).exitCode).toBe(0);
    const loop = `ip -o link; while :; do echo | nc -w 2 ${lab.addr.whoamiV4} ${lab.addr.whoamiPort} || echo FAIL; sleep 0.3; done`;
    const opts = ['--name', 'egress-netns-test', '--cgroups=disabled', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024', '--network', `ns:/run/netns/${NS}`];
    const container = lab.spawn('client', [...pod, 'run', '--rm', ...opts, '--rootfs', `${dir}/rootfs`, '/bin/sh', '-c', loop]);
    try {
      await waitUntil('the container to be seen with the VPS address', 60_000, () => container.output().split('\n').includes(lab.addr.vpsV4));
      const links = container.output().split('\n').map((l) => /^\d+: ([^:@]+)[:@]/.exec(l)?.[1]).filter(Boolean);
      expect(links.sort()).toEqual(['eth0', 'lo']);
      expect((await client(lab, ['down'])).exitCode).toBe(0);
      const filter = `host ${lab.addr.whoamiV4} or port 53`;
      const caps = [await lab.capture('client', 'eth0', filter), await lab.capture('client', 'wlan0', filter)];
      const mark = container.output().length;
      await waitUntil('three failed connections from the container', 30_000, () => (container.output().slice(mark).match(/FAIL/g) ?? []).length >= 3);
      expect(container.output().slice(mark).split('\n')).not.toContain(lab.addr.clientV4);
      expect((await Promise.all(caps.map((c) => c.stop()))).flat()).toEqual([]);
      expect((await client(lab, ['up'])).exitCode).toBe(0);
      const back = container.output().length;
      await waitUntil('the same container to be seen with the VPS address again', 30_000, () => container.output().slice(back).split('\n').includes(lab.addr.vpsV4));
    } finally {
      // Podman stops what it started; the storage goes with the temp dir.
      await lab.exec('client', [...pod, 'rm', '-f', '-t', '0', 'egress-netns-test'], { timeoutMs: 60_000 });
      await container.exited;
      const rm = await lab.exec('client', ['rm', '-rf', '--', dir]);
      expect(rm.exitCode, rm.stderr).toBe(0);
    }
  });

  it('the daemon SIGKILLed: the namespace still works; its veth deleted meanwhile, the restarted daemon rebuilds it (and at once when it runs)', async () => {
    daemon = lab.spawn('client', [...lab.egressClientArgv, 'daemon', '--debounce-ms', '10']);
    await waitUntil('the daemon to report health', 30_000, () => /health client: /.test(daemon!.output()));
    daemon.kill('SIGKILL');
    await daemon.exited;
    await stayerSeesVps();
    const veth = JSON.parse((await client(lab, ['netns', 'list', '--json'])).stdout).namespaces[0].veth as string;
    expect((await lab.exec('client', ['ip', 'link', 'del', 'dev', veth])).exitCode).toBe(0);
    daemon = lab.spawn('client', [...lab.egressClientArgv, 'daemon', '--debounce-ms', '10']);
    await waitUntil('the restarted daemon to repair', 30_000, () => new RegExp(`repair in \\d+ ms.*namespace ${NS}`).test(daemon!.output()));
    expect((await lab.exec('client', ['ip', 'link', 'show', 'dev', veth])).exitCode).toBe(0);
    await stayerSeesVps();
    // While it runs: the link event of a deleted veth makes it rebuild at once.
    const mark = daemon.output().length;
    expect((await lab.exec('client', ['ip', 'link', 'del', 'dev', veth])).exitCode).toBe(0);
    await waitUntil('the running daemon to repair', 30_000, () => new RegExp(`repair in \\d+ ms[^\\n]*namespace ${NS}`).test(daemon!.output().slice(mark)));
    console.log(`[netns-named] ${daemon.output().slice(mark).match(/repair in \d+ ms[^\n]*/)?.[0]}`);
    await stayerSeesVps();
    daemon.kill('SIGTERM');
    await daemon.exited;
    daemon = undefined;
  });

  it('boot: with the namespace, veth and tunnel gone, up --fence-only rebuilds it fenced (nothing leaves); up brings it back', async () => {
    stayer!.kill('SIGKILL');
    await stayer!.exited;
    const veth = JSON.parse((await client(lab, ['netns', 'list', '--json'])).stdout).namespaces[0].veth as string;
    expect((await client(lab, ['down'])).exitCode).toBe(0);
    for (const argv of [['ip', 'link', 'del', 'dev', veth], ['ip', 'netns', 'del', NS]]) expect((await lab.exec('client', argv)).exitCode).toBe(0);
    const fence = await client(lab, ['up', '--fence-only']);
    expect(fence.exitCode, fence.stderr).toBe(0);
    expect((await lab.exec('client', ['test', '-e', `/run/netns/${NS}`])).exitCode).toBe(0);
    const loop = `while :; do ${lab.probeArgv().join(' ')} || echo FAIL; sleep 0.3; done`;
    stayer = lab.spawn('client', ['ip', 'netns', 'exec', NS, 'sh', '-c', loop]);
    await expectNothingLeaves();
    expect((await client(lab, ['up'])).exitCode).toBe(0);
    await stayerSeesVps();
    stayer.kill('SIGKILL');
    await stayer.exited;
    stayer = undefined;
  });

  it('netns remove leaves the host as before the add; remove again changes nothing', async () => {
    const rm = await client(lab, ['netns', 'remove', NS]);
    expect(rm.exitCode, rm.stderr).toBe(0);
    expect(await snapshot()).toEqual(beforeAdd);
    const again = await client(lab, ['netns', 'remove', NS]);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stdout).toContain('nothing changed');
  });

  it('uninstall with a namespace in place leaves the host as before enroll', async () => {
    expect((await client(lab, ['netns', 'add', NS])).exitCode).toBe(0);
    expect(await lab.probe('client', { prefix: ['ip', 'netns', 'exec', NS] })).toBe(lab.addr.vpsV4);
    const un = await client(lab, ['uninstall']);
    expect(un.exitCode, un.stderr).toBe(0);
    expect(await snapshot()).toEqual(beforeEnroll);
  });
});
