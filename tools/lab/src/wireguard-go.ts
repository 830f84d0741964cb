// Which wireguard-go a lab's hosts run: the offload-capable one tools/setup.sh keeps in a cache (default), or the system's.
import { existsSync } from 'node:fs';
import type { LabHostName } from './addresses.js';
import type { Lab } from './lab.js';

/** The system's wireguard-go (Debian 12: 0.0.20220316, no TUN offloads); always left in place. */
export const SYSTEM_WIREGUARD_GO = '/usr/bin/wireguard-go';

/** wireguard-go 0.0.20231211 from bookworm-backports, unpacked by tools/setup.sh without enabling backports here. */
export const BACKPORTS_WIREGUARD_GO = '/var/cache/egress-lab/wireguard-go-0.0.20231211/usr/bin/wireguard-go';

/** Where a lab host finds the chosen wireguard-go first on PATH (wg-quick runs `wireguard-go` from PATH). */
const HOST_LINK = '/usr/local/bin/wireguard-go';

export type LabWireguardGo = 'backports' | 'system';

/** The binary a choice means; the backports one falls back to the system's (with a reason) when setup.sh has not fetched it. */
export function wireguardGoPath(choice: LabWireguardGo): { path: string; note?: string } {
  if (choice === 'system') return { path: SYSTEM_WIREGUARD_GO };
  if (existsSync(BACKPORTS_WIREGUARD_GO)) return { path: BACKPORTS_WIREGUARD_GO };
  return { path: SYSTEM_WIREGUARD_GO, note: `${BACKPORTS_WIREGUARD_GO} is missing (tools/setup.sh fetches it on Debian 12): hosts run the system wireguard-go` };
}

/** Puts the chosen wireguard-go first on PATH in each host (a symlink in the host's private /usr overlay). */
export async function installWireguardGo(lab: Lab, hosts: readonly LabHostName[], path: string): Promise<void> {
  if (path === SYSTEM_WIREGUARD_GO) return;
  await Promise.all(hosts.map((h) => lab.exec(h, ['ln', '-sfn', path, HOST_LINK], { check: true })));
}
