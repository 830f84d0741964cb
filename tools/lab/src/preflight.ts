// Refuses to start a lab when not root or when a tool is missing, naming the apt package that provides it.
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, dirname } from 'node:path';

/** Tools the lab runs, with the Debian package that provides each. */
export const LAB_TOOLS: ReadonlyArray<{ tool: string; pkg: string }> = [
  { tool: 'ip', pkg: 'iproute2' },
  { tool: 'ss', pkg: 'iproute2' },
  { tool: 'unshare', pkg: 'util-linux' },
  { tool: 'nsenter', pkg: 'util-linux' },
  { tool: 'setpriv', pkg: 'util-linux' },
  { tool: 'mount', pkg: 'mount' },
  { tool: 'hostname', pkg: 'hostname' },
  { tool: 'useradd', pkg: 'passwd' },
  { tool: 'getent', pkg: 'libc-bin' },
  { tool: 'sshd', pkg: 'openssh-server' },
  { tool: 'ssh-keygen', pkg: 'openssh-client' },
  { tool: 'ssh', pkg: 'openssh-client' },
  { tool: 'tcpdump', pkg: 'tcpdump' },
  { tool: 'dig', pkg: 'dnsutils' },
  { tool: 'ping', pkg: 'iputils-ping' },
  { tool: 'wg', pkg: 'wireguard-tools' },
  { tool: 'wg-quick', pkg: 'wireguard-tools' },
  { tool: 'wireguard-go', pkg: 'wireguard-go' },
  { tool: 'nft', pkg: 'nftables' },
];

const SEARCH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** Where tools are looked for: PATH, then the usual bin and sbin dirs. */
export function defaultToolDirs(): string[] {
  return [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...SEARCH];
}

/** Absolute path of an executable in `dirs`, or undefined. */
export function findTool(tool: string, dirs: readonly string[] = defaultToolDirs()): string | undefined {
  for (const d of dirs) {
    try {
      accessSync(`${d}/${tool}`, constants.X_OK);
      return `${d}/${tool}`;
    } catch {
      /* next */
    }
  }
  return undefined;
}

/** Problems that stop a lab from starting; empty when it can start. */
export function preflightProblems(env: { uid?: number; dirs?: readonly string[] } = {}): string[] {
  const problems: string[] = [];
  if ((env.uid ?? process.getuid?.()) !== 0) problems.push('the lab needs root (it creates network and mount namespaces): run it with sudo or as root');
  const node = nodeProblem(process.execPath);
  if (node) problems.push(node);
  const missing = LAB_TOOLS.filter((t) => !findTool(t.tool, env.dirs));
  if (missing.length > 0) {
    const pkgs = [...new Set(missing.map((m) => m.pkg))];
    problems.push(
      `missing tools: ${missing.map((m) => `${m.tool} (apt package ${m.pkg})`).join(', ')}; ` +
        `install them with: apt-get install -y --no-install-recommends ${pkgs.join(' ')}`,
    );
  }
  return problems;
}

/** Throws one clear error when the lab cannot start here. */
export function assertCanStart(): void {
  const problems = preflightProblems();
  if (problems.length > 0) throw new Error(`lab up refused: ${problems.join('; ')}`);
}

/** Says why other users (appuser runs the probe) cannot run the node binary at `path`; undefined when they can. */
export function nodeProblem(path: string): string | undefined {
  let dir = path;
  try {
    if ((statSync(path).mode & 0o005) !== 0o005) return `node at ${path} is not readable and executable by other users (appuser runs the probe with it): install node system-wide`;
    for (dir = dirname(path); dir !== '/'; dir = dirname(dir)) {
      if ((statSync(dir).mode & 0o001) === 0) return `node at ${path} is inside ${dir}, which other users cannot enter (appuser runs the probe with it): install node system-wide`;
    }
  } catch (e) {
    return `cannot check node at ${path}: ${(e as Error).message}`;
  }
  return undefined;
}
