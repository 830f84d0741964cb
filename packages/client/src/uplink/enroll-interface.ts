// `egress-client enroll --interface IF [--gateway IP] [--dns IP] --user NAME [--name EGRESS]`: an egress of kind `interface`, no VPS.
import { ConflictError, NotFoundError, PermissionError, ValidationError } from '@egress/core/errors';
import type { SelectedUser } from '@egress/core/model/client';
import { SafeName } from '@egress/core/model/primitives';
import { applyClient } from '../apply-client.js';
import { cgroup2Usable, ensureEgressCgroup, removeEgressCgroup } from '../cgroup.js';
import type { CommandContext, Invocation } from '../cli.js';
import { describeEgress, summary } from '../commands/enroll.js';
import { exitCode, type ExitStatus } from '../exit-status.js';
import { allocate } from '../state/allocate.js';
import { missingDirs, recordCreatedDirs, removeCreatedDirs } from '../state/created-dirs.js';
import { readHostUsage } from '../state/host-usage.js';
import { checkState, loadClientState } from '../state/store.js';
import { checkUserName, createSystemUser, lookupUser } from '../users.js';
import { detectUplink, type UplinkPlan } from './detect-uplink.js';
import { defaultEgressName, egressFromUplink, listFlag } from './egress-from-uplink.js';
import { checkDedicatedUser } from '../enroll/guards.js';

interface Options {
  interface?: string;
  gateway?: string | string[];
  address?: string;
  dns?: string | string[];
  user?: string;
  createUser?: boolean;
  name?: string;
  dryRun?: boolean;
}

/** Where each detected value came from, for the summary. */
function describeUplink(plan: UplinkPlan): string[] {
  return [
    `  leaves by ${plan.interface} (${plan.address4} in ${plan.network4}) via ${plan.gateway4 ?? 'the point-to-point peer'} (${plan.sources.gateway4 ?? 'detected'})`,
    plan.address6 ? `  IPv6 by ${plan.interface} (${plan.address6}) via ${plan.gateway6 ?? 'the link'}` : `  IPv6 refused: ${plan.v6Refused ?? 'no IPv6 on the interface'}`,
    `  DNS from ${plan.sources.dns}`,
  ];
}

/** `enroll --interface`: checks every flag and the interface before any change, then applies and saves the state. */
export async function enrollInterfaceCommand(inv: Invocation, ctx: CommandContext): Promise<ExitStatus> {
  const o = inv.options as Options;
  if (inv.args[0] !== undefined) throw new ValidationError(`enroll: expected either a bundle or --interface, got both ('${inv.args[0]}' and --interface ${o.interface})`, [{ path: 'bundle', message: 'with --interface' }]);
  if (!o.user) throw new ValidationError('--user: expected the user whose traffic leaves by the interface, got nothing', [{ path: '--user', message: 'missing' }], { hint: `egress-client enroll --interface ${o.interface} --user appuser` });
  const userName = checkUserName(o.user);
  const name = o.name ?? defaultEgressName(o.interface!);
  if (!SafeName.safeParse(name).success) throw new ValidationError(`--name: expected 1-32 lowercase letters, digits, '_' or '-' starting with a letter or digit, got '${name}'`, [{ path: '--name', message: 'bad name' }]);
  if (!ctx.isRoot && !o.dryRun) throw new PermissionError('enroll must run as root (it configures the network and writes /etc/egress)', { hint: `sudo egress-client enroll --interface ${o.interface} --user ${userName}` });
  const out = ctx.output;
  const host = await ctx.host();

  out.step(`Reading ${o.interface}: addresses, gateway, resolvers`);
  const plan = await detectUplink(host, { interface: o.interface!, gateways: listFlag(o.gateway), dns: listFlag(o.dns), ...(o.address === undefined ? {} : { address: o.address }) });
  const before = await loadClientState(host);
  const existing = before.egresses.find((e) => e.name === name);
  if (existing && existing.kind !== 'interface') throw new ConflictError(`--name: egress '${name}' exists and is a ${existing.kind} egress, not an interface one`, { hint: `pick another --name` });
  const sameIface = before.egresses.find((e) => e.name !== name && e.interface === plan.interface);
  if (sameIface) throw new ConflictError(`--interface: egress '${sameIface.name}' already leaves by ${plan.interface}`, { hint: `egress-client enroll --interface ${plan.interface} --user ${userName} --name ${sameIface.name}` });
  const boundElsewhere = before.egresses.find((e) => e.name !== name && e.selectors.users.some((u) => u.name === userName));
  if (boundElsewhere) throw new ConflictError(`--user: '${userName}' is already bound to egress '${boundElsewhere.name}' (a user belongs to at most one egress)`, { hint: `egress-client uninstall ${boundElsewhere.name}, or enroll another user` });
  let entry = await lookupUser(host, userName);
  if (!entry && !o.createUser) throw new NotFoundError(`--user: user '${userName}' does not exist`, { hint: 'add --create-user to create it as a system user without a login shell' });
  if (entry && entry.uid === 0) throw new ValidationError(`--user: '${userName}' is root (uid 0); egress routes a dedicated user, never root`, [{ path: '--user', message: 'root' }]);
  if (entry) checkDedicatedUser(entry, before.egresses.some((e) => e.selectors.users.some((u) => u.name === userName)), inv.options.allowSystemUser === true);

  const allocation = existing ?? allocate(before, await readHostUsage(host));
  const cgroup2 = await cgroup2Usable(host);
  const users: SelectedUser[] = [...(existing?.selectors.users ?? [])];
  if (!users.some((u) => u.name === userName)) users.push({ name: userName, uid: entry?.uid ?? 0 });
  const egress = egressFromUplink(plan, { name, allocation, users, cgroup2 });
  const after = checkState({ ...before, egresses: existing ? before.egresses.map((e) => (e.name === name ? egress : e)) : [...before.egresses, egress] });

  if (o.dryRun) {
    const steps = entry ? (await applyClient(host, { before, after, output: out, dryRun: true }).catch(() => undefined))?.steps ?? [] : [];
    out.result(['dry run: nothing was changed', ...(entry ? [] : [`would create system user ${userName}`]), ...describeEgress(egress), ...describeUplink(plan), ...steps.map((s) => `  would: ${s}`)].join('\n'));
    out.document({ dryRun: true, egress: summary(egress), uplink: plan, steps, createUser: !entry });
    return exitCode(0);
  }
  if (!entry) {
    out.step(`Creating system user ${userName}`);
    entry = await createSystemUser(host, userName);
    egress.selectors.users = egress.selectors.users.map((u) => (u.name === userName ? { name: userName, uid: entry!.uid } : u));
  }
  const finalAfter = checkState({ ...after, egresses: after.egresses.map((e) => (e.name === name ? egress : e)) });

  out.step(`Routing ${userName} out of ${plan.interface}`);
  const newDirs = await missingDirs(host);
  const cgroupExisted = !cgroup2 || (await host.run(['test', '-d', `/sys/fs/cgroup/egress/${name}`])).exitCode === 0;
  if (cgroup2) await ensureEgressCgroup(host, name);
  // Directories enroll creates are recorded so the last uninstall removes them and /etc ends as it was.
  if (newDirs.length) await recordCreatedDirs(host, newDirs);
  let steps: string[];
  try {
    steps = (await applyClient(host, { before, after: finalAfter, output: out })).steps;
  } catch (err) {
    if (!cgroupExisted) await removeEgressCgroup(host, name).catch(() => undefined);
    if (before.egresses.length === 0) await removeCreatedDirs(host).catch(() => undefined);
    throw err;
  }
  const changed = steps.length > 0 || JSON.stringify(before) !== JSON.stringify(finalAfter);
  out.result(
    (changed
      ? [`enrolled egress ${name}`, ...describeEgress(egress), ...describeUplink(plan), `run an app through it: egress-client run-as ${userName} -- CMD`]
      : [`egress ${name} already leaves by ${plan.interface} for ${userName}: nothing changed`]
    ).join('\n'),
  );
  out.document({ changed, egress: summary(egress), uplink: plan, steps });
  return exitCode(0);
}
