// `egress-client uninstall [EGRESS]`: remove everything of the egress (or all) and nothing else.
import { PermissionError } from '@egress/core/errors';
import { clientKeyPath } from '@egress/core/render/client-paths';
import { applyClient } from '../apply-client.js';
import { removeEgressCgroup } from '../cgroup.js';
import type { CommandContext, Invocation } from '../cli.js';
import { exitCode, type ExitStatus } from '../exit-status.js';
import { removeCreatedDirs } from '../state/created-dirs.js';
import { loadClientState, selectEgresses } from '../state/store.js';

/** `egress-client uninstall [EGRESS]`. */
export async function uninstallCommand(inv: Invocation, ctx: CommandContext): Promise<ExitStatus> {
  const name = inv.args[0];
  if (!ctx.isRoot) throw new PermissionError('uninstall must run as root', { hint: `sudo egress-client uninstall${name ? ` ${name}` : ''}` });
  const host = await ctx.host();
  const before = await loadClientState(host);
  if (name === undefined && before.egresses.length === 0) {
    // Nothing enrolled (e.g. another uninstall just finished): still finish what an interrupted one left, and succeed.
    await applyClient(host, { before, after: before, output: ctx.output });
    await removeCreatedDirs(host);
    const stays = await (await import('../isolate/leftovers.js')).removeIsolateLeftovers(host);
    for (const l of stays) ctx.output.warn(l);
    ctx.output.result('no egress is enrolled; nothing to remove');
    ctx.output.document({ command: 'uninstall', removed: [], remaining: [], steps: [], leftovers: stays });
    return exitCode(0);
  }
  const targets = selectEgresses(before, name, 'uninstall').map((e) => e.name);
  const after = { ...before, egresses: before.egresses.filter((e) => !targets.includes(e.name)) };
  ctx.output.step(`Removing ${targets.join(', ')}`);
  const { steps } = await applyClient(host, { before, after, output: ctx.output });
  const leftovers: string[] = [];
  for (const t of targets) {
    await host.removeFile(clientKeyPath(t));
    if (!(await removeEgressCgroup(host, t))) leftovers.push(`cgroup egress/${t} still has processes; it is removed once they exit and you run uninstall again`);
  }
  if (after.egresses.length === 0) {
    // Directories enroll created (empty by now): remove them so /etc is as it was before enroll.
    await removeCreatedDirs(host);
    // What `run --isolate` left beside its runs (netns directories egress created, /run/egress/isolate).
    leftovers.push(...(await (await import('../isolate/leftovers.js')).removeIsolateLeftovers(host)));
  }
  for (const l of leftovers) ctx.output.warn(l);
  ctx.output.result(`removed egress ${targets.join(', ')}${after.egresses.length ? ` (still enrolled: ${after.egresses.map((e) => e.name).join(', ')})` : ''}`);
  ctx.output.document({ command: 'uninstall', removed: targets, remaining: after.egresses.map((e) => e.name), steps, leftovers });
  return exitCode(0);
}
