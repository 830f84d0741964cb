// `provision` and `enroll --userspace-wireguard backports` on real Debian 12 machines, through real apt and dpkg: the
// machines take their packages from a local mirror in the lab (genuine bookworm and bookworm-backports wireguard-go .debs from
// the Debian archive, cached by tools/setup.sh; its Release signed by a lab key the machine trusts), so nothing leaves
// for the internet. A dry run changes nothing; the real run adds only the pinned source and installs 0.0.20231211, which
// carries the tunnel (the client's, with a handshake, too); a re-run changes nothing; deprovision puts bookworm's
// wireguard-go back on the VPS, uninstall purges it from the client that had none, each machine as before; a mirror that stops serving packages after
// `apt-get update` leaves nothing behind.
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LAB_ADDR, startAptMirror, withMachinesLab, type Machine, type MachinesLab } from '@egress/lab';
import { PIN, SOURCE, buildEgressDeb, diff, dpkgWireguardGo, expectHandshake, installEgressDeb, packagesOf, removeDir, serverRunner, snapshot, whoamiAsAppuser } from './backports-helpers.js';

const DEBS = {
  system: '/var/cache/egress-lab/debs/wireguard-go_0.0.20220316-1+b4_amd64.deb',
  backports: '/var/cache/egress-lab/wireguard-go-0.0.20231211/wireguard-go_0.0.20231211-1~bpo12+1_amd64.deb',
};
let debs = '';

// The egress .deb of this tree, for the client machine (no Node there).
beforeAll(async () => { debs = await buildEgressDeb(); }, 300_000);
afterAll(() => removeDir(debs));

/** Points a machine's bookworm source at the lab mirror and trusts the mirror's key (also for Signed-By the Debian keyring). */
async function behindMirror(m: Machine, url: string, keyFile: string): Promise<string> {
  writeFileSync(join(m.root, 'etc/apt/sources.list'), `deb ${url} bookworm main\n`);
  const ring = join(m.root, 'usr/share/keyrings/debian-archive-keyring.gpg');
  writeFileSync(ring, Buffer.concat([readFileSync(ring), readFileSync(keyFile)]));
  await m.sh('cp /usr/share/keyrings/debian-archive-keyring.gpg /etc/apt/trusted.gpg.d/debian-archive-keyring.gpg');
  return m.sh('apt-get update 2>&1');
}

describe('--userspace-wireguard backports on real Debian 12 machines (real apt and dpkg, a local mirror)', () => {
  it('provision and enroll: dry run changes nothing; 0.0.20231211 installed pinned carries the tunnel; re-run is a no-op; deprovision/uninstall and a failed install leave the machine as before', async () => {
    const work = mkdtempSync(join(tmpdir(), 'egress-bpo-'));
    try {
      await withMachinesLab('mbpo', async (lab: MachinesLab) => {
        const mirror = await startAptMirror(lab, [
          { suite: 'bookworm', debs: [DEBS.system] },
          { suite: 'bookworm-backports', debs: [DEBS.backports], notAutomatic: true },
        ]);
        const vps = await lab.add({ name: 'vps', role: 'vps', suite: 'bookworm' });
        const cli = await lab.add({ name: 'cli', role: 'client', suite: 'bookworm' });
        await Promise.all([vps.boot(), cli.boot()]);
        expect(await vps.waitBooted()).toBe('running');
        expect(await cli.waitBooted()).toBe('running');
        // The machines sit behind the lab's mirror (as a VPS behind its provider's mirror): their bookworm source points
        // there, and the mirror's signing key is in the Debian keyring the backports source is checked against.
        const upd = await behindMirror(vps, mirror.url, mirror.keyFile);
        await behindMirror(cli, mirror.url, mirror.keyFile);
        console.log(`machine's own apt-get update (its bookworm source on the mirror):\n${upd}`);
        // ... and a third-party source that is gone (a dead repository on a real VPS): egress must not depend on it.
        writeFileSync(join(vps.root, 'etc/apt/sources.list.d/gone.list'), `deb [trusted=yes] ${mirror.url.replace(/debian$/, 'gone')} bookworm main\n`);
        const dead = await vps.exec(['sh', '-c', 'apt-get update 2>&1']);
        console.log(`apt-get update with the dead source (exit ${dead.exitCode}):\n${dead.stdout}`);
        expect(dead.exitCode).not.toBe(0);
        expect(await dpkgWireguardGo(vps)).toBe('0.0.20220316-1+b4 install ok installed');

        // egress-server runs on this host in the lab's router namespace and reaches the machine over SSH.
        const server = serverRunner(lab, vps, work);
        const bpo = ['--userspace-wireguard', 'backports', '--backports-mirror', `${mirror.url}/`, '--out', join(work, 'bundle.json')];
        const before = await snapshot(vps);

        // Bad input is refused before anything changes.
        const bad = await server(['provision', '--userspace-wireguard', 'backports', '--backports-mirror', 'http://x/debian\nTypes: deb', '--out', join(work, 'bad.json')]);
        expect(bad.code).not.toBe(0);
        expect(bad.out).toContain('--backports-mirror: got');

        // 1. --dry-run: shows the source (with the mirror), the pin and the package; changes nothing.
        const dry = await server(['provision', '--dry-run', ...bpo]);
        console.log(`provision --dry-run:\n${dry.out}`);
        expect(dry.code, dry.out).toBe(0);
        expect(dry.out).toContain(`${SOURCE}:`);
        expect(dry.out).toContain(`URIs: ${mirror.url}\n`);
        expect(dry.out).toMatch(/Suites: bookworm-backports/);
        expect(dry.out).toMatch(/Package: \*\n\s+Pin: release n=bookworm-backports\n\s+Pin-Priority: -1/);
        expect(dry.out).toContain('apt-get install -y -q --no-install-recommends wireguard-go/bookworm-backports');
        // Decided from apt's candidate on the machine (bookworm's own predates offloads), not from the codename alone.
        expect(dry.out).toContain("--userspace-wireguard backports: Debian 12's own wireguard-go (0.0.20220316-1+b4) predates offloads (0.0.20230223); bookworm-backports has 0.0.20231211");
        expect(diff(before, await snapshot(vps))).toEqual([]);

        // 2. A mirror that stops serving packages after `apt-get update`: the install fails and is rolled back.
        mirror.setServingDebs(false);
        const failed = await server(['provision', ...bpo]);
        console.log(`provision with the mirror refusing .debs (exit ${failed.code}):\n${failed.out}`);
        expect(failed.code).not.toBe(0);
        expect(failed.out).toMatch(/wireguard-go.*503|503.*wireguard-go/s);
        expect(mirror.requests().some((l) => /InRelease 200$/.test(l))).toBe(true);
        expect(mirror.requests().some((l) => /wireguard-go_0\.0\.20231211-1~bpo12\+1_amd64\.deb 503$/.test(l))).toBe(true);
        expect(diff(before, await snapshot(vps))).toEqual([]);
        mirror.setServingDebs(true);

        // 3. The real run: source + pin recorded, 0.0.20231211 installed by dpkg, the tunnel carried by it.
        const real = await server(['provision', ...bpo]);
        console.log(`provision:\n${real.out}`);
        expect(real.code, real.out).toBe(0);
        const dpkgAfter = await dpkgWireguardGo(vps);
        console.log(`dpkg after provision: wireguard-go ${dpkgAfter}\n${await vps.sh('apt-cache policy wireguard-go')}`);
        expect(dpkgAfter).toBe('0.0.20231211-1~bpo12+1 install ok installed');
        expect(JSON.parse(await vps.sh('cat /etc/egress/provision.json'))).toMatchObject({ aptFiles: [SOURCE, PIN], wireguardGoBefore: '0.0.20220316-1+b4' });
        expect(await vps.sh(`cat ${SOURCE}`)).toContain(`URIs: ${mirror.url}\nSuites: bookworm-backports\n`);
        const aptDiff = diff(before, await snapshot(vps)).filter((l) => / \/etc\/apt\//.test(l) || l.startsWith('+ /etc/apt') || l.startsWith('- /etc/apt'));
        expect(aptDiff.map((l) => l.replace(/ [0-9a-f]{32} +| f \d+ \d+$/g, ' ').trim()).sort()).toEqual([`+ ${PIN}`, `+ ${PIN}`, `+ ${SOURCE}`, `+ ${SOURCE}`].sort());
        // Nothing but wireguard-go came from backports (dpkg: every other package as before).
        expect(diff(packagesOf(before), packagesOf(await snapshot(vps)))).toEqual(['- wireguard-go 0.0.20220316-1+b4 install ok installed', '+ wireguard-go 0.0.20231211-1~bpo12+1 install ok installed']);
        // apt-get update read only the backports source: its indexes were added, the others left as they were.
        const lists = (x: string) => x.split('## apt lists\n')[1]!.split('## nft')[0]!;
        const listDiff = diff(lists(before), lists(await snapshot(vps)));
        console.log(`apt lists added by provision:\n${listDiff.join('\n')}`);
        expect(listDiff.length).toBeGreaterThan(0);
        expect(listDiff.every((l) => l.startsWith('+ ') && l.includes('_dists_bookworm-backports_'))).toBe(true);
        expect(await vps.sh('systemctl is-active wg-quick@egress0.service')).toBe('active\n');
        expect(await vps.sh('pid=$(pgrep -x wireguard-go); readlink /proc/$pid/exe; dpkg-query -S $(readlink /proc/$pid/exe)')).toBe('/usr/bin/wireguard-go\nwireguard-go: /usr/bin/wireguard-go\n');
        console.log(`apt's log of the install:\n${await vps.sh('cat /var/log/apt/term.log')}`);
        const status = await server(['status']);
        console.log(`status:\n${status.out}`);
        // The binary of 0.0.20231211 prints v0.0.20230223 (its version.go was not bumped): status names the package too.
        expect(status.out).toMatch(/tunnel wireguard-go 0\.0\.20230223 \(package wireguard-go 0\.0\.20231211-1~bpo12\+1, \/usr\/bin\/wireguard-go\), offloads on/);

        // 4. Re-run: nothing changes.
        const afterFirst = await snapshot(vps);
        const again = await server(['provision', ...bpo]);
        expect(again.code, again.out).toBe(0);
        expect(again.out).toContain('already provisioned, nothing changed');
        expect(diff(afterFirst, await snapshot(vps))).toEqual([]);
        // Another mirror (the same archive at the router's IPv6 address): only the source is rewritten, and apt reads it.
        const moved = await server(['provision', ...bpo.map((a) => (a === `${mirror.url}/` ? mirror.url6 : a))]);
        expect(moved.code, moved.out).toBe(0);
        expect(moved.out).toContain(`${SOURCE} is rewritten to take bookworm-backports from ${mirror.url6} (wireguard-go is not reinstalled)`);
        expect(await vps.sh(`cat ${SOURCE}`)).toContain(`URIs: ${mirror.url6}\n`);
        expect(diff(afterFirst, await snapshot(vps)).filter((l) => !l.includes(SOURCE))).toEqual([]);
        const upd6 = await vps.exec(['sh', '-c', `apt-get update -o Dir::Etc::SourceList=${SOURCE} -o Dir::Etc::SourceParts=- -o APT::Get::List-Cleanup=0 2>&1`]);
        console.log(`apt-get update of the rewritten source (exit ${upd6.exitCode}):\n${upd6.stdout}`);
        expect(upd6.stdout).toContain(`Get:1 ${mirror.url6} bookworm-backports InRelease`);
        expect(upd6.exitCode).toBe(0);

        // 5. The client (no wireguard-go before): enroll --userspace-wireguard backports (dry run, a failed install, the
        // real one, a re-run, uninstall).
        await installEgressDeb(cli, debs);
        await cli.sh('useradd --create-home --shell /bin/bash appuser');
        // This client has no wireguard-go before (the VPS had bookworm's): uninstall must purge the one enroll installed.
        console.log(`client: ${await cli.sh('dpkg --purge wireguard-go 2>&1')}`);
        copyFileSync(join(work, 'bundle.json'), join(cli.root, 'root/bundle.json'));
        const cliBefore = await snapshot(cli);
        const enroll = (...extra: string[]) => cli.exec(['sh', '-c', 'egress-client enroll /root/bundle.json --user appuser --userspace-wireguard backports "$@" 2>&1', 'sh', '--backports-mirror', mirror.url, ...extra], { timeoutMs: 240_000 });
        const cdry = await enroll('--dry-run');
        console.log(`enroll --dry-run:\n${cdry.stdout}`);
        expect(cdry.exitCode, cdry.stdout).toBe(0);
        expect(cdry.stdout).toContain(`would write ${SOURCE}:`);
        expect(cdry.stdout).toContain(`URIs: ${mirror.url}\n`);
        expect(cdry.stdout).toContain('would run: apt-get install -y -q --no-install-recommends wireguard-go/bookworm-backports');
        expect(diff(cliBefore, await snapshot(cli))).toEqual([]);
        mirror.setServingDebs(false);
        const cfail = await enroll();
        console.log(`enroll with the mirror refusing .debs (exit ${cfail.exitCode}):\n${cfail.stdout}`);
        expect(cfail.exitCode).not.toBe(0);
        expect(cfail.stdout).toContain('the backports source was removed again');
        expect(diff(cliBefore, await snapshot(cli))).toEqual([]);
        mirror.setServingDebs(true);
        const creal = await enroll();
        console.log(`enroll:\n${creal.stdout}`);
        expect(creal.exitCode, creal.stdout).toBe(0);
        expect(await dpkgWireguardGo(cli)).toBe('0.0.20231211-1~bpo12+1 install ok installed');
        expect(diff(packagesOf(cliBefore), packagesOf(await snapshot(cli)))).toEqual(['+ wireguard-go 0.0.20231211-1~bpo12+1 install ok installed']);
        await expectHandshake(cli);
        expect(await whoamiAsAppuser(cli)).toBe(LAB_ADDR.vpsV4);
        const cdoc = await cli.exec(['egress-client', 'doctor']);
        console.log(`client doctor:\n${cdoc.stdout}${cdoc.stderr}`);
        expect(`${cdoc.stdout}${cdoc.stderr}`).toMatch(/wireguard-go 0\.0\.20230223 \(package wireguard-go 0\.0\.20231211-1~bpo12\+1, \/usr\/bin\/wireguard-go\), offloads on/);
        const cstat = await cli.exec(['egress-client', 'status']);
        expect(`${cstat.stdout}${cstat.stderr}`).toMatch(/tunnel wireguard-go 0\.0\.20230223 \(package wireguard-go 0\.0\.20231211-1~bpo12\+1/);
        const cliAfter = await snapshot(cli);
        const cagain = await enroll();
        console.log(`enroll again:\n${cagain.stdout}`);
        expect(cagain.exitCode, cagain.stdout).toBe(0);
        // apt's candidate is now the pinned backport itself: nothing to install (the binary prints v0.0.20230223).
        expect(cagain.stdout).toContain('--userspace-wireguard backports: wireguard-go 0.0.20231211-1~bpo12+1 is installed and has TUN offloads; nothing to install');
        expect(diff(cliAfter, await snapshot(cli))).toEqual([]);
        const un = await cli.exec(['sh', '-c', 'egress-client uninstall 2>&1']);
        console.log(`uninstall:\n${un.stdout}`);
        expect(un.exitCode, un.stdout).toBe(0);
        // dpkg keeps a "not-installed" line for a package apt purged (dpkg --purge before left none): not installed either way.
        const gone = await dpkgWireguardGo(cli);
        console.log(`client dpkg after uninstall: wireguard-go ${JSON.stringify(gone)}`);
        expect(gone).toMatch(/^(dpkg-query: no packages found matching wireguard-go\n| unknown ok not-installed)$/);
        expect(diff(cliBefore, await snapshot(cli))).toEqual([]);
        console.log(`client apt history:\n${await cli.sh('cat /var/log/apt/history.log')}`);

        // 6. deprovision: source and pin gone, bookworm's wireguard-go back, the machine as before.
        const dep = await server(['deprovision']);
        console.log(`deprovision:\n${dep.out}`);
        expect(dep.code, dep.out).toBe(0);
        expect(await dpkgWireguardGo(vps)).toBe('0.0.20220316-1+b4 install ok installed');
        expect(diff(before, await snapshot(vps))).toEqual([]);
        console.log(`apt's history:\n${await vps.sh('cat /var/log/apt/history.log')}`);
        console.log(`mirror requests:\n${mirror.requests().join('\n')}`);
        mirror.stop();
      });
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }, 600_000);
});
