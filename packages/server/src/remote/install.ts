// Installs what the VPS lacks (wireguard-tools, nftables, wireguard-go without the kernel module) non-interactively.
import { EgressError, type Command } from '@egress/core';
import type { Distro, VpsFacts } from './facts.js';

/** Packages egress needs that the VPS does not have yet. */
export function missingPackages(facts: Pick<VpsFacts, 'tools' | 'kernelWireguard'>): string[] {
  const out: string[] = [];
  if (!facts.tools.wg || !facts.tools['wg-quick']) out.push('wireguard-tools');
  if (!facts.tools.nft) out.push('nftables');
  if (facts.kernelWireguard === 'none' && !facts.tools['wireguard-go']) out.push('wireguard-go');
  return out;
}

/** The exact commands that install `packages` with the distro's package manager, without prompts. */
export function installCommands(distro: Distro, packages: readonly string[]): Command[] {
  if (packages.length === 0) return [];
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  switch (distro) {
    case 'debian':
      return [
        { argv: ['apt-get', 'update', '-q'], options: { change: true, env } },
        { argv: ['apt-get', 'install', '-y', '-q', '--no-install-recommends', ...packages], options: { change: true, env } },
      ];
    case 'fedora':
      return [{ argv: ['dnf', 'install', '-y', '-q', ...packages], options: { change: true } }];
    case 'alpine':
      return [{ argv: ['apk', 'add', '--no-cache', ...packages], options: { change: true } }];
    case 'arch':
      return [{ argv: ['pacman', '-S', '--noconfirm', '--needed', ...packages], options: { change: true } }];
    default:
      throw new EgressError('E_UNSUPPORTED', `cannot install ${packages.join(', ')}: unknown distribution (no apt, dnf, apk or pacman known for it)`, {
        hint: `install ${packages.join(' ')} on the VPS by hand, then rerun provision`,
      });
  }
}

/** The exact commands that remove packages egress installed (`deprovision --purge`). */
export function purgeCommands(distro: Distro, packages: readonly string[]): Command[] {
  if (packages.length === 0) return [];
  switch (distro) {
    case 'debian':
      return [{ argv: ['apt-get', 'purge', '-y', '-q', ...packages], options: { change: true, env: { DEBIAN_FRONTEND: 'noninteractive' } } }];
    case 'fedora':
      return [{ argv: ['dnf', 'remove', '-y', '-q', ...packages], options: { change: true } }];
    case 'alpine':
      return [{ argv: ['apk', 'del', ...packages], options: { change: true } }];
    case 'arch':
      return [{ argv: ['pacman', '-Rns', '--noconfirm', ...packages], options: { change: true } }];
    default:
      return [];
  }
}
