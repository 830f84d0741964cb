// `egress-client run` end to end: statically linked programs (C and Go, which the LD_PRELOAD shim cannot reach)
// go through the egress because their per-run cgroup v2 group is marked by nftables; processes outside the group
// go direct; the group is removed after the app exits; with the tunnel broken the app's traffic fails and none of
// it reaches an uplink; a host without cgroup v2 is refused clearly.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { labCgroupParent, startLab, type Lab } from '@egress/lab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, enroll, killClientWireguardGo, provision, tearDownClientLab, waitUntil } from './client-helpers.js';

const NAME = `run-${randomBytes(3).toString('hex')}`;
// The lab gives its hosts their own cgroup parent (EGRESS_CGROUP_PARENT), removed with the lab.
const group = () => `/sys/fs/cgroup/${labCgroupParent(lab.name)}/${NAME}`;
const STATIC_PROBE = '/tmp/static-probe';
const GO_PROBE = '/tmp/go-probe';
// What sudo leaves for the command it runs: the app must run as that user, not as root.
const SUDO_OTHERUSER = { SUDO_UID: '1002', SUDO_GID: '1002', SUDO_USER: 'otheruser' };
let lab: Lab;
let run: string[];

const source = (file: string) => readFileSync(fileURLToPath(new URL(`../packages/shim/test/${file}`, import.meta.url)), 'utf8');

beforeAll(async () => {
  lab = await startLab({ name: 'run-cgroup' });
  await provision(lab, []);
  await enroll(lab, ['--name', NAME]);
  run = [...lab.egressClientArgv, 'run', '--egress', NAME, '--'];
  await lab.exec('client', ['cc', '-static', '-O2', '-o', STATIC_PROBE, '-x', 'c', '-'], { stdin: source('static-probe.c'), check: true });
  await lab.writeFile('client', '/tmp/go-probe-src/main.go', source('go-probe.go'));
  await lab.exec('client', ['sh', '-c', `cd /tmp/go-probe-src && go build -o ${GO_PROBE} main.go`], {
    env: { CGO_ENABLED: '0', GO111MODULE: 'off', GOFLAGS: '-mod=mod', GOPROXY: 'off', GOCACHE: '/tmp/go-cache', GOPATH: '/tmp/go-path' },
    timeoutMs: 180_000,
    check: true,
  });
  await lab.exec('client', ['chmod', '0755', STATIC_PROBE, GO_PROBE], { check: true });
}, 240_000);

// uninstall removes egress/NAME from the cgroup2 hierarchy, which outlives the lab (it is the machine's).
afterAll(() => tearDownClientLab(lab, { egress: NAME }));

async function runAs(argv: string[], env: Record<string, string> = SUDO_OTHERUSER) {
  return lab.exec('client', [...run, ...argv], { env, timeoutMs: 30_000 });
}

function lastLine(text: string): string {
  return text.trim().split('\n').pop() ?? '';
}

async function runGroups(): Promise<string[]> {
  const r = await lab.exec('client', ['sh', '-c', `cd ${group()} && for d in run-*; do [ -d "$d" ] && echo "$d"; done; true`]);
  return r.stdout.split('\n').filter(Boolean);
}

describe('egress-client run (cgroup v2) in the lab', () => {
  it('the probes are statically linked (no program interpreter: the shim could not apply)', async () => {
    for (const probe of [STATIC_PROBE, GO_PROBE]) {
      const r = await lab.exec('client', ['readelf', '--program-headers', '--wide', probe], { check: true });
      expect(r.stdout).toContain('LOAD');
      expect(r.stdout).not.toContain('INTERP');
    }
  });

  it('runs the app as the sudo caller, inside its own group under egress/NAME', async () => {
    const r = await runAs(['sh', '-c', 'id -u; id -g; cat /proc/self/cgroup']);
    expect(r.exitCode, r.stderr).toBe(0);
    const [uid, gid, ...cgroups] = r.stdout.trim().split('\n');
    // On a hybrid host /proc/self/cgroup also lists v1 hierarchies; the v2 one is the `0::` line.
    const cgroup = cgroups.find((l) => l.startsWith('0::'));
    expect({ uid, gid }).toEqual({ uid: '1002', gid: '1002' });
    expect(cgroup).toMatch(new RegExp(`^0::/${labCgroupParent(lab.name)}/${NAME}/run-\\d+-[0-9a-f]{8}$`));
    expect(r.stderr).toContain(`through '${NAME}' as uid 1002 (otheruser) in cgroup ${group()}/run-`);
  });

  it('sends static C (TCP, UDP, IPv6) and Go programs through the VPS while a process outside the group goes direct', async () => {
    const [tcp, udp, v6, go, outside, outsideGo] = await Promise.all([
      runAs([STATIC_PROBE, lab.addr.whoamiV4, String(lab.addr.whoamiPort), 'tcp']),
      runAs([STATIC_PROBE, lab.addr.whoamiV4, String(lab.addr.whoamiPort), 'udp']),
      runAs([STATIC_PROBE, lab.addr.whoamiV6, String(lab.addr.whoamiPort), 'tcp']),
      runAs([GO_PROBE, lab.addr.whoamiV4, String(lab.addr.whoamiPort)]),
      lab.exec('client', [STATIC_PROBE, lab.addr.whoamiV4, String(lab.addr.whoamiPort), 'tcp'], { user: 'otheruser' }),
      lab.exec('client', [GO_PROBE, lab.addr.whoamiV4, String(lab.addr.whoamiPort)], { user: 'otheruser' }),
    ]);
    for (const r of [tcp, udp, v6, go, outside, outsideGo]) expect(r.exitCode, r.stderr).toBe(0);
    expect({ tcp: lastLine(tcp.stdout), udp: lastLine(udp.stdout), v6: lastLine(v6.stdout), go: lastLine(go.stdout) }).toEqual({
      tcp: lab.addr.vpsV4,
      udp: lab.addr.vpsV4,
      v6: lab.addr.vpsV6,
      go: lab.addr.vpsV4,
    });
    expect({ outside: lastLine(outside.stdout), outsideGo: lastLine(outsideGo.stdout) }).toEqual({ outside: lab.addr.clientV4, outsideGo: lab.addr.clientV4 });
    // Every run's group is gone once its app exited.
    expect(await runGroups()).toEqual([]);
  });

  it("resolves the app's names through the egress (glibc's resolver inside the group)", async () => {
    const r = await runAs(['getent', 'ahostsv4', 'whoami.egress.test']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain(lab.addr.whoamiV4);
    const from = [...new Set((await lab.dnsQueries()).filter((q) => q.name === 'whoami.egress.test').map((q) => q.from))];
    expect(from).toEqual([lab.addr.vpsV4]);
  });

  it('passes exit codes and signals through (128+N) and removes the group', async () => {
    expect((await runAs(['sh', '-c', 'exit 7'])).exitCode).toBe(7);
    expect((await runAs(['sh', '-c', 'kill -KILL $$'])).exitCode).toBe(137);
    expect(await runGroups()).toEqual([]);
  });

  it('forwards SIGTERM to the app and waits for what it left in the group before removing it', async () => {
    const p = lab.spawn('client', [...run, 'sh', '-c', 'sleep 30 & echo started; trap "echo got-term; exit 0" TERM; while :; do sleep 0.1; done'], { env: SUDO_OTHERUSER });
    await waitUntil('the app to start', 15_000, () => p.output().includes('started'));
    expect(await runGroups()).toHaveLength(1);
    p.kill('SIGTERM');
    const end = await p.exited;
    expect(p.output()).toContain('got-term');
    expect(end.code).toBe(0);
    expect(await runGroups()).toEqual([]);
  });

  it('refuses without root, and on a host without a usable cgroup v2 hierarchy, before running anything', async () => {
    const user = await lab.exec('client', [...run, 'touch', '/tmp/ran-as-user'], { user: 'otheruser' });
    expect(user.exitCode).not.toBe(0);
    expect(user.stderr).toContain('run needs root');
    const noCgroup = await lab.exec('client', ['unshare', '-m', 'sh', '-c', 'umount -l /sys/fs/cgroup && exec "$@"', 'nocg', ...run, 'touch', '/tmp/ran-no-cgroup']);
    expect(noCgroup.exitCode).not.toBe(0);
    expect(noCgroup.stderr).toContain('this host has no usable cgroup v2 hierarchy');
    expect((await lab.exec('client', ['sh', '-c', 'ls /tmp/ran-as-user /tmp/ran-no-cgroup'])).exitCode).not.toBe(0);
  });

  it('kill switch: with the tunnel broken the running app fails and none of its packets reach an uplink', async () => {
    const probe = `${STATIC_PROBE} ${lab.addr.whoamiV4} ${lab.addr.whoamiPort}`;
    const loop = lab.spawn('client', [...run, 'sh', '-c', `while :; do timeout 2 ${probe} tcp || echo fail; timeout 2 ${probe} udp || echo fail; sleep 0.2; done`], { env: SUDO_OTHERUSER });
    await waitUntil('the looping app to reach whoami through the VPS', 20_000, () => loop.output().includes(lab.addr.vpsV4));
    const filter = `host ${lab.addr.whoamiV4} or host ${lab.addr.whoamiV6} or port 53`;
    const caps = [await lab.capture('client', 'eth0', filter), await lab.capture('client', 'wlan0', filter)];
    await killClientWireguardGo(lab);
    const mark = loop.output().length;
    await waitUntil('four failed attempts with the tunnel broken', 40_000, () => (loop.output().slice(mark).match(/^fail$/gm) ?? []).length >= 4);
    const after = loop.output().slice(mark);
    expect(after).not.toContain(lab.addr.clientV4);
    expect(after).not.toContain(lab.addr.clientWlanV4);
    loop.kill('SIGTERM');
    await loop.exited;
    expect((await Promise.all(caps.map((c) => c.stop()))).flat()).toEqual([]);
    expect(await runGroups()).toEqual([]);
    // run refuses while the egress is down; up brings it back.
    const refused = await runAs(['true']);
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stderr).toMatch(new RegExp(`egress '${NAME}' is (down|not ready)`));
    const up = await client(lab, ['up', NAME]);
    expect(up.exitCode, up.stderr).toBe(0);
    let seen = '';
    for (let i = 0; i < 20 && seen !== lab.addr.vpsV4; i++) seen = lastLine((await runAs([STATIC_PROBE, lab.addr.whoamiV4, String(lab.addr.whoamiPort), 'tcp'])).stdout);
    expect(seen).toBe(lab.addr.vpsV4);
  });
});
