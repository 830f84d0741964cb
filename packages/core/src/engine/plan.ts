// plan(current, desired, ownership) -> steps: pure; ensures in order files, links, sysctls, nft, routes, rules, units; removals in reverse.
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

/** Whether the journal will hold nothing once `desired` is applied. */
export function journalEndsEmpty(desired: HostState): boolean {
  return desired.nft.length === 0 && desired.sysctls.length === 0 && desired.links.length === 0 && desired.files.length === 0;
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
  const journalGoesAway = journalEndsEmpty(desired) && (current.files.has(ownership.journalPath) || !journalIsEmpty(current.journal));
  const steps = [
    ...writes,
    ...linkUps,
    ...planSysctlSets(current, desired),
    ...planNftLoads(current, desired, options.verify),
    ...routes.replaces,
    ...rules.adds,
    ...units.steps,
    ...rules.deletes,
    ...routes.deletes,
    ...planNftDeletes(current, desired, ownership),
    ...planSysctlRestores(current, desired),
    ...planLinkDowns(current, desired, ownership),
    ...planFileRemovals(current, desired, ownership, journalGoesAway),
  ];
  return { steps, notes: units.notes };
}
