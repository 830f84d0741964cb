// The one enroll pipeline: a source (bundle, wg-quick file, local interface) turns its input into an egress and the
// secrets it needs written; this module does the rest for every source — saved state, the user, conflicts,
// allocation, semantic checks, dry run, user creation, directories, cgroup, key files, apply, rollback, summary.
import { ConflictError, NotFoundError, PermissionError, ValidationError } from '@egress/core/errors';
import type { ClientState, Egress, SelectedUser } from '@egress/core/model/client';
import { hexMark } from '@egress/core/render/client-nft';
import { applyClient } from '../apply-client.js';
import { cgroup2Usable, ensureEgressCgroup, removeEgressCgroup } from '../cgroup.js';
import type { CommandContext } from '../cli.js';
import { selectionFacts } from '../egress-facts.js';
import { exitCode, type ExitStatus } from '../exit-status.js';
import { allocate, priorityRangeNote, type Allocation } from '../state/allocate.js';
import { missingDirs, recordCreatedDirs, removeCreatedDirs } from '../state/created-dirs.js';
import { ensureSocketGroup, SOCKET_GROUP } from '../daemon/socket-group.js';
import { readHostUsage } from '../state/host-usage.js';
import { checkState, loadClientState } from '../state/store.js';
import { createSystemUser, lookupUser } from '../users.js';
import { waitForHandshake } from '../wg-show.js';
import { detectResolverDaemons } from '../dns-view/daemons.js';
import { daemonWarning } from '../dns-view/report.js';
import { ensureTunnelForwarding, withLanInterfaces } from '../forwards/lan-route.js';
import { checkDedicatedUser, checkReplace } from './guards.js';
import { assertSemantics, readHostNetworks, type FactField, type TunnelFacts } from './semantic-checks.js';

/** What the pipeline gives a source to build its egress with. */
export interface BuildChoices {
  name: string;
  allocation: Allocation;
  users: SelectedUser[];
  cgroup2: boolean;
  /** The egress of this name already enrolled (a re-enroll), if any. */
  existing?: Egress;
}

/** A file the egress needs beside its state (a private key): written 0600, never printed. */
export interface SecretFile {
  path: string;
  text: string;
}

/** What every source hands the pipeline. */
export interface EnrollSource {
  name: string;
  kind: Egress['kind'];
  /** Refuses what this source cannot enroll given the saved state (e.g. the same key under another name). */
  conflicts(before: ClientState, existing: Egress | undefined): void;
  build(c: BuildChoices): Egress;
  /** The tunnel facts for the semantic checks and how this source names each field. */
  facts: TunnelFacts;
  field: (f: FactField, index?: number) => string;
  secrets: SecretFile[];
  /** Commands that load changed secrets into a running tunnel of a re-enrolled egress (files, never argv). */
  reloadSecrets?: (e: Egress) => string[][];
  /** Extra summary lines and --json facts of this source. */
  describe?: string[];
  document?: Record<string, unknown>;
  /** Said when a re-enroll changes nothing. */
  unchanged: (user: string) => string;
  /** Progress line of the apply step. */
  applying: (e: Egress) => string;
  warnings?: (e: Egress, user: string) => string[];
}

/** What the pipeline needs from the command line. */
export interface PipelineOptions {
  /** The user to bind; '' for an egress selected by its cgroup only (run --direct). */
  user: string;
  createUser?: boolean;
  dryRun?: boolean;
  /** The file enrolled (for hints), when the source is a file. */
  sourcePath?: string;
  /** Let another peer's file replace the egress enrolled under the same name. */
  replace?: boolean;
  /** Accept a system account (uid < 1000) egress did not create. */
  allowSystemUser?: boolean;
}

/** A one-line-per-fact summary of an egress for people. */
export function describeEgress(e: Egress): string[] {
  const carried = e.kind === 'wireguard' && e.wireguard.allowedIps && !isEverything(e.wireguard.allowedIps) ? `, carries only ${e.wireguard.allowedIps.join(', ')} (other destinations ${e.wireguard.outsideAllowed === 'direct' ? 'go direct' : 'refused'})` : '';
  return [
    `egress ${e.name}: interface ${e.interface}, address ${[e.address4, e.address6].filter(Boolean).join(', ')}${carried}`,
    `  users ${e.selectors.users.map((u) => `${u.name} (uid ${u.uid})`).join(', ') || 'none'}${e.selectors.cgroups.length ? `, cgroup ${e.selectors.cgroups.join(', ')}` : ''}`,
    `  mark ${hexMark(e.mark)}/${hexMark(e.markMask)}, table ${e.table}, rule priorities ${e.priority}-${e.priority + 9} (${priorityRangeNote(e.priority)})`,
    `  DNS ${e.dns.join(', ') || 'none (DNS to local resolvers is refused)'}, kill switch armed`,
  ];
}

/** True when AllowedIPs cover every destination of both families (or of IPv4 when that is all there is). */
export function isEverything(allowed: string[]): boolean {
  return allowed.includes('0.0.0.0/0');
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
    ...(e.kind === 'wireguard'
      ? { endpoint: e.wireguard.endpoint, publicAddress4: e.wireguard.publicAddress4, publicAddress6: e.wireguard.publicAddress6, ...(e.wireguard.allowedIps ? { allowedIps: e.wireguard.allowedIps } : {}) }
      : {}),
  };
}

/** Refuses non-root runs that would change the host. */
export function requireRoot(ctx: CommandContext, dryRun: boolean | undefined, hint: string): void {
  if (!ctx.isRoot && !dryRun) throw new PermissionError('enroll must run as root (it configures the network and writes /etc/egress)', { hint });
}

/** Enrolls what `makeSource` reads: everything is checked before the first change, and a failed apply is undone. */
export async function runEnroll(ctx: CommandContext, o: PipelineOptions, makeSource: (before: ClientState) => Promise<EnrollSource>): Promise<ExitStatus> {
  const out = ctx.output;
  const host = await ctx.host();
  const userName = o.user;
  const before = await loadClientState(host);
  const source = await makeSource(before);
  const name = source.name;
  const existing = before.egresses.find((e) => e.name === name);
  if (existing && existing.kind !== source.kind) throw new ConflictError(`--name: egress '${name}' exists and is a ${existing.kind} egress, not a ${source.kind} one`, { hint: 'pick another --name' });
  const boundElsewhere = !userName ? undefined : before.egresses.find((e) => e.name !== name && e.selectors.users.some((u) => u.name === userName));
  if (boundElsewhere) throw new ConflictError(`--user: '${userName}' is already bound to egress '${boundElsewhere.name}' (a user belongs to at most one egress)`, { hint: `egress-client uninstall ${boundElsewhere.name}, or enroll another user` });
  source.conflicts(before, existing);
  let entry = userName ? await lookupUser(host, userName) : { name: '', uid: -1, gid: -1, home: '/', shell: '' };
  if (!entry && !o.createUser) throw new NotFoundError(`--user: user '${userName}' does not exist`, { hint: 'add --create-user to create it as a system user without a login shell' });
  if (entry && entry.uid === 0) throw new ValidationError(`--user: '${userName}' is root (uid 0); egress routes a dedicated user, never root`, [{ path: '--user', message: 'root' }]);
  if (entry && userName) checkDedicatedUser(entry, before.egresses.some((e) => e.selectors.users.some((u) => u.name === userName)), !!o.allowSystemUser);

  const allocation: Allocation = existing
    ? { interface: existing.interface, mark: existing.mark, markMask: existing.markMask, table: existing.table, priority: existing.priority }
    : allocate(before, await readHostUsage(host));
  // Semantic checks against this host's own networks (the tunnels of enrolled egresses left out).
  const egressIfaces = [allocation.interface, ...before.egresses.filter((e) => e.kind === 'wireguard').map((e) => e.interface)];
  assertSemantics(source.facts, source.kind === 'wireguard' ? await readHostNetworks(host, egressIfaces) : { addresses: [], routes: [] }, source.field);
  const cgroup2 = await cgroup2Usable(host);
  const users: SelectedUser[] = [...(existing?.selectors.users ?? [])];
  if (userName && !users.some((u) => u.name === userName)) users.push({ name: userName, uid: entry?.uid ?? 0 });
  const built = source.build({ name, allocation, users, cgroup2, ...(existing ? { existing } : {}) });
  // Enrolling again keeps who the owner allowed (`egress-client allow`): the bundle says nothing about it.
  const egress: Egress = existing?.access && !built.access ? { ...built, access: existing.access } : built;
  // Another peer's file under an enrolled name replaces it only when asked (--replace).
  if (egress.kind === 'wireguard') checkReplace(existing, egress, !!o.replace, o.sourcePath ?? 'FILE', userName);
  // LAN forwards (443/tcp:192.168.1.10:443) learn the interface their host is on; loops are refused here, before any change.
  if (egress.kind === 'wireguard') egress.wireguard.forwards = await withLanInterfaces(host, egress, before.egresses, 'bundle.forwards');
  const after = checkState({ ...before, egresses: existing ? before.egresses.map((e) => (e.name === name ? egress : e)) : [...before.egresses, egress] });
  const changedSecrets: SecretFile[] = [];
  for (const s of source.secrets) if ((await host.readFile(s.path)) !== s.text) changedSecrets.push(s);
  for (const w of source.warnings?.(egress, userName) ?? []) out.warn(w);

  if (o.dryRun) {
    const steps = entry ? (await applyClient(host, { before, after, output: out, dryRun: true }).catch(() => undefined))?.steps ?? [] : [];
    out.result(['dry run: nothing was changed', ...(entry ? [] : [`would create system user ${userName}`]), ...describeEgress(egress), ...(source.describe ?? []), ...steps.map((s) => `  would: ${s}`)].join('\n'));
    out.document({ dryRun: true, egress: summary(egress), ...(source.document ?? {}), steps, createUser: !entry });
    return exitCode(0);
  }
  if (!entry) {
    out.step(`Creating system user ${userName}`);
    entry = await createSystemUser(host, userName);
    if (entry.uid === 0) throw new ValidationError(`--user: '${userName}' got uid 0`);
    egress.selectors.users = egress.selectors.users.map((u) => (u.name === userName ? { name: userName, uid: entry!.uid } : u));
  }
  const finalAfter = checkState({ ...after, egresses: after.egresses.map((e) => (e.name === name ? egress : e)) });

  out.step(source.applying(egress));
  const newDirs = await missingDirs(host);
  const cgroupExisted = !cgroup2 || (await host.run(['test', '-d', `/sys/fs/cgroup/egress/${name}`])).exitCode === 0;
  if (cgroup2) await ensureEgressCgroup(host, name);
  // Directories enroll creates are recorded so the last uninstall removes them and /etc ends as it was.
  if (newDirs.length) await recordCreatedDirs(host, newDirs);
  const written: string[] = [];
  let steps: string[];
  try {
    for (const s of changedSecrets) {
      await host.writeFile(s.path, s.text, { mode: 0o600, secret: true });
      written.push(s.path);
    }
    steps = (await applyClient(host, { before, after: finalAfter, output: out })).steps;
  } catch (err) {
    if (!existing) for (const p of written) await host.removeFile(p).catch(() => undefined);
    if (!cgroupExisted) await removeEgressCgroup(host, name).catch(() => undefined);
    if (before.egresses.length === 0) await removeCreatedDirs(host).catch(() => undefined);
    throw err;
  }
  if (existing && changedSecrets.length && source.reloadSecrets && (await host.run(['ip', 'link', 'show', 'dev', egress.interface])).exitCode === 0) {
    // New keys for a running tunnel: wg-quick's PostUp only runs at up, so load them now (from files, not argv).
    for (const argv of source.reloadSecrets(egress)) await host.run(argv, { check: true, change: true });
  }
  await ensureTunnelForwarding(host, egress);
  // The group of the supervisor's socket (allowed users join it): made here, recorded as egress's own for uninstall.
  try {
    if (await ensureSocketGroup(host)) out.info(`created group '${SOCKET_GROUP}' (the supervisor's socket; the last uninstall removes it)`);
  } catch (err) {
    out.warn(`setting up group '${SOCKET_GROUP}' for the supervisor's socket failed (${(err as Error).message}); enroll again to finish it (the socket's ACL still lets allowed users in)`);
  }
  const changed = steps.length > 0 || changedSecrets.length > 0 || JSON.stringify(before) !== JSON.stringify(finalAfter);
  let handshake: boolean | undefined;
  if (egress.kind === 'wireguard') {
    handshake = await waitForHandshake(host, egress.interface, ctx.handshakeTimeoutMs);
    if (!handshake) out.warn(`no WireGuard handshake with ${egress.wireguard.endpoint} yet; check that the server is reachable (egress-client doctor ${name})`);
  }
  // nscd / systemd-resolved answering the user's own lookups would send them by the normal route: say so.
  const daemons = userName ? daemonWarning(detectResolverDaemons(), userName) : undefined;
  if (daemons) out.warn(daemons);
  out.result((changed ? [`enrolled egress ${name}`, ...describeEgress(egress), ...(source.describe ?? []), userName ? `run an app through it: egress-client run-as ${userName} -- CMD` : `run an app through it: egress-client run --egress ${name} -- CMD`] : [source.unchanged(userName)]).join('\n'));
  out.document({ changed, ...(handshake === undefined ? {} : { handshake }), egress: summary(egress), ...(source.document ?? {}), steps });
  return exitCode(0);
}
