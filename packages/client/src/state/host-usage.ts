// Reads which marks, tables, rule priorities and interface names the host already uses, so allocation avoids them.
import type { Host } from '@egress/core/host/host';
import type { HostUsage } from './allocate.js';
import { defaultRoutesByTable, type IpRouteJson, type IpRuleJson } from '../coexist/foreign-rules.js';

interface RuleJson {
  priority?: number;
  fwmark?: string;
  fwmask?: string;
  table?: string;
}
interface RouteJson {
  table?: string;
}

const NAMED_TABLES: Record<string, number> = { default: 253, main: 254, local: 255 };

function tableId(t: string | undefined): number | undefined {
  if (t === undefined) return 254;
  return NAMED_TABLES[t] ?? (/^\d+$/.test(t) ? Number(t) : undefined);
}

/** Runs an `ip -j …` command and returns its JSON array, or [] when it fails or prints something else. */
export async function readJson<T>(host: Host, argv: string[]): Promise<T[]> {
  const r = await host.run(argv);
  if (r.exitCode !== 0 || !r.stdout.trim()) return [];
  try {
    const data: unknown = JSON.parse(r.stdout);
    return Array.isArray(data) ? (data as T[]) : [];
  } catch {
    return [];
  }
}

/** Collects the usage from `ip -j rule`, `ip -j route show table all`, `ip -j link` and /etc/wireguard. */
export async function readHostUsage(host: Host): Promise<HostUsage> {
  const foreign: NonNullable<HostUsage['foreign']> = { rules: { 4: [], 6: [] }, defaults: { 4: new Map(), 6: new Map() } };
  const usage: HostUsage = { marks: [], tables: new Set(), priorities: new Set(), interfaces: new Set(), foreign };
  for (const fam of ['-4', '-6'] as const) {
    const family = fam === '-4' ? 4 : 6;
    foreign.rules[family] = await readJson<IpRuleJson>(host, ['ip', '-j', fam, 'rule', 'show']);
    foreign.defaults[family] = defaultRoutesByTable(await readJson<IpRouteJson>(host, ['ip', '-j', fam, 'route', 'show', 'table', 'all']));
    for (const r of foreign.rules[family] as RuleJson[]) {
      if (typeof r.priority === 'number') usage.priorities.add(r.priority);
      if (r.fwmark !== undefined) usage.marks.push({ mark: Number.parseInt(r.fwmark, 16), mask: r.fwmask === undefined ? 0xffffffff : Number.parseInt(r.fwmask, 16) });
      const t = tableId(r.table);
      if (r.table !== undefined && t !== undefined) usage.tables.add(t);
    }
    for (const r of await readJson<RouteJson>(host, ['ip', '-j', fam, 'route', 'show', 'table', 'all'])) {
      const t = tableId(r.table);
      if (t !== undefined) usage.tables.add(t);
    }
  }
  for (const l of await readJson<{ ifname?: string }>(host, ['ip', '-j', 'link', 'show'])) if (l.ifname) usage.interfaces.add(l.ifname);
  const ls = await host.run(['ls', '-1', '/etc/wireguard']);
  if (ls.exitCode === 0) for (const f of ls.stdout.split('\n')) if (f.endsWith('.conf')) usage.interfaces.add(f.slice(0, -5));
  return usage;
}
