// Which wireguard-go a lab's hosts run: the offload-capable one tools/setup.sh keeps in a cache (default), or the system's.
import { existsSync } from 'node:fs';
import type { LabHostName } from './addresses.js';
import type { Lab } from './lab.js';

/** The machine's wireguard-go (Debian 12: 0.0.20220316, no TUN offloads); wg-quick runs the one next to itself. */
export const SYSTEM_WIREGUARD_GO = '/usr/bin/wireguard-go';

/** wireguard-go 0.0.20231211 from bookworm-backports, unpacked by tools/setup.sh without enabling backports here. */
export const BACKPORTS_WIREGUARD_GO = '/var/cache/egress-lab/wireguard-go-0.0.20231211/usr/bin/wireguard-go';

/** Inside a host: a copy of the machine's wireguard-go, kept runnable after /usr/bin/wireguard-go points elsewhere. */
export const HOST_SYSTEM_WIREGUARD_GO = '/usr/local/lib/egress-lab/wireguard-go-system/wireguard-go';

export type LabWireguardGo = 'backports' | 'system';

/** The binary a choice means inside a host; backports falls back to the system's (with a reason) when setup.sh has not fetched it. */
export function wireguardGoPath(choice: LabWireguardGo): { path: string; note?: string } {
  if (choice === 'system') return { path: HOST_SYSTEM_WIREGUARD_GO };
  if (existsSync(BACKPORTS_WIREGUARD_GO)) return { path: BACKPORTS_WIREGUARD_GO };
  return { path: HOST_SYSTEM_WIREGUARD_GO, note: `${BACKPORTS_WIREGUARD_GO} is missing (tools/setup.sh fetches it on Debian 12): hosts run the system wireguard-go` };
}

// wg-quick puts its own directory first on PATH, so only /usr/bin/wireguard-go itself decides what it starts: in the
// host's private /usr overlay it becomes a symlink to the chosen binary (the original is copied aside once).
const SWITCH = `set -e
[ -L /usr/bin/wireguard-go ] || install -D -m 0755 /usr/bin/wireguard-go "$2"
ln -sfn "$1" /usr/bin/wireguard-go`;

/** Makes `path` the wireguard-go that hosts start (tunnels already up keep theirs until restarted). */
export async function useWireguardGo(lab: Lab, hosts: readonly LabHostName[], path: string): Promise<void> {
  await Promise.all(hosts.map((h) => lab.exec(h, ['sh', '-c', SWITCH, 'use-wireguard-go', path, HOST_SYSTEM_WIREGUARD_GO], { check: true })));
  lab.setWireguardGo(path);
}
