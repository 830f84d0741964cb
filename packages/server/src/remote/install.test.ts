// Exact install and purge commands per distribution, and what counts as missing.
import { describe, expect, it } from 'vitest';
import { distroOf, parseOsRelease } from './facts.js';
import { installCommands, missingPackages, purgeCommands } from './install.js';

const all = ['wireguard-tools', 'nftables', 'wireguard-go'];
const argvs = (cmds: ReturnType<typeof installCommands>) => cmds.map((c) => c.argv.join(' '));

describe('installCommands', () => {
  it('apt: update then install without recommends (no kernel image), non-interactive', () => {
    const cmds = installCommands('debian', all);
    expect(argvs(cmds)).toEqual(['apt-get update -q', 'apt-get install -y -q --no-install-recommends wireguard-tools nftables wireguard-go']);
    expect(cmds.every((c) => c.options?.env?.DEBIAN_FRONTEND === 'noninteractive' && c.options.change)).toBe(true);
  });

  it('dnf, apk and pacman without prompts', () => {
    expect(argvs(installCommands('fedora', ['wireguard-tools', 'nftables']))).toEqual(['dnf install -y -q wireguard-tools nftables']);
    expect(argvs(installCommands('alpine', all))).toEqual(['apk add --no-cache wireguard-tools nftables wireguard-go']);
    expect(argvs(installCommands('arch', all))).toEqual(['pacman -S --noconfirm --needed wireguard-tools nftables wireguard-go']);
  });

  it('nothing to run when nothing is missing; an unknown distro with missing packages is refused', () => {
    expect(installCommands('unknown', [])).toEqual([]);
    expect(() => installCommands('unknown', ['nftables'])).toThrow(/cannot install nftables: unknown distribution/);
  });

  it('purges exactly what was installed', () => {
    expect(argvs(purgeCommands('debian', all))).toEqual(['apt-get purge -y -q wireguard-tools nftables wireguard-go']);
    expect(argvs(purgeCommands('fedora', ['nftables']))).toEqual(['dnf remove -y -q nftables']);
    expect(argvs(purgeCommands('alpine', ['nftables']))).toEqual(['apk del nftables']);
    expect(argvs(purgeCommands('arch', ['nftables']))).toEqual(['pacman -Rns --noconfirm nftables']);
    expect(purgeCommands('debian', [])).toEqual([]);
  });
});

describe('missingPackages', () => {
  it('asks for wireguard-go only when the kernel has no module and it is absent', () => {
    expect(missingPackages({ tools: {}, kernelWireguard: 'none' })).toEqual(all);
    expect(missingPackages({ tools: {}, kernelWireguard: 'module' })).toEqual(['wireguard-tools', 'nftables']);
    expect(missingPackages({ tools: { wg: 'x', 'wg-quick': 'x', nft: 'x', 'wireguard-go': 'x' }, kernelWireguard: 'none' })).toEqual([]);
    expect(missingPackages({ tools: { wg: 'x', nft: 'x' }, kernelWireguard: 'loaded' })).toEqual(['wireguard-tools']);
  });
});

describe('distro detection', () => {
  it('maps os-release ID and ID_LIKE to a package manager family', () => {
    const os = parseOsRelease('NAME="Rocky Linux"\nID="rocky"\nID_LIKE="rhel centos fedora"\n');
    expect(os.ID).toBe('rocky');
    expect(distroOf(os.ID!, os.ID_LIKE!.split(' '))).toBe('fedora');
    expect(distroOf('ubuntu', ['debian'])).toBe('debian');
    expect(distroOf('alpine', [])).toBe('alpine');
    expect(distroOf('manjaro', ['arch'])).toBe('arch');
    expect(distroOf('nixos', [])).toBe('unknown');
  });
});
