// `proxy --persist`, `proxy list [--json]`, `proxy remove ID`: the saved proxies the supervisor keeps running.
import { PermissionError, ValidationError } from '@egress/core/errors';
import type { CommandContext, Invocation } from '../cli.js';
import { exitCode, type ExitStatus } from '../exit-status.js';
import { addProxy, loadProxies, loadRunning, PROXIES_PATH, removeProxy, saveProxies, savedProxyFrom } from './persist.js';

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function needRoot(ctx: CommandContext, what: string): void {
  if (!ctx.isRoot) throw new PermissionError(`proxy ${what} must run as root (it edits ${PROXIES_PATH}, which the daemon runs)`, { hint: `sudo egress-client proxy ${what}` });
}

export async function persistCommand(inv: Invocation, ctx: CommandContext): Promise<ExitStatus> {
  needRoot(ctx, '--persist');
  // Every check a foreground run makes, before anything is written.
  const entry = savedProxyFrom(inv.options);
  const host = await ctx.host();
  const doc = addProxy(await loadProxies(host), entry);
  await saveProxies(host, doc);
  ctx.output.result(`saved proxy '${entry.id}' (${entry.listen.join(', ')}${entry.egress ? ` through egress '${entry.egress}'` : ''}${entry.allow.length ? `, allow ${entry.allow.join(', ')}` : ''}${entry.authFile ? `, auth file ${entry.authFile}` : ''}) in ${PROXIES_PATH}; the daemon (egress-client daemon) runs it`);
  ctx.output.document({ command: 'proxy', saved: entry });
  return exitCode(0);
}

export async function listCommand(_inv: Invocation, ctx: CommandContext): Promise<ExitStatus> {
  const host = await ctx.host();
  const doc = await loadProxies(host);
  const running = await loadRunning(host);
  const rows = doc.proxies.map((p) => {
    const pid = running[p.id];
    return { ...p, pid: pid !== undefined && pidAlive(pid) ? pid : null };
  });
  if (rows.length === 0) ctx.output.result('no saved proxies');
  for (const r of rows) {
    ctx.output.result(`${r.id}  listen ${r.listen.join(',')}  egress ${r.egress ?? '(the only one)'}  allow ${r.allow.join(',') || 'loopback'}${r.authFile ? `  auth ${r.authFile}` : ''}  ${r.pid ? `running (pid ${r.pid})` : 'not running'}`);
  }
  ctx.output.document({ command: 'proxy list', proxies: rows });
  return exitCode(0);
}

export async function removeCommand(inv: Invocation, ctx: CommandContext): Promise<ExitStatus> {
  needRoot(ctx, 'remove');
  const id = inv.args[1];
  if (!id) throw new ValidationError('proxy remove: give the ID of a saved proxy (egress-client proxy list)', [{ path: 'id', message: 'missing' }]);
  const host = await ctx.host();
  await saveProxies(host, removeProxy(await loadProxies(host), id));
  ctx.output.result(`removed saved proxy '${id}'; the daemon stops it`);
  ctx.output.document({ command: 'proxy remove', removed: id });
  return exitCode(0);
}
