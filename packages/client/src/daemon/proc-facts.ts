// What the supervisor checks about a process before moving it: owner (all of real/effective/saved/fs ids), kernel
// thread or not, start time (PID reuse), cgroup. Parsers are pure; readers go to /proc.
import { readFileSync, readdirSync } from 'node:fs';

/** PF_KTHREAD in /proc/PID/stat's flags. */
const PF_KTHREAD = 0x00200000;

export interface ProcFacts {
  pid: number;
  state: string;
  ppid: number;
  flags: number;
  /** Start time in clock ticks since boot: a PID reused by another process has another one. */
  startTime: number;
  /** Real, effective, saved, filesystem uid; same for gid. */
  uids: number[];
  gids: number[];
}

/** Parses /proc/PID/stat (comm may hold spaces and parentheses: fields are counted after the last ')'). */
export function parseStat(text: string): Pick<ProcFacts, 'state' | 'ppid' | 'flags' | 'startTime'> | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const f = text.slice(close + 2).trim().split(' ');
  // After comm: state(3) ppid(4) pgrp session tty tpgid flags(9) … starttime(22).
  const [state, ppid, flags, start] = [f[0], Number(f[1]), Number(f[6]), Number(f[19])];
  if (!state || !Number.isInteger(ppid) || !Number.isFinite(flags) || !Number.isInteger(start)) return undefined;
  return { state, ppid, flags, startTime: start };
}

/** Parses the Uid: and Gid: lines of /proc/PID/status. */
export function parseStatusIds(text: string): { uids: number[]; gids: number[] } | undefined {
  const ids = (key: string) => /^(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$/.exec(new RegExp(`^${key}:\\s*(.*)$`, 'm').exec(text)?.[1]?.trim() ?? '')?.slice(1).map(Number);
  const uids = ids('Uid');
  const gids = ids('Gid');
  return uids && gids ? { uids, gids } : undefined;
}

/** The facts of a live process, or undefined when it does not exist (or vanished while being read). */
export function readProc(pid: number, proc = '/proc'): ProcFacts | undefined {
  try {
    const stat = parseStat(readFileSync(`${proc}/${pid}/stat`, 'utf8'));
    const ids = parseStatusIds(readFileSync(`${proc}/${pid}/status`, 'utf8'));
    if (!stat || !ids) return undefined;
    return { pid, ...stat, ...ids };
  } catch {
    return undefined;
  }
}

/** Why a process may not be moved for `callerUid` (undefined: it may). */
export function refusal(p: ProcFacts | undefined, pid: number, callerUid: number, selfPid: number): string | undefined {
  if (pid === 1) return 'pid 1 (init) is never moved';
  if (pid === selfPid) return `pid ${pid} is the supervisor itself`;
  if (!p) return `no process ${pid} (it does not exist or has exited)`;
  if (p.flags & PF_KTHREAD || p.ppid === 0 || p.ppid === 2) return `pid ${pid} is a kernel thread`;
  if (p.state === 'Z' || p.state === 'X') return `pid ${pid} has exited (state ${p.state})`;
  if (new Set(p.uids).size !== 1 || new Set(p.gids).size !== 1) return `pid ${pid} runs setuid/setgid (uids ${p.uids.join('/')}, gids ${p.gids.join('/')}): it is never moved`;
  if (callerUid !== 0 && p.uids[0] !== callerUid) return `pid ${pid} belongs to uid ${p.uids[0]}, not to you (uid ${callerUid})`;
  return undefined;
}

/** The process's cgroup v2 path (`0::/a/b` → `/a/b`), or undefined. */
export function readCgroup(pid: number, proc = '/proc'): string | undefined {
  try {
    return /^0::(.*)$/m.exec(readFileSync(`${proc}/${pid}/cgroup`, 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

/** PID and its descendants (threads' children included), parents first. */
export function descendants(pid: number, proc = '/proc'): number[] {
  const out: number[] = [];
  const queue = [pid];
  const seen = new Set<number>();
  while (queue.length) {
    const p = queue.shift()!;
    if (seen.has(p)) continue;
    seen.add(p);
    out.push(p);
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`${proc}/${p}/task`);
    } catch {
      continue;
    }
    for (const t of tasks) {
      try {
        for (const c of readFileSync(`${proc}/${p}/task/${t}/children`, 'utf8').split(' ').filter(Boolean)) queue.push(Number(c));
      } catch {
        // The thread ended meanwhile.
      }
    }
  }
  return out;
}
