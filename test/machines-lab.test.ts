// The machines lab itself: real systemd Debian 12 and 13 boot, reach the lab's internet, reboot with a real
// `systemctl reboot` (nspawn exits 133, a fresh netns), are seen on their uplink, and leave nothing behind.
import { existsSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LAB_ADDR, MACHINES_ROOT, withMachinesLab } from '@egress/lab';

describe('machines lab', () => {
  it('boots Debian 12 and 13 with systemd, reboots them, and tears down leaving nothing', async () => {
    let seen: string[] = [];
    await withMachinesLab('mlab', async (lab) => {
      const d12 = await lab.add({ name: 'd12', role: 'vps', suite: 'bookworm' });
      const d13 = await lab.add({ name: 'd13', role: 'client', suite: 'trixie' });
      await Promise.all([d12.boot(), d13.boot()]);
      expect(await d12.waitBooted()).toBe('running');
      expect(await d13.waitBooted()).toBe('running');
      expect(await d12.sh('. /etc/os-release; echo $VERSION_ID')).toBe('12\n');
      expect(await d13.sh('. /etc/os-release; echo $VERSION_ID')).toBe('13\n');
      // no Node in the machines: egress must bring its own
      expect((await d13.exec(['sh', '-c', 'command -v node nodejs'])).stdout).toBe('');
      // each machine reaches the lab's whoami with its own address
      const who = `exec 3<>/dev/tcp/${LAB_ADDR.whoamiV4}/${LAB_ADDR.whoamiPort}; cat <&3`;
      expect((await d12.sh(`bash -c '${who}'`)).trim()).toBe(LAB_ADDR.vpsV4);
      expect((await d13.sh(`bash -c '${who}'`)).trim()).toBe(LAB_ADDR.clientV4);
      // a real reboot: a marker written before survives, the boot id changes, the uplink sees the machine again
      const bootId = await d13.sh('cat /proc/sys/kernel/random/boot_id');
      await d13.sh('echo kept > /root/marker');
      let cap: Awaited<ReturnType<typeof d13.capture>> | undefined;
      expect(await d13.reboot(async () => { cap = await d13.capture(); })).toBe(133);
      expect(await d13.waitBooted()).toBe('running');
      expect(await d13.sh('cat /proc/sys/kernel/random/boot_id')).not.toBe(bootId);
      expect(await d13.sh('cat /root/marker')).toBe('kept\n');
      await d13.sh(`bash -c '${who}'`);
      seen = await cap!.stop();
      expect(seen.some((l) => l.includes(`${LAB_ADDR.clientV4}.`) && l.includes(`${LAB_ADDR.whoamiV4}.${LAB_ADDR.whoamiPort}`))).toBe(true);
    });
    // nothing left: netns, overlay mounts, files, cgroups
    expect(existsSync(`${MACHINES_ROOT}/mlab`)).toBe(false);
    const { execFileSync } = await import('node:child_process');
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toMatch(/^eg-mlab-/m);
    expect(execFileSync('cat', ['/proc/self/mountinfo'], { encoding: 'utf8' })).not.toContain(`${MACHINES_ROOT}/mlab`);
    for (const h of ['/sys/fs/cgroup/unified', '/sys/fs/cgroup/systemd']) {
      if (existsSync(h)) expect(readdirSync(h).filter((e) => e.startsWith('egress-machines-mlab-'))).toEqual([]);
    }
  }, 900_000);
});
