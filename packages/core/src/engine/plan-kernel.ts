// Plans nft tables, sysctls, ip rules and routes: add/replace first, delete extras after.
import { describeRoute, describeRule, routeArgv, routeIdKey, routeKey, ruleArgv, ruleKey, type CurrentRoute, type CurrentRule } from './ip-format.js';
import { normalizeNftListing, sha256 } from './journal.js';
import { interfaceDefaultKey, normalizeSysctl, type CurrentState } from './read-state.js';
import type { Action, Step } from './step.js';
import type { HostState, NftTableSpec, Ownership } from './types.js';

/** The idempotent whole-table replacement script: add, delete, then the full table text. */
export function nftReplaceScript(family: string, name: string, ruleset: string): string {
  return `add table ${family} ${name}\ndelete table ${family} ${name}\n${ruleset.replace(/\n*$/, '\n')}`;
}

function nftLoad(family: string, name: string, text: string): Action {
  return { kind: 'run', argv: ['nft', '-f', '-'], stdin: nftReplaceScript(family, name, text) };
}

/** Whether an existing table is what was loaded last time (same text asked, same listing seen). */
export function nftUnchanged(current: CurrentState, t: NftTableSpec, existsOnly = false): boolean {
  const key = `${t.family} ${t.name}`;
  const listing = current.nft.get(key);
  if (listing === undefined) return false;
  if (existsOnly) return true;
  const j = current.journal.nft[key];
  return !!j && j.sha256 === sha256(t.ruleset) && j.listing === normalizeNftListing(listing);
}

/** Steps loading desired tables that changed. */
export function planNftLoads(current: CurrentState, desired: HostState, existsOnly = false): Step[] {
  return desired.nft
    .filter((t) => !nftUnchanged(current, t, existsOnly))
    .map((t) => {
      const key = `${t.family} ${t.name}`;
      const before = current.nft.get(key);
      return {
        resource: 'nft' as const,
        title: `${before === undefined ? 'create' : 'replace'} nft table ${key}`,
        do: [nftLoad(t.family, t.name, t.ruleset)],
        undo: before === undefined ? [{ kind: 'run' as const, argv: ['nft', 'delete', 'table', t.family, t.name] }] : [nftLoad(t.family, t.name, before)],
      };
    });
}

/** Steps deleting owned tables that exist and are not desired. */
export function planNftDeletes(current: CurrentState, desired: HostState, ownership: Ownership): Step[] {
  const wanted = new Set(desired.nft.map((t) => `${t.family} ${t.name}`));
  return ownership.nftTables
    .filter((t) => current.nft.has(`${t.family} ${t.name}`) && !wanted.has(`${t.family} ${t.name}`))
    .map((t) => ({
      resource: 'nft' as const,
      title: `delete nft table ${t.family} ${t.name}`,
      do: [{ kind: 'run' as const, argv: ['nft', 'delete', 'table', t.family, t.name] }],
      undo: [nftLoad(t.family, t.name, current.nft.get(`${t.family} ${t.name}`)!)],
    }));
}

function sysctlWrite(key: string, value: string): Action {
  return { kind: 'run', argv: ['sysctl', '-q', '-w', `${key}=${value}`] };
}

/** Steps setting desired sysctls that differ. */
export function planSysctlSets(current: CurrentState, desired: HostState): Step[] {
  return desired.sysctls
    .filter((s) => current.sysctls.get(s.key) !== normalizeSysctl(s.value))
    .map((s) => {
      const before = current.sysctls.get(s.key);
      return {
        resource: 'sysctl' as const,
        title: `set ${s.key} = ${s.value}${before === undefined ? '' : ` (was ${before})`}`,
        do: [sysctlWrite(s.key, s.value)],
        undo: before === undefined ? [] : [sysctlWrite(s.key, before)],
      };
    });
}

/**
 * Steps restoring journaled sysctls that are no longer desired. Per-interface keys of links this plan takes away
 * (`goneLinks`) are left out: they go with their interface (restoring them after it is gone would fail).
 */
export function planSysctlRestores(current: CurrentState, desired: HostState, goneLinks: ReadonlySet<string> = new Set()): Step[] {
  const wanted = new Set(desired.sysctls.map((s) => s.key));
  const ofGoneLink = (key: string): boolean => /^net\.ipv[46]\.conf\./.test(key) && goneLinks.has(key.split('.')[3]!);
  // Absent when journaled (its interface came later): what a new interface gets, the `default` key's value.
  const originalOf = (key: string, v: string | null): string | undefined => v ?? current.sysctls.get(interfaceDefaultKey(key) ?? '');
  return Object.entries(current.journal.sysctls)
    .map(([key, v]): [string, string | undefined] => [key, originalOf(key, v)])
    .filter((e): e is [string, string] => e[1] !== undefined)
    .filter(([key, original]) => !wanted.has(key) && !ofGoneLink(key) && current.sysctls.has(key) && current.sysctls.get(key) !== original)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, original]) => ({
      resource: 'sysctl' as const,
      title: `restore ${key} = ${original}`,
      do: [sysctlWrite(key, original)],
      undo: [sysctlWrite(key, current.sysctls.get(key)!)],
    }));
}

/** Matches desired items to current ones by key (a multiset): returns the missing desired and the extra current. */
function diffByKey<D, C>(desired: D[], current: C[], dKey: (d: D) => string, cKey: (c: C) => string): { missing: D[]; extra: C[] } {
  const pool = new Map<string, C[]>();
  for (const c of current) pool.set(cKey(c), [...(pool.get(cKey(c)) ?? []), c]);
  const missing: D[] = [];
  for (const d of desired) {
    const list = pool.get(dKey(d));
    if (list?.length) list.shift();
    else missing.push(d);
  }
  return { missing, extra: [...pool.values()].flat() };
}

/** Rule steps: every missing rule added first, extras (by full spec) deleted after. */
export function planRules(current: CurrentState, desired: HostState): { adds: Step[]; deletes: Step[] } {
  const { missing, extra } = diffByKey<CurrentRule, CurrentRule>(desired.rules, current.rules, ruleKey, ruleKey);
  const adds = missing.map((r) => ({ resource: 'rule' as const, title: `add ${describeRule(r)}`, do: [{ kind: 'run' as const, argv: ruleArgv(r, 'add') }], undo: [{ kind: 'run' as const, argv: ruleArgv(r, 'del') }] }));
  const deletes = extra.map((r) => ({
    resource: 'rule' as const,
    title: `delete ${describeRule(r)}`,
    do: [{ kind: 'run' as const, argv: ruleArgv(r, 'del') }],
    undo: r.unknown?.length ? [] : [{ kind: 'run' as const, argv: ruleArgv(r, 'add') }],
  }));
  return { adds, deletes };
}

/** Route steps: `replace` for desired routes that differ, `del` for extras in owned tables. */
export function planRoutes(current: CurrentState, desired: HostState): { replaces: Step[]; deletes: Step[] } {
  const { missing, extra } = diffByKey<CurrentRoute, CurrentRoute>(desired.routes, current.routes, routeKey, routeKey);
  const replacedIds = new Set(missing.map(routeIdKey));
  const replaces = missing.map((r) => {
    const before = extra.find((c) => routeIdKey(c) === routeIdKey(r));
    return {
      resource: 'route' as const,
      title: `${before ? 'replace' : 'add'} ${describeRoute(r)}`,
      do: [{ kind: 'run' as const, argv: routeArgv(r, 'replace') }],
      undo: [{ kind: 'run' as const, argv: before ? routeArgv(before, 'replace') : routeArgv(r, 'del') }],
    };
  });
  const deletes = extra
    .filter((c) => !replacedIds.has(routeIdKey(c)))
    .map((c) => ({
      resource: 'route' as const,
      title: `delete ${describeRoute(c)}`,
      do: [{ kind: 'run' as const, argv: routeArgv(c, 'del') }],
      undo: [{ kind: 'run' as const, argv: routeArgv(c, 'add') }],
    }));
  return { replaces, deletes };
}
