// `proxy --persist`, `proxy list [--json]`, `proxy remove ID`: the saved proxies the supervisor keeps running.
import { PermissionError, ValidationError } from '@egress/core/errors';
import type { Host } from '@egress/core/host/host';
import type { CommandContext, Invocation } from '../cli.js';
import { exitCode, type ExitStatus } from '../exit-status.js';
import { addProxy, loadProxies, PROXIES_PATH, removeProxy, saveProxies, savedProxyFrom, type SavedProxy } from './persist.js';
import { formatProxyStatus, liveRecords, readProxyStatus, type ProxyStatus } from './running.js';

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

export interface ProxyRow extends SavedProxy {
  pid: number | null;
  status: ProxyStatus | null;
}

/** The saved proxies with the pid running each (checked: same start time and command line) and its counters. */
export async function proxyRows(host: Host): Promise<ProxyRow[]> {
  const doc = await loadProxies(host);
  const running = await liveRecords(host);
  const rows: ProxyRow[] = [];
  for (const p of doc.proxies) {
    const pid = running[p.id]?.pid;
    rows.push({ ...p, pid: pid ?? null, status: pid ? ((await readProxyStatus(host, p.id, pid)) ?? null) : null });
  }
  return rows;
}

/** One line per saved proxy: where, through what, and whether (and how busy) it runs. */
export function formatProxyRow(r: ProxyRow): string {
  const state = r.pid ? `running (pid ${r.pid}${r.status ? `; ${formatProxyStatus(r.status)}` : ''})` : 'not running';
  return `${r.id}  listen ${r.listen.join(',')}  egress ${r.egress ?? '(the only one)'}  allow ${r.allow.join(',') || 'loopback'}${r.authFile ? `  auth ${r.authFile}` : ''}  ${state}`;
}

export async function listCommand(_inv: Invocation, ctx: CommandContext): Promise<ExitStatus> {
  const rows = await proxyRows(await ctx.host());
  if (rows.length === 0) ctx.output.result('no saved proxies');
  for (const r of rows) ctx.output.result(formatProxyRow(r));
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
