// `egress-client up|down [EGRESS]`: converge to the saved state with the named egresses up or down (kill switch stays).
import { PermissionError } from '@egress/core/errors';
import type { Host } from '@egress/core/host/host';
import type { ClientState } from '@egress/core/model/client';
import { applyClient } from '../apply-client.js';
import { cgroup2Usable, ensureEgressCgroup } from '../cgroup.js';
import type { CommandContext, Invocation } from '../cli.js';
import { exitCode, type ExitStatus } from '../exit-status.js';
import { clearDown, markDown } from '../state/down-markers.js';
import { loadClientState, selectEgresses } from '../state/store.js';
import { waitForHandshake } from '../wg-show.js';

/** Names of the wireguard egresses whose interface does not exist right now (they stay down unless asked). */
export async function currentlyDown(host: Host, state: ClientState): Promise<string[]> {
  const down: string[] = [];
  for (const e of state.egresses) {
    if (e.kind !== 'wireguard') continue;
    if ((await host.run(['ip', 'link', 'show', 'dev', e.interface])).exitCode !== 0) down.push(e.name);
  }
  return down;
}

/** `egress-client up [EGRESS]` and `egress-client down [EGRESS]`. */
export async function upDownCommand(inv: Invocation, ctx: CommandContext): Promise<ExitStatus> {
  const verb = inv.command as 'up' | 'down';
  const name = inv.args[0];
  if (!ctx.isRoot) throw new PermissionError(`${verb} must run as root`, { hint: `sudo egress-client ${verb}${name ? ` ${name}` : ''}` });
  const host = await ctx.host();
  const state = await loadClientState(host);
  const targets = selectEgresses(state, name, verb).map((e) => e.name);
  const already = await currentlyDown(host, state);
  // --fence-only (early boot, before any network): everything down, so only the kill switch, rules and cgroups load.
  const fenceOnly = verb === 'up' && inv.options.fenceOnly === true;
  const noWait = fenceOnly || inv.options.async === true;
  const down = fenceOnly
    ? state.egresses.map((e) => e.name)
    : verb === 'up' ? already.filter((n) => !targets.includes(n)) : [...new Set([...already, ...targets])];
  if (verb === 'up' && (await cgroup2Usable(host))) {
    for (const e of state.egresses) if (e.selectors.cgroups.length) await ensureEgressCgroup(host, e.name);
  }
  ctx.output.step(fenceOnly ? `Arming the kill switch of ${targets.join(', ')} (fence only)` : `${verb === 'up' ? 'Bringing up' : 'Taking down'} ${targets.join(', ')}`);
  const { steps } = await applyClient(host, { before: state, after: state, down, output: ctx.output, kernelOnly: fenceOnly });
  // The supervisor keeps an egress taken down by hand down, and brings it back only after `up`.
  if (!fenceOnly) for (const t of targets) await (verb === 'down' ? markDown(host, t) : clearDown(host, t));
  const handshakes: Record<string, boolean> = {};
  if (verb === 'up' && !noWait) {
    for (const e of state.egresses.filter((x) => targets.includes(x.name) && x.kind === 'wireguard')) {
      handshakes[e.name] = await waitForHandshake(host, e.interface, ctx.handshakeTimeoutMs);
      if (!handshakes[e.name]) ctx.output.warn(`egress ${e.name}: no handshake yet (egress-client doctor ${e.name})`);
    }
  }
  const what = fenceOnly ? 'fenced (kill switch armed; tunnels come up later)' : verb === 'up' ? 'up' : 'down (kill switch armed: selected traffic is refused)';
  ctx.output.result(steps.length ? `${targets.join(', ')}: ${what}` : `${targets.join(', ')}: already ${verb}, nothing changed`);
  ctx.output.document({ command: verb, egresses: targets, changed: steps.length > 0, steps, ...(verb === 'up' ? { handshakes } : {}) });
  return exitCode(0);
}
