// What the supervisor does for a socket request: checks the caller (SO_PEERCRED) against the policy and the target
// process, then only moves processes between cgroups (the egress's, and back). It never starts anything.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import type { ClientState, Egress } from '@egress/core/model/client';
import { allowedUids } from '@egress/core/policy/access';
import { descendants, readCgroup, readProc, refusal, type ProcFacts } from './proc-facts.js';
import type { SupervisorReply, SupervisorRequest } from './socket-protocol.js';

/** Who is asking, as the kernel says (SO_PEERCRED). */
export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
}

export interface OpsContext {
  state(): ClientState | undefined;
  /** Where cgroup2 is mounted (nft resolves cgroup paths there). */
  cgroupRoot: string;
  selfPid: number;
  /** Where attached processes came from (pid → start time and cgroup), for detach. */
  origins: Map<number, { startTime: number; cgroup: string }>;
  /** /proc (tests). */
  proc?: string;
}

class Refused extends Error {}

function egressCgroupOf(e: Egress): string {
  const cg = e.selectors.cgroups[0];
  if (!cg) throw new Refused(`egress '${e.name}' selects no cgroup (enroll it again with a current egress-client)`);
  return cg;
}

function pick(state: ClientState, name: string | undefined): Egress {
  if (name !== undefined) {
    const e = state.egresses.find((x) => x.name === name);
    if (!e) throw new Refused(`egress: no egress named '${name}' (enrolled: ${state.egresses.map((x) => x.name).join(', ') || 'none'})`);
    return e;
  }
  if (state.egresses.length === 1) return state.egresses[0]!;
  throw new Refused(`egress: expected one of ${state.egresses.map((x) => x.name).join(', ') || 'none (nothing is enrolled)'}`);
}

function writePid(dir: string, pid: number): void {
  writeFileSync(`${dir}/cgroup.procs`, `${pid}\n`);
}

/** Moves each process to `dir`, checking afterwards that the PID still names the same process (no reuse mid-request); undoes all on a failure. */
function moveAll(ctx: OpsContext, procs: ProcFacts[], dir: string): void {
  const moved: Array<{ pid: number; from: string }> = [];
  const undo = () => {
    for (const m of moved.reverse()) {
      try {
        writePid(`${ctx.cgroupRoot}${m.from}`, m.pid);
      } catch {
        // It exited meanwhile.
      }
    }
  };
  for (const p of procs) {
    const from = readCgroup(p.pid, ctx.proc);
    if (from === undefined) {
      undo();
      throw new Refused(`pid ${p.pid} exited during the request; nothing was moved`);
    }
    try {
      writePid(dir, p.pid);
    } catch (err) {
      undo();
      throw new Refused(`pid ${p.pid}: cannot move it into ${dir}: ${(err as Error).message}; nothing was moved`);
    }
    moved.push({ pid: p.pid, from });
    const after = readProc(p.pid, ctx.proc);
    if (!after || after.startTime !== p.startTime) {
      undo();
      throw new Refused(`pid ${p.pid} exited or was replaced during the request; nothing was moved`);
    }
  }
  for (const m of moved) {
    const p = procs.find((x) => x.pid === m.pid)!;
    const prev = ctx.origins.get(m.pid);
    if (!prev || prev.startTime !== p.startTime) ctx.origins.set(m.pid, { startTime: p.startTime, cgroup: m.from });
  }
}

function checked(ctx: OpsContext, pids: number[], caller: PeerCred): ProcFacts[] {
  return pids.map((pid) => {
    const p = readProc(pid, ctx.proc);
    const why = refusal(p, pid, caller.uid, ctx.selfPid);
    if (why) throw new Refused(why);
    return p!;
  });
}

/** The egress whose cgroup holds `cgroup` (a path like /egress/main/uid-1002), if any. */
function egressHolding(state: ClientState, cgroup: string): Egress | undefined {
  return state.egresses.find((e) => {
    const cg = e.selectors.cgroups[0];
    return cg !== undefined && (cgroup === `/${cg}` || cgroup.startsWith(`/${cg}/`));
  });
}

function handle(ctx: OpsContext, req: SupervisorRequest, caller: PeerCred): SupervisorReply {
  if (req.op === 'ping') return { ok: true, pids: [] };
  const state = ctx.state();
  if (!state) throw new Refused('the supervisor has no valid state loaded (see its log); nothing was moved');
  if (req.op === 'detach') {
    const procs = checked(ctx, req.tree ? descendants(req.pid, ctx.proc) : [req.pid], caller);
    const inEgress = procs.filter((p) => {
      const cg = readCgroup(p.pid, ctx.proc);
      return cg !== undefined && egressHolding(state, cg) !== undefined;
    });
    if (!inEgress.some((p) => p.pid === req.pid)) throw new Refused(`pid ${req.pid} is not in an egress's cgroup; nothing to detach`);
    for (const p of inEgress) {
      const o = ctx.origins.get(p.pid);
      const parentCg = readCgroup(p.ppid, ctx.proc);
      const back = o && o.startTime === p.startTime && existsSync(`${ctx.cgroupRoot}${o.cgroup}`) ? o.cgroup : parentCg && !egressHolding(state, parentCg) ? parentCg : '';
      moveAll(ctx, [p], `${ctx.cgroupRoot}${back}`);
      ctx.origins.delete(p.pid);
    }
    return { ok: true, pids: inEgress.map((p) => p.pid) };
  }
  const e = pick(state, req.egress);
  if (caller.uid !== 0 && !allowedUids(e).includes(caller.uid)) {
    throw new Refused(`uid ${caller.uid} may not use egress '${e.name}' (only root, its bound users and those allowed with 'egress-client allow'); an administrator can run: sudo egress-client allow --egress ${e.name} --user $(id -un)`);
  }
  const procs = checked(ctx, req.op === 'attach' && req.tree ? descendants(req.pid, ctx.proc) : [req.pid], caller);
  if (req.op === 'place' && procs[0]!.ppid !== caller.pid) throw new Refused(`pid ${req.pid} is not a child of the asking process ${caller.pid} (place is for a launcher's own child; use attach)`);
  const cg = egressCgroupOf(e);
  const egressDir = `${ctx.cgroupRoot}/${cg}`;
  if (!existsSync(egressDir)) throw new Refused(`egress '${e.name}' has no cgroup ${egressDir} (is it up?)`);
  const owner = procs[0]!.uids[0]!;
  const dir = `${egressDir}/uid-${owner}`;
  if (!existsSync(dir)) mkdirSync(dir);
  moveAll(ctx, procs, dir);
  return { ok: true, egress: e.name, cgroup: `/${cg}/uid-${owner}`, pids: procs.map((p) => p.pid) };
}

/** Runs one request for `caller`; refusals come back as `{ ok: false, error }`, never as a throw. */
export function runRequest(ctx: OpsContext, req: SupervisorRequest, caller: PeerCred): SupervisorReply {
  try {
    return handle(ctx, req, caller);
  } catch (err) {
    if (err instanceof Refused) return { ok: false, error: err.message };
    return { ok: false, error: `internal error: ${(err as Error).message}` };
  }
}
