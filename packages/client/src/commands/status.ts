// `egress-client status [EGRESS] [--json]`.
import { PermissionError } from '@egress/core/errors';
import type { CommandContext, Invocation } from '../cli.js';
import { exitCode, type ExitStatus } from '../exit-status.js';
import { egressStatus, formatStatus, implementationsFor, readLiveFor } from '../live/egress-status.js';
import { loadClientState, selectEgresses } from '../state/store.js';
import { formatHealth, readSupervisor } from '../daemon/supervisor-view.js';

/** `egress-client status`. */
export async function statusCommand(inv: Invocation, ctx: CommandContext): Promise<ExitStatus> {
  if (!ctx.isRoot) throw new PermissionError('status must run as root (it reads /etc/egress/client.json and wg show)', { hint: 'sudo egress-client status' });
  const host = await ctx.host();
  const state = await loadClientState(host);
  const egresses = selectEgresses(state, inv.args[0], 'status');
  const live = await readLiveFor(host, state);
  const statuses = [];
  const [sup, impls] = await Promise.all([readSupervisor(host), implementationsFor(host, egresses, live)]);
  for (const e of egresses) statuses.push({ ...(await egressStatus(host, e, live, state, impls)), health: sup.health[e.name] ?? null });
  // Saved proxies (proxy --persist): whether each runs, its active connections and bytes.
  const { proxyRows, formatProxyRow } = await import('../proxy/persist-command.js');
  const proxies = await proxyRows(host).catch(() => []);
  const proxyText = proxies.length ? `\n\nproxies:\n${proxies.map((r) => `  ${formatProxyRow(r)}`).join('\n')}` : '';
  ctx.output.result(statuses.map((s) => `${formatStatus(s)}\n${formatHealth(sup, s.name)}`).join('\n\n') + proxyText);
  ctx.output.document({ egresses: statuses, supervisor: { running: sup.running, ...(sup.pid ? { pid: sup.pid } : {}), ...(sup.error ? { error: sup.error } : {}) }, proxies });
  return exitCode(0);
}
