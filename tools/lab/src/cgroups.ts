// Each lab's own cgroup sub-tree: simulated hosts share the kernel's one cgroup2 hierarchy, so egress's
// cgroups are put under `egress-lab/<lab>` (EGRESS_CGROUP_PARENT) and removed with the lab.
import { readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';

/** The parent of egress's cgroups for processes of this lab (passed as EGRESS_CGROUP_PARENT). */
export function labCgroupParent(lab: string): string {
  return `egress-lab/${lab}`;
}

/** Where this machine's cgroup2 hierarchy is mounted (in the root mount namespace), if anywhere. */
export function machineCgroup2Root(mountinfo = readFileSync('/proc/self/mountinfo', 'utf8')): string | undefined {
  for (const line of mountinfo.split('\n')) {
    const [pre, post] = line.split(' - ');
    if (post?.split(' ')[0] === 'cgroup2') return pre!.split(' ')[4];
  }
  return undefined;
}

/** Removes a directory tree of cgroups bottom-up (cgroups are removed with rmdir, never rm -r). */
function rmdirTree(dir: string): void {
  let entries: string[];
  try {
    entries = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return;
  }
  for (const e of entries) rmdirTree(join(dir, e));
  try {
    rmdirSync(dir);
  } catch {
    // still populated (a process outlived the lab) or already gone: leave it
  }
}

/** Removes the lab's cgroup sub-tree, and `egress-lab` when no other lab uses it; call after the lab's processes are gone. */
export function removeLabCgroups(lab: string, root = machineCgroup2Root()): void {
  if (!root) return;
  rmdirTree(join(root, labCgroupParent(lab)));
  try {
    rmdirSync(join(root, 'egress-lab'));
  } catch {
    // other labs still have theirs
  }
}
