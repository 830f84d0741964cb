// plan(current, desired, ownership) -> steps: pure; fence first, path last on the way in; path first, fence last on the way out.
import { ValidationError } from '../errors.js';
import { journalIsEmpty } from './journal.js';
import { planFileRemovals, planFileWrites } from './plan-files.js';
import { planNftDeletes, planNftLoads, planRoutes, planRules, planSysctlRestores, planSysctlSets } from './plan-kernel.js';
import { planLinkDowns, planLinkUps, planUnits } from './plan-links.js';
import { priorityOwned, type CurrentState } from './read-state.js';
import type { Step } from './step.js';
import type { HostState, Ownership } from './types.js';

export interface Plan {
  steps: Step[];
  /** Things not done and why (e.g. systemd not running). */
  notes: string[];
}

export interface PlanOptions {
  /** Verification mode: an existing nft table counts as converged (the journal is written after). */
  verify?: boolean;
}

function fileOwned(path: string, ownership: Ownership): boolean {
  return ownership.files.some((o) => path === o || path.startsWith(`${o}/`));
}

/** Refuses a desired state that reaches outside what egress owns (before anything changes). */
export function assertOwned(desired: HostState, ownership: Ownership): void {
  const issues: Array<{ path: string; message: string }> = [];
  const add = (path: string, message: string): void => void issues.push({ path, message: `${path}: ${message}` });
  desired.nft.forEach((t, i) => {
    if (!ownership.nftTables.some((o) => o.family === t.family && o.name === t.name)) add(`nft[${i}]`, `table ${t.family} ${t.name} is not one egress owns (owned: ${ownership.nftTables.map((o) => `${o.family} ${o.name}`).join(', ') || 'none'})`);
    if (!new RegExp(`^(\\s*#[^\\n]*\\n)*\\s*table\\s+${t.family}\\s+${t.name}\\s*\\{`).test(t.ruleset)) add(`nft[${i}].ruleset`, `expected the text to start with 'table ${t.family} ${t.name} {'`);
  });
  desired.rules.forEach((r, i) => {
    if (!priorityOwned(r.priority, ownership)) add(`rules[${i}].priority`, `priority ${r.priority} is outside egress's ranges ${ownership.rulePriorities.map(([a, b]) => `${a}-${b}`).join(', ')}`);
  });
  desired.routes.forEach((r, i) => {
    if (!ownership.routeTables.includes(r.table)) add(`routes[${i}].table`, `table ${r.table} is not one egress owns (${ownership.routeTables.join(', ') || 'none'})`);
  });
  desired.links.forEach((l, i) => {
    if (!ownership.links.includes(l.name)) add(`links[${i}].name`, `interface '${l.name}' is not one egress owns (${ownership.links.join(', ') || 'none'})`);
  });
  desired.files.forEach((f, i) => {
    if (!fileOwned(f.path, ownership)) add(`files[${i}].path`, `'${f.path}' is outside egress's paths (${ownership.files.join(', ') || 'none'})`);
    if (f.path === ownership.journalPath) add(`files[${i}].path`, `'${f.path}' is the engine's journal`);
  });
  desired.units.forEach((u, i) => {
    if (!ownership.units.includes(u.name)) add(`units[${i}].name`, `unit '${u.name}' is not one egress owns (${ownership.units.join(', ') || 'none'})`);
  });
  if (issues.length) throw new ValidationError(issues.length === 1 ? issues[0]!.message : `desired state reaches outside what egress owns:\n  ${issues.map((x) => x.message).join('\n  ')}`, issues);
}

/** The state later steps will find: a link that is (re)created has lost its routes and its per-interface sysctls. */
function afterRecreation(current: CurrentState, linkSteps: Step[]): CurrentState {
  const recreated = new Set(linkSteps.flatMap((s) => (s.recreates ? [s.recreates] : [])));
  if (!recreated.size) return current;
  const sysctls = new Map([...current.sysctls].filter(([k]) => !(/^net\.ipv[46]\.conf\./.test(k) && recreated.has(k.split('.')[3]!))));
  return { ...current, routes: current.routes.filter((r) => !(r.dev && recreated.has(r.dev))), sysctls };
}

/** The sysctls left once links are removed: a removed link's per-interface sysctls go with it (nothing to restore). */
function afterRemoval(current: CurrentState, linkSteps: Step[]): CurrentState {
  const removed = new Set(linkSteps.flatMap((s) => (s.removes ? [s.removes] : [])));
  if (!removed.size) return current;
  return { ...current, sysctls: new Map([...current.sysctls].filter(([k]) => !(/^net\.ipv[46]\.conf\./.test(k) && removed.has(k.split('.')[3]!)))) };
}

/** Whether the journal will hold nothing once `desired` is applied. */
export function journalEndsEmpty(desired: HostState): boolean {
  return desired.nft.length === 0 && desired.sysctls.length === 0 && desired.links.length === 0 && desired.files.length === 0;
}

/** The steps of a plan, by group, before they are put in order. */
export interface PlanGroups {
  fenceRules: Step[];
  sysctls: Step[];
  nft: Step[];
  files: Step[];
  links: Step[];
  routes: Step[];
  units: Step[];
  removeRoutes: Step[];
  removeLinks: Step[];
  removeNft: Step[];
  restoreSysctls: Step[];
  removeRules: Step[];
  removeFiles: Step[];
}

/** A rule that ends the lookup (prohibit/unreachable/blackhole): the fence itself, not a way in. */
function terminalRule(s: Step): boolean {
  return s.do.some((a) => a.kind === 'run' && a.argv[0] === 'ip' && a.argv.some((w) => w === 'prohibit' || w === 'unreachable' || w === 'blackhole'));
}

/**
 * THE ORDER RULE ("fence before opening, path before fence"). Every add comes before every delete (a host is never
 * left with nothing), and a crash between any two steps leaves selected traffic refused or in the tunnel:
 *
 * adds:    1. ip rules — terminal ones (prohibit/unreachable) first, then the lookups into the egress table (an
 *             empty table falls through to the prohibit below it)
 *          2. nft table (marks, DNS redirect, kill switch): marks only ever steer into rules already there
 *          3. files — the state file says "enrolled" only once 1–2 hold; the wg-quick config before its link
 *          4. links (the tunnel comes up; nothing is routed into it yet)
 *          5. sysctls (src_valid_mark; per-interface ones need their interface to exist)
 *          6. routes in the egress table: the path opens last
 *          7. units (boot)
 * deletes: 1. routes (the path closes first)   2. links (tunnel down)   3. nft table (marks, kill switch)
 *          4. sysctl restores   5. files — the state file stops saying "enrolled" while the fence still holds
 *          6. ip rules — lookups first, terminal ones last (the fence goes last)
 *          7. directories (with the engine's journal, which names what the fence's removal still owns)
 *
 * A run killed between steps leaves a host that the next run converges from: whatever a half-done run owned is
 * recorded in the journal before its first change (see `pending` in journal.ts).
 */
export function orderSteps(g: PlanGroups): Step[] {
  const fenceFirst = [...g.fenceRules.filter(terminalRule), ...g.fenceRules.filter((s) => !terminalRule(s))];
  const fenceLast = [...g.removeRules.filter((s) => !terminalRule(s)), ...g.removeRules.filter(terminalRule)];
  return [
    ...fenceFirst,
    ...g.nft,
    ...g.files,
    ...g.links,
    ...g.sysctls,
    ...g.routes,
    ...g.units,
    ...g.removeRoutes,
    ...g.removeLinks,
    ...g.removeNft,
    ...g.restoreSysctls,
    ...g.removeFiles.filter((s) => s.resource !== 'dir'),
    ...fenceLast,
    ...g.removeFiles.filter((s) => s.resource === 'dir'),
  ];
}

/** Computes the steps that take `current` to `desired` (pure). */
export function plan(current: CurrentState, desired: HostState, ownership: Ownership, options: PlanOptions = {}): Plan {
  assertOwned(desired, ownership);
  const writes = planFileWrites(current, desired);
  const changed = new Set(writes.map((s) => (s.do[0]?.kind === 'write' ? s.do[0].path : '')));
  const linkUps = planLinkUps(current, desired, changed);
  current = afterRecreation(current, linkUps);
  const rules = planRules(current, desired);
  const routes = planRoutes(current, desired);
  const units = planUnits(current, desired, ownership);
  const linkDowns = planLinkDowns(current, desired, ownership);
  const journalGoesAway = journalEndsEmpty(desired) && (current.files.has(ownership.journalPath) || !journalIsEmpty(current.journal));
  const groups: PlanGroups = {
    fenceRules: rules.adds,
    sysctls: planSysctlSets(current, desired),
    nft: planNftLoads(current, desired, options.verify),
    files: writes,
    links: linkUps,
    routes: routes.replaces,
    units: units.steps,
    removeRoutes: routes.deletes,
    removeLinks: linkDowns,
    removeNft: planNftDeletes(current, desired, ownership),
    restoreSysctls: planSysctlRestores(afterRemoval(current, linkDowns), desired, new Set(ownership.links.filter((l) => !desired.links.some((d) => d.name === l)))),
    removeRules: rules.deletes,
    removeFiles: planFileRemovals(current, desired, ownership, journalGoesAway),
  };
  // Any change makes apply write the journal first (what the run owns): a teardown then removes it again.
  if (!journalGoesAway && journalEndsEmpty(desired) && Object.values(groups).some((g) => g.length)) {
    groups.removeFiles = planFileRemovals(current, desired, ownership, true);
  }
  const steps = orderSteps(groups);
  return { steps, notes: units.notes };
}
