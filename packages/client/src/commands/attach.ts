// `egress-client attach PID [--egress NAME] [--tree]` / `detach PID [--tree]`: move a running process into or out of
// an egress's cgroup. Through the supervisor (allowed owners, no sudo), or directly as root when none runs.
import { execFileSync } from 'node:child_process';
import { EgressError, PermissionError, ValidationError } from '@egress/core/errors';
import type { CommandContext, Invocation } from '../cli.js';
import { exitCode, type ExitStatus } from '../exit-status.js';
import type { SupervisorReply, SupervisorRequest } from '../daemon/socket-protocol.js';

/** `ss` lines of the connections a process has open (as its owner or root may see them). */
export function connectionsOf(pids: readonly number[], ssOutput: string): string[] {
  return ssOutput.split('\n').filter((l) => pids.some((p) => l.includes(`pid=${p},`)));
}

function parsePid(text: string | undefined): number {
  if (!text || !/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 4_194_304) {
    throw new ValidationError(`PID: expected a process id 1-4194304, got '${text ?? ''}'`, [{ path: 'PID', message: 'bad pid' }]);
  }
  return Number(text);
}

/** Runs attach or detach. */
export async function attachCommand(inv: Invocation, ctx: CommandContext): Promise<ExitStatus> {
  const pid = parsePid(inv.args[0]);
  const tree = !!inv.options.tree;
  const egress = inv.options.egress as string | undefined;
  const req: SupervisorRequest = inv.command === 'attach' ? { op: 'attach', pid, ...(egress ? { egress } : {}), ...(tree ? { tree } : {}) } : { op: 'detach', pid, ...(tree ? { tree } : {}) };
  let ss = '';
  try {
    ss = execFileSync('ss', ['-H', '-tunap'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    // ss missing: the list is left out.
  }
  const { askSupervisor } = await import('../supervisor-client.js');
  let r: SupervisorReply | undefined = await askSupervisor(req);
  if (!r && ctx.isRoot) {
    // No supervisor: root does the same checks and moves here.
    const { runRequest } = await import('../daemon/socket-ops.js');
    const { loadClientState } = await import('../state/store.js');
    const state = await loadClientState(await ctx.host());
    r = runRequest({ state: () => state, cgroupRoot: '/sys/fs/cgroup', selfPid: process.pid, origins: new Map() }, req, { pid: process.pid, uid: 0, gid: 0 });
  }
  if (!r) {
    throw new PermissionError(`${inv.command} needs root: it moves a process between cgroups, and the supervisor (egress-client daemon), which does that for allowed users, is not running`, {
      hint: `start it (sudo systemctl start egress-client), or: sudo egress-client ${inv.command} ${pid}`,
    });
  }
  if (!r.ok) throw new EgressError('E_REFUSED', `${inv.command} ${pid}: refused: ${r.error}`);
  const open = connectionsOf(r.pids, ss);
  const what = inv.command === 'attach' ? `attached pid ${r.pids.join(', ')} to egress '${r.egress}' (cgroup ${r.cgroup}): new connections go through it` : `detached pid ${r.pids.join(', ')}: new connections take the normal route`;
  ctx.output.result([what, ...(open.length ? ['connections already open stay on the path they took:', ...open.map((l) => `  ${l.replace(/\s+/g, ' ')}`)] : [])].join('\n'));
  ctx.output.document({ command: inv.command, ...r, existingConnections: open });
  return exitCode(0);
}
