// The per-run cgroup under <cgroup2>/egress/<name>: created before the app starts, removed once it is empty.
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, rmdirSync, mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Output } from '@egress/core/output';

/** Whether a cgroup directory still has processes (cgroup.events `populated 1`). */
export function cgroupPopulated(dir: string): boolean {
  try {
    return /^populated 1$/m.test(readFileSync(join(dir, 'cgroup.events'), 'utf8'));
  } catch {
    return false;
  }
}

/** Process ids in a cgroup (not its children). */
export function cgroupPids(dir: string): number[] {
  try {
    return readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes empty run-<pid>-* groups left by runs whose egress-client was killed. Returns the names removed. */
export function removeStaleRunGroups(egressDir: string, output?: Output): string[] {
  const removed: string[] = [];
  for (const name of readdirSync(egressDir)) {
    const m = /^run-(\d+)-[0-9a-f]+$/.exec(name);
    if (!m || alive(Number(m[1]))) continue;
    const dir = join(egressDir, name);
    if (cgroupPopulated(dir)) continue;
    try {
      rmdirSync(dir);
      output?.echo(`rmdir ${dir}`);
      removed.push(name);
    } catch {
      // Busy or gone meanwhile: leave it for a later run.
    }
  }
  return removed;
}

/** Creates <egressDir>/run-<pid>-<random> and returns its path. */
export function createRunGroup(egressDir: string, output?: Output): string {
  const dir = join(egressDir, `run-${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(dir);
  output?.echo(`mkdir ${dir}`);
  return dir;
}

/** Stops every process left in a group (cgroup.kill where the kernel has it, else SIGKILL to each). */
export function killGroup(dir: string): void {
  if (existsSync(join(dir, 'cgroup.kill'))) {
    writeFileSync(join(dir, 'cgroup.kill'), '1');
    return;
  }
  for (const pid of cgroupPids(dir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

/**
 * Waits until the group is empty (the app's own children may outlive it), then removes it.
 * `stop()` returning true (a signal arrived) kills what is left. Tells the user once when it has to wait.
 */
export async function removeRunGroup(dir: string, stop: () => boolean, output?: Output): Promise<void> {
  let told = false;
  let killed = false;
  for (;;) {
    if (!cgroupPopulated(dir)) {
      try {
        rmdirSync(dir);
        output?.echo(`rmdir ${dir}`);
        return;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') return;
        if (code !== 'EBUSY') throw err;
      }
    } else if (stop() && !killed) {
      killGroup(dir);
      killed = true;
    } else if (!told) {
      output?.info(`egress: the app exited; waiting for ${cgroupPids(dir).length || 'its remaining'} process(es) it left in ${dir} (Ctrl-C or SIGTERM stops them)`);
      told = true;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
