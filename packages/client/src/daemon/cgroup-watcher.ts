// Watches the cgroups selectors name that egress does not own (`select add --unit/--cgroup`): nft resolves a
// `socket cgroupv2` path to the cgroup's id when the table loads, so a unit that starts later (or restarts: a new
// cgroup, a new id) needs the table loaded again. cgroupfs gives no reliable inotify for mkdir, so this polls stat.
import { statSync } from 'node:fs';

export interface CgroupWatcher {
  stop(): void;
}

/** Identity of a cgroup directory now: its inode (the cgroup id), or 'absent'. */
function identity(root: string, path: string): string {
  try {
    return String(statSync(`${root}/${path}`).ino);
  } catch {
    return 'absent';
  }
}

/** Calls `onChange(text)` when a cgroup of `paths()` appears, goes or is made anew; checks every `intervalMs`. */
export function watchSelectedCgroups(paths: () => readonly string[], onChange: (what: string) => void, intervalMs = 1000, root = '/sys/fs/cgroup'): CgroupWatcher {
  const seen = new Map<string, string>();
  const check = (): void => {
    const wanted = new Set(paths());
    for (const p of [...seen.keys()]) if (!wanted.has(p)) seen.delete(p);
    for (const p of wanted) {
      const now = identity(root, p);
      const before = seen.get(p);
      seen.set(p, now);
      // First sight of a present cgroup counts as appearing: it may have come between the pass that named it and now.
      if (before === undefined ? now !== 'absent' : before !== now) onChange(`cgroup ${p} ${now === 'absent' ? 'went away' : before === undefined || before === 'absent' ? 'appeared' : 'was made anew'}`);
    }
  };
  check();
  const timer = setInterval(check, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
