// Several run-as apps of one user on one desktop share its display grant: the first adds it, the others find it
// there and add nothing. Each run-as records what it added in /run/egress/display/USER.PID.json; at exit, a run-as
// that sees another live holder leaves its record for the last one, and the last one takes back every grant of the
// records it finds (its own, those left by holders that exited, and those of a run-as that was killed).
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { revokeDisplay, type DisplayAccess, type DisplayHost, type Grant } from './display-access.js';

export interface HolderStore {
  /** Records of USER's holders: their pid and the grants they added. */
  list(user: string): { pid: number; grants: Grant[] }[];
  write(user: string, pid: number, grants: Grant[]): void;
  remove(user: string, pid: number): void;
  alive(pid: number): boolean;
}

const DIR = '/run/egress/display';
const RECORD = /^(.+)\.(\d+)\.json$/;

/** The records on disk (root's, 0600 in a 0700 directory). */
export const fileHolderStore: HolderStore = {
  list(user) {
    let names: string[];
    try {
      names = readdirSync(DIR);
    } catch {
      return [];
    }
    const out: { pid: number; grants: Grant[] }[] = [];
    for (const name of names) {
      const m = RECORD.exec(name);
      if (!m || m[1] !== user) continue;
      try {
        const grants = JSON.parse(readFileSync(join(DIR, name), 'utf8')) as unknown;
        out.push({ pid: Number(m[2]), grants: Array.isArray(grants) ? (grants as Grant[]).filter(isGrant) : [] });
      } catch {
        out.push({ pid: Number(m[2]), grants: [] });
      }
    }
    return out;
  },
  write(user, pid, grants) {
    mkdirSync(DIR, { recursive: true, mode: 0o700 });
    writeFileSync(join(DIR, `${user}.${pid}.json`), JSON.stringify(grants), { mode: 0o600 });
  },
  remove(user, pid) {
    rmSync(join(DIR, `${user}.${pid}.json`), { force: true });
  },
  alive(pid) {
    try {
      process.kill(pid, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EPERM';
    }
  },
};

/** A record's grant, checked before its command is run: only the two undo commands egress itself writes. */
function isGrant(g: unknown): g is Grant {
  if (!g || typeof g !== 'object') return false;
  const undo = (g as Grant).undo;
  if (!Array.isArray(undo) || !undo.every((a) => typeof a === 'string')) return false;
  return (undo[0] === 'xhost' && undo.length === 2 && /^-SI:localuser:[A-Za-z_][A-Za-z0-9_.-]*$/.test(undo[1]!)) || (undo[0] === 'setfacl' && undo[1] === '-x' && undo.length === 5 && undo[3] === '--');
}

/** Records what this run-as added (also when nothing: it still holds the grants others added). */
export function holdDisplay(store: HolderStore, user: string, pid: number, access: DisplayAccess): void {
  if (access.env.DISPLAY === undefined && access.env.WAYLAND_DISPLAY === undefined && access.grants.length === 0) return;
  store.write(user, pid, access.grants);
}

/**
 * At exit: with another live holder, leaves this record for it and takes nothing back; else takes back this run's
 * grants and those of every record of holders gone, and removes the records. Returns the failures.
 */
export function releaseDisplay(host: DisplayHost, store: HolderStore, user: string, pid: number, access: DisplayAccess): string[] {
  const records = store.list(user).filter((r) => r.pid !== pid);
  if (records.some((r) => store.alive(r.pid))) {
    if (access.grants.length > 0) store.write(user, pid, access.grants);
    access.grants = [];
    return [];
  }
  const failed = revokeDisplay(host, access);
  for (const r of records) {
    failed.push(...revokeDisplay(host, { env: {}, notes: [], grants: r.grants }));
    store.remove(user, r.pid);
  }
  store.remove(user, pid);
  return failed;
}
