// `egress-client allow [list] | disallow (--user U | --group G) [--egress NAME]`: who may use an egress besides root
// and its bound users. Enforced in the kernel (the egress address's source path) and by the supervisor's socket.
import { NotFoundError, PermissionError, ValidationError } from '@egress/core/errors';
import type { Host } from '@egress/core/host/host';
import type { Access, Egress } from '@egress/core/model/client';
import { allowedUids, describeAccess } from '@egress/core/policy/access';
import { applyClient } from '../apply-client.js';
import type { CommandContext, Invocation } from '../cli.js';
import { exitCode, type ExitStatus } from '../exit-status.js';
import { addToSocketGroup, removeFromSocketGroup } from '../daemon/socket-group.js';
import { checkState, loadClientState } from '../state/store.js';
import { checkUserName, lookupUser } from '../users.js';
import { currentlyDown } from './up-down.js';

/** The egress named by --egress, or the only one. */
export function pickAnyEgress(egresses: readonly Egress[], name: string | undefined): Egress {
  if (name !== undefined) {
    const e = egresses.find((x) => x.name === name);
    if (!e) throw new NotFoundError(`--egress: no egress named '${name}' (enrolled: ${egresses.map((x) => x.name).join(', ') || 'none'})`);
    return e;
  }
  if (egresses.length === 1) return egresses[0]!;
  throw new NotFoundError(`--egress: expected one of ${egresses.map((x) => x.name).join(', ') || 'none (nothing is enrolled)'}`, egresses.length ? {} : { hint: 'egress-client enroll BUNDLE --user USER' });
}

async function lookupGroup(host: Host, name: string): Promise<{ name: string; gid: number } | undefined> {
  const r = await host.run(['getent', 'group', '--', name]);
  if (r.exitCode !== 0) return undefined;
  const f = r.stdout.trim().split(':');
  return f[0] === name && /^\d+$/.test(f[2] ?? '') ? { name, gid: Number(f[2]) } : undefined;
}

/** Who the command is about: exactly one of --user and --group, resolved on this host. */
async function subject(host: Host, inv: Invocation): Promise<{ kind: 'user'; name: string; uid: number } | { kind: 'group'; name: string; gid: number }> {
  const user = inv.options.user as string | undefined;
  const group = inv.options.group as string | undefined;
  if ((user === undefined) === (group === undefined)) {
    throw new ValidationError(`${inv.command}: expected exactly one of --user USER and --group GROUP, got ${user === undefined ? 'neither' : 'both'}`, [{ path: '--user', message: 'one of --user/--group' }]);
  }
  if (user !== undefined) {
    const e = await lookupUser(host, checkUserName(user));
    if (!e) throw new NotFoundError(`--user: no user '${user}' on this host (getent passwd found nothing)`);
    return { kind: 'user', name: e.name, uid: e.uid };
  }
  const g = await lookupGroup(host, checkUserName(group!, '--group'));
  if (!g) throw new NotFoundError(`--group: no group '${group}' on this host (getent group found nothing)`);
  return { kind: 'group', ...g };
}

/** Runs `allow`, `allow list` or `disallow`. */
export async function allowCommand(inv: Invocation, ctx: CommandContext): Promise<ExitStatus> {
  const action = inv.command === 'disallow' ? 'disallow' : inv.args[0] === undefined ? 'allow' : inv.args[0];
  if (action !== 'allow' && action !== 'disallow' && action !== 'list') throw new ValidationError(`allow: expected 'list' or nothing before the options, got '${action}'`, [{ path: 'ACTION', message: 'unknown action' }]);
  const dryRun = !!inv.options.dryRun;
  if (!ctx.isRoot) {
    throw new PermissionError(`${inv.command}${action === 'list' ? ' list' : ''} must run as root (the policy lives in the root-only state /etc/egress/client.json)`, { hint: `sudo egress-client ${inv.command}${action === 'list' ? ' list' : ' ...'}` });
  }
  const host = await ctx.host();
  const out = ctx.output;
  const before = await loadClientState(host);
  if (action === 'list') {
    const shown = inv.options.egress !== undefined ? [pickAnyEgress(before.egresses, inv.options.egress as string)] : before.egresses;
    out.result(shown.map((e) => [`egress ${e.name}:`, ...describeAccess(e).map((l) => `  ${l}`)].join('\n')).join('\n') || 'no egress is enrolled');
    out.document({ command: 'allow', action, egresses: shown.map((e) => ({ egress: e.name, bound: e.selectors.users, users: e.access?.users ?? [], groups: e.access?.groups ?? [], allowedUids: allowedUids(e) })) });
    return exitCode(0);
  }
  const e = pickAnyEgress(before.egresses, inv.options.egress as string | undefined);
  const who = await subject(host, inv);
  const label = `${who.kind} ${who.name}`;
  const access: Access = { users: [...(e.access?.users ?? [])], groups: [...(e.access?.groups ?? [])] };
  const has = who.kind === 'user' ? access.users.some((u) => u.name === who.name) : access.groups.some((g) => g.name === who.name);
  if (action === 'disallow' && who.kind === 'user' && e.selectors.users.some((u) => u.name === who.name)) {
    throw new ValidationError(`--user: '${who.name}' is bound to egress '${e.name}' by enroll --user and stays allowed while bound; nothing was changed`, [{ path: '--user', message: 'bound user' }], { hint: `egress-client uninstall ${e.name} removes the binding` });
  }
  if ((action === 'allow') === has) {
    out.result(`${label} is ${action === 'allow' ? 'already' : 'not'} allowed on egress '${e.name}': nothing changed`);
    out.document({ command: inv.command, egress: e.name, changed: false });
    return exitCode(0);
  }
  if (who.kind === 'user') access.users = action === 'allow' ? [...access.users, { name: who.name, uid: who.uid }] : access.users.filter((u) => u.name !== who.name);
  else access.groups = action === 'allow' ? [...access.groups, { name: who.name, gid: who.gid }] : access.groups.filter((g) => g.name !== who.name);
  const updated: Egress = { ...e, access };
  const after = await (await import('../policy/group-members.js')).resolveAllowedGroups(host, checkState({ ...before, egresses: before.egresses.map((x) => (x.name === e.name ? updated : x)) }));
  const uids = allowedUids(after.egresses.find((x) => x.name === e.name)!);
  const summary = `${action === 'allow' ? 'allowed' : 'disallowed'} ${label} on egress '${e.name}' (uids allowed now: ${uids.join(', ')})`;
  if (dryRun) {
    out.result(`dry run: would have ${summary}; nothing was changed`);
    out.document({ command: inv.command, egress: e.name, dryRun: true, allowedUids: uids });
    return exitCode(0);
  }
  const down = await currentlyDown(host, before);
  const { steps } = await applyClient(host, { before, after, down, output: out });
  // The supervisor's socket is 0660 group `egress` plus an ACL entry per allowed user and group (the daemon sets it):
  // an allowed user joins the group too, so the socket stays theirs where setfacl is missing.
  if (who.kind === 'user') {
    const stillAllowed = after.egresses.some((x) => x.access?.users.some((u) => u.name === who.name));
    if (action === 'allow') await addToSocketGroup(host, who.name);
    else if (!stillAllowed) await removeFromSocketGroup(host, who.name);
  } else if (action === 'allow') {
    out.info(`members of group ${who.name} may send through '${e.name}', and launch without sudo (run, run-as, attach) while the supervisor runs: its socket's ACL follows the policy`);
  }
  out.result(summary);
  out.document({ command: inv.command, egress: e.name, changed: true, steps, allowedUids: uids });
  return exitCode(0);
}
