// Finds and kills the processes that live inside a lab host, by namespace identity (never by name).
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** Namespace identity of a process: e.g. `net:[4026532179]`; undefined when the process is gone. */
export function nsOf(pid: number, kind: 'net' | 'mnt' | 'uts'): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/${kind}`);
  } catch {
    return undefined;
  }
}

/** PIDs of every process whose network or mount namespace is one of `ids` (the lab process itself is never listed). */
export function pidsInNamespaces(ids: ReadonlySet<string>): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    const net = nsOf(pid, 'net');
    const mnt = nsOf(pid, 'mnt');
    if ((net && ids.has(net)) || (mnt && ids.has(mnt))) pids.push(pid);
  }
  return pids;
}

/** Sends `signal` to each PID; ignores ones already gone. */
export function signalAll(pids: readonly number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

/** Kills every process inside the namespaces: SIGTERM, then SIGKILL for the ones still there; resolves when none is left. */
export async function killNamespaces(ids: ReadonlySet<string>, graceMs = 300): Promise<void> {
  const first = pidsInNamespaces(ids);
  if (first.length === 0) return;
  signalAll(first, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && pidsInNamespaces(ids).length > 0) await sleep(25);
  for (let round = 0; round < 200; round++) {
    const left = pidsInNamespaces(ids);
    if (left.length === 0) return;
    signalAll(left, 'SIGKILL');
    await sleep(25);
  }
  throw new Error(`lab: processes still alive in the lab's namespaces: ${pidsInNamespaces(ids).join(' ')}`);
}

/** Kills every process inside the namespaces with SIGKILL, synchronously (for process-exit handlers). */
export function killNamespacesSync(ids: ReadonlySet<string>): void {
  for (let round = 0; round < 3; round++) {
    const left = pidsInNamespaces(ids);
    if (left.length === 0) return;
    signalAll(left, 'SIGKILL');
  }
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Start time of a process (clock ticks since boot, from /proc/PID/stat); undefined when it is gone. */
export function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** True when `pid` is running and is the same process that had `start` as its start time. */
export function isAlive(owner: { pid: number; start: string }): boolean {
  return startTimeOf(owner.pid) === owner.start;
}
