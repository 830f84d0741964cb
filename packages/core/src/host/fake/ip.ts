// The fake host's `ip` (rule, route, link, addr) with the JSON shapes and error texts of iproute2.
import ipaddr from 'ipaddr.js';
import { normalizePrefix, parseTableId, routeIdKey, routeToJson, ruleKey, ruleToJson } from '../../engine/ip-format.js';
import type { RouteSpec, RuleSpec } from '../../engine/types.js';
import type { RunResult } from '../host.js';
import type { FakeMachine } from './state.js';

const ok = (stdout = ''): RunResult => ({ exitCode: 0, stdout, stderr: '' });
const fail = (stderr: string, exitCode = 2): RunResult => ({ exitCode, stdout: '', stderr: stderr.endsWith('\n') ? stderr : `${stderr}\n` });

/** Runs `ip …` against the machine. */
export function fakeIp(m: FakeMachine, args: string[]): RunResult {
  let json = false;
  let family: 4 | 6 | undefined;
  let i = 0;
  for (; i < args.length && args[i]!.startsWith('-'); i++) {
    const a = args[i]!;
    if (a === '-j' || a === '-json') json = true;
    else if (a === '-4') family = 4;
    else if (a === '-6') family = 6;
    else if (a === '-d' || a === '-details' || a === '-o' || a === '-oneline') continue;
    else return fail(`Option "${a}" is unknown, try "ip -help".`, 255);
  }
  const object = args[i];
  const rest = args.slice(i + 1);
  switch (object) {
    case 'rule':
      return ipRule(m, rest, family ?? 4, json);
    case 'route':
    case 'r':
      return ipRoute(m, rest, family ?? 4, json);
    case 'link':
    case 'l':
      return ipLink(m, rest, json);
    case 'addr':
    case 'address':
    case 'a':
      return ipAddr(m, rest, json);
    default:
      return fail(`Object "${object ?? ''}" is unknown, try "ip help".`, 255);
  }
}

function parseRule(words: string[], family: 4 | 6): RuleSpec | string {
  const rule: RuleSpec = { family, priority: -1 };
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    const next = words[i + 1];
    const need = (): string => {
      i++;
      if (next === undefined) throw new Error(`Command line is not complete. Try option "help"`);
      return next;
    };
    if (w === 'priority' || w === 'pref' || w === 'preference' || w === 'order') rule.priority = Number(need());
    else if (w === 'from') {
      const v = need();
      if (v !== 'all') rule.from = normalizePrefix(v, family);
    } else if (w === 'iif' || w === 'dev') rule.iif = need();
    else if (w === 'oif') rule.oif = need();
    else if (w === 'fwmark') {
      const [mark, mask] = need().split('/');
      rule.fwmark = Number(mark);
      rule.fwmask = mask === undefined ? 0xffffffff : Number(mask);
    } else if (w === 'uidrange') {
      const [a, b] = need().split('-');
      rule.uidrange = [Number(a), Number(b)];
    } else if (w === 'lookup' || w === 'table') {
      rule.action = 'lookup';
      rule.table = parseTableId(need());
    } else if (w === 'prohibit' || w === 'unreachable' || w === 'blackhole') rule.action = w;
    else if (w === 'suppress_prefixlength' || w === 'sup_pl') rule.suppressPrefixlength = Number(need());
    else return `Error: argument "${w}" is wrong: Failed to parse rule type`;
  }
  return rule;
}

/** Whether a rule matches a `del` selector (given fields only, like the kernel). */
function ruleMatches(rule: RuleSpec, sel: RuleSpec, given: string[]): boolean {
  if (rule.family !== sel.family) return false;
  if (sel.priority >= 0 && rule.priority !== sel.priority) return false;
  const pick = (r: RuleSpec): RuleSpec => {
    const out: RuleSpec = { family: r.family, priority: 0 };
    for (const g of given) (out as unknown as Record<string, unknown>)[g] = (r as unknown as Record<string, unknown>)[g];
    return out;
  };
  return JSON.stringify(pick(rule)) === JSON.stringify(pick(sel));
}

function ipRule(m: FakeMachine, words: string[], family: 4 | 6, json: boolean): RunResult {
  const verb = words[0] ?? 'show';
  if (verb === 'show' || verb === 'list' || verb === 'ls') {
    const rules = m.rules.filter((r) => r.family === family).sort((a, b) => a.priority - b.priority);
    if (json) return ok(`${JSON.stringify(rules.map(ruleToJson))}\n`);
    return ok(rules.map((r) => `${r.priority}:\t${ruleKey(r).split(' ').slice(3).join(' ')}`).join('\n') + '\n');
  }
  if (verb !== 'add' && verb !== 'del' && verb !== 'delete') return fail(`Command "${verb}" is unknown, try "ip rule help".`, 255);
  let parsed: RuleSpec | string;
  try {
    parsed = parseRule(words.slice(1), family);
  } catch (err) {
    return fail((err as Error).message, 255);
  }
  if (typeof parsed === 'string') return fail(parsed, 255);
  if (verb === 'add') {
    if (parsed.priority < 0) parsed.priority = Math.max(0, ...m.rules.filter((r) => r.family === family && r.priority > 0 && r.priority < 32766).map((r) => r.priority)) || 32765;
    if (!parsed.action) return fail('Error: argument is wrong: rule needs an action', 255);
    const key = ruleKey(parsed);
    if (m.rules.some((r) => ruleKey(r) === key)) return fail('RTNETLINK answers: File exists');
    m.rules.push(parsed);
    return ok();
  }
  const given = Object.keys(parsed).filter((k) => k !== 'family' && k !== 'priority');
  const idx = m.rules.findIndex((r) => ruleMatches(r, parsed as RuleSpec, given));
  if (idx < 0) return fail('RTNETLINK answers: No such file or directory');
  m.rules.splice(idx, 1);
  return ok();
}

function parseRoute(words: string[], family: 4 | 6): { route: RouteSpec; given: string[] } | string {
  const route: RouteSpec = { family, table: 254, dst: '' };
  const given: string[] = [];
  const types = new Set(['unicast', 'prohibit', 'unreachable', 'blackhole', 'throw', 'local', 'broadcast']);
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    const next = (): string => {
      i++;
      const v = words[i];
      if (v === undefined) throw new Error('Command line is not complete. Try option "help"');
      return v;
    };
    if (types.has(w) && !route.dst) {
      if (w !== 'unicast') route.type = w as RouteSpec['type'];
      given.push('type');
    } else if (w === 'via') {
      route.via = next();
      given.push('via');
    } else if (w === 'dev' || w === 'oif') {
      route.dev = next();
      given.push('dev');
    } else if (w === 'src') {
      route.src = next();
      given.push('src');
    } else if (w === 'metric' || w === 'priority' || w === 'preference') {
      route.metric = Number(next());
      given.push('metric');
    } else if (w === 'table') {
      route.table = parseTableId(next());
    } else if (w === 'proto' || w === 'protocol' || w === 'scope') next();
    else if (!route.dst && (w === 'default' || /^[0-9a-fA-F:.]+(\/\d+)?$/.test(w))) {
      route.dst = w === 'default' ? 'default' : w;
    } else return `Error: either "to" is duplicate, or "${w}" is a garbage.`;
  }
  if (!route.dst) return 'Error: either "to" is duplicate, or "" is a garbage.';
  if (family === 4 && route.dst.includes(':')) return 'Error: inet prefix is expected rather than "' + route.dst + '".';
  if (family === 6 && route.dst !== 'default' && !route.dst.includes(':')) return 'Error: inet6 prefix is expected rather than "' + route.dst + '".';
  route.dst = normalizePrefix(route.dst, family);
  if (route.family === 6 && route.metric === 1024) delete route.metric;
  return { route, given };
}

function ipRoute(m: FakeMachine, words: string[], family: 4 | 6, json: boolean): RunResult {
  const verb = words[0] ?? 'show';
  if (verb === 'show' || verb === 'list' || verb === 'ls') {
    let table: number | 'all' = 254;
    for (let i = 1; i < words.length; i++) if (words[i] === 'table') table = words[i + 1] === 'all' ? 'all' : parseTableId(words[++i]!);
    if (table !== 'all' && !m.routeTables.has(`${family}:${table}`)) {
      return { exitCode: 2, stdout: json ? '[' : '', stderr: `Error: ipv${family}: FIB table does not exist.\nDump terminated\n` };
    }
    const routes = m.routes.filter((r) => r.family === family && (table === 'all' || r.table === table)).sort(kernelOrder);
    if (json) return ok(`${JSON.stringify(routes.map((r) => routeToJson(r, table === 'all')))}\n`);
    return ok(routes.map((r) => Object.values(routeToJson(r, table === 'all')).filter((v) => typeof v !== 'object').join(' ')).join('\n') + (routes.length ? '\n' : ''));
  }
  if (!['add', 'replace', 'del', 'delete', 'change'].includes(verb)) return fail(`Command "${verb}" is unknown, try "ip route help".`, 255);
  let parsed: ReturnType<typeof parseRoute>;
  try {
    parsed = parseRoute(words.slice(1), family);
  } catch (err) {
    return fail((err as Error).message, 255);
  }
  if (typeof parsed === 'string') return fail(parsed, 255);
  const { route, given } = parsed;
  if (route.dev && !m.links.has(route.dev)) return fail(`Cannot find device "${route.dev}"`, 1);
  const id = routeIdKey(route);
  const idx = m.routes.findIndex((r) => routeIdKey(r) === id);
  if (verb === 'del' || verb === 'delete') {
    const match = m.routes.findIndex((r) => {
      if (r.family !== family || r.table !== route.table || normalizePrefix(r.dst, family) !== route.dst) return false;
      return given.every((g) => {
        if (g === 'metric') return (r.metric ?? (family === 6 ? 1024 : 0)) === (route.metric ?? (family === 6 ? 1024 : 0));
        return (r as unknown as Record<string, unknown>)[g] === (route as unknown as Record<string, unknown>)[g];
      });
    });
    if (match < 0) return fail('RTNETLINK answers: No such process');
    m.routes.splice(match, 1);
    return ok();
  }
  if (verb === 'add' && idx >= 0) return fail('RTNETLINK answers: File exists');
  if (verb === 'change' && idx < 0) return fail('RTNETLINK answers: No such file or directory');
  if (idx >= 0) m.routes.splice(idx, 1, route);
  else m.routes.push(route);
  m.routeTables.add(`${family}:${route.table}`);
  return ok();
}

function prefixSortKey(dst: string): [bigint, number] {
  if (dst === 'default') return [-1n, 0];
  const [addr, len] = dst.split('/');
  const bytes = ipaddr.parse(addr!).toByteArray();
  return [bytes.reduce((acc, b) => (acc << 8n) | BigInt(b), 0n), Number(len)];
}

/** The order the kernel dumps a table in: v4 by address (default first), v6 by address with default last. */
function kernelOrder(a: RouteSpec, b: RouteSpec): number {
  if (a.table !== b.table) return a.table - b.table;
  const [ka, la] = prefixSortKey(a.dst);
  const [kb, lb] = prefixSortKey(b.dst);
  if (a.family === 6 && (a.dst === 'default') !== (b.dst === 'default')) return a.dst === 'default' ? 1 : -1;
  return ka === kb ? la - lb : ka < kb ? -1 : 1;
}

function linkJson(m: FakeMachine, name: string): Record<string, unknown> {
  const l = m.links.get(name)!;
  const index = [...m.links.keys()].indexOf(name) + 1;
  const all = l.kind === 'loopback' ? ['LOOPBACK', 'UP', 'LOWER_UP'] : l.kind === 'wireguard' ? ['POINTOPOINT', 'NOARP', 'UP', 'LOWER_UP'] : ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'];
  const flags = l.down ? all.filter((f) => f !== 'UP' && f !== 'LOWER_UP') : all;
  const out: Record<string, unknown> = { ifindex: index, ifname: name, flags, mtu: l.mtu, qdisc: 'noqueue', operstate: l.kind === 'ether' ? 'UP' : 'UNKNOWN', linkmode: 'DEFAULT', group: 'default', txqlen: 1000 };
  out.link_type = l.kind === 'loopback' ? 'loopback' : l.kind === 'wireguard' ? 'none' : 'ether';
  return out;
}

function pickDev(words: string[]): string | undefined {
  const rest = words.slice(1).filter((w) => w !== 'dev');
  return rest[0];
}

function ipLink(m: FakeMachine, words: string[], json: boolean): RunResult {
  const verb = words[0] ?? 'show';
  const dev = pickDev(words);
  if (verb === 'show' || verb === 'list') {
    if (dev && !m.links.has(dev)) return fail(`Device "${dev}" does not exist.`, 1);
    const names = dev ? [dev] : [...m.links.keys()];
    if (json) return ok(`${JSON.stringify(names.map((n) => linkJson(m, n)))}\n`);
    return ok(names.map((n) => `${linkJson(m, n).ifindex}: ${n}: mtu ${m.links.get(n)!.mtu}`).join('\n') + '\n');
  }
  if (verb === 'del' || verb === 'delete') {
    if (!dev || !m.links.has(dev)) return fail(`Cannot find device "${dev ?? ''}"`, 1);
    removeLink(m, dev);
    return ok();
  }
  if (verb === 'set') {
    if (!dev || !m.links.has(dev)) return fail(`Cannot find device "${dev ?? ''}"`, 1);
    if (words.includes('down')) m.links.get(dev)!.down = true;
    if (words.includes('up')) delete m.links.get(dev)!.down;
    return ok();
  }
  return fail(`Command "${verb}" is unknown, try "ip link help".`, 255);
}

/** Removes a link with everything that pointed at it (routes via its dev), as the kernel does. */
export function removeLink(m: FakeMachine, name: string): void {
  m.links.delete(name);
  m.routes = m.routes.filter((r) => r.dev !== name);
  for (const key of [...m.sysctls.keys()]) if (key.split('.')[3] === name && /^net\.ipv[46]\.conf\./.test(key)) m.sysctls.delete(key);
}

function ipAddr(m: FakeMachine, words: string[], json: boolean): RunResult {
  const verb = words[0] ?? 'show';
  if (verb !== 'show' && verb !== 'list') return fail(`Command "${verb}" is unknown, try "ip address help".`, 255);
  const dev = pickDev(words);
  if (dev && !m.links.has(dev)) return fail(`Device "${dev}" does not exist.`, 1);
  const names = dev ? [dev] : [...m.links.keys()];
  const entries: Array<Record<string, unknown>> = names.map((n) => ({
    ...linkJson(m, n),
    addr_info: m.links.get(n)!.addresses.map((a) => {
      const [local, len] = a.split('/');
      return { family: local!.includes(':') ? 'inet6' : 'inet', local, prefixlen: Number(len), scope: n === 'lo' ? 'host' : 'global', valid_life_time: 4294967295, preferred_life_time: 4294967295 };
    }),
  }));
  if (json) return ok(`${JSON.stringify(entries)}\n`);
  return ok(entries.map((e) => `${String(e.ifname)}: ${(e.addr_info as Array<{ local: string; prefixlen: number }>).map((a) => `${a.local}/${a.prefixlen}`).join(' ')}`).join('\n') + '\n');
}
