// Finds where the cgroup v2 hierarchy is mounted, from /proc/self/mountinfo.
import { readFileSync } from 'node:fs';

export interface Cgroup2Mount {
  /** Mount point, e.g. /sys/fs/cgroup or /sys/fs/cgroup/unified (hybrid layout). */
  path: string;
  /** Root of the hierarchy seen through this mount ('/' unless inside a cgroup namespace or a bind mount). */
  root: string;
}

/** Undoes mountinfo's octal escapes (\040 for a space, \011, \012, \134). */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Every cgroup2 mount listed in a mountinfo text, the canonical /sys/fs/cgroup first, hierarchy roots before bind mounts. */
export function parseCgroup2Mounts(mountinfo: string): Cgroup2Mount[] {
  const mounts: Cgroup2Mount[] = [];
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    if (right[0] !== 'cgroup2' || left.length < 5) continue;
    mounts.push({ root: unescape(left[3]!), path: unescape(left[4]!) });
  }
  const rank = (m: Cgroup2Mount) => (m.root === '/' ? 0 : 2) + (m.path === '/sys/fs/cgroup' ? 0 : 1);
  return mounts.sort((a, b) => rank(a) - rank(b));
}

/** The cgroup2 mount of this process's mount namespace, or undefined when there is none. */
export function findCgroup2Mount(mountinfo: string = readFileSync('/proc/self/mountinfo', 'utf8')): Cgroup2Mount | undefined {
  return parseCgroup2Mounts(mountinfo)[0];
}
