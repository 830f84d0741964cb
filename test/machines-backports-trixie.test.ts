// `provision` and `enroll --userspace-wireguard backports` on real Debian 13 machines, whose own archive already has an
// offload-capable wireguard-go (0.0.20231211-1+b9, installed in the image): egress decides from apt's facts, so a dry
// run and the real run name the distribution's own package, no apt source or pin is written, nothing is installed,
// status/doctor name the package with offloads on, the tunnel carries appuser's traffic, and uninstall/deprovision
// leave each machine as before — with the wireguard-go that was there before still installed. Then a Debian 13 client
// without wireguard-go, behind a local mirror of trixie main serving Debian's genuine .deb (cached by tools/setup.sh):
// enroll installs exactly apt's candidate from the host's own source (still no source added) and uninstall purges it;
// the same for a VPS without wireguard-go (provision, status, deprovision).
import { copyFileSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LAB_ADDR, startAptMirror, withMachinesLab, type MachinesLab } from '@egress/lab';
import { PIN, SOURCE, buildEgressDeb, diff, dpkgWireguardGo, expectHandshake, installEgressDeb, packagesOf, removeDir, serverRunner, snapshot, whoamiAsAppuser } from './backports-helpers.js';

const OWN = '0.0.20231211-1+b9';
const SAID = `--userspace-wireguard backports: Debian 13's own wireguard-go 0.0.20231211 has offloads; no backports source needed (${OWN} is installed: nothing to install)`;
// The 0.0.20231211 binary prints v0.0.20230223 (upstream did not bump its version.go): status names the package too.
const CARRIED = /wireguard-go 0\.0\.20230223 \(package wireguard-go 0\.0\.20231211-1\+b9, \/usr\/bin\/wireguard-go\), offloads on/;
const TRIXIE_DEBS = '/var/cache/egress-lab/debs-trixie';
let debs = '';

beforeAll(async () => { debs = await buildEgressDeb(); }, 300_000);
afterAll(() => removeDir(debs));

/** /etc/apt lines of a snapshot diff (files and their checksums). */
const aptLines = (lines: string[]) => lines.filter((l) => l.includes('/etc/apt'));

describe("--userspace-wireguard backports on real Debian 13 machines (the distribution's own wireguard-go)", () => {
  it('provision and enroll: the own package is named in the dry run and the run, no apt source, it carries the tunnel with offloads; deprovision/uninstall leave the machines as before', async () => {
    const work = mkdtempSync(join(tmpdir(), 'egress-bpo13-'));
    try {
      await withMachinesLab('mbpo13', async (lab: MachinesLab) => {
        const vps = await lab.add({ name: 'vps', role: 'vps', suite: 'trixie' });
        const cli = await lab.add({ name: 'cli', role: 'client', suite: 'trixie' });
        await Promise.all([vps.boot(), cli.boot()]);
        expect(await vps.waitBooted()).toBe('running');
        expect(await cli.waitBooted()).toBe('running');
        expect(await dpkgWireguardGo(vps)).toBe(`${OWN} install ok installed`);
        console.log(`VPS apt-cache policy wireguard-go:\n${await vps.sh('apt-cache policy wireguard-go')}`);
        const server = serverRunner(lab, vps, work);
        const bpo = ['--userspace-wireguard', 'backports', '--out', join(work, 'bundle.json')];
        const before = await snapshot(vps);

        // 1. --dry-run: names Debian 13's own package, shows no source, pin or apt-get; changes nothing.
        const dry = await server(['provision', '--dry-run', ...bpo]);
        console.log(`provision --dry-run:\n${dry.out}`);
        expect(dry.code, dry.out).toBe(0);
        expect(dry.out).toContain(SAID);
        for (const absent of [SOURCE, PIN, '/etc/apt/', 'apt-get', 'Pin-Priority']) expect(dry.out).not.toContain(absent);
        expect(diff(before, await snapshot(vps))).toEqual([]);

        // 2. The real run: no file under /etc/apt, no package changed, nothing recorded to undo; the tunnel is up.
        const real = await server(['provision', ...bpo]);
        console.log(`provision:\n${real.out}`);
        expect(real.code, real.out).toBe(0);
        expect(real.out).toContain(SAID);
        const after = await snapshot(vps);
        expect(aptLines(diff(before, after))).toEqual([]);
        expect(diff(packagesOf(before), packagesOf(after))).toEqual([]);
        expect(after.split('## apt lists')[1]!.split('## nft')[0]).toBe(before.split('## apt lists')[1]!.split('## nft')[0]);
        const record = JSON.parse(await vps.sh('cat /etc/egress/provision.json')) as Record<string, unknown>;
        console.log(`provision record: ${JSON.stringify(record)}`);
        expect(record).toMatchObject({ aptFiles: [], installedPackages: [] });
        expect(record.wireguardGoBefore).toBeUndefined();
        expect(record.wireguardGoInstalled).toBeUndefined();
        expect(await vps.sh('systemctl is-active wg-quick@egress0.service')).toBe('active\n');
        const status = await server(['status']);
        console.log(`status:\n${status.out}`);
        expect(status.code, status.out).toBe(0);
        expect(status.out).toMatch(new RegExp(`tunnel ${CARRIED.source}`));

        // 3. The client: enroll --userspace-wireguard backports (dry run, real), traffic through the tunnel, uninstall.
        await installEgressDeb(cli, debs);
        await cli.sh('useradd --create-home --shell /bin/bash appuser');
        copyFileSync(join(work, 'bundle.json'), join(cli.root, 'root/bundle.json'));
        const cliBefore = await snapshot(cli);
        const enroll = (...extra: string[]) => cli.exec(['sh', '-c', 'egress-client enroll /root/bundle.json --user appuser --userspace-wireguard backports "$@" 2>&1', 'sh', ...extra], { timeoutMs: 240_000 });
        const cdry = await enroll('--dry-run');
        console.log(`enroll --dry-run:\n${cdry.stdout}`);
        expect(cdry.exitCode, cdry.stdout).toBe(0);
        expect(cdry.stdout).toContain(SAID);
        for (const absent of [SOURCE, PIN, 'apt-get']) expect(cdry.stdout).not.toContain(absent);
        expect(diff(cliBefore, await snapshot(cli))).toEqual([]);
        const creal = await enroll();
        console.log(`enroll:\n${creal.stdout}`);
        expect(creal.exitCode, creal.stdout).toBe(0);
        expect(creal.stdout).toContain(SAID);
        const cliAfter = await snapshot(cli);
        expect(aptLines(diff(cliBefore, cliAfter))).toEqual([]);
        expect(diff(packagesOf(cliBefore), packagesOf(cliAfter))).toEqual([]);
        expect(await cli.sh('test -e /etc/egress/apt-files.json && echo recorded || echo none')).toBe('none\n');
        await expectHandshake(cli);
        expect(await whoamiAsAppuser(cli)).toBe(LAB_ADDR.vpsV4);
        const cdoc = await cli.exec(['egress-client', 'doctor']);
        console.log(`client doctor:\n${cdoc.stdout}${cdoc.stderr}`);
        expect(`${cdoc.stdout}${cdoc.stderr}`).toMatch(CARRIED);
        const cstat = await cli.exec(['egress-client', 'status']);
        console.log(`client status:\n${cstat.stdout}${cstat.stderr}`);
        expect(`${cstat.stdout}${cstat.stderr}`).toMatch(new RegExp(`tunnel ${CARRIED.source}`));
        const un = await cli.exec(['sh', '-c', 'egress-client uninstall 2>&1']);
        console.log(`uninstall:\n${un.stdout}`);
        expect(un.exitCode, un.stdout).toBe(0);
        // The wireguard-go that was there before enroll stays (egress did not install it).
        expect(await dpkgWireguardGo(cli)).toBe(`${OWN} install ok installed`);
        expect(diff(cliBefore, await snapshot(cli))).toEqual([]);

        // 4. A client without wireguard-go, its trixie source on the lab's mirror (Debian's genuine .deb): enroll installs
        // the candidate from that source (no source added), records it, and uninstall purges it again.
        const deb = readdirSync(TRIXIE_DEBS).find((f) => /^wireguard-go_.*_amd64\.deb$/.test(f));
        expect(deb, `${TRIXIE_DEBS}/wireguard-go_*_amd64.deb missing: run tools/setup.sh`).toBeDefined();
        const version = execFileSync('dpkg-deb', ['-f', join(TRIXIE_DEBS, deb!), 'Version'], { encoding: 'utf8' }).trim();
        const mirror = await startAptMirror(lab, [{ suite: 'trixie', debs: [join(TRIXIE_DEBS, deb!)] }]);
        await cli.sh('mkdir -p /etc/apt/keyrings');
        copyFileSync(mirror.keyFile, join(cli.root, 'etc/apt/keyrings/egress-lab-mirror.gpg'));
        writeFileSync(join(cli.root, 'etc/apt/sources.list'), `deb [signed-by=/etc/apt/keyrings/egress-lab-mirror.gpg] ${mirror.url} trixie main\n`);
        console.log(`client: ${await cli.sh('dpkg --purge wireguard-go 2>&1; apt-get update 2>&1; apt-cache policy wireguard-go')}`);
        const bare = await snapshot(cli);
        const installing = `--userspace-wireguard backports: Debian 13's own wireguard-go ${version.replace(/^\d+:/, '').replace(/-[^-]*$/, '')} has offloads; no backports source needed (installing ${version} from the host's own sources)`;
        const ndry = await enroll('--dry-run');
        console.log(`enroll --dry-run (no wireguard-go):\n${ndry.stdout}`);
        expect(ndry.exitCode, ndry.stdout).toBe(0);
        expect(ndry.stdout).toContain(installing);
        expect(ndry.stdout).toContain(`would run: apt-get install -y -q --no-install-recommends wireguard-go=${version}`);
        for (const absent of [SOURCE, PIN, 'would write']) expect(ndry.stdout).not.toContain(absent);
        expect(diff(bare, await snapshot(cli))).toEqual([]);
        const nreal = await enroll();
        console.log(`enroll (no wireguard-go):\n${nreal.stdout}`);
        expect(nreal.exitCode, nreal.stdout).toBe(0);
        expect(await dpkgWireguardGo(cli)).toBe(`${version} install ok installed`);
        const installed = await snapshot(cli);
        expect(aptLines(diff(bare, installed))).toEqual([]);
        expect(diff(packagesOf(bare), packagesOf(installed))).toEqual([`+ wireguard-go ${version} install ok installed`]);
        expect(JSON.parse(await cli.sh('cat /etc/egress/apt-files.json'))).toEqual({ files: [], wireguardGoBefore: null, wireguardGoInstalled: version });
        expect(mirror.requests().some((l) => l.endsWith(`${deb} 200`))).toBe(true);
        await expectHandshake(cli);
        expect(await whoamiAsAppuser(cli)).toBe(LAB_ADDR.vpsV4);
        const ndoc = await cli.exec(['egress-client', 'doctor']);
        expect(`${ndoc.stdout}${ndoc.stderr}`).toMatch(new RegExp(`wireguard-go 0\\.0\\.\\d+ \\(package wireguard-go ${version.replace(/[.+]/g, '\\$&')}, /usr/bin/wireguard-go\\), offloads on`));
        const nun = await cli.exec(['sh', '-c', 'egress-client uninstall 2>&1']);
        console.log(`uninstall (egress installed wireguard-go):\n${nun.stdout}`);
        expect(nun.exitCode, nun.stdout).toBe(0);
        const gone = await dpkgWireguardGo(cli);
        console.log(`client dpkg after uninstall: wireguard-go ${JSON.stringify(gone)}`);
        expect(gone).toMatch(/^(dpkg-query: no packages found matching wireguard-go\n| unknown ok not-installed)$/);
        expect(diff(bare, await snapshot(cli))).toEqual([]);

        // 5. deprovision: the VPS as before, its own wireguard-go still installed.
        const dep = await server(['deprovision']);
        console.log(`deprovision:\n${dep.out}`);
        expect(dep.code, dep.out).toBe(0);
        expect(await dpkgWireguardGo(vps)).toBe(`${OWN} install ok installed`);
        expect(diff(before, await snapshot(vps))).toEqual([]);

        // 6. The VPS without wireguard-go, behind the same mirror: provision installs the candidate (shown in --dry-run,
        // no source), status names it with offloads on, deprovision purges it and the VPS is as before.
        await vps.sh('mkdir -p /etc/apt/keyrings');
        copyFileSync(mirror.keyFile, join(vps.root, 'etc/apt/keyrings/egress-lab-mirror.gpg'));
        writeFileSync(join(vps.root, 'etc/apt/sources.list'), `deb [signed-by=/etc/apt/keyrings/egress-lab-mirror.gpg] ${mirror.url} trixie main\n`);
        console.log(`VPS: ${await vps.sh('dpkg --purge wireguard-go 2>&1; apt-get update 2>&1')}`);
        const vbare = await snapshot(vps);
        const bpo2 = ['--userspace-wireguard', 'backports', '--out', join(work, 'bundle2.json')];
        const vdry = await server(['provision', '--dry-run', ...bpo2]);
        console.log(`provision --dry-run (no wireguard-go):\n${vdry.out}`);
        expect(vdry.code, vdry.out).toBe(0);
        expect(vdry.out).toContain(installing);
        expect(vdry.out).toContain(`install: apt-get install -y -q --no-install-recommends wireguard-go=${version}`);
        for (const absent of [SOURCE, PIN]) expect(vdry.out).not.toContain(absent);
        expect(diff(vbare, await snapshot(vps))).toEqual([]);
        const vreal = await server(['provision', ...bpo2]);
        console.log(`provision (no wireguard-go):\n${vreal.out}`);
        expect(vreal.code, vreal.out).toBe(0);
        expect(await dpkgWireguardGo(vps)).toBe(`${version} install ok installed`);
        const vinst = await snapshot(vps);
        expect(aptLines(diff(vbare, vinst))).toEqual([]);
        expect(diff(packagesOf(vbare), packagesOf(vinst))).toEqual([`+ wireguard-go ${version} install ok installed`]);
        expect(JSON.parse(await vps.sh('cat /etc/egress/provision.json'))).toMatchObject({ aptFiles: [], installedPackages: ['wireguard-go'], wireguardGoBefore: null, wireguardGoInstalled: version });
        const vstat = await server(['status']);
        console.log(`status:\n${vstat.out}`);
        expect(vstat.out).toMatch(new RegExp(`tunnel wireguard-go 0\\.0\\.\\d+ \\(package wireguard-go ${version.replace(/[.+]/g, '\\$&')}, /usr/bin/wireguard-go\\), offloads on`));
        const vdep = await server(['deprovision']);
        console.log(`deprovision (egress installed wireguard-go):\n${vdep.out}`);
        expect(vdep.code, vdep.out).toBe(0);
        expect(await dpkgWireguardGo(vps)).toMatch(/^(dpkg-query: no packages found matching wireguard-go\n| unknown ok not-installed)$/);
        expect(diff(vbare, await snapshot(vps))).toEqual([]);
        mirror.stop();
      });
    } finally {
      removeDir(work);
    }
  }, 600_000);
});
