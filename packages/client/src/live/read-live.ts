// Reads what the client's kernel has now (nft table, rules, routes, links, sysctls) to compare with the rendered state.
import type { Host } from '@egress/core/host/host';
import { ruleFromJson, ruleKey, routeFromJson, routeKey, type IpRouteJson, type IpRuleJson } from '@egress/core/engine/ip-format';
import type { RouteSpec, RuleSpec } from '@egress/core/engine/types';

export interface LiveLink {
  up: boolean;
  addresses: string[];
}

export interface LiveClient {
  /** `nft list table inet egress`, or undefined when the table is missing. */
  nft?: string;
  /** Keys of every ip rule (v4 and v6). */
  rules: Set<string>;
  /** Keys of the routes in each table asked for. */
  routes: Map<number, Set<string>>;
  links: Map<string, LiveLink>;
  sysctls: Map<string, string>;
}

async function json<T>(host: Host, argv: string[]): Promise<T[]> {
  const r = await host.run(argv);
  if (r.exitCode !== 0 || !r.stdout.trim()) return [];
  try {
    return JSON.parse(r.stdout) as T[];
  } catch {
    return [];
  }
}

/** Reads the live state for the given tables, interfaces and sysctl keys. */
export async function readLive(host: Host, want: { tables: number[]; links: string[]; sysctls: string[] }): Promise<LiveClient> {
  const nft = await host.run(['nft', 'list', 'table', 'inet', 'egress']);
  const live: LiveClient = { rules: new Set(), routes: new Map(), links: new Map(), sysctls: new Map(), ...(nft.exitCode === 0 ? { nft: nft.stdout } : {}) };
  for (const fam of [4, 6] as const) {
    for (const r of await json<IpRuleJson>(host, ['ip', '-j', `-${fam}`, 'rule', 'show'])) live.rules.add(ruleKey(ruleFromJson(r, fam)));
    for (const t of want.tables) {
      const set = live.routes.get(t) ?? new Set<string>();
      for (const r of await json<IpRouteJson>(host, ['ip', '-j', `-${fam}`, 'route', 'show', 'table', String(t)])) set.add(routeKey(routeFromJson(r, fam, t)));
      live.routes.set(t, set);
    }
  }
  for (const name of want.links) {
    const [l] = await json<{ flags?: string[]; addr_info?: Array<{ local: string; prefixlen: number }> }>(host, ['ip', '-j', 'addr', 'show', 'dev', name]);
    if (l) live.links.set(name, { up: (l.flags ?? []).includes('UP'), addresses: (l.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`) });
  }
  for (const key of want.sysctls) {
    const r = await host.run(['sysctl', '-n', key]);
    if (r.exitCode === 0) live.sysctls.set(key, r.stdout.trim());
  }
  return live;
}

/** Whether a rendered rule is present. */
export function hasRule(live: LiveClient, rule: RuleSpec): boolean {
  return live.rules.has(ruleKey(rule));
}

/** Whether a rendered route is present in its table. */
export function hasRoute(live: LiveClient, route: RouteSpec): boolean {
  return live.routes.get(route.table)?.has(routeKey(route)) ?? false;
}
