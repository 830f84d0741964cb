// Rules and firewalls of other tools (full-tunnel VPNs: wg-quick, Tailscale, kill switches) that would take an
// egress's selected traffic before egress's own rules or drop it: found from `ip -j rule`, the routes of each table
// and `nft -j list ruleset`, named by their likely owner, for allocation and for doctor.

/** One entry of `ip -j rule show`. */
export interface IpRuleJson {
  priority?: number;
  not?: unknown;
  src?: string;
  dst?: string;
  fwmark?: string;
  fwmask?: string;
  table?: string;
  action?: string;
  suppress_prefixlength?: number;
  iif?: string;
  oif?: string;
  uidrange?: string;
  ipproto?: string;
  sport?: unknown;
  dport?: unknown;
  l3mdev?: unknown;
  tos?: unknown;
  dsfield?: unknown;
}

/** A rule of another tool that would decide the fate of egress's selected traffic before egress's rules. */
export interface CapturingRule {
  family: 4 | 6;
  priority: number;
  /** The rule as `ip rule` prints it, e.g. `from all lookup 52`. */
  text: string;
  /** Where it sends the traffic: `table 52 (default dev vpn0)` or `unreachable`. */
  target: string;
  owner: 'Tailscale' | 'wg-quick' | 'unknown';
}

const TERMINAL = new Set(['unreachable', 'prohibit', 'blackhole']);

/** The text `ip rule` would print for a rule, e.g. `not from all fwmark 0xca6c lookup 51820`. */
export function ruleText(r: IpRuleJson): string {
  const parts = [r.not !== undefined ? 'not ' : '', `from ${r.src ?? 'all'}`];
  if (r.dst) parts.push(` to ${r.dst}`);
  if (r.fwmark) parts.push(` fwmark ${r.fwmark}${r.fwmask && r.fwmask !== '0xffffffff' ? `/${r.fwmask}` : ''}`);
  if (r.uidrange) parts.push(` uidrange ${r.uidrange}`);
  if (r.iif) parts.push(` iif ${r.iif}`);
  if (r.oif) parts.push(` oif ${r.oif}`);
  if (r.action && r.action !== 'to_tbl') parts.push(` ${r.action}`);
  else parts.push(` lookup ${r.table ?? 'main'}`);
  if (r.suppress_prefixlength !== undefined) parts.push(` suppress_prefixlength ${r.suppress_prefixlength}`);
  return parts.join('');
}

/** Tailscale by its table 52 and its 5210-5270 priorities, wg-quick by its fwmark = table and suppress_prefixlength, else unknown. */
export function ownerOf(r: IpRuleJson): CapturingRule['owner'] {
  const p = r.priority ?? -1;
  if (r.table === '52' || (p >= 5210 && p <= 5270)) return 'Tailscale';
  if (r.suppress_prefixlength === 0) return 'wg-quick';
  if (r.fwmark !== undefined && r.table !== undefined && /^\d+$/.test(r.table) && Number.parseInt(r.fwmark, 16) === Number(r.table)) return 'wg-quick';
  return 'unknown';
}

/**
 * Would this rule match a locally generated packet that carries `mark` (egress's bit, other bits clear) and no
 * other distinguishing selector? Rules with a source, destination, port, protocol, uid or interface selector are
 * narrower than "everything" and are not counted.
 */
export function matchesMarked(r: IpRuleJson, mark: number): boolean {
  if ((r.src ?? 'all') !== 'all' || (r.dst ?? 'all') !== 'all') return false;
  if (r.uidrange || r.ipproto || r.sport !== undefined || r.dport !== undefined || r.oif || r.l3mdev !== undefined || r.tos !== undefined || r.dsfield !== undefined) return false;
  if (r.iif && r.iif !== 'lo') return false;
  let hit = true;
  if (r.fwmark !== undefined) {
    const want = Number.parseInt(r.fwmark, 16) >>> 0;
    const mask = (r.fwmask === undefined ? 0xffffffff : Number.parseInt(r.fwmask, 16)) >>> 0;
    hit = ((mark & mask) >>> 0) === ((want & mask) >>> 0);
  }
  return r.not !== undefined ? !hit : hit;
}

/**
 * The rules before `before` (egress's first priority) that would capture traffic marked `mark`: a lookup of a table
 * with a default route (not hidden by suppress_prefixlength 0), or an unreachable/prohibit/blackhole action.
 * `defaultRoutes` maps a table name (as ip prints it: `main`, `52`) to its default route's text; `own` is the set of
 * priorities egress's enrolled egresses use.
 */
export function capturingRules(family: 4 | 6, rules: IpRuleJson[], defaultRoutes: Map<string, string>, mark: number, before: number, own: (p: number) => boolean = () => false): CapturingRule[] {
  const out: CapturingRule[] = [];
  for (const r of rules) {
    const p = r.priority;
    if (p === undefined || p === 0 || p >= before || own(p)) continue;
    if (!matchesMarked(r, mark)) continue;
    let target: string | undefined;
    if (r.action && TERMINAL.has(r.action)) target = r.action;
    else if (r.action === undefined || r.action === 'to_tbl') {
      const table = r.table ?? 'main';
      const route = defaultRoutes.get(table);
      if (route && r.suppress_prefixlength === undefined) target = `table ${table} (${route})`;
    }
    if (target) out.push({ family, priority: p, text: ruleText(r), target, owner: ownerOf(r) });
  }
  return out.sort((a, b) => a.priority - b.priority);
}

/** One route of `ip -j route show table all`. */
export interface IpRouteJson {
  dst?: string;
  table?: string;
  dev?: string;
  gateway?: string;
  type?: string;
}

/** Tables (by the name ip prints; main when absent) that hold a default route, with that route as text. */
export function defaultRoutesByTable(routes: IpRouteJson[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const r of routes) {
    if (r.dst !== 'default' || (r.type && r.type !== 'unicast' && !TERMINAL.has(r.type))) continue;
    const table = r.table ?? 'main';
    if (!m.has(table)) m.set(table, [r.type && r.type !== 'unicast' ? r.type : 'default', r.gateway ? `via ${r.gateway}` : '', r.dev ? `dev ${r.dev}` : ''].filter(Boolean).join(' '));
  }
  return m;
}
