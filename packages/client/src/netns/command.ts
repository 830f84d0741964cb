// `egress-client netns add|remove|list`: named network namespaces whose only way out is an egress, kept across
// tunnel restarts, daemon restarts and reboots (the daemon and the boot fence rebuild them from the client state).
import { PermissionError, ValidationError } from '@egress/core/errors';
import type { Host } from '@egress/core/host/host';
import type { ClientState, Egress } from '@egress/core/model/client';
import { NETNS_SLOTS, NetnsName, type NamedNetns } from '@egress/core/model/netns';
import { netnsNames } from '@egress/core/render/client-netns';
import { vethAddressesOf } from '@egress/core/render/veth-addresses';
import { applyClient } from '../apply-client.js';
import type { CommandContext, Invocation } from '../cli.js';
import { exitCode, type ExitStatus } from '../exit-status.js';
import { pickVethAddresses } from '../isolate/address-plan.js';
import { removeIsolateLeftovers } from '../isolate/leftovers.js';
import { networksInUse } from '../isolate/run-isolated.js';
import { confKey, readSysctl } from '../isolate/shared-sysctl.js';
import { currentlyDown } from '../commands/up-down.js';
import { withChangeLock } from '../state/change-lock.js';
import { checkState, loadClientState, selectEgresses } from '../state/store.js';

const ACTIONS = ['add', 'remove', 'list'] as const;

/** The NAME argument, refused with the field, the value and what is allowed. */
export function parseNetnsName(value: string | undefined, action: string): string {
  if (value === undefined) throw new ValidationError(`NAME: expected a namespace name after '${action}'`, [{ path: 'NAME', message: 'missing' }], { hint: `egress-client netns ${action} NAME` });
  const r = NetnsName.safeParse(value);
  if (!r.success) throw new ValidationError(`NAME: ${r.error.issues[0]!.message}, got '${value}'`, [{ path: 'NAME', message: r.error.issues[0]!.message }]);
  return r.data;
}

/** The tunnel egress a new namespace leaves by: the named one, or the only one. */
function egressFor(state: ClientState, name: string | undefined): Egress {
  const all = selectEgresses(state, name, 'netns add --egress');
  if (all.length > 1) throw new ValidationError(`--egress: several egresses are enrolled; expected one of: ${all.map((e) => e.name).join(', ')}`, [{ path: '--egress', message: 'missing' }]);
  const e = all[0]!;
  if (e.kind !== 'wireguard') throw new ValidationError(`--egress: expected a tunnel (wireguard) egress, got '${e.name}' (kind ${e.kind})`, [{ path: '--egress', message: 'not a tunnel' }]);
  if (e.dns.length === 0) throw new ValidationError(`--egress: egress '${e.name}' has no resolver for the namespace's resolv.conf`, [{ path: '--egress', message: 'no resolver' }], { hint: 'enroll it again with --dns IP' });
  return e;
}

/** A free veth slot: no local network and no other named namespace (also one not built right now) overlaps it. */
async function freeSlot(host: Host, state: ClientState, v6: boolean): Promise<number> {
  const taken = (state.namespaces ?? []).map((n) => vethAddressesOf(n.slot, false).net4);
  return pickVethAddresses(NETNS_SLOTS - 1, [...(await networksInUse(host)), ...taken], v6).index;
}

/** What `netns list` shows of one namespace. */
async function describe(host: Host, n: NamedNetns): Promise<Record<string, unknown>> {
  const p = netnsNames(n);
  const a = vethAddressesOf(n.slot, n.ipv6);
  const [ns, veth] = await Promise.all([host.run(['test', '-e', `/run/netns/${p.ns}`]), host.run(['ip', 'link', 'show', 'dev', p.vethHost])]);
  return { name: n.name, egress: n.egress, path: `/run/netns/${p.ns}`, veth: p.vethHost, address4: a.ns4, ...(a.ns6 ? { address6: a.ns6 } : {}), present: ns.exitCode === 0 && veth.exitCode === 0 };
}

/** Runs `netns add|remove|list`. */
export async function netnsCommand(inv: Invocation, ctx: CommandContext): Promise<ExitStatus> {
  const [action, rawName] = inv.args as [string, string | undefined];
  if (!(ACTIONS as readonly string[]).includes(action)) throw new ValidationError(`ACTION: expected add, remove or list, got '${action}'`, [{ path: 'ACTION', message: 'unknown action' }]);
  const out = ctx.output;
  if (action === 'list') {
    const host = await ctx.host();
    const state = await loadClientState(host);
    const rows = await Promise.all((state.namespaces ?? []).map((n) => describe(host, n)));
    out.result(rows.length ? rows.map((r) => `${r.name}\tvia ${r.egress}\t${r.address4}${r.address6 ? ` ${r.address6}` : ''}\t${r.path}${r.present ? '' : '\t(missing: the daemon or egress-client up rebuilds it)'}`).join('\n') : 'no named namespaces');
    out.document({ command: 'netns', action, namespaces: rows });
    return exitCode(0);
  }
  const name = parseNetnsName(rawName, action);
  if (!ctx.isRoot) throw new PermissionError(`netns ${action} must run as root`, { hint: `sudo egress-client netns ${action} ${name}` });
  const dryRun = inv.options.dryRun === true;
  const host = await ctx.host();
  const run = (): Promise<ExitStatus> => (action === 'add' ? add(host, ctx, name, inv.options.egress as string | undefined, dryRun) : remove(host, ctx, name, dryRun));
  return dryRun ? run() : withChangeLock(`netns ${action}`, out, run);
}

async function add(host: Host, ctx: CommandContext, name: string, egressName: string | undefined, dryRun: boolean): Promise<ExitStatus> {
  const out = ctx.output;
  const before = await loadClientState(host);
  const e = egressFor(before, egressName);
  const existing = (before.namespaces ?? []).find((n) => n.name === name);
  if (existing && existing.egress !== e.name) {
    throw new ValidationError(`NAME: namespace '${name}' already leaves by egress '${existing.egress}', not '${e.name}'`, [{ path: 'NAME', message: 'exists' }], { hint: `egress-client netns remove ${name}` });
  }
  if (!existing && (await host.run(['test', '-e', `/run/netns/${name}`])).exitCode === 0) {
    throw new ValidationError(`NAME: /run/netns/${name} exists and egress did not make it; expected a new name`, [{ path: 'NAME', message: 'taken' }]);
  }
  // IPv6 needs per-interface forwarding (force_forwarding, Linux 6.17+): without it the namespace has none at all.
  const v6 = !!e.address6 && (await readSysctl(host, confKey(6, 'all', 'force_forwarding'))) !== undefined;
  const entry: NamedNetns = existing ?? { name, egress: e.name, slot: await freeSlot(host, before, v6), ipv6: v6 };
  const after = checkState({ ...before, namespaces: [...(before.namespaces ?? []).filter((n) => n.name !== name), entry] });
  const down = await currentlyDown(host, before);
  const a = vethAddressesOf(entry.slot, entry.ipv6);
  if (dryRun) {
    const { steps } = await applyClient(host, { before, after, down, output: out, dryRun: true });
    const plan = existing ? steps : [...steps, `create namespace ${name}: ${netnsNames(entry).vethHost} ${a.host4} <-> ${a.ns4}${a.ns6 ? ` ${a.ns6}` : ''} via ${e.name}`];
    out.result(plan.length ? `would:\n${plan.map((s) => `  ${s}`).join('\n')}` : `namespace ${name} is in place: nothing to do`);
    out.document({ command: 'netns', action: 'add', name, dryRun: true, steps: plan });
    return exitCode(0);
  }
  out.step(`${existing ? 'Checking' : 'Creating'} namespace ${name} (only way out: egress ${e.name})`);
  let steps: string[];
  try {
    ({ steps } = await applyClient(host, { before, after, down, output: out }));
  } catch (err) {
    // Nothing half-applied: put the host back as the saved state says (the engine already undid its own part).
    if (!existing) await applyClient(host, { before: after, after: before, down, output: out }).catch(() => undefined);
    throw err;
  }
  out.result(`${steps.length ? 'namespace' : 'namespace already in place:'} ${name} leaves only by egress ${e.name} (${a.ns4}${a.ns6 ? ` ${a.ns6}` : ''}); use it with: ip netns exec ${name} CMD | podman run --network ns:/run/netns/${name} | NetworkNamespacePath=/run/netns/${name}`);
  out.document({ command: 'netns', action: 'add', name, egress: e.name, path: `/run/netns/${name}`, address4: a.ns4, ...(a.ns6 ? { address6: a.ns6 } : {}), changed: steps.length > 0, steps });
  return exitCode(0);
}

async function remove(host: Host, ctx: CommandContext, name: string, dryRun: boolean): Promise<ExitStatus> {
  const out = ctx.output;
  const before = await loadClientState(host);
  if (!(before.namespaces ?? []).some((n) => n.name === name)) {
    out.result(`no named namespace '${name}': nothing changed`);
    out.document({ command: 'netns', action: 'remove', name, changed: false, steps: [] });
    return exitCode(0);
  }
  const rest = (before.namespaces ?? []).filter((n) => n.name !== name);
  const after = checkState({ ...before, namespaces: rest });
  if (rest.length === 0) delete (after as { namespaces?: unknown }).namespaces;
  const down = await currentlyDown(host, before);
  const { steps } = await applyClient(host, { before, after, down, output: out, dryRun });
  // The last one gone: /etc/netns and /run/netns go too when egress created them and nothing else uses them.
  if (!dryRun && rest.length === 0) for (const l of await removeIsolateLeftovers(host)) out.info(l);
  const plan = dryRun ? [`remove namespace ${name}`, ...steps] : steps;
  out.result(dryRun ? `would:\n${plan.map((s) => `  ${s}`).join('\n')}` : `removed namespace ${name} (processes still inside keep running with no network)`);
  out.document({ command: 'netns', action: 'remove', name, dryRun, changed: true, steps: plan });
  return exitCode(0);
}
