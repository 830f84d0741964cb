// `egress-client enroll BUNDLE --user NAME`: bundle → allocated egress → tunnel up, state applied and saved.
import { ConflictError, NotFoundError, PermissionError, ValidationError } from '@egress/core/errors';
import type { Egress, SelectedUser } from '@egress/core/model/client';
import { IpAddr, SafeName } from '@egress/core/model/primitives';
import { clientKeyPath } from '@egress/core/render/client-paths';
import { hexMark } from '@egress/core/render/client-nft';
import { applyClient } from '../apply-client.js';
import { cgroup2Usable, ensureEgressCgroup, removeEgressCgroup } from '../cgroup.js';
import type { CommandContext, Invocation } from '../cli.js';
import { loadBundle } from '../enroll/bundle.js';
import { egressFromBundle } from '../enroll/egress-from-bundle.js';
import { checkBundleFlags, checkDedicatedUser, checkReplace } from '../enroll/guards.js';
import { checkPrerequisites } from '../enroll/preflight.js';
import { selectionFacts } from '../egress-facts.js';
import { exitCode, type ExitStatus } from '../exit-status.js';
import { allocate } from '../state/allocate.js';
import { missingDirs, recordCreatedDirs, removeCreatedDirs } from '../state/created-dirs.js';
import { readHostUsage } from '../state/host-usage.js';
import { checkState, loadClientState } from '../state/store.js';
import { checkUserName, createSystemUser, lookupUser } from '../users.js';
import { waitForHandshake } from '../wg-show.js';

interface EnrollOptions {
  user?: string;
  createUser?: boolean;
  name?: string;
  dns?: string;
  dryRun?: boolean;
  json?: boolean;
  replace?: boolean;
  allowSystemUser?: boolean;
}

/** Checks the flags before anything is read or changed. */
function checkFlags(o: EnrollOptions): { user: string } {
  if (!o.user) throw new ValidationError('--user: expected the user whose traffic goes through the egress, got nothing', [{ path: '--user', message: 'missing' }], { hint: 'egress-client enroll BUNDLE --user appuser' });
  checkUserName(o.user);
  if (o.name !== undefined && !SafeName.safeParse(o.name).success) {
    throw new ValidationError(`--name: expected 1-32 lowercase letters, digits, '_' or '-' starting with a letter or digit, got '${o.name}'`, [{ path: '--name', message: 'bad name' }]);
  }
  if (o.dns !== undefined && !IpAddr.safeParse(o.dns).success) throw new ValidationError(`--dns: expected an IPv4 or IPv6 address, got '${o.dns}'`, [{ path: '--dns', message: 'bad address' }]);
  return { user: o.user };
}

/** Same egress, ignoring key order: true when re-enrolling changes nothing in the saved state. */
function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** A one-line-per-fact summary of an egress for people. */
export function describeEgress(e: Egress): string[] {
  return [
    `egress ${e.name}: interface ${e.interface}, address ${[e.address4, e.address6].filter(Boolean).join(', ')}`,
    `  users ${e.selectors.users.map((u) => `${u.name} (uid ${u.uid})`).join(', ') || 'none'}${e.selectors.cgroups.length ? `, cgroup ${e.selectors.cgroups.join(', ')}` : ''}`,
    `  mark ${hexMark(e.mark)}/${hexMark(e.markMask)}, table ${e.table}, rule priorities ${e.priority}-${e.priority + 9}`,
    `  DNS ${e.dns.join(', ') || 'none (DNS to local resolvers is refused)'}, kill switch armed`,
  ];
}

/** `egress-client enroll`. */
export async function enrollCommand(inv: Invocation, ctx: CommandContext): Promise<ExitStatus> {
  if (inv.options.interface !== undefined) return (await import('../uplink/enroll-interface.js')).enrollInterfaceCommand(inv, ctx);
  const o = inv.options as EnrollOptions;
  const { user: userName } = checkFlags(o);
  checkBundleFlags(inv.options);
  const bundlePath = inv.args[0];
  if (bundlePath === undefined) throw new ValidationError('enroll: expected a bundle file or --interface IF, got neither', [{ path: 'bundle', message: 'missing' }], { hint: 'egress-client enroll BUNDLE --user USER' });
  if (!ctx.isRoot && !o.dryRun) throw new PermissionError('enroll must run as root (it configures the network and writes /etc/egress)', { hint: `sudo egress-client enroll ${bundlePath} --user ${userName}` });
  const out = ctx.output;
  const host = await ctx.host();

  out.step('Checking the bundle, the user and this host');
  await checkPrerequisites(host);
  const before = await loadClientState(host);
  const loaded = await loadBundle(host, bundlePath, o.name);
  const name = loaded.name;
  const existing = before.egresses.find((e) => e.name === name);
  const boundElsewhere = before.egresses.find((e) => e.name !== name && e.selectors.users.some((u) => u.name === userName));
  if (boundElsewhere) {
    throw new ConflictError(`--user: '${userName}' is already bound to egress '${boundElsewhere.name}' (a user belongs to at most one egress)`, {
      hint: `egress-client uninstall ${boundElsewhere.name}, or enroll another user`,
    });
  }
  let entry = await lookupUser(host, userName);
  if (!entry && !o.createUser) throw new NotFoundError(`--user: user '${userName}' does not exist`, { hint: `add --create-user to create it as a system user without a login shell` });
  if (entry && entry.uid === 0) throw new ValidationError(`--user: '${userName}' is root (uid 0); egress routes a dedicated user, never root`, [{ path: '--user', message: 'root' }]);
  if (entry) checkDedicatedUser(entry, before.egresses.some((e) => e.selectors.users.some((u) => u.name === userName)), !!o.allowSystemUser);
  if (existing && existing.kind !== 'wireguard') throw new ConflictError(`--name: egress '${name}' exists and is not a WireGuard egress`);
  if (!existing && before.egresses.some((e) => e.kind === 'wireguard' && e.wireguard.publicKey === loaded.bundle.client.publicKey)) {
    const other = before.egresses.find((e) => e.kind === 'wireguard' && e.wireguard.publicKey === loaded.bundle.client.publicKey)!;
    throw new ConflictError(`bundle: this bundle is already enrolled as egress '${other.name}'`, { hint: `egress-client enroll ${bundlePath} --user ${userName} --name ${other.name}` });
  }

  const allocation = existing
    ? { interface: existing.interface, mark: existing.mark, markMask: existing.markMask, table: existing.table, priority: existing.priority }
    : allocate(before, await readHostUsage(host));
  const cgroup2 = await cgroup2Usable(host);
  const users: SelectedUser[] = [...(existing?.selectors.users ?? [])];
  const uid = entry?.uid ?? -1;
  if (!users.some((u) => u.name === userName)) users.push({ name: userName, uid: uid < 0 ? 0 : uid });
  // --dns wins; without it a re-enroll keeps the resolvers the egress has (an earlier --dns is remembered).
  const dns = o.dns !== undefined ? [o.dns] : existing?.dns;
  const egress = egressFromBundle(loaded.bundle, { name, allocation, users, ...(dns ? { dns } : {}), cgroup2 });
  checkReplace(existing, egress, !!o.replace, bundlePath, userName);
  const after = checkState({ ...before, egresses: existing ? before.egresses.map((e) => (e.name === name ? egress : e)) : [...before.egresses, egress] });
  const keyText = `${loaded.privateKey}\n`;
  const keyUnchanged = (await host.readFile(clientKeyPath(name))) === keyText;
  if (!egress.dns.length) out.warn(`the bundle names no DNS resolver and --dns was not given: ${userName}'s DNS to local resolvers will be refused`);

  if (o.dryRun) {
    const plan = entry ? await applyClient(host, { before, after, output: out, dryRun: true }).catch(() => undefined) : undefined;
    out.result([`dry run: nothing was changed`, ...(entry ? [] : [`would create system user ${userName}`]), ...describeEgress(egress), ...(plan ? plan.steps.map((s) => `  would: ${s}`) : [])].join('\n'));
    out.document({ dryRun: true, egress: summary(egress), steps: plan?.steps ?? [], createUser: !entry });
    return exitCode(0);
  }

  if (!entry) {
    out.step(`Creating system user ${userName}`);
    entry = await createSystemUser(host, userName);
    if (entry.uid === 0) throw new ValidationError(`--user: '${userName}' got uid 0`);
    egress.selectors.users = egress.selectors.users.map((u) => (u.name === userName ? { name: userName, uid: entry!.uid } : u));
  }
  const finalAfter = checkState({ ...after, egresses: after.egresses.map((e) => (e.name === name ? egress : e)) });

  out.step(`Bringing egress ${name} up on ${egress.interface}`);
  const newDirs = await missingDirs(host);
  const cgroupExisted = !cgroup2 || (await host.run(['test', '-d', `/sys/fs/cgroup/egress/${name}`])).exitCode === 0;
  if (cgroup2) await ensureEgressCgroup(host, name);
  if (newDirs.length) await recordCreatedDirs(host, newDirs);
  if (!keyUnchanged) await host.writeFile(clientKeyPath(name), keyText, { mode: 0o600, secret: true });
  let steps: string[];
  try {
    steps = (await applyClient(host, { before, after: finalAfter, output: out })).steps;
  } catch (err) {
    if (!existing && !keyUnchanged) await host.removeFile(clientKeyPath(name)).catch(() => undefined);
    if (!cgroupExisted) await removeEgressCgroup(host, name).catch(() => undefined);
    if (before.egresses.length === 0) await removeCreatedDirs(host).catch(() => undefined);
    throw err;
  }
  if (existing && !keyUnchanged && (await host.run(['ip', 'link', 'show', 'dev', egress.interface])).exitCode === 0) {
    // A new key for a running tunnel: wg-quick's PostUp only runs at up, so load it now (from the file, not argv).
    await host.run(['wg', 'set', egress.interface, 'private-key', clientKeyPath(name)], { check: true, change: true });
  }
  const changed = steps.length > 0 || !keyUnchanged || !sameJson(before, finalAfter);
  const handshake = await waitForHandshake(host, egress.interface, ctx.handshakeTimeoutMs);
  if (!handshake) out.warn(`no WireGuard handshake with ${egress.wireguard.endpoint} yet; check that the VPS is reachable (egress-client doctor ${name})`);
  const lines = changed ? [`enrolled egress ${name}`, ...describeEgress(egress), `run an app through it: egress-client run-as ${userName} -- CMD`] : [`egress ${name} is already enrolled for ${userName} with this bundle: nothing changed`];
  out.result(lines.join('\n'));
  out.document({ changed, handshake, egress: summary(egress), steps });
  return exitCode(0);
}

/** The facts of an egress for --json output (no keys). */
export function summary(e: Egress): Record<string, unknown> {
  return {
    name: e.name,
    kind: e.kind,
    interface: e.interface,
    address4: e.address4,
    address6: e.address6,
    ...selectionFacts(e),
    dns: e.dns,
    ...(e.kind === 'wireguard' ? { endpoint: e.wireguard.endpoint, publicAddress4: e.wireguard.publicAddress4, publicAddress6: e.wireguard.publicAddress6 } : {}),
  };
}

