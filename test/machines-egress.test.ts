// egress on real systemd machines (machines lab), both ways round: a Debian 12 VPS with a Debian 13 client and a
// Debian 13 VPS with a Debian 12 client, with no Node, install the
// .deb with the README's command, provision and enroll; the client reboots with a service of the dedicated user that
// sends from early boot and not one packet of it leaves directly; boot is not held up when the VPS is down; both
// come back from reboots; an upgrade keeps the client working; uninstall + apt purge leave the client as before.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LAB_ADDR, withMachinesLab, type Machine, type MachineSuite, type MachinesLab } from '@egress/lab';

const REPO = resolve(import.meta.dirname, '..');
const OLD = '0.0.9';
const NEW = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
let debs = '';

const deb = (v: string): string => `egress_${v}_amd64.deb`;

// Two artifacts of this tree, the older one with a lower version (the upgrade goes from it to the current one).
// Async, so the worker keeps answering vitest while they build.
beforeAll(async () => {
  debs = mkdtempSync(join(tmpdir(), 'egress-debs-'));
  for (const v of [OLD, NEW]) {
    await promisify(execFile)(process.execPath, [join(REPO, 'tools/package/build-deb.mjs'), '--arch', 'amd64', '--version', v, '--out', debs, '--gzip'], { maxBuffer: 1 << 24 });
  }
}, 600_000);
afterAll(() => { if (debs) rmSync(debs, { recursive: true, force: true }); });

/** What uninstall + purge must leave as it was on the client (the shadow tools' backups, /etc/group- and the like, aside: group egress is made and removed). */
async function snapshot(m: Machine): Promise<string> {
  return m.sh([
    'echo "## nft"; nft list ruleset',
    'echo "## rules"; ip rule; ip -6 rule',
    'echo "## links"; ip -br link | cut -d" " -f1 | sed "s/@.*//"',
    'echo "## units"; systemctl list-unit-files --no-legend "egress*" "wg-quick*" | sort',
    'echo "## files"; find /etc /usr/lib/egress /usr/bin /usr/local -xdev -not -path "/etc/ld.so.cache" -not -name "*-" -printf "%p %y %m %s\\n" 2>/dev/null | sed -E "s/ d ([0-7]+) [0-9]+$/ d \\1/" 2>/dev/null | sort',
    'echo "## cgroups"; ls /sys/fs/cgroup | grep -i egress || true',
  ].join('; '));
}

/** appuser's view of itself at the lab's whoami (TCP), or '' when it cannot connect. */
async function whoamiAsApp(m: Machine): Promise<string> {
  const r = await m.exec(['runuser', '-u', 'appuser', '--', 'bash', '-c', `exec 3<>/dev/tcp/${LAB_ADDR.whoamiV4}/${LAB_ADDR.whoamiPort}; timeout 5 cat <&3`], { timeoutMs: 20_000 });
  return r.exitCode === 0 ? r.stdout.trim() : '';
}

/** Waits for the machine to finish booting and fails with the failed units' status and journal unless it is running. */
async function expectRunning(m: Machine, when: string): Promise<void> {
  const state = await m.waitBooted();
  if (state === 'running') return;
  const failed = await m.failedUnits();
  const why = await m.exec(['sh', '-c', `for u in ${failed.join(' ')}; do systemctl status --no-pager -l "$u"; journalctl --no-pager -n 40 -u "$u"; done`]);
  expect.fail(`${when}: the machine is ${state}; failed: ${failed.join(', ')}\n${why.stdout}`);
}

async function until<T>(what: string, f: () => Promise<T | undefined | '' | false>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v) return v as T;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** How long each egress unit ran at this boot (start to exit, seconds), as systemd recorded it. */
async function egressUnitSeconds(m: Machine): Promise<string> {
  const parts: string[] = [];
  for (const u of ['egress-client-fence.service', 'egress-client.service']) {
    const [a, b] = (await m.sh(`systemctl show -p ExecMainStartTimestampMonotonic --value ${u}; systemctl show -p ExecMainExitTimestampMonotonic --value ${u}`)).trim().split('\n').map(Number);
    parts.push(`${u} ${((b! - a!) / 1e6).toFixed(2)} s`);
  }
  return parts.join(', ');
}

/** Seconds from the manager's start to multi-user.target, as systemd recorded them (monotonic, µs). */
async function bootSeconds(m: Machine): Promise<number> {
  const out = await m.sh('systemctl show -p UserspaceTimestampMonotonic --value; systemctl show -p ActiveEnterTimestampMonotonic --value multi-user.target');
  const [start, reached] = out.trim().split('\n').map(Number);
  return (reached! - start!) / 1e6;
}

async function install(m: Machine, version: string): Promise<void> {
  copyFileSync(join(debs, deb(version)), join(m.root, 'root', deb(version)));
  // The README's command (as root, so without sudo).
  await m.sh(`cd /root && DEBIAN_FRONTEND=noninteractive apt install -y ./${deb(version)}`, { timeoutMs: 300_000 });
}

const PROBE_UNIT = `[Unit]
Description=a service of appuser that sends from early boot
After=network.target

[Service]
User=appuser
ExecStart=/bin/bash -c 'while :; do echo x 2>/dev/null >/dev/udp/${LAB_ADDR.whoamiV4}/${LAB_ADDR.whoamiPort}; echo x 2>/dev/null >/dev/udp/${LAB_ADDR.whoamiV6}/${LAB_ADDR.whoamiPort}; sleep 0.05; done'

[Install]
WantedBy=multi-user.target
`;

/** A root service (no dedicated user) that connects at once when it starts and writes what the whoami saw. */
const WEB_UNIT = `[Unit]
Description=a service selected with select add --unit, connecting as soon as it starts

[Service]
Type=oneshot
ExecStart=/usr/bin/timeout 10 /bin/bash -c 'exec 3<>/dev/tcp/${LAB_ADDR.whoamiV4}/${LAB_ADDR.whoamiPort}; cat <&3 > /run/webprobe.out'
`;

/** Lines of the lab's whoami log (JSON: proto, from, at) written after `sinceMs`. */
function whoamiSeen(lab: MachinesLab, sinceMs: number): Array<{ proto: string; from: string }> {
  return readFileSync(join(lab.dir, 'whoami.out'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { proto: string; from: string; at: string })
    .filter((x) => Date.parse(x.at) >= sinceMs);
}

const PAIRS: Array<{ lab: string; vps: MachineSuite; client: MachineSuite }> = [
  { lab: 'megr1', vps: 'bookworm', client: 'trixie' },
  { lab: 'megr2', vps: 'trixie', client: 'bookworm' },
];

describe.each(PAIRS)('egress on real systemd machines: $vps VPS, $client client', (pair) => {
  it('installs from the .deb, provisions, enrolls, boots with no leak, survives reboots and upgrades, and uninstalls cleanly', async () => {
    await withMachinesLab(pair.lab, async (lab) => {
      const vps = await lab.add({ name: 'vps', role: 'vps', suite: pair.vps });
      const cli = await lab.add({ name: 'cli', role: 'client', suite: pair.client });
      await Promise.all([vps.boot(), cli.boot()]);
      await expectRunning(vps, 'boot check 1');
      await expectRunning(cli, 'boot check 2');
      expect((await cli.exec(['sh', '-c', 'command -v node nodejs'])).stdout).toBe('');
      await cli.sh('useradd --create-home --shell /bin/bash appuser');
      const before = await snapshot(cli);

      await Promise.all([install(vps, OLD), install(cli, OLD)]);
      expect(await cli.sh('command -v egress-client; command -v egress-server; ls /usr/lib/egress')).toBe('/usr/bin/egress-client\n/usr/bin/egress-server\nbuild\ndist\nnode\n');

      // provision the VPS from the client over SSH (root by key), then enroll appuser
      const hostPub = readFileSync(join(vps.root, 'etc/ssh/ssh_host_ed25519_key.pub'), 'utf8').trim().split(' ').slice(0, 2).join(' ');
      writeFileSync(join(cli.root, 'root/.ssh/id_ed25519'), readFileSync(lab.keyFile), { mode: 0o600 });
      writeFileSync(join(cli.root, 'root/.ssh/known_hosts'), `${LAB_ADDR.vpsV4} ${hostPub}\n`);
      await cli.sh(`egress-server provision root@${LAB_ADDR.vpsV4} -i /root/.ssh/id_ed25519 --out /root/bundle.json`, { timeoutMs: 240_000 });
      expect(await vps.sh('systemctl is-active wg-quick@egress0.service')).toBe('active\n');
      await vps.sh('systemctl restart wg-quick@egress0.service'); // works right after provision (the unit's state is true)
      await expectRunning(vps, 'boot check 3');
      await cli.sh('egress-client enroll /root/bundle.json --user appuser', { timeoutMs: 240_000 });
      expect(await cli.sh('grep ^ExecStart /etc/systemd/system/egress-client.service /etc/systemd/system/egress-client-fence.service'))
        .toMatch(/egress-client.service:ExecStart=\/usr\/bin\/egress-client daemon[\s\S]*fence.service:ExecStart=\/usr\/bin\/egress-client up --fence-only/);
      await expectRunning(cli, 'after enroll');
      expect(await until('appuser through the tunnel', async () => (await whoamiAsApp(cli)) === LAB_ADDR.vpsV4)).toBe(true);
      expect(await cli.sh('whoami >/dev/null; bash -c "exec 3<>/dev/tcp/203.0.113.10/8000; cat <&3"')).toBe(`${LAB_ADDR.clientV4}\n`);

      // a service of appuser that sends from early boot; reboot with a capture on the uplink from power-on
      writeFileSync(join(cli.root, 'etc/systemd/system/egress-probe.service'), PROBE_UNIT);
      await cli.sh('systemctl enable egress-probe.service');
      let cap: Awaited<ReturnType<Machine['capture']>> | undefined;
      const t0 = Date.now();
      await cli.reboot(async () => { cap = await cli.capture(`port ${LAB_ADDR.whoamiPort} or udp port 51820`); });
      await expectRunning(cli, 'boot check 4');
      const bootUp = await bootSeconds(cli);
      const unitsUp = await egressUnitSeconds(cli);
      await until('appuser\'s early probe through the tunnel', async () => whoamiSeen(lab, t0).some((x) => x.proto === 'udp' && x.from === LAB_ADDR.vpsV4));
      const packets = await cap!.stop();
      const direct = packets.filter((l) => l.includes(`${LAB_ADDR.clientV4}.`) || l.includes(`${LAB_ADDR.clientV6}.`)).filter((l) => l.includes(`.${LAB_ADDR.whoamiPort}:`));
      console.log(`${pair.vps} VPS, ${pair.client} client: client reboot: ${packets.length} packets on the uplink, ${direct.length} of appuser's probe sent directly; multi-user.target after ${bootUp.toFixed(2)} s`);
      expect(packets.some((l) => l.includes(`${LAB_ADDR.vpsV4}.51820`))).toBe(true); // the capture saw the tunnel
      expect(direct).toEqual([]);
      expect(whoamiSeen(lab, t0).filter((x) => x.from === LAB_ADDR.clientV4 || x.from === LAB_ADDR.clientV6)).toEqual([]);

      // VPS down: the client's boot is not held up by egress
      await vps.stop();
      await cli.reboot();
      await expectRunning(cli, 'boot check 5');
      const bootDown = await bootSeconds(cli);
      const unitsDown = await egressUnitSeconds(cli);
      console.log(`${pair.vps} VPS, ${pair.client} client: egress units with the VPS up: ${unitsUp}; with it down: ${unitsDown}`);
      console.log(`${pair.vps} VPS, ${pair.client} client: client boot to multi-user.target: ${bootUp.toFixed(2)} s with the VPS up, ${bootDown.toFixed(2)} s with it down`);
      // The supervisor runs after a boot with the VPS down. Once (CI, trixie client) it read 'inactive' right after the
      // boot reported running, with no start timestamp yet: wait for it (bounded), and show systemd's view if it never comes.
      const units = 'systemctl is-active egress-client.service egress-client-fence.service || true';
      const deadline = Date.now() + 60_000;
      while ((await cli.sh(units)) !== 'active\nactive\n' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 500));
      const active = await cli.sh(units);
      if (active !== 'active\nactive\n') console.log(`${pair.vps} VPS, ${pair.client} client: supervisor not active after the boot with the VPS down:\n${await cli.sh('systemctl status --no-pager -l egress-client.service egress-client-fence.service network-online.target 2>&1; systemctl list-jobs --no-pager 2>&1; journalctl -b --no-pager -n 80 2>&1 || true')}`);
      expect(active).toBe('active\nactive\n');
      expect(await whoamiAsApp(cli)).toBe(''); // fenced: nothing leaves directly while the tunnel has no peer
      await vps.boot();
      await expectRunning(vps, 'boot check 6');

      // VPS reboot: tunnel, table and forwarding come back; the client reaches the internet through it again
      await vps.reboot();
      await expectRunning(vps, 'boot check 7');
      expect(await vps.sh('systemctl is-active wg-quick@egress0.service')).toBe('active\n');
      expect(await until('appuser through the tunnel after the VPS reboot', async () => (await whoamiAsApp(cli)) === LAB_ADDR.vpsV4, 120_000)).toBe(true);
      const status = await cli.exec(['egress-server', 'status', `root@${LAB_ADDR.vpsV4}`, '-i', '/root/.ssh/id_ed25519']);
      expect(status.stdout + status.stderr).toMatch(/present, matches/);
      const doctor = await cli.exec(['egress-client', 'doctor']);
      expect(doctor.exitCode, doctor.stdout + doctor.stderr).toBe(0);

      // upgrade over the enrolled client
      await install(cli, NEW);
      expect(await cli.sh("dpkg-query -W -f='${Version}' egress")).toBe(NEW);
      expect((await cli.exec(['egress-client', 'doctor'])).exitCode).toBe(0);
      expect(await whoamiAsApp(cli)).toBe(LAB_ADDR.vpsV4);

      // select add --unit: each start of the unit makes a new cgroup; its drop-in (ExecStartPre=+ select sync) selects
      // it before the first process runs. The supervisor is stopped, so no watcher can be what selects it.
      writeFileSync(join(cli.root, 'etc/systemd/system/egress-webprobe.service'), WEB_UNIT);
      await cli.sh('systemctl daemon-reload; systemctl stop egress-client.service');
      await cli.sh('egress-client select add --unit egress-webprobe.service');
      expect(await cli.sh('cat /etc/systemd/system/egress-webprobe.service.d/50-egress-select.conf')).toMatch(/ExecStartPre=\+\/bin\/sh -c 'if \[ -x \/usr\/bin\/egress-client \]; then exec \/usr\/bin\/egress-client select sync --unit egress-webprobe.service; fi'/);
      for (const round of [1, 2]) {
        const unitCap = await cli.capture(`port ${LAB_ADDR.whoamiPort}`);
        const r = await cli.exec(['sh', '-c', 'rm -f /run/webprobe.out; systemctl start egress-webprobe.service; cat /run/webprobe.out'], { timeoutMs: 60_000 });
        const seen = await unitCap.stop();
        if (r.stdout.trim() !== LAB_ADDR.vpsV4) console.log(await cli.sh('systemctl status --no-pager -l egress-webprobe.service 2>&1; journalctl --no-pager -n 60 -u egress-webprobe.service 2>&1; nft list ruleset 2>&1 | head -80; ip rule 2>&1 || true'));
        expect(r.stdout.trim(), `start ${round} of the selected unit: ${r.stdout}${r.stderr}`).toBe(LAB_ADDR.vpsV4);
        expect(seen.filter((l) => l.includes(`${LAB_ADDR.clientV4}.`) && l.includes(`.${LAB_ADDR.whoamiPort}:`))).toEqual([]);
      }
      await cli.sh('systemctl start egress-client.service; egress-client select remove --unit egress-webprobe.service');
      expect(await cli.sh('ls /etc/systemd/system/egress-webprobe.service.d 2>&1 || true')).toMatch(/No such file/);
      expect(await cli.sh('rm -f /run/webprobe.out; systemctl start egress-webprobe.service; cat /run/webprobe.out')).toBe(`${LAB_ADDR.clientV4}\n`);
      await cli.sh('rm /etc/systemd/system/egress-webprobe.service; systemctl daemon-reload');

      // A named namespace joined by a service the systemd way (NetworkNamespacePath=): seen as the VPS; removed cleanly.
      await cli.sh('egress-client netns add vpn');
      writeFileSync(join(cli.root, 'etc/systemd/system/egress-nsprobe.service'), WEB_UNIT.replace('[Service]', '[Service]\nNetworkNamespacePath=/run/netns/vpn').replace(/webprobe/g, 'nsprobe'));
      const ns = await cli.exec(['sh', '-c', 'systemctl daemon-reload; systemctl start egress-nsprobe.service; cat /run/nsprobe.out'], { timeoutMs: 60_000 });
      expect(ns.stdout.trim(), `a service in /run/netns/vpn: ${ns.stdout}${ns.stderr}`).toBe(LAB_ADDR.vpsV4);
      await cli.sh('rm -f /etc/systemd/system/egress-nsprobe.service /run/nsprobe.out; systemctl daemon-reload; egress-client netns remove vpn');

      // uninstall + purge leave the client as before
      await cli.sh('systemctl disable --now egress-probe.service; rm /etc/systemd/system/egress-probe.service; systemctl daemon-reload');
      await cli.sh('egress-client uninstall');
      await cli.sh('DEBIAN_FRONTEND=noninteractive apt purge -y egress');
      await cli.sh(`rm -f /root/${deb(OLD)} /root/${deb(NEW)} /root/bundle.json /root/.ssh/id_ed25519 /root/.ssh/known_hosts`);
      const after = await snapshot(cli);
      const a = new Set(after.split('\n'));
      const b = new Set(before.split('\n'));
      expect([...[...b].filter((l) => !a.has(l)).map((l) => `- ${l}`), ...[...a].filter((l) => !b.has(l)).map((l) => `+ ${l}`)]).toEqual([]);
      await expectRunning(cli, 'boot check 8');
    });
  }, 1_500_000);
});
