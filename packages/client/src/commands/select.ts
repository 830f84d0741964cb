// `egress-client select add|remove|list [--egress NAME] (--user U | --cgroup PATH | --unit NAME.service |
// --interface IF | --source CIDR)`: what traffic an egress carries, changed at any time through the one apply path.
import { ConflictError, NotFoundError, PermissionError, ValidationError } from '@egress/core/errors';
import type { Host } from '@egress/core/host/host';
import type { ClientState, Egress } from '@egress/core/model/client';
import { unitCgroupPath } from '@egress/core/model/selectors';
import { applyClient } from '../apply-client.js';
import { cgroup2Usable } from '../cgroup.js';
import type { CommandContext, Invocation } from '../cli.js';
import { checkDedicatedUser } from '../enroll/guards.js';
import { exitCode, type ExitStatus } from '../exit-status.js';
import { syncForwardAccepts } from '../select/forward-accept.js';
import { describeSelector, parseSelector, type SelectorInput } from '../select/parse-selector.js';
import { checkState, loadClientState } from '../state/store.js';
import { lookupUser } from '../users.js';
import { currentlyDown } from './up-down.js';

function pickEgress(egresses: readonly Egress[], name: string | undefined): Egress {
  if (name !== undefined) {
    const e = egresses.find((x) => x.name === name);
    if (!e) throw new NotFoundError(`--egress: no egress named '${name}' (enrolled: ${egresses.map((x) => x.name).join(', ') || 'none'})`);
    return e;
  }
  if (egresses.length === 1) return egresses[0]!;
  throw new NotFoundError(`--egress: expected the egress to change (enrolled: ${egresses.map((x) => x.name).join(', ') || 'none'})`, egresses.length ? {} : { hint: 'egress-client enroll BUNDLE --user USER' });
}

/** Every selector of an egress, one per line as `select list` prints them. */
export function selectorLines(e: Egress): string[] {
  const s = e.selectors;
  return [
    ...s.users.map((u) => `user ${u.name} (uid ${u.uid})`),
    ...s.cgroups.map((g) => `cgroup ${g}`),
    ...s.units.map((u) => `unit ${u} (cgroup ${unitCgroupPath(u)})`),
    ...s.interfaces.map((i) => `interface ${i} (forwarded)`),
    ...s.sources.map((x) => `source ${x.cidr} (forwarded, arriving on ${x.via})`),
  ];
}

/** Whether the egress already has the selector. */
function has(e: Egress, s: SelectorInput): boolean {
  const x = e.selectors;
  switch (s.kind) {
    case 'user':
      return x.users.some((u) => u.name === s.value);
    case 'cgroup':
      return x.cgroups.includes(s.value);
    case 'unit':
      return x.units.includes(s.value);
    case 'interface':
      return x.interfaces.includes(s.value);
    case 'source':
      return x.sources.some((y) => y.cidr === s.value);
  }
}

/** The interface a forwarded source network arrives on (its route on this host), refusing loops and local networks. */
async function sourceInterface(host: Host, cidr: string, all: readonly Egress[]): Promise<string> {
  const probe = cidr.split('/')[0]!;
  const r = await host.run(['ip', '-j', 'route', 'get', probe]);
  const route = r.exitCode === 0 ? ((JSON.parse(r.stdout) as Array<{ type?: string; dev?: string }>)[0] ?? {}) : {};
  if (!route.dev || route.type === 'local' || route.dev === 'lo') {
    throw new ValidationError(`--source: ${cidr} is not a network reached by an interface of this client (${r.exitCode === 0 ? `route: ${route.type ?? ''} dev ${route.dev ?? '?'}` : r.stderr.trim()}); expected the network of hosts that route through this client`, [{ path: '--source', message: 'no route' }]);
  }
  const egress = all.find((e) => e.interface === route.dev);
  if (egress) throw new ValidationError(`--source: ${cidr} is reached by ${route.dev}, the interface of egress '${egress.name}' (a loop); expected a network behind this client`, [{ path: '--source', message: 'loop' }]);
  return route.dev;
}

/** Checks `s` against the host and the state, and returns the egress with it added (notes say what waits). */
async function withSelector(host: Host, before: ClientState, e: Egress, s: SelectorInput, o: Record<string, unknown>, notes: string[]): Promise<Egress> {
  const sel = { ...e.selectors };
  switch (s.kind) {
    case 'user': {
      const other = before.egresses.find((x) => x.name !== e.name && x.selectors.users.some((u) => u.name === s.value));
      if (other) throw new ConflictError(`--user: '${s.value}' is already selected by egress '${other.name}' (a user belongs to at most one egress)`, { hint: `egress-client select remove --egress ${other.name} --user ${s.value}` });
      const entry = await lookupUser(host, s.value);
      if (!entry) throw new NotFoundError(`--user: user '${s.value}' does not exist`, { hint: `create it first (or: egress-client enroll … --user ${s.value} --create-user)` });
      if (entry.uid === 0) throw new ValidationError(`--user: '${s.value}' is root (uid 0); egress routes a dedicated user, never root`, [{ path: '--user', message: 'root' }]);
      checkDedicatedUser(entry, false, o.allowSystemUser === true);
      sel.users = [...sel.users, { name: entry.name, uid: entry.uid }];
      break;
    }
    case 'cgroup':
    case 'unit': {
      if (!(await cgroup2Usable(host))) throw new ValidationError(`--${s.kind}: cgroup v2 is not mounted at /sys/fs/cgroup on this host, so cgroups cannot be selected`, [{ path: `--${s.kind}`, message: 'no cgroup v2' }]);
      const path = s.kind === 'unit' ? unitCgroupPath(s.value) : s.value;
      if ((await host.run(['test', '-d', `/sys/fs/cgroup/${path}`])).exitCode !== 0) notes.push(`cgroup ${path} does not exist yet: it is selected once it appears (the supervisor, egress-client daemon, reloads the rules then)`);
      if (s.kind === 'unit') sel.units = [...sel.units, s.value];
      else sel.cgroups = [...sel.cgroups, s.value];
      break;
    }
    case 'interface': {
      const egress = before.egresses.find((x) => x.interface === s.value);
      if (egress) throw new ValidationError(`--interface: '${s.value}' is the interface of egress '${egress.name}'; expected an interface traffic arrives on (a bridge, a LAN port)`, [{ path: '--interface', message: 'egress interface' }]);
      if ((await host.run(['ip', 'link', 'show', 'dev', s.value])).exitCode !== 0) notes.push(`interface ${s.value} does not exist yet: what it forwards goes through egress ${e.name} once it appears (a Docker bridge made later)`);
      sel.interfaces = [...sel.interfaces, s.value];
      break;
    }
    case 'source':
      sel.sources = [...sel.sources, { cidr: s.value, via: await sourceInterface(host, s.value, before.egresses) }];
      break;
  }
  return { ...e, selectors: sel } as Egress;
}

/** The egress with selector `s` taken out. */
function withoutSelector(e: Egress, s: SelectorInput): Egress {
  const x = e.selectors;
  const sel = {
    ...x,
    users: s.kind === 'user' ? x.users.filter((u) => u.name !== s.value) : x.users,
    cgroups: s.kind === 'cgroup' ? x.cgroups.filter((g) => g !== s.value) : x.cgroups,
    units: s.kind === 'unit' ? x.units.filter((u) => u !== s.value) : x.units,
    interfaces: s.kind === 'interface' ? x.interfaces.filter((i) => i !== s.value) : x.interfaces,
    sources: s.kind === 'source' ? x.sources.filter((y) => y.cidr !== s.value) : x.sources,
  };
  return { ...e, selectors: sel } as Egress;
}

/** Runs `select add|remove|list`. */
export async function selectCommand(inv: Invocation, ctx: CommandContext): Promise<ExitStatus> {
  const action = inv.args[0] ?? '';
  if (!['add', 'remove', 'list', 'sync'].includes(action)) throw new ValidationError(`ACTION: expected add, remove, list or sync, got '${action}'`, [{ path: 'ACTION', message: 'unknown action' }]);
  const out = ctx.output;
  const o = inv.options;
  const host = await ctx.host();
  const before = await loadClientState(host);
  if (action === 'list') {
    const egresses = o.egress === undefined ? before.egresses : [pickEgress(before.egresses, o.egress as string)];
    out.result(egresses.length ? egresses.map((e) => [`egress ${e.name}:`, ...(selectorLines(e).map((l) => `  ${l}`) || [])].join('\n') + (selectorLines(e).length ? '' : '\n  no selectors')).join('\n') : 'no egress is enrolled');
    out.document({ command: 'select', action, egresses: egresses.map((e) => ({ name: e.name, selectors: e.selectors })) });
    return exitCode(0);
  }
  if (action === 'sync') return syncUnit(host, ctx, before, o);
  const selector = parseSelector(o);
  const dryRun = o.dryRun === true;
  if (!ctx.isRoot && !dryRun) throw new PermissionError(`select ${action} must run as root`, { hint: `sudo egress-client select ${action} --${selector.kind} ${selector.value}` });
  const e = pickEgress(before.egresses, o.egress as string | undefined);
  const present = has(e, selector);
  if ((action === 'add') === present) {
    out.result(`${describeSelector(selector)} is ${present ? 'already' : 'not'} selected by egress ${e.name}: nothing changed`);
    out.document({ command: 'select', action, egress: e.name, selector, changed: false, steps: [] });
    return exitCode(0);
  }
  const notes: string[] = [];
  const updated = action === 'add' ? await withSelector(host, before, e, selector, o, notes) : withoutSelector(e, selector);
  const after = checkState({ ...before, egresses: before.egresses.map((x) => (x.name === e.name ? updated : x)) });
  const down = await currentlyDown(host, before);
  for (const n of notes) out.warn(n);
  if (dryRun) {
    const { steps } = await applyClient(host, { before, after, down, output: out, dryRun: true });
    const accepts = await syncForwardAccepts(host, after, true);
    out.result(['dry run: nothing was changed', `would ${action} ${describeSelector(selector)} ${action === 'add' ? 'to' : 'from'} egress ${e.name}`, ...[...steps, ...accepts].map((s) => `  would: ${s}`)].join('\n'));
    out.document({ command: 'select', action, egress: e.name, selector, dryRun: true, steps: [...steps, ...accepts] });
    return exitCode(0);
  }
  out.step(`${action === 'add' ? 'Selecting' : 'Unselecting'} ${describeSelector(selector)} ${action === 'add' ? 'for' : 'from'} egress ${e.name}`);
  const { steps } = await applyClient(host, { before, after, down, output: out });
  let accepts: string[];
  try {
    accepts = await syncForwardAccepts(host, after);
  } catch (err) {
    // Nothing half-applied: back to the state before (its accepts included), then the error.
    await applyClient(host, { before: after, after: before, down, output: out }).catch(() => undefined);
    await syncForwardAccepts(host, before).catch(() => undefined);
    throw err;
  }
  out.result(`${action === 'add' ? 'selected' : 'no longer selected'}: ${describeSelector(selector)} (egress ${e.name})`);
  out.document({ command: 'select', action, egress: e.name, selector, changed: true, steps: [...steps, ...accepts], notes });
  return exitCode(0);
}

/**
 * `select sync --unit NAME.service`: what the drop-in of a selected unit runs as ExecStartPre, inside the unit's new
 * cgroup before its first process: loads the rules again (nft resolves the cgroup path to the new cgroup's id) with
 * the kernel state only (no systemd calls from inside a unit's start). Under the change lock, like every change. A
 * failure fails the unit's start (fail closed); a unit no egress selects any more (a stale drop-in) starts as it is.
 */
async function syncUnit(host: Host, ctx: CommandContext, before: ClientState, o: Record<string, unknown>): Promise<ExitStatus> {
  const out = ctx.output;
  const selector = parseSelector(o);
  if (selector.kind !== 'unit') throw new ValidationError(`select sync: expected --unit NAME.service, got --${selector.kind}`, [{ path: `--${selector.kind}`, message: 'sync takes --unit' }]);
  if (!ctx.isRoot) throw new PermissionError('select sync must run as root (systemd runs it as ExecStartPre=+ of a selected unit)', { hint: `sudo egress-client select sync --unit ${selector.value}` });
  const e = before.egresses.find((x) => x.selectors.units.includes(selector.value));
  if (!e) {
    out.result(`unit ${selector.value} is not selected by any egress: nothing to do`);
    out.document({ command: 'select', action: 'sync', unit: selector.value, egress: null, steps: [] });
    return exitCode(0);
  }
  const down = await currentlyDown(host, before);
  const { steps } = await applyClient(host, { before, after: before, down, output: out, kernelOnly: true });
  out.result(`unit ${selector.value}: its cgroup ${unitCgroupPath(selector.value)} is selected by egress ${e.name}${down.includes(e.name) ? ' (down: its traffic is refused until it is up)' : ''}`);
  out.document({ command: 'select', action: 'sync', unit: selector.value, egress: e.name, steps });
  return exitCode(0);
}
