// Real Docker (Debian's docker.io) inside the lab client's namespaces — never on the machine: dockerd with its own
// data/exec roots, socket and pid file under the client's private /tmp, its containers' cgroups under the lab's, and
// its iptables rules in the client's network namespace. An image is imported from a busybox root filesystem (no
// registry). A container on the Docker network selected with `select add --interface br-<id>` is seen with the VPS's
// address (its DNS too) and still reaches its neighbours on the bridge; one on another network directly. Tunnel down: 0 packets from the selected container on the
// uplinks. `select remove` leaves Docker's rules exactly as they were.
import { randomBytes } from 'node:crypto';
import { labCgroupParent, startLab, type Lab } from '@egress/lab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, enroll, provision, waitUntil } from './client-helpers.js';

let lab: Lab;
const D = `/tmp/seldocker-${randomBytes(3).toString('hex')}`;
const SOCK = `unix://${D}/docker.sock`;
const IMAGE = 'selbusy:1';
const SEL = { name: 'selnet', subnet: '10.210.1.0/24' };
const DIR = { name: 'dirnet', subnet: '10.211.1.0/24' };
let selBridge = '';
let dockerdPid = 0;

const sh = async (script: string, timeoutMs = 60_000) => {
  const r = await lab.exec('client', ['sh', '-c', script], { env: { DOCKER_HOST: SOCK }, timeoutMs });
  expect(r.exitCode, `${script}\n${r.stderr}`).toBe(0);
  return r.stdout;
};
/** Runs busybox ARGS in a new container on network NET; returns its output ('' when it failed). */
const inContainer = async (net: string, args: string): Promise<string> => {
  const r = await lab.exec('client', ['sh', '-c', `/usr/bin/docker run --rm --network ${net} ${IMAGE} ${args} </dev/null`], { env: { DOCKER_HOST: SOCK }, timeoutMs: 60_000 });
  return r.exitCode === 0 ? r.stdout.trim() : '';
};
const seen = (net: string) => inContainer(net, `nc -w 5 ${lab.addr.whoamiV4} ${lab.addr.whoamiPort}`);
/** Docker's own rules, as iptables prints them (no counters), without egress's tagged accepts. */
const dockerRules = async () => (await sh('iptables -S; iptables -t nat -S')).split('\n').filter((l) => !l.includes('egress-select:')).join('\n');

beforeAll(async () => {
  lab = await startLab({ name: 'select-docker' });
  await provision(lab, []);
  await enroll(lab);
  // dockerd inside the client: every path its own; containers' cgroups under the lab's (removed with the lab).
  const argv = ['dockerd', '--data-root', `${D}/data`, '--exec-root', `${D}/exec`, '-H', SOCK, '--pidfile', `${D}/docker.pid`,
    '--storage-driver', 'vfs', '--bridge', 'none', '--iptables=true', '--userland-proxy=false', '--cgroup-parent', `/${labCgroupParent(lab.name)}/docker`];
  await sh(`mkdir -p ${D} && (${argv.join(' ')} >${D}/dockerd.log 2>&1 &)`);
  await waitUntil('dockerd to answer', 60_000, async () => (await lab.exec('client', ['/usr/bin/docker', 'version'], { env: { DOCKER_HOST: SOCK } })).exitCode === 0);
  dockerdPid = Number((await sh(`cat ${D}/docker.pid`)).trim());
  expect(dockerdPid).toBeGreaterThan(1);
  // The image: busybox-static and its applet links, imported from a tar (no registry).
  await sh([
    'set -e',
    `R=${D}/rootfs; mkdir -p $R/bin`,
    'cp /bin/busybox $R/bin/busybox',
    'for c in sh nc nslookup; do ln -s busybox $R/bin/$c; done',
    `tar -C $R -c . | /usr/bin/docker import - ${IMAGE} >/dev/null`,
    `/usr/bin/docker network create --subnet ${SEL.subnet} ${SEL.name} >/dev/null`,
    `/usr/bin/docker network create --subnet ${DIR.subnet} ${DIR.name} >/dev/null`,
  ].join('\n'), 120_000);
  selBridge = `br-${(await sh(`/usr/bin/docker network inspect -f '{{.Id}}' ${SEL.name}`)).trim().slice(0, 12)}`;
}, 240_000);

afterAll(async () => {
  if (lab && dockerdPid > 0) {
    // Stopped by its PID (the one in this lab's pid file), then the lab and everything in it goes.
    await lab.exec('client', ['sh', '-c', `/usr/bin/docker network rm ${SEL.name} ${DIR.name} >/dev/null 2>&1; kill -TERM ${dockerdPid}; for i in $(seq 100); do kill -0 ${dockerdPid} 2>/dev/null || exit 0; sleep 0.1; done; exit 1`], { env: { DOCKER_HOST: SOCK } });
  }
  await lab?.down();
});

describe('select a Docker network (real dockerd in the lab)', () => {
  let rulesBefore = '';

  it('a container on the selected Docker network is seen with the VPS address (DNS too); another network goes direct', async () => {
    rulesBefore = await dockerRules();
    expect(rulesBefore).toContain('-P FORWARD DROP');
    const add = await client(lab, ['select', 'add', '--interface', selBridge]);
    expect(add.exitCode, add.stderr).toBe(0);
    // Docker's FORWARD policy drops: the narrowest accepts, tagged, in DOCKER-USER (Docker's own chains untouched).
    expect((await sh('iptables -S DOCKER-USER')).split('\n').filter((l) => l.includes('egress-select:'))).toEqual([
      `-A DOCKER-USER -i egress0 -o ${selBridge} -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment "egress-select:client" -j ACCEPT`,
      `-A DOCKER-USER -i ${selBridge} -o egress0 -m comment --comment "egress-select:client" -j ACCEPT`,
    ]);
    expect(await dockerRules()).toBe(rulesBefore);
    expect(await seen(SEL.name)).toBe(lab.addr.vpsV4);
    expect(await seen(DIR.name)).toBe(lab.addr.clientV4);
    expect(await inContainer(SEL.name, `nslookup -type=TXT asker.egress.test ${lab.addr.dnsV4}`)).toContain(`"${lab.addr.vpsV4}"`);
    expect(await inContainer(DIR.name, `nslookup -type=TXT asker.egress.test ${lab.addr.dnsV4}`)).toContain(`"${lab.addr.clientV4}"`);    // Containers on the selected network still reach each other (bridged traffic, which Docker's br_netfilter shows
    // to the IP hooks, stays on the bridge: not marked, not dropped by the kill switch).
    await sh(`/usr/bin/docker run -d --name selsrv --network ${SEL.name} --ip 10.210.1.50 ${IMAGE} sh -c 'echo neighbour | nc -l -p 9000' >/dev/null`);
    try {
      expect(await sh('cat /proc/sys/net/bridge/bridge-nf-call-iptables')).toBe('1\n');
      expect(await inContainer(SEL.name, 'nc -w 5 10.210.1.50 9000')).toBe('neighbour');
    } finally {
      await sh('/usr/bin/docker rm -f selsrv >/dev/null');
    }
  });

  it('tunnel down: 0 packets from the selected container on the uplinks', async () => {
    const filter = `net ${SEL.subnet} or host ${lab.addr.whoamiV4} or port 53`;
    const caps = [await lab.capture('client', 'eth0', filter), await lab.capture('client', 'wlan0', filter)];
    try {
      const down = await client(lab, ['down']);
      expect(down.exitCode, down.stderr).toBe(0);
      expect(await seen(SEL.name)).toBe('');
    } finally {
      expect((await Promise.all(caps.map((c) => c.stop()))).flat()).toEqual([]);
    }
    const up = await client(lab, ['up']);
    expect(up.exitCode, up.stderr).toBe(0);
    expect(await seen(SEL.name)).toBe(lab.addr.vpsV4);
  });

  it("select remove leaves Docker's rules as they were; the network goes direct again", async () => {
    const r = await client(lab, ['select', 'remove', '--interface', selBridge]);
    expect(r.exitCode, r.stderr).toBe(0);
    const all = (await sh('iptables -S; iptables -t nat -S')).trim();
    expect(all).not.toContain('egress-select:');
    expect(await dockerRules()).toBe(rulesBefore);
    expect(await seen(SEL.name)).toBe(lab.addr.clientV4);
  });
});
