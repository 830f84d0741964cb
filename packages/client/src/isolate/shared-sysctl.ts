// Sysctls several isolated runs share (forwarding on the egress interface): the first run saves the original, the last restores it.
import type { Host } from '@egress/core/host/host';
import { ISOLATE_SYSCTL_DIR } from './names.js';

/** `net.ipv4.conf.<iface>.<name>` with the '.' of a VLAN name written as '/', as sysctl wants. */
export function confKey(family: 4 | 6, iface: string, name: string): string {
  return `net.ipv${family}.conf.${iface.replace(/\./g, '/')}.${name}`;
}

/** The /proc/sys path of a sysctl key (in sysctl's notation: '/' for a '.' inside an interface name). */
export function procPath(key: string): string {
  // sysctl's '.' separates path parts and its '/' stands for a '.' inside an interface name.
  return `/proc/sys/${key
    .split('.')
    .map((part) => part.replace(/\//g, '.'))
    .join('/')}`;
}

/** Reads a sysctl; undefined when the key does not exist on this kernel. */
export async function readSysctl(host: Host, key: string): Promise<string | undefined> {
  const text = await host.readFile(procPath(key)).catch(() => undefined);
  return text?.trim();
}

/** Sets a sysctl (echoed as a change). */
export async function writeSysctl(host: Host, key: string, value: string): Promise<void> {
  await host.run(['sysctl', '-q', '-w', `${key}=${value}`], { check: true, change: true });
}

function origPath(key: string): string {
  return `${ISOLATE_SYSCTL_DIR}/${key.replace(/\//g, '%')}`;
}

/** Sets a shared sysctl to `value`, saving the value found first (unless an earlier run saved it); returns that original. */
export async function claimSysctl(host: Host, key: string, value: string): Promise<string> {
  const saved = (await host.readFile(origPath(key)))?.trim();
  const current = await readSysctl(host, key);
  if (current === undefined) throw new Error(`sysctl ${key} does not exist`);
  const original = saved ?? current;
  if (saved === undefined) await host.writeFile(origPath(key), `${current}\n`, { mode: 0o600 });
  if (current !== value) await writeSysctl(host, key, value);
  return original;
}

/**
 * Restores a shared sysctl to its saved original and forgets it (call when no live run holds it any more). A key in
 * `keepOn` (see sysctlsTheStateSets: the egress state itself needs it on) is only forgotten, never turned back.
 */
export async function releaseSysctl(host: Host, key: string, keepOn: ReadonlySet<string> = new Set()): Promise<void> {
  const saved = (await host.readFile(origPath(key)))?.trim();
  if (saved === undefined) return;
  const current = await readSysctl(host, key);
  if (current !== undefined && current !== saved && !(keepOn.has(procPath(key)) && current === '1')) await writeSysctl(host, key, saved);
  await host.removeFile(origPath(key));
}

/** Keys with a saved original (held by some run, or left by a crash). */
export async function savedSysctls(host: Host): Promise<string[]> {
  const r = await host.run(['ls', '-1', '--', ISOLATE_SYSCTL_DIR]);
  if (r.exitCode !== 0) return [];
  return r.stdout
    .split('\n')
    .map((f) => f.trim())
    .filter((f) => /^net\.ipv[46]\.conf\./.test(f))
    .map((f) => f.replace(/%/g, '/'));
}
