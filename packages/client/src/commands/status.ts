// `egress-client status [EGRESS] [--json]`.
import { PermissionError } from '@egress/core/errors';
import type { CommandContext, Invocation } from '../cli.js';
import { exitCode, type ExitStatus } from '../exit-status.js';
import { egressStatus, formatStatus, readLiveFor } from '../live/egress-status.js';
import { loadClientState, selectEgresses } from '../state/store.js';

/** `egress-client status`. */
export async function statusCommand(inv: Invocation, ctx: CommandContext): Promise<ExitStatus> {
  if (!ctx.isRoot) throw new PermissionError('status must run as root (it reads /etc/egress/client.json and wg show)', { hint: 'sudo egress-client status' });
  const host = await ctx.host();
  const state = await loadClientState(host);
  const egresses = selectEgresses(state, inv.args[0], 'status');
  const live = await readLiveFor(host, state);
  const statuses = [];
  for (const e of egresses) statuses.push(await egressStatus(host, e, live));
  ctx.output.result(statuses.map(formatStatus).join('\n\n'));
  ctx.output.document({ egresses: statuses });
  return exitCode(0);
}
