// The passwd entry of a user, via `getent passwd` (argv, no shell; honours NSS) — kept free of heavy imports.
import { spawnSync } from 'node:child_process';

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
  /** The comment field (GECOS). */
  gecos?: string;
}

/** Parses one `name:x:uid:gid:gecos:home:shell` line. */
export function parsePasswdLine(line: string): PasswdEntry | undefined {
  const f = line.trim().split(':');
  if (f.length < 7 || !/^\d+$/.test(f[2]!) || !/^\d+$/.test(f[3]!)) return undefined;
  return { name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5]!, shell: f[6]!, gecos: f[4]! };
}

/** Looks a user up by name (synchronously: run-as needs it before anything else); undefined when unknown. */
export function getentPasswd(name: string): PasswdEntry | undefined {
  const r = spawnSync('getent', ['passwd', '--', name], { encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  const entry = parsePasswdLine(r.stdout.split('\n')[0] ?? '');
  return entry && entry.name === name ? entry : undefined;
}
