// Helpers for the `--userspace-wireguard backports` tests on real machines (machines-backports*.test.ts): the egress
// .deb of this tree, egress-server run from the lab's router namespace, snapshots of a machine's packages and /etc.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect } from 'vitest';
import { LAB_ADDR, type Machine, type MachinesLab } from '@egress/lab';

const REPO = resolve(import.meta.dirname, '..');
const SERVER_BIN = join(REPO, 'packages/server/bin/egress-server.js');
export const DEB = 'egress_0.0.1_amd64.deb';
export const SOURCE = '/etc/apt/sources.list.d/egress-wireguard-go-backports.sources';
export const PIN = '/etc/apt/preferences.d/egress-wireguard-go-backports.pref';

/** Builds the egress .deb of this tree into a new temporary directory (for client machines: no Node there). */
export async function buildEgressDeb(): Promise<string> {
  const debs = mkdtempSync(join(tmpdir(), 'egress-bpo-debs-'));
  await promisify(execFile)(process.execPath, [join(REPO, 'tools/package/build-deb.mjs'), '--arch', 'amd64', '--version', '0.0.1', '--out', debs, '--gzip'], { maxBuffer: 1 << 24 });
  return debs;
}

/** Installs the egress .deb from `debs` on a machine (offline: its dependencies are in the image). */
export async function installEgressDeb(m: Machine, debs: string): Promise<void> {
  copyFileSync(join(debs, DEB), join(m.root, 'root', DEB));
  await m.sh(`cd /root && DEBIAN_FRONTEND=noninteractive apt install -y ./${DEB} >/dev/null 2>&1 && rm ${DEB}`, { timeoutMs: 300_000 });
}

/** Removes a directory made by buildEgressDeb (or any temporary one). */
export function removeDir(dir: string): void {
  if (dir) rmSync(dir, { recursive: true, force: true });
}

/** A runner of egress-server on this host in the lab's router namespace, reaching `vps` over SSH (its host key pinned in `work`). */
export function serverRunner(lab: MachinesLab, vps: Machine, work: string): (args: string[], timeoutMs?: number) => Promise<{ code: number; out: string }> {
  const hostPub = readFileSync(join(vps.root, 'etc/ssh/ssh_host_ed25519_key.pub'), 'utf8').trim().split(' ').slice(0, 2).join(' ');
  writeFileSync(join(work, 'known_hosts'), `${LAB_ADDR.vpsV4} ${hostPub}\n`);
  return async (args, timeoutMs = 240_000) => {
    const argv = [`--net=/run/netns/${lab.routerNs}`, '--', process.execPath, SERVER_BIN, ...args, `root@${LAB_ADDR.vpsV4}`, '-i', lab.keyFile, '--known-hosts', join(work, 'known_hosts')];
    return new Promise<{ code: number; out: string }>((done) => {
      execFile('nsenter', argv, { timeout: timeoutMs, maxBuffer: 1 << 24, env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' } }, (err, stdout, stderr) => {
        done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: `${stdout}${stderr}` });
      });
    });
  };
}

/** What must be as before: every package and version, /etc (files, modes, sizes, apt's files by content; backups like /etc/group- aside), the firewall, links, units. */
export async function snapshot(m: Machine): Promise<string> {
  return m.sh([
    "echo '## dpkg'; dpkg-query -W -f='${Package} ${Version} ${Status}\\n' | sort",
    // The shadow tools' backups (/etc/group- after enroll's groupadd and uninstall's groupdel of group egress) aside.
    "echo '## etc'; find /etc -xdev -not -path /etc/ld.so.cache -not -name '*-' -printf '%p %y %m %s\\n' | sort",
    "echo '## apt'; find /etc/apt -type f -exec md5sum {} + | sort",
    "echo '## apt lists'; ls /var/lib/apt/lists",
    "echo '## nft'; nft list ruleset",
    "echo '## links'; ip -br link | cut -d' ' -f1",
    "echo '## units'; systemctl list-unit-files --no-legend 'wg-quick*' 'egress*' | sort",
    "echo '## rules'; ip rule; ip -6 rule",
  ].join('; '));
}

/** Lines only in `before` (-) or only in `after` (+). */
export function diff(before: string, after: string): string[] {
  const a = new Set(after.split('\n'));
  const b = new Set(before.split('\n'));
  return [...[...b].filter((l) => !a.has(l)).map((l) => `- ${l}`), ...[...a].filter((l) => !b.has(l)).map((l) => `+ ${l}`)];
}

/** The dpkg section of a snapshot (packages and versions). */
export const packagesOf = (s: string): string => s.split('## etc')[0]!;

/** dpkg's wireguard-go: "VERSION STATUS" (or dpkg-query's complaint when there is none). */
export const dpkgWireguardGo = (m: Machine): Promise<string> => m.sh("dpkg-query -W -f='${Version} ${Status}' wireguard-go 2>&1 || true");

/** Waits (bounded) for a handshake on the client's egress interface, then expects one. */
export async function expectHandshake(cli: Machine): Promise<string> {
  const iface = (await cli.sh('wg show interfaces')).trim();
  const handshake = async () => Number((await cli.sh(`wg show ${iface} latest-handshakes`)).trim().split(/\s+/)[1] ?? 0) > 0;
  for (let i = 0; i < 120 && !(await handshake()); i++) await new Promise((r) => setTimeout(r, 500));
  expect(await handshake()).toBe(true);
  return iface;
}

/** What appuser's TCP connection to the lab's whoami service is seen from (the VPS's address through the tunnel). */
export async function whoamiAsAppuser(cli: Machine): Promise<string> {
  return (await cli.sh(`runuser -u appuser -- bash -c 'exec 3<>/dev/tcp/${LAB_ADDR.whoamiV4}/${LAB_ADDR.whoamiPort}; timeout 5 cat <&3'`)).trim();
}
