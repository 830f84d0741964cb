// Before enroll changes anything: the tools it drives exist, and WireGuard works (kernel module or wireguard-go).
import { NotFoundError } from '@egress/core/errors';
import type { Host } from '@egress/core/host/host';

/** Tool → the Debian/Ubuntu package that provides it. */
const TOOLS: Record<string, string> = { wg: 'wireguard-tools', 'wg-quick': 'wireguard-tools', nft: 'nftables', ip: 'iproute2', setpriv: 'util-linux' };

async function has(host: Host, tool: string): Promise<boolean> {
  return (await host.run(['sh', '-c', 'command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]', 'sh', tool])).exitCode === 0;
}

/** Refuses, naming the package to install, when a tool or WireGuard support is missing. */
export async function checkPrerequisites(host: Host): Promise<void> {
  const missing: string[] = [];
  for (const tool of Object.keys(TOOLS)) if (!(await has(host, tool))) missing.push(tool);
  if (missing.length) {
    const pkgs = [...new Set(missing.map((t) => TOOLS[t]!))];
    throw new NotFoundError(`enroll needs ${missing.join(', ')}, which ${missing.length === 1 ? 'is' : 'are'} not installed`, {
      hint: `apt-get install -y --no-install-recommends ${pkgs.join(' ')}`,
    });
  }
  const kernel = (await host.run(['sh', '-c', 'test -d /sys/module/wireguard || modprobe -n wireguard 2>/dev/null'])).exitCode === 0;
  if (!kernel && !(await has(host, 'wireguard-go'))) {
    throw new NotFoundError('this kernel has no WireGuard module and wireguard-go is not installed', { hint: 'apt-get install -y --no-install-recommends wireguard-go' });
  }
}
