// The machine and tool versions a run was measured with (shown in the report).
import { execFile } from 'node:child_process';
import { cpus, release, totalmem } from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
import { BACKPORTS_WIREGUARD_GO } from '@egress/lab';
import { promisify } from 'node:util';
import type { Machine } from './results.js';

const run = promisify(execFile);

async function firstLineOf(cmd: string, args: string[], pick: RegExp = /.*/): Promise<string> {
  try {
    const r = await run(cmd, args, { timeout: 5000 });
    const text = `${r.stdout}\n${r.stderr}`;
    return pick.exec(text)?.[0]?.trim() ?? text.trim().split('\n')[0] ?? 'unknown';
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    const text = `${err.stdout ?? ''}\n${err.stderr ?? ''}`;
    return pick.exec(text)?.[0]?.trim() ?? 'not installed';
  }
}

/** CPU, cores, memory, kernel and OS of this machine. */
export function machineInfo(): Machine {
  let os = 'unknown';
  try {
    os = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? os;
  } catch {
    // keep unknown
  }
  const c = cpus();
  return { cpu: c[0]?.model.trim() ?? 'unknown', cores: c.length, memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10, kernel: release(), os };
}

/** Versions of the tools on the data path and of the measured programs. */
export async function toolVersions(): Promise<Record<string, string>> {
  const [iperf3, wg, wgGo, nft, ssh, proxychains] = await Promise.all([
    firstLineOf('iperf3', ['--version'], /iperf \S+/),
    firstLineOf('wg', ['--version'], /wireguard-tools v\S+/),
    firstLineOf('dpkg-query', ['-W', '-f', '${Version}', 'wireguard-go']),
    firstLineOf('nft', ['--version'], /nftables v\S+/),
    firstLineOf('ssh', ['-V'], /OpenSSH_\S+/),
    firstLineOf('dpkg-query', ['-W', '-f', '${Version}', 'proxychains4']),
  ]);
  return {
    node: process.version,
    iperf3,
    'wireguard-tools': wg,
    'wireguard-go': `wireguard-go ${wgGo} (userspace; the kernel has no WireGuard module)${existsSync(BACKPORTS_WIREGUARD_GO) ? `; the lab runs ${BACKPORTS_WIREGUARD_GO} (bookworm-backports 0.0.20231211, TUN offloads)` : ''}`,
    nftables: nft,
    openssh: ssh,
    proxychains4: `proxychains-ng ${proxychains}`,
  };
}

/** The repository commit the run measured (with "+dirty" when the tree has changes). */
export async function gitCommit(repo: string): Promise<string> {
  try {
    const head = (await run('git', ['-C', repo, 'rev-parse', '--short', 'HEAD'])).stdout.trim();
    const dirty = (await run('git', ['-C', repo, 'status', '--porcelain', '--untracked-files=no'])).stdout.trim();
    return dirty ? `${head}+dirty` : head;
  } catch {
    return 'unknown';
  }
}
