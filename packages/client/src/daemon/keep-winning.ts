// Keeps egress's rules winning when another tool (Tailscale, wg-quick) adds a rule that would capture selected
// traffic before an egress's range: the egress moves to a free early range before that rule. Pure decision here;
// the supervisor's pass saves the moved state and the engine applies it (new rules before the old ones go).
import type { Egress } from '@egress/core/model/client';
import { ALLOCATION, type HostUsage } from '../state/allocate.js';
import { capturingRules, type CapturingRule } from '../coexist/foreign-rules.js';

export interface KeepWinning {
  /** The egresses, with moved ones at their new priority. */
  egresses: Egress[];
  /** One line per moved egress: the foreign rule and old range -> new range. */
  moved: string[];
  /** One line per egress that a foreign rule captures and no free early range can beat (doctor reports it). */
  stuck: string[];
}

const range = (p: number): string => `${p}-${p + 9}`;

/** Names a capturing rule for a log line: priority, rule, table/target and likely owner. */
export function describeRule(r: CapturingRule): string {
  return `${r.priority}: ${r.text} -> ${r.target} (IPv${r.family}, likely ${r.owner === 'unknown' ? 'an unknown tool' : r.owner})`;
}

/** The first capturing rule before `e`'s range (either family), skipping rules in any enrolled egress's range. */
export function captureBefore(e: Egress, usage: HostUsage, own: (p: number) => boolean): CapturingRule | undefined {
  if (!usage.foreign) return undefined;
  const found = ([4, 6] as const).flatMap((f) => capturingRules(f, usage.foreign!.rules[f], usage.foreign!.defaults[f], e.mark, e.priority + 10, own));
  return found.sort((a, b) => a.priority - b.priority)[0];
}

/**
 * For each egress that a foreign rule now captures, picks the first early-range priority before that rule which no
 * other egress and no existing rule (other than the egress's own) uses. The host's rules are never changed here.
 */
export function keepWinning(egresses: readonly Egress[], usage: HostUsage): KeepWinning {
  const out: Egress[] = [...egresses];
  const moved: string[] = [];
  const stuck: string[] = [];
  const ownedBy = (list: readonly Egress[], p: number): boolean => list.some((o) => p >= o.priority && p <= o.priority + 9);
  for (let i = 0; i < out.length; i++) {
    const e = out[i]!;
    // Rules in any egress's range (before or after moves in this pass) are egress's own, not foreign.
    const own = (p: number): boolean => ownedBy(out, p) || ownedBy(egresses, p);
    const rule = captureBefore(e, usage, own);
    if (!rule) continue;
    let to: number | undefined;
    for (let p = ALLOCATION.firstEarlyPriority; p <= ALLOCATION.lastEarlyPriority && to === undefined; p += 10) {
      if (p + 9 >= rule.priority) break;
      if (out.some((o, j) => j !== i && Math.abs(o.priority - p) < 10)) continue;
      let hostUses = false;
      // Host priorities in the candidate range that are not an egress's own (those go away with the move) collide.
      for (let q = p; q <= p + 9; q++) if (usage.priorities.has(q) && !ownedBy(egresses, q)) hostUses = true;
      if (!hostUses) to = p;
    }
    if (to === undefined) {
      stuck.push(`${e.name}: ${describeRule(rule)} captures its selected traffic before ${range(e.priority)}, and no free range in ${ALLOCATION.firstEarlyPriority}-${ALLOCATION.lastEarlyPriority + 9} comes before it; left as it is (egress-client doctor reports it)`);
      continue;
    }
    out[i] = { ...e, priority: to };
    moved.push(`${e.name}: ${describeRule(rule)} would capture its selected traffic; rules moved ${range(e.priority)} -> ${range(to)}`);
  }
  return { egresses: out, moved, stuck };
}
