// `egress-client select` end to end: a network namespace behind a bridge on the client (the netns + bridge +
// PREROUTING-mark recipe) selected with --interface, and a "LAN host" namespace selected with --source, are seen
// with the VPS's address and their DNS goes through the tunnel; another bridge not selected goes direct. Tunnel
// down: 0 packets from the selected sources on either uplink; up again: they work. A unit's cgroup (made by hand:
// no systemd in the lab) is selected with --unit, also one whose cgroup appears later (the supervisor reloads the
// table). `select remove` and `uninstall` leave the host as it was.
import { randomBytes } from 'node:crypto';
import { labCgroupParent, startLab, type Lab } from '@egress/lab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, clientSnapshot, enroll, provision, waitUntil } from './client-helpers.js';
import { bridgedNsScript, clientScript, inNs, lanNsScript } from './netns-helpers.js';

let lab: Lab;
let beforeEnroll: Record<string, string>;
let beforeSelect: Record<string, string>;
// Private networks inside namespaces this test makes (none of the lab's own ranges).
const BR = { ns: 'selbr', bridge: 'brsel', gw: '10.201.1.1', host: '10.201.1.2' };
const DIRECT = { ns: 'seldir', bridge: 'brdir', gw: '10.202.1.1', host: '10.202.1.2' };
const LAN = { ns: 'sellan', port: 'lansel', gw: '10.203.1.1', host: '10.203.1.2', net: '10.203.1.0/24' };
const UNIT = `egress-sel-${randomBytes(3).toString('hex')}.service`;
const UNIT_CG = `/sys/fs/cgroup/system.slice/${UNIT}`;
let madeSlice = false;

const probe = (ns: string) => lab.exec('client', [...inNs(ns), ...lab.probeArgv()], { timeoutMs: 20_000 });
const seenFrom = async (ns: string): Promise<string> => {
  const r = await probe(ns);
  expect(r.exitCode, `${ns}: ${r.stderr}`).toBe(0);
  return r.stdout.trim().split('\n').pop()!;
};
/** The address the lab DNS server saw asking (TXT asker.egress.test), asked from namespace `ns` (UDP or TCP). */
const dnsAsker = async (ns: string, tcp = false): Promise<string> => {
  const r = await lab.exec('client', [...inNs(ns), 'dig', '+short', '+time=3', '+tries=2', ...(tcp ? ['+tcp'] : []), `@${lab.addr.dnsV4}`, 'TXT', 'asker.egress.test']);
  expect(r.exitCode, r.stderr).toBe(0);
  return r.stdout.trim().replace(/"/g, '');
};
const select = async (args: string[]) => {
  const r = await client(lab, ['select', ...args]);
  expect(r.exitCode, r.stderr).toBe(0);
  return r;
};

beforeAll(async () => {
  lab = await startLab({ name: 'select-fwd' });
  // Two bridges with a namespace behind each (the blog recipe), a LAN host on a plain veth; the client is their
  // gateway. The unselected bridge goes direct: forwarding on it and the uplink, masquerade out of the uplink (as
  // Docker does for its bridges) — set before the snapshots, so they are part of "the host as it was".
  await clientScript(lab, [
    ...bridgedNsScript(BR),
    ...bridgedNsScript(DIRECT),
    ...lanNsScript(LAN),
    `sysctl -q -w net.ipv4.conf.${DIRECT.bridge}.forwarding=1 net.ipv4.conf.eth0.forwarding=1`,
    `nft add table ip seltest`,
    `nft add chain ip seltest post '{ type nat hook postrouting priority srcnat; policy accept; }'`,
    `nft add rule ip seltest post oifname "eth0" ip saddr 10.202.1.0/24 masquerade`,
  ]);
  beforeEnroll = await clientSnapshot(lab);
  await provision(lab, []);
  await enroll(lab);
  beforeSelect = await clientSnapshot(lab);
}, 240_000);

afterAll(async () => {
  if (lab) {
    await client(lab, ['uninstall']).catch(() => undefined);
    // The unit's cgroup lives in the machine's cgroup2 hierarchy: remove it (and system.slice when this test made it).
    await lab.exec('client', ['rmdir', UNIT_CG]).catch(() => undefined);
    if (madeSlice) await lab.exec('client', ['rmdir', '/sys/fs/cgroup/system.slice']).catch(() => undefined);
  }
  await lab?.down();
});

describe('select: forwarded interfaces and networks, units (lab)', () => {
  it('refuses bad selectors before any change', async () => {
    const state = await lab.readFile('client', '/etc/egress/client.json');
    const refusals: Array<[string[], RegExp]> = [
      [['--interface', 'br0;x'], /--interface: expected an interface name .*got 'br0;x'/],
      [['--source', '10.203.1.2/24'], /--source: '10\.203\.1\.2\/24' has host bits set; expected the network address 10\.203\.1\.0\/24/],
      [['--source', '10.77.0.0/24'], /--source: 10\.77\.0\.0\/24 is reached by egress0, the interface of egress/],
      [['--user', 'nosuchuser'], /--user: user 'nosuchuser' does not exist/],
      [['--unit', 'web'], /--unit: expected NAME\.service/],
      [['--interface', 'brsel', '--source', LAN.net], /expected exactly one of/],
    ];
    for (const [args, message] of refusals) {
      const r = await client(lab, ['select', 'add', ...args]);
      expect(r.exitCode, args.join(' ')).not.toBe(0);
      expect(r.stderr, args.join(' ')).toMatch(message);
      expect(r.stderr).not.toMatch(/^\[#\]/m);
    }
    expect(await lab.readFile('client', '/etc/egress/client.json')).toBe(state);
  });

  it('routes the selected bridge and LAN network through the VPS (DNS too); the other bridge goes direct', async () => {
    const state = await lab.readFile('client', '/etc/egress/client.json');
    const dry = await select(['add', '--interface', BR.bridge, '--dry-run']);
    expect(dry.stdout).toContain('dry run: nothing was changed');
    expect(dry.stdout).toContain(`would: `);
    expect(await lab.readFile('client', '/etc/egress/client.json')).toBe(state);

    await select(['add', '--interface', BR.bridge]);
    const added = JSON.parse((await select(['add', '--source', LAN.net, '--json'])).stdout);
    expect(added).toMatchObject({ command: 'select', action: 'add', changed: true });
    expect((await select(['add', '--interface', BR.bridge])).stdout).toContain('already selected');
    const listed = JSON.parse((await select(['list', '--json'])).stdout);
    expect(listed.egresses[0].selectors).toMatchObject({ users: [{ name: 'appuser' }], interfaces: [BR.bridge], sources: [{ cidr: LAN.net, via: LAN.port }] });

    expect(await seenFrom(BR.ns)).toBe(lab.addr.vpsV4);
    expect(await seenFrom(LAN.ns)).toBe(lab.addr.vpsV4);
    expect(await seenFrom(DIRECT.ns)).toBe(lab.addr.clientV4);
    // DNS to any resolver goes to the egress's resolver through the tunnel: the lab DNS server sees the VPS.
    expect(await dnsAsker(BR.ns)).toBe(lab.addr.vpsV4);
    expect(await dnsAsker(BR.ns, true)).toBe(lab.addr.vpsV4);
    expect(await dnsAsker(LAN.ns)).toBe(lab.addr.vpsV4);
    expect(await dnsAsker(DIRECT.ns)).toBe(lab.addr.clientV4);
    const askers = (await lab.dnsQueries()).filter((q) => q.name.startsWith('asker.egress.test')).map((q) => q.from);
    expect(askers.filter((a) => a === lab.addr.vpsV4).length).toBeGreaterThanOrEqual(3);
    // Only the interfaces involved forward: the selected ones and the tunnel.
    const sysctls = await lab.exec('client', ['sysctl', '-n', `net.ipv4.conf.${BR.bridge}.forwarding`, `net.ipv4.conf.${LAN.port}.forwarding`, 'net.ipv4.conf.egress0.forwarding']);
    expect(sysctls.stdout.split('\n').filter(Boolean)).toEqual(['1', '1', '1']);
    // doctor sees the table, rules and sysctls as rendered (no drift from the forwarded selectors).
    const doctor = JSON.parse((await client(lab, ['doctor', '--json'])).stdout);
    expect((doctor.egresses[0].checks as Array<{ name: string; ok: boolean; detail: string }>).filter((c) => !c.ok)).toEqual([]);
  });

  it('tunnel down: 0 packets from the selected sources on either uplink; tunnel up: they work again', async () => {
    const filter = `host ${lab.addr.whoamiV4} or port 53 or net 10.201.0.0/16 or net 10.203.0.0/16`;
    const caps = [await lab.capture('client', 'eth0', filter), await lab.capture('client', 'wlan0', filter)];
    try {
      const down = await client(lab, ['down']);
      expect(down.exitCode, down.stderr).toBe(0);
      for (const ns of [BR.ns, LAN.ns]) {
        expect((await probe(ns)).exitCode, ns).not.toBe(0);
        const dig = await lab.exec('client', [...inNs(ns), 'dig', '+short', '+time=1', '+tries=1', `@${lab.addr.dnsV4}`, 'TXT', 'asker.egress.test']);
        expect(dig.stdout, ns).toContain('no servers could be reached');
      }
    } finally {
      expect((await Promise.all(caps.map((c) => c.stop()))).flat()).toEqual([]);
    }
    const up = await client(lab, ['up']);
    expect(up.exitCode, up.stderr).toBe(0);
    expect(await seenFrom(BR.ns)).toBe(lab.addr.vpsV4);
    expect(await seenFrom(LAN.ns)).toBe(lab.addr.vpsV4);
  });

  it("selects a unit's cgroup (made by hand: no systemd here), also one that appears after select add", async () => {
    madeSlice = (await lab.exec('client', ['test', '-d', '/sys/fs/cgroup/system.slice'])).exitCode !== 0;
    await lab.exec('client', ['mkdir', '-p', UNIT_CG], { check: true });
    const inUnit = async (cg: string) => {
      const r = await lab.exec('client', ['sh', '-c', `echo $$ > ${cg}/cgroup.procs && exec "$@"`, 'in-unit', ...lab.probeArgv()], { timeoutMs: 20_000 });
      return r.exitCode === 0 ? r.stdout.trim().split('\n').pop()! : `failed: ${r.stderr.trim()}`;
    };
    expect(await inUnit(UNIT_CG)).toBe(lab.addr.clientV4);
    await select(['add', '--unit', UNIT]);
    expect(await inUnit(UNIT_CG)).toBe(lab.addr.vpsV4);
    await select(['remove', '--unit', UNIT]);
    expect(await inUnit(UNIT_CG)).toBe(lab.addr.clientV4);

    // A unit not started yet: accepted with a note, left out of the table until its cgroup exists.
    const later = `later-${UNIT}`;
    const laterCg = `/sys/fs/cgroup/system.slice/${later}`;
    const r = await select(['add', '--unit', later]);
    expect(r.stderr).toContain(`cgroup system.slice/${later} does not exist yet`);
    expect((await lab.exec('client', ['nft', 'list', 'table', 'inet', 'egress'])).stdout).not.toContain(later);
    // The supervisor sees the cgroup appear and loads the table again, with no command.
    const daemon = lab.spawn('client', [...lab.egressClientArgv, 'daemon', '--debounce-ms', '10']);
    try {
      // Its first pass settled (health written after it): what follows is the watcher's doing.
      await waitUntil('the daemon to write its health', 30_000, async () => (await lab.exec('client', ['test', '-f', '/run/egress/health.json'])).exitCode === 0);
      await lab.exec('client', ['mkdir', laterCg], { check: true });
      await waitUntil('the daemon to see the cgroup', 20_000, () => daemon.output().includes(`cgroup system.slice/${later} appeared: re-applying`));
      await waitUntil('the unit in the table', 20_000, async () => (await lab.exec('client', ['nft', 'list', 'table', 'inet', 'egress'])).stdout.includes(later));
      expect(await inUnit(laterCg)).toBe(lab.addr.vpsV4);
      await select(['remove', '--unit', later]);
    } finally {
      daemon.kill('SIGTERM');
      await daemon.exited;
      await lab.exec('client', ['rmdir', laterCg]);
    }
  });

  it('a second user, an arbitrary cgroup, and an interface that does not exist yet (a Docker network made later)', async () => {
    expect(await lab.probe('client', { user: 'otheruser' })).toBe(lab.addr.clientV4);
    await select(['add', '--user', 'otheruser']);
    expect(await lab.probe('client', { user: 'otheruser' })).toBe(lab.addr.vpsV4);
    await select(['remove', '--user', 'otheruser']);
    expect(await lab.probe('client', { user: 'otheruser' })).toBe(lab.addr.clientV4);

    const cg = `${labCgroupParent(lab.name)}/sel-cg`;
    await lab.exec('client', ['mkdir', `/sys/fs/cgroup/${cg}`], { check: true });
    try {
      await select(['add', '--cgroup', cg]);
      const r = await lab.exec('client', ['sh', '-c', `echo $$ > /sys/fs/cgroup/${cg}/cgroup.procs && exec "$@"`, 'in-cg', ...lab.probeArgv()], { timeoutMs: 20_000 });
      expect(r.stdout.trim().split('\n').pop()).toBe(lab.addr.vpsV4);
      await select(['remove', '--cgroup', cg]);
    } finally {
      await lab.exec('client', ['rmdir', `/sys/fs/cgroup/${cg}`]);
    }

    const later = await select(['add', '--interface', 'br-later0']);
    expect(later.stderr).toContain('interface br-later0 does not exist yet');
    expect((await lab.exec('client', ['ip', 'rule'])).stdout).toMatch(/iif br-later0 \[detached\] lookup 7100/);
    // The engine reads the detached rule back as its own: converged, nothing to do.
    expect(JSON.parse((await client(lab, ['up', '--json'])).stdout).changed).toBe(false);
    await select(['remove', '--interface', 'br-later0']);
  });

  it('select remove and uninstall leave the host as it was', async () => {
    await select(['remove', '--interface', BR.bridge]);
    await select(['remove', '--source', LAN.net]);
    expect((await select(['remove', '--source', LAN.net])).stdout).toContain('not selected');
    // The tunnel was brought down and up since (a new link-local address on egress0): compare without it.
    const stable = (snap: Record<string, string>) => ({ ...snap, etc: '', routes: snap.routes!.replace(/^local fe80::\S+ dev egress0 .*\n/m, ''), sysctls: snap.sysctls!.replace(/^net\.ipv6\.conf\.egress0\.stable_secret .*\n/m, '') });
    expect(stable(await clientSnapshot(lab))).toEqual(stable(beforeSelect));
    // Selected again, then uninstalled: the host as before enroll.
    await select(['add', '--interface', BR.bridge]);
    await select(['add', '--source', LAN.net]);
    expect(await seenFrom(LAN.ns)).toBe(lab.addr.vpsV4);
    expect((await client(lab, ['uninstall'])).exitCode).toBe(0);
    expect(await clientSnapshot(lab)).toEqual(beforeEnroll);
  });
});
