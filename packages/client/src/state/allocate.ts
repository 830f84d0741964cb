// Picks a free interface name, mark bit, routing table and rule priority range for a new egress.
import { ConflictError } from '@egress/core/errors';
import type { ClientState } from '@egress/core/model/client';
import { capturingRules, type IpRuleJson } from '../coexist/foreign-rules.js';

/** Documented defaults: mark bits 0x01000000 << n, tables 7100 + n, priority ranges 7100 + 10n … +9, egress0, egress1… */
export const ALLOCATION = {
  firstMarkBit: 24,
  lastMarkBit: 31,
  firstTable: 7100,
  lastTable: 7199,
  firstPriority: 7100,
  lastPriority: 7990,
  /**
   * The early range 1100-1990, used only when another tool's rule before 7100 would capture selected traffic
   * (Tailscale's `5270: from all lookup 52`, a full-tunnel rule moved up): egress's lookups must come first to win.
   */
  firstEarlyPriority: 1100,
  lastEarlyPriority: 1990,
  interfacePrefix: 'egress',
} as const;

/** What the host already uses (from `ip -j rule`, `ip -j route show table all`, `ip -j link`, /etc/wireguard). */
export interface HostUsage {
  /** fwmark values and masks of existing rules. */
  marks: Array<{ mark: number; mask: number }>;
  /** Table ids referenced by a route or a rule. */
  tables: Set<number>;
  /** Priorities of existing rules. */
  priorities: Set<number>;
  /** Interface names that exist or have a wg-quick config. */
  interfaces: Set<string>;
  /** Every ip rule per family and each table's default route (by table name), to see what captures traffic first. */
  foreign?: { rules: Record<4 | 6, IpRuleJson[]>; defaults: Record<4 | 6, Map<string, string>> };
}

export interface Allocation {
  interface: string;
  mark: number;
  markMask: number;
  table: number;
  priority: number;
}

/**
 * Allocates each resource as the first default value that no enrolled egress and nothing on the host uses.
 * Egresses already in `state` own their values (they are not "host usage" to avoid).
 */
export function allocate(state: ClientState, usage: HostUsage): Allocation {
  const mine = state.egresses;
  let iface: string | undefined;
  for (let n = 0; n < 100 && !iface; n++) {
    const name = `${ALLOCATION.interfacePrefix}${n}`;
    if (!mine.some((e) => e.interface === name) && !usage.interfaces.has(name)) iface = name;
  }
  let mark: number | undefined;
  for (let bit = ALLOCATION.firstMarkBit; bit <= ALLOCATION.lastMarkBit && mark === undefined; bit++) {
    const m = 2 ** bit;
    const taken = mine.some((e) => (e.markMask & m) !== 0) || usage.marks.some((u) => (u.mark & u.mask & m) !== 0 || ((u.mask & m) !== 0 && u.mask !== 0xffffffff));
    if (!taken) mark = m;
  }
  let table: number | undefined;
  for (let t = ALLOCATION.firstTable; t <= ALLOCATION.lastTable && table === undefined; t++) {
    if (!mine.some((e) => e.table === t) && !usage.tables.has(t)) table = t;
  }
  let priority: number | undefined;
  const ownPriority = (p: number): boolean => mine.some((e) => p >= e.priority && p <= e.priority + 9);
  const captureAt = firstCapture(usage, mark ?? 2 ** ALLOCATION.firstMarkBit, ownPriority);
  // Candidates in order: default-range values before any capturing rule, then the early range (before it), then the rest.
  const wins = (p: number): boolean => captureAt === undefined || p + 9 < captureAt;
  const range = (first: number, last: number): number[] => Array.from({ length: (last - first) / 10 + 1 }, (_, i) => first + 10 * i);
  const usual = range(ALLOCATION.firstPriority, ALLOCATION.lastPriority);
  const candidates = [...usual.filter(wins), ...(captureAt === undefined ? [] : range(ALLOCATION.firstEarlyPriority, ALLOCATION.lastEarlyPriority).filter(wins)), ...usual.filter((p) => !wins(p))];
  for (const p of candidates) {
    if (priority !== undefined) break;
    const overlapsMine = mine.some((e) => Math.abs(e.priority - p) < 10);
    let overlapsHost = false;
    for (let q = p; q <= p + 9; q++) if (usage.priorities.has(q)) overlapsHost = true;
    if (!overlapsMine && !overlapsHost) priority = p;
  }
  const missing = [iface ? '' : 'interface name', mark !== undefined ? '' : 'mark bit (0x01000000-0x80000000)', table !== undefined ? '' : 'routing table (7100-7199)', priority !== undefined ? '' : 'rule priority range (7100-7999)'].filter(Boolean);
  if (missing.length) throw new ConflictError(`no free ${missing.join(', ')} left for a new egress`, { hint: 'egress-client uninstall an egress you no longer use' });
  return { interface: iface!, mark: mark!, markMask: mark!, table: table!, priority: priority! };
}

/** The lowest priority of another tool's rule that would capture traffic with `mark` (undefined: none). */
export function firstCapture(usage: HostUsage, mark: number, own: (p: number) => boolean): number | undefined {
  if (!usage.foreign) return undefined;
  let first: number | undefined;
  for (const family of [4, 6] as const) {
    const found = capturingRules(family, usage.foreign.rules[family], usage.foreign.defaults[family], mark, Infinity, own);
    if (found[0] && (first === undefined || found[0].priority < first)) first = found[0].priority;
  }
  return first;
}

/** How the enroll summary explains an egress's priority range. */
export function priorityRangeNote(priority: number): string {
  return priority < ALLOCATION.firstPriority
    ? `early range ${ALLOCATION.firstEarlyPriority}-${ALLOCATION.lastEarlyPriority + 9}: another tool's rule before ${ALLOCATION.firstPriority} would capture selected traffic (egress-client doctor names it)`
    : `default range ${ALLOCATION.firstPriority}-${ALLOCATION.lastPriority + 9}`;
}
