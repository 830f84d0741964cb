// RuleSpec / RouteSpec <-> `ip` argv and `ip -j` JSON, with one normalized key each so desired and current compare exactly.
import ipaddr from 'ipaddr.js';
import { z } from 'zod';
import type { RouteSpec, RuleSpec } from './types.js';

const TABLE_NAMES: Record<string, number> = { default: 253, main: 254, local: 255 };
const NAMES_BY_TABLE: Record<number, string> = { 253: 'default', 254: 'main', 255: 'local' };
const FULL_MASK = 0xffffffff;

/** Formats a number as `ip` prints marks: 0x-prefixed lowercase hex. */
export function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/** Normalizes an address or CIDR ("10.0.0.1" -> "10.0.0.1/32", "0.0.0.0/0" -> "default", v6 in RFC 5952 form). */
export function normalizePrefix(value: string, family: 4 | 6): string {
  if (value === 'default' || value === 'all') return 'default';
  try {
    const [addrText, lenText] = value.split('/');
    const addr = ipaddr.parse(addrText!);
    const full = addr.kind() === 'ipv4' ? 32 : 128;
    const len = lenText === undefined ? full : Number(lenText);
    if (len === 0) return 'default';
    const text = addr.kind() === 'ipv6' ? (addr as ipaddr.IPv6).toRFC5952String() : addr.toString();
    return `${text}/${len}`;
  } catch {
    return `${value}${value.includes('/') ? '' : family === 4 ? '/32' : '/128'}`;
  }
}

/** Parses a table id as `ip` prints it ("main", "51820"). */
export function parseTableId(value: string | number): number {
  if (typeof value === 'number') return value;
  return TABLE_NAMES[value] ?? Number(value);
}

/** Names a table id the way `ip` prints it. */
export function tableName(id: number): string {
  return NAMES_BY_TABLE[id] ?? String(id);
}

/** One entry of `ip -j rule show`, as iproute2 prints it. */
export const IpRuleJson = z
  .object({
    priority: z.number(),
    src: z.string().optional(),
    srclen: z.number().optional(),
    dst: z.string().optional(),
    dstlen: z.number().optional(),
    fwmark: z.string().optional(),
    fwmask: z.string().optional(),
    iif: z.string().optional(),
    oif: z.string().optional(),
    uid_start: z.number().optional(),
    uid_end: z.number().optional(),
    table: z.string().optional(),
    action: z.string().optional(),
    suppress_prefixlen: z.number().optional(),
  })
  .loose();
export type IpRuleJson = z.infer<typeof IpRuleJson>;

/** One entry of `ip -j route show table N`, as iproute2 prints it. */
export const IpRouteJson = z
  .object({
    type: z.string().optional(),
    dst: z.string(),
    gateway: z.string().optional(),
    dev: z.string().optional(),
    table: z.string().optional(),
    protocol: z.string().optional(),
    scope: z.string().optional(),
    prefsrc: z.string().optional(),
    metric: z.number().optional(),
    flags: z.array(z.string()).optional(),
    pref: z.string().optional(),
  })
  .loose();
export type IpRouteJson = z.infer<typeof IpRouteJson>;

const KNOWN_RULE_KEYS = new Set([...Object.keys(IpRuleJson.shape), 'iif_detached', 'oif_detached', 'flags', 'protocol']);

/** A rule read from the host; `unknown` lists selectors egress does not manage (such a rule never equals a desired one). */
export type CurrentRule = RuleSpec & { unknown?: string[] };

/** Turns one `ip -j rule` entry into a RuleSpec. */
export function ruleFromJson(json: IpRuleJson, family: 4 | 6): CurrentRule {
  const rule: CurrentRule = { family, priority: json.priority };
  if (json.src && json.src !== 'all') rule.from = normalizePrefix(json.srclen === undefined ? json.src : `${json.src}/${json.srclen}`, family);
  if (json.iif) rule.iif = json.iif;
  if (json.oif) rule.oif = json.oif;
  if (json.fwmark !== undefined) {
    rule.fwmark = Number.parseInt(json.fwmark, 16);
    rule.fwmask = json.fwmask === undefined ? FULL_MASK : Number.parseInt(json.fwmask, 16);
  }
  if (json.uid_start !== undefined && json.uid_end !== undefined) rule.uidrange = [json.uid_start, json.uid_end];
  if (json.action && json.action !== 'to_tbl') {
    rule.action = json.action as RuleSpec['action'];
  } else if (json.table !== undefined) {
    rule.action = 'lookup';
    rule.table = parseTableId(json.table);
  }
  if (json.suppress_prefixlen !== undefined) rule.suppressPrefixlength = json.suppress_prefixlen;
  const unknown = Object.keys(json).filter((k) => !KNOWN_RULE_KEYS.has(k));
  if (json.dst && json.dst !== 'all') unknown.push('dst');
  if (unknown.length) rule.unknown = unknown.sort();
  return rule;
}

/** Prints a RuleSpec as `ip -j rule` would (used by the fake host). */
export function ruleToJson(rule: RuleSpec): IpRuleJson {
  const out: IpRuleJson = { priority: rule.priority, src: 'all' };
  if (rule.from) {
    const [addr, len] = normalizePrefix(rule.from, rule.family).split('/');
    if (addr === 'default') out.src = 'all';
    else {
      out.src = addr!;
      const full = rule.family === 4 ? 32 : 128;
      if (Number(len) !== full) out.srclen = Number(len);
    }
  }
  if (rule.fwmark !== undefined) {
    out.fwmark = hex(rule.fwmark);
    if (rule.fwmask !== undefined && rule.fwmask !== FULL_MASK) out.fwmask = hex(rule.fwmask);
  }
  if (rule.iif) out.iif = rule.iif;
  if (rule.oif) out.oif = rule.oif;
  if (rule.uidrange) {
    out.uid_start = rule.uidrange[0];
    out.uid_end = rule.uidrange[1];
  }
  const action = ruleAction(rule);
  if (action === 'lookup') out.table = tableName(rule.table ?? 254);
  else out.action = action;
  if (rule.suppressPrefixlength !== undefined) out.suppress_prefixlen = rule.suppressPrefixlength;
  return out;
}

function ruleAction(rule: RuleSpec): NonNullable<RuleSpec['action']> {
  return rule.action && rule.action !== 'lookup' ? rule.action : 'lookup';
}

/** The normalized identity of a rule: equal keys mean the same kernel rule. */
export function ruleKey(rule: CurrentRule): string {
  const parts = [`${rule.family}`, `pref ${rule.priority}`];
  if (rule.from) parts.push(`from ${normalizePrefix(rule.from, rule.family)}`);
  if (rule.iif) parts.push(`iif ${rule.iif}`);
  if (rule.oif) parts.push(`oif ${rule.oif}`);
  if (rule.fwmark !== undefined) parts.push(`fwmark ${hex(rule.fwmark)}/${hex(rule.fwmask ?? FULL_MASK)}`);
  if (rule.uidrange) parts.push(`uidrange ${rule.uidrange[0]}-${rule.uidrange[1]}`);
  const action = ruleAction(rule);
  parts.push(action === 'lookup' ? `lookup ${rule.table ?? 254}` : action);
  if (rule.suppressPrefixlength !== undefined) parts.push(`suppress_prefixlength ${rule.suppressPrefixlength}`);
  if (rule.unknown?.length) parts.push(`unmanaged(${rule.unknown.join(',')})`);
  return parts.join(' ');
}

/** Selector and action words of a rule for `ip rule add|del` (after `priority P`). */
function ruleWords(rule: RuleSpec): string[] {
  const words: string[] = [];
  if (rule.from) words.push('from', normalizePrefix(rule.from, rule.family) === 'default' ? 'all' : rule.from);
  if (rule.iif) words.push('iif', rule.iif);
  if (rule.oif) words.push('oif', rule.oif);
  if (rule.fwmark !== undefined) words.push('fwmark', rule.fwmask === undefined ? hex(rule.fwmark) : `${hex(rule.fwmark)}/${hex(rule.fwmask)}`);
  if (rule.uidrange) words.push('uidrange', `${rule.uidrange[0]}-${rule.uidrange[1]}`);
  const action = ruleAction(rule);
  if (action === 'lookup') words.push('lookup', String(rule.table ?? 254));
  else words.push(action);
  if (rule.suppressPrefixlength !== undefined) words.push('suppress_prefixlength', String(rule.suppressPrefixlength));
  return words;
}

/** argv that adds or deletes exactly this rule. */
export function ruleArgv(rule: CurrentRule, verb: 'add' | 'del'): string[] {
  if (verb === 'del' && rule.unknown?.length) return ['ip', `-${rule.family}`, 'rule', 'del', 'priority', String(rule.priority)];
  return ['ip', `-${rule.family}`, 'rule', verb, 'priority', String(rule.priority), ...ruleWords(rule)];
}

/** Human text of a rule ("pref 100 fwmark 0x100/0xff00 lookup 51820", v6 marked). */
export function describeRule(rule: CurrentRule): string {
  return `${rule.family === 6 ? 'IPv6 ' : ''}rule ${rule.priority}: ${ruleWords(rule).join(' ')}`;
}

/** A route read from the host (unmanaged attributes listed so it never equals a desired one). */
export type CurrentRoute = RouteSpec & { unknown?: string[] };

const KNOWN_ROUTE_KEYS = new Set([...Object.keys(IpRouteJson.shape)]);

function defaultMetric(family: 4 | 6): number {
  return family === 6 ? 1024 : 0;
}

/** Turns one `ip -j route show table N` entry into a RouteSpec of table `table`. */
export function routeFromJson(json: IpRouteJson, family: 4 | 6, table: number): CurrentRoute {
  const route: CurrentRoute = { family, table: json.table === undefined ? table : parseTableId(json.table), dst: normalizePrefix(json.dst, family) };
  const type = (json.type ?? 'unicast') as RouteSpec['type'];
  if (type !== 'unicast') route.type = type;
  if (json.gateway) route.via = json.gateway;
  if (json.dev && type === 'unicast') route.dev = json.dev;
  if (json.prefsrc) route.src = json.prefsrc;
  if (json.metric !== undefined && json.metric !== defaultMetric(family)) route.metric = json.metric;
  const unknown = Object.keys(json).filter((k) => !KNOWN_ROUTE_KEYS.has(k));
  if (unknown.length) route.unknown = unknown.sort();
  return route;
}

/** Prints a RouteSpec as `ip -j route show table N` would (used by the fake host); `withTable` for `table all`. */
export function routeToJson(route: RouteSpec, withTable = false): IpRouteJson {
  const type = route.type ?? 'unicast';
  const out: IpRouteJson = { dst: normalizePrefix(route.dst, route.family) };
  if (type !== 'unicast') out.type = type;
  const [addr, len] = out.dst.split('/');
  if (addr !== 'default' && Number(len) === (route.family === 4 ? 32 : 128)) out.dst = addr!;
  if (route.via) out.gateway = route.via;
  if (type === 'unicast' && route.dev) out.dev = route.dev;
  else if (route.family === 6 && type !== 'unicast' && type !== 'throw') out.dev = 'lo';
  if (withTable && route.table !== 254) out.table = tableName(route.table);
  if (route.family === 4 && type === 'unicast' && route.dev && !route.via) out.scope = 'link';
  if (route.src) out.prefsrc = route.src;
  const metric = route.metric ?? defaultMetric(route.family);
  if (route.family === 6 || metric !== 0) out.metric = metric;
  out.flags = [];
  if (route.family === 6) out.pref = 'medium';
  // Key order as iproute2 prints it.
  const ordered: IpRouteJson = {} as IpRouteJson;
  for (const k of ['type', 'dst', 'gateway', 'dev', 'table', 'scope', 'prefsrc', 'metric', 'flags', 'pref'] as const) {
    if (out[k] !== undefined) (ordered as Record<string, unknown>)[k] = out[k];
  }
  return ordered;
}

/** The kernel's identity of a route inside its table: replace/del address it by these. */
export function routeIdKey(route: RouteSpec): string {
  return `${route.family} table ${route.table} ${normalizePrefix(route.dst, route.family)} metric ${route.metric ?? defaultMetric(route.family)}`;
}

/** The normalized full text of a route: equal keys mean the same route. */
export function routeKey(route: CurrentRoute): string {
  const type = route.type ?? 'unicast';
  const parts = [`${route.family}`, `table ${route.table}`, type, normalizePrefix(route.dst, route.family)];
  if (route.via) parts.push(`via ${normalizePrefix(route.via, route.family).split('/')[0]}`);
  if (type === 'unicast' && route.dev) parts.push(`dev ${route.dev}`);
  if (route.src) parts.push(`src ${normalizePrefix(route.src, route.family).split('/')[0]}`);
  parts.push(`metric ${route.metric ?? defaultMetric(route.family)}`);
  if (route.unknown?.length) parts.push(`unmanaged(${route.unknown.join(',')})`);
  return parts.join(' ');
}

/** Words of a route for `ip route add|replace|del` (after the verb). */
function routeWords(route: RouteSpec): string[] {
  const type = route.type ?? 'unicast';
  const words: string[] = [];
  if (type !== 'unicast') words.push(type);
  words.push(normalizePrefix(route.dst, route.family) === 'default' ? 'default' : route.dst);
  if (route.via) words.push('via', route.via);
  if (type === 'unicast' && route.dev) words.push('dev', route.dev);
  if (route.src) words.push('src', route.src);
  if (route.metric !== undefined) words.push('metric', String(route.metric));
  words.push('table', String(route.table));
  return words;
}

/** argv that adds, replaces or deletes exactly this route. */
export function routeArgv(route: RouteSpec, verb: 'add' | 'replace' | 'del'): string[] {
  return ['ip', `-${route.family}`, 'route', verb, ...routeWords(route)];
}

/** Human text of a route ("default dev egress0 table 51820"). */
export function describeRoute(route: RouteSpec): string {
  return `${route.family === 6 ? 'IPv6 ' : ''}route ${routeWords(route).join(' ')}`;
}
