// `egress-client forward add|remove|list [SPEC] [--egress NAME]`: the client's side of forwards to LAN hosts.
import { NotFoundError, PermissionError, ValidationError } from '@egress/core/errors';
import type { Egress } from '@egress/core/model/client';
import { formatForwardSpec, parseForwardSpec, type PortForward } from '@egress/core/model/forward';
import { applyClient } from '../apply-client.js';
import type { CommandContext, Invocation } from '../cli.js';
import { exitCode, type ExitStatus } from '../exit-status.js';
import { ensureTunnelForwarding, lanInterfaceFor } from '../forwards/lan-route.js';
import { checkState, loadClientState } from '../state/store.js';
import { currentlyDown } from './up-down.js';

type WireguardEgress = Extract<Egress, { kind: 'wireguard' }>;

function pickEgress(egresses: readonly Egress[], name: string | undefined): WireguardEgress {
  const tunnels = egresses.filter((e): e is WireguardEgress => e.kind === 'wireguard');
  if (name !== undefined) {
    const e = tunnels.find((x) => x.name === name);
    if (!e) throw new NotFoundError(`--egress: no tunnel egress named '${name}' (tunnel egresses: ${tunnels.map((x) => x.name).join(', ') || 'none'})`);
    return e;
  }
  if (tunnels.length === 1) return tunnels[0]!;
  throw new NotFoundError(`--egress: expected the tunnel egress the forward arrives on (tunnel egresses: ${tunnels.map((x) => x.name).join(', ') || 'none'})`, tunnels.length ? {} : { hint: 'egress-client enroll BUNDLE --user USER' });
}

const same = (a: PortForward, b: PortForward) => a.proto === b.proto && a.publicPort === b.publicPort && a.publicPortEnd === b.publicPortEnd;

/** Runs `forward add|remove|list`. The VPS side is `egress-server forward add|remove` with the same SPEC. */
export async function forwardCommand(inv: Invocation, ctx: CommandContext): Promise<ExitStatus> {
  const [action, spec] = inv.args as [string, string | undefined];
  if (!['add', 'remove', 'list'].includes(action)) throw new ValidationError(`ACTION: expected add, remove or list, got '${action}'`, [{ path: 'ACTION', message: 'unknown action' }]);
  if (action !== 'list' && spec === undefined) throw new ValidationError(`SPEC: expected PUBLIC[-END][/tcp|/udp][:[LAN_HOST:]PORT] after '${action}'`, [{ path: 'SPEC', message: 'missing' }]);
  if (action !== 'list' && !ctx.isRoot) throw new PermissionError(`forward ${action} must run as root`, { hint: `sudo egress-client forward ${action} ${spec}` });
  const host = await ctx.host();
  const before = await loadClientState(host);
  const e = pickEgress(before.egresses, inv.options.egress as string | undefined);
  const out = ctx.output;
  if (action === 'list') {
    const specs = e.wireguard.forwards.map((f) => `${formatForwardSpec(f)}${f.via ? ` (via ${f.via})` : ''}`);
    out.result(specs.length ? specs.join('\n') : 'no forwards');
    out.document({ command: 'forward', action, egress: e.name, forwards: e.wireguard.forwards });
    return exitCode(0);
  }
  const wanted = parseForwardSpec(spec!, e.name, 'SPEC');
  let forwards: PortForward[];
  if (action === 'add') {
    const f = wanted.targetHost ? { ...wanted, via: await lanInterfaceFor(host, e, before.egresses, wanted, 'SPEC') } : wanted;
    const existing = e.wireguard.forwards.find((x) => same(x, f));
    if (existing && formatForwardSpec(existing) === formatForwardSpec(f) && existing.via === f.via) {
      out.result(`forward ${formatForwardSpec(f)} is already known: nothing changed`);
      out.document({ command: 'forward', action, egress: e.name, changed: false });
      return exitCode(0);
    }
    forwards = [...e.wireguard.forwards.filter((x) => !same(x, f)), f];
  } else {
    const match = e.wireguard.forwards.find((x) => same(x, wanted));
    if (!match) throw new NotFoundError(`SPEC: no forward ${spec} on egress '${e.name}' (forwards: ${e.wireguard.forwards.map(formatForwardSpec).join(', ') || 'none'}); nothing was changed`);
    forwards = e.wireguard.forwards.filter((x) => x !== match);
  }
  const updated: WireguardEgress = { ...e, wireguard: { ...e.wireguard, forwards } };
  const after = checkState({ ...before, egresses: before.egresses.map((x) => (x.name === e.name ? updated : x)) });
  const down = await currentlyDown(host, before);
  const { steps } = await applyClient(host, { before, after, down, output: out });
  if (!down.includes(e.name)) await ensureTunnelForwarding(host, after.egresses.find((x) => x.name === e.name)!);
  out.result(`${action === 'add' ? 'forwarding' : 'no longer forwarding'} ${formatForwardSpec(wanted)} (egress ${e.name}); the VPS side: egress-server forward ${action} HOST ${formatForwardSpec(wanted)}`);
  out.document({ command: 'forward', action, egress: e.name, changed: steps.length > 0, steps });
  return exitCode(0);
}
