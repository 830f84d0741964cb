// Another tool's nftables kill switch (a base chain on hook output/postrouting that drops what does not leave by
// its VPN interface, like Mullvad's): would it drop an egress's traffic out of IF with its mark?
//
// egress cannot fix that from its own table: in nftables an `accept` ends only the base chain it is in; the packet
// still traverses every other base chain on the same hook, and a `drop` in any of them is final. So the fix is a
// rule in the other tool's chain, which egress names but never adds itself.

interface NftExpr {
  [k: string]: unknown;
}
interface NftChain {
  family: string;
  table: string;
  name: string;
  type?: string;
  hook?: string;
  policy?: string;
}
interface NftRule {
  family: string;
  table: string;
  chain: string;
  expr?: NftExpr[];
}

/** A chain of another tool that drops the egress's traffic, and the command that would let it through. */
export interface DroppingChain {
  family: string;
  table: string;
  chain: string;
  hook: string;
  /** `policy drop` or `rule N: drop`. */
  by: string;
  fix: string;
}

type Verdict = 'accept' | 'drop' | undefined;

/** Evaluates one match expression for a packet out of `iface` with `mark`; undefined when it is not understood. */
function evalMatch(m: { op?: string; left?: unknown; right?: unknown }, iface: string, mark: number): boolean | undefined {
  const op = m.op ?? '==';
  if (op !== '==' && op !== '!=' && op !== 'in') return undefined;
  const left = m.left as Record<string, unknown> | undefined;
  const meta = (left?.meta as { key?: string } | undefined)?.key;
  let value: boolean | undefined;
  if (meta === 'oifname' || meta === 'oif') {
    const right = m.right as unknown;
    const names = typeof right === 'string' ? [right] : Array.isArray((right as { set?: unknown[] })?.set) ? ((right as { set: unknown[] }).set.filter((x) => typeof x === 'string') as string[]) : undefined;
    if (!names) return undefined;
    value = names.some((n) => (n.endsWith('*') ? iface.startsWith(n.slice(0, -1)) : n === iface));
  } else if (meta === 'mark' && typeof m.right === 'number') {
    value = mark === m.right;
  } else if (left && '&' in left && typeof m.right === 'number') {
    const [l, mask] = left['&'] as [unknown, unknown];
    if ((l as { meta?: { key?: string } })?.meta?.key !== 'mark' || typeof mask !== 'number') return undefined;
    value = ((mark & mask) >>> 0) === m.right;
  } else return undefined;
  return op === '!=' ? !value : value;
}

/** The verdict a rule gives the packet, undefined when it does not match (or is not understood: then skipped). */
function evalRule(r: NftRule, iface: string, mark: number): Verdict {
  for (const e of r.expr ?? []) {
    if ('match' in e) {
      const v = evalMatch(e.match as { op?: string }, iface, mark);
      if (v !== true) return undefined;
    } else if ('accept' in e) return 'accept';
    else if ('drop' in e || 'reject' in e) return 'drop';
    else if ('counter' in e || 'log' in e || 'limit' in e) continue;
    else return undefined;
  }
  return undefined;
}

/** The base chains (other than `skip` tables) on hook output/postrouting that would drop a packet out of `iface` with `mark`. */
export function droppingChains(ruleset: unknown, iface: string, mark: number, markMask: number, skip: (family: string, table: string) => boolean): DroppingChain[] {
  const items = ((ruleset as { nftables?: Array<Record<string, unknown>> })?.nftables ?? []);
  const chains = items.map((i) => i.chain as NftChain | undefined).filter((c): c is NftChain => !!c && (c.hook === 'output' || c.hook === 'postrouting') && !skip(c.family, c.table));
  const rules = items.map((i) => i.rule as NftRule | undefined).filter((r): r is NftRule => !!r);
  const out: DroppingChain[] = [];
  for (const c of chains) {
    if (c.type && c.type !== 'filter' && c.type !== 'route') continue;
    let verdict: Verdict;
    let by = '';
    const own = rules.filter((r) => r.family === c.family && r.table === c.table && r.chain === c.name);
    for (const [i, r] of own.entries()) {
      verdict = evalRule(r, iface, mark);
      if (verdict) {
        by = `rule ${i + 1}: ${verdict}`;
        break;
      }
    }
    if (!verdict && c.policy === 'drop') {
      verdict = 'drop';
      by = 'policy drop';
    }
    if (verdict !== 'drop') continue;
    const hex = (n: number): string => `0x${n.toString(16).padStart(8, '0')}`;
    out.push({ family: c.family, table: c.table, chain: c.name, hook: c.hook!, by, fix: `nft insert rule ${c.family} ${c.table} ${c.name} oifname "${iface}" meta mark and ${hex(markMask)} == ${hex(mark & markMask)} accept` });
  }
  return out;
}
