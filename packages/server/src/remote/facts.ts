// Everything provision, status and deprovision need to know about the VPS, read in ONE batched exec.
import { z } from 'zod';
import { IpAddr, ifaceSysctlKey, runAll, serverOwnership, stateReadCommands, type Command, type Host, type RunResult } from '@egress/core';
import { implementationArgv } from '@egress/core/wireguard-impl';
import { BACKPORTS_SOURCE_PATH, WIREGUARD_GO_VERSION_ARGV } from '@egress/core/wireguard-backports';

const SCRIPT_TOOLS = 'for c in wg wg-quick nft wireguard-go iptables ip6tables systemctl; do p=$(command -v "$c") && echo "$c $p"; done; true';
const SCRIPT_KERNEL_WG =
  'if [ -d /sys/module/wireguard ]; then echo loaded; elif modprobe -n wireguard >/dev/null 2>&1 || [ -e "/lib/modules/$(uname -r)/kernel/drivers/net/wireguard/wireguard.ko" ]; then echo module; else echo none; fi';
// `read` is the shell's own: no cat process per interface (peer add reads this too). dash's read of a /proc file
// returns 1 though it set the value, so the value decides.
const SCRIPT_ACCEPT_RA = 'for f in /proc/sys/net/ipv6/conf/*/accept_ra; do [ -r "$f" ] && { v=; read -r v < "$f"; [ -n "$v" ]; } && echo "$f $v"; done; true';
const SCRIPT_RESOLVED = 'resolvectl dns 2>/dev/null || cat /run/systemd/resolve/resolv.conf 2>/dev/null; true';
const SCRIPT_SERVER_PUB = 'if [ -f /etc/egress/server.key ]; then wg pubkey < /etc/egress/server.key; fi';
const SCRIPT_SYSCTLS = 'for k in net.ipv4.ip_forward net.ipv6.conf.all.forwarding; do echo "$k $(sysctl -n $k 2>/dev/null)"; done';
const SCRIPT_UNIT = 'systemctl is-enabled "$1" 2>/dev/null; systemctl is-active "$1" 2>/dev/null; true';

/**
 * What `peer add|remove` reads of the facts (by index in factCommands): root check, the server model, the firewalls
 * whose accepts it keeps in line, accept_ra, the live peers and the nft table. The other facts (packages, routes,
 * resolvers, units, implementation…) are for provision, status and deprovision.
 */
const PEER_CHANGE_FACTS: ReadonlySet<number> = new Set([0, 11, 12, 13, 16, 19, 22]);
/** factCommands' read of the server model: with `peer-change`, readFacts takes it from its `cat -- PATH` of owned files. */
const STATE_FACT = 14;

/** Which facts a run reads: all of them, or those a peer add/remove needs (`peer-change`). */
export type FactScope = 'all' | 'peer-change';

/**
 * The read commands, in the order `parseFacts` expects their results. With `peer-change`, a fact the change does not
 * need is the shell's builtin `false` in its place (no process on the VPS; parsed as "not read", like a failed read).
 */
export function factCommands(iface = 'egress0', scope: FactScope = 'all'): Command[] {
  const all = allFactCommands(iface);
  return scope === 'all' ? all : all.map((c, i) => (PEER_CHANGE_FACTS.has(i) ? c : { argv: ['false'] }));
}

function allFactCommands(iface: string): Command[] {
  const sh = (script: string, ...args: string[]): Command => ({ argv: ['sh', '-c', script, 'egress', ...args] });
  return [
    { argv: ['id', '-u'] },
    { argv: ['cat', '/etc/os-release'] },
    sh(SCRIPT_TOOLS),
    sh(SCRIPT_KERNEL_WG),
    { argv: ['ip', '-j', '-4', 'route', 'show', 'default'] },
    { argv: ['ip', '-j', '-6', 'route', 'show', 'default'] },
    { argv: ['ip', '-j', 'addr', 'show'] },
    { argv: ['ip', '-j', '-4', 'route', 'show', 'table', 'all'] },
    { argv: ['ip', '-j', '-6', 'route', 'show', 'table', 'all'] },
    { argv: ['cat', '/etc/resolv.conf'] },
    sh(SCRIPT_RESOLVED),
    { argv: ['iptables', '-S'] },
    { argv: ['ip6tables', '-S'] },
    { argv: ['nft', '-j', 'list', 'ruleset'] },
    { argv: ['cat', '/etc/egress/server.json'] },
    sh(SCRIPT_SERVER_PUB),
    sh(SCRIPT_ACCEPT_RA),
    { argv: ['test', '-d', '/run/systemd/system'] },
    sh(SCRIPT_SYSCTLS),
    { argv: ['wg', 'show', iface, 'dump'] },
    sh(SCRIPT_UNIT, `wg-quick@${iface}.service`),
    { argv: ['ip', '-j', 'link', 'show', 'dev', iface] },
    { argv: ['nft', 'list', 'table', 'inet', 'egress'] },
    { argv: ['cat', '/etc/egress/provision.json'] },
    sh('for d in /etc/wireguard /etc/egress "/etc/systemd/system/$1.d"; do [ -d "$d" ] && echo "$d"; done; true', `wg-quick@${iface}.service`),
    sh('command -v firewall-cmd >/dev/null 2>&1 && firewall-cmd --state 2>/dev/null; true'),
    { argv: implementationArgv(iface) },
    { argv: WIREGUARD_GO_VERSION_ARGV },
    { argv: ['cat', BACKPORTS_SOURCE_PATH] },
  ];
}

const OsRelease = z.record(z.string(), z.string());
const RouteJson = z.looseObject({ dst: z.string(), gateway: z.string().optional(), dev: z.string().optional(), prefsrc: z.string().optional(), table: z.union([z.string(), z.number()]).optional(), type: z.string().optional() });
const AddrJson = z.looseObject({
  ifname: z.string(),
  addr_info: z.array(z.looseObject({ family: z.string(), local: z.string().optional(), prefixlen: z.number().optional(), scope: z.string().optional() })).default([]),
});

export type Distro = 'debian' | 'fedora' | 'alpine' | 'arch' | 'unknown';

/** A wg show dump peer line. */
export interface WgPeerStatus {
  publicKey: string;
  endpoint: string | undefined;
  allowedIps: string[];
  latestHandshake: number;
  rx: number;
  tx: number;
}

/** What the VPS looks like, parsed from one batch. */
export interface VpsFacts {
  uid: number;
  osId: string;
  osLike: string[];
  distro: Distro;
  prettyName: string;
  /** VERSION_CODENAME of /etc/os-release (bookworm, noble, …). */
  codename?: string;
  /** VERSION_ID of /etc/os-release ("12", "24.04"). */
  versionId?: string;
  tools: Record<string, string>;
  kernelWireguard: 'loaded' | 'module' | 'none';
  defaultRoute4?: { dev: string; gateway?: string };
  defaultRoute6?: { dev: string; gateway?: string };
  /** MTU of each interface (from `ip -j addr`), for the tunnel MTU. */
  linkMtus?: Record<string, number>;
  /** Global addresses by interface. */
  addresses: Array<{ ifname: string; family: 4 | 6; address: string; prefixlen: number; scope: string }>;
  /** Destinations of every route in every table (for overlap checks), with their device. */
  routes: Array<{ family: 4 | 6; dst: string; dev?: string; table?: string }>;
  resolvers: string[];
  iptables: { v4: string | undefined; v6: string | undefined };
  nftJson: unknown;
  stateText: string | undefined;
  serverPublicKey: string | undefined;
  acceptRa: Record<string, number>;
  systemd: boolean;
  sysctls: Record<string, string>;
  wgDump: string | undefined;
  unitEnabled: string | undefined;
  unitActive: string | undefined;
  linkUp: boolean | undefined;
  nftTableText: string | undefined;
  /** /etc/egress/provision.json: what provision installed and created (for deprovision). */
  provisionText: string | undefined;
  existingDirs: string[];
  /** firewalld is running (egress does not configure it; provision warns). */
  firewalld: boolean;
  /** Output of the tunnel-implementation probe (parse with parseImplementation). */
  implementationText: string;
  /** The installed wireguard-go package's version (dpkg), when there is one. */
  wireguardGoVersion?: string;
  /** The apt source --userspace-wireguard backports wrote, when it is there. */
  backportsSourceText?: string;
}

function ok(r: RunResult | undefined): string | undefined {
  return r && r.exitCode === 0 ? r.stdout : undefined;
}

function json(text: string | undefined): unknown {
  if (!text?.trim()) return [];
  try {
    return JSON.parse(text);
  } catch {
    return [];
  }
}

/** Parses /etc/os-release into key/value pairs (quotes removed). */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!.replace(/^"(.*)"$/, '$1').replace(/^'(.*)'$/, '$1');
  }
  return OsRelease.parse(out);
}

/** Maps os-release ID / ID_LIKE to the package manager family egress knows. */
export function distroOf(id: string, like: readonly string[]): Distro {
  const all = [id, ...like];
  if (all.some((x) => ['debian', 'ubuntu'].includes(x))) return 'debian';
  if (all.some((x) => ['fedora', 'rhel', 'centos', 'rocky', 'almalinux'].includes(x))) return 'fedora';
  if (all.includes('alpine')) return 'alpine';
  if (all.some((x) => ['arch', 'manjaro'].includes(x))) return 'arch';
  return 'unknown';
}

/** Nameservers of a resolv.conf text. */
export function nameservers(text: string | undefined): string[] {
  return (text ?? '')
    .split('\n')
    .map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1])
    .filter((x): x is string => !!x)
    .map((x) => x.replace(/%.*$/, ''));
}

/** Resolvers the VPS really uses: resolv.conf, or systemd-resolved's upstreams when resolv.conf is the 127.0.0.53 stub. */
export function upstreamResolvers(resolvConf: string | undefined, resolved: string | undefined): string[] {
  const direct = nameservers(resolvConf);
  const isStub = direct.length > 0 && direct.every((a) => a.startsWith('127.'));
  if (!isStub) return direct.filter((a) => !a.startsWith('127.') && a !== '::1');
  const fromResolvectl = (resolved ?? '')
    .split('\n')
    .flatMap((l) => (!/^\s*nameserver/.test(l) && l.includes(':') ? l.slice(l.indexOf(':') + 1).trim().split(/\s+/) : []))
    .map((a) => a.replace(/#.*$/, '').replace(/%.*$/, ''))
    .filter((a) => IpAddr.safeParse(a).success);
  const all = [...fromResolvectl, ...nameservers(resolved)];
  return [...new Set(all)].filter((a) => a && !a.startsWith('127.') && a !== '::1');
}

function defaultRoute(text: string | undefined): { dev: string; gateway?: string } | undefined {
  const parsed = z.array(RouteJson).safeParse(json(text));
  const r = parsed.success ? parsed.data.find((x) => x.dst === 'default' && x.dev) : undefined;
  return r ? { dev: r.dev!, ...(r.gateway ? { gateway: r.gateway } : {}) } : undefined;
}

/** Parses `wg show IF dump` peer lines. */
export function parseWgDump(text: string | undefined): { listenPort?: number; peers: WgPeerStatus[] } {
  const lines = (text ?? '').split('\n').filter(Boolean);
  if (lines.length === 0) return { peers: [] };
  const head = lines[0]!.split('\t');
  const peers = lines.slice(1).map((l) => {
    const f = l.split('\t');
    return {
      publicKey: f[0]!,
      endpoint: f[2] === '(none)' ? undefined : f[2],
      allowedIps: (f[3] ?? '').split(',').filter((x) => x && x !== '(none)'),
      latestHandshake: Number(f[4] ?? 0),
      rx: Number(f[5] ?? 0),
      tx: Number(f[6] ?? 0),
    };
  });
  return { ...(head[2] ? { listenPort: Number(head[2]) } : {}), peers };
}

/** Parses the results of `factCommands` into facts. */
export function parseFacts(results: readonly RunResult[]): VpsFacts {
  const r = (i: number) => results[i];
  const os = parseOsRelease(ok(r(1)) ?? '');
  const osLike = (os.ID_LIKE ?? '').split(/\s+/).filter(Boolean);
  const tools: Record<string, string> = {};
  for (const line of (ok(r(2)) ?? '').split('\n')) {
    const [name, path] = line.trim().split(' ');
    if (name && path) tools[name] = path;
  }
  const addrParsed = z.array(AddrJson).safeParse(json(ok(r(6))));
  const addresses = (addrParsed.success ? addrParsed.data : []).flatMap((link) =>
    link.addr_info
      .filter((a) => a.local && (a.family === 'inet' || a.family === 'inet6'))
      .map((a) => ({ ifname: link.ifname, family: (a.family === 'inet' ? 4 : 6) as 4 | 6, address: a.local!, prefixlen: a.prefixlen ?? (a.family === 'inet' ? 32 : 128), scope: a.scope ?? 'global' })),
  );
  const linkMtus: Record<string, number> = {};
  for (const link of addrParsed.success ? addrParsed.data : []) if (typeof link.mtu === 'number') linkMtus[link.ifname] = link.mtu;
  const routes = ([4, 6] as const).flatMap((family, k) => {
    const parsed = z.array(RouteJson).safeParse(json(ok(r(7 + k))));
    return (parsed.success ? parsed.data : []).map((x) => ({ family, dst: x.dst, ...(x.dev ? { dev: x.dev } : {}), ...(x.table !== undefined ? { table: String(x.table) } : {}) }));
  });
  const kw = (ok(r(3)) ?? '').trim();
  const acceptRa: Record<string, number> = {};
  for (const line of (ok(r(16)) ?? '').split('\n')) {
    const m = /^\/proc\/sys\/net\/ipv6\/conf\/([^/]+)\/accept_ra (\d+)$/.exec(line.trim());
    if (m) acceptRa[m[1]!] = Number(m[2]);
  }
  const sysctls: Record<string, string> = {};
  for (const line of (ok(r(18)) ?? '').split('\n')) {
    const [k, v] = line.trim().split(' ');
    if (k) sysctls[k] = v ?? '';
  }
  const unit = (ok(r(20)) ?? '').split('\n').map((s) => s.trim());
  const linkParsed = z.array(z.looseObject({ flags: z.array(z.string()).default([]), operstate: z.string().optional() })).safeParse(json(ok(r(21))));
  const link = linkParsed.success ? linkParsed.data[0] : undefined;
  const pub = (ok(r(15)) ?? '').trim();
  return {
    uid: Number((ok(r(0)) ?? '').trim() || NaN),
    osId: os.ID ?? 'unknown',
    osLike,
    distro: distroOf(os.ID ?? '', osLike),
    prettyName: os.PRETTY_NAME ?? os.ID ?? 'unknown Linux',
    ...(os.VERSION_CODENAME ? { codename: os.VERSION_CODENAME } : {}),
    ...(os.VERSION_ID ? { versionId: os.VERSION_ID } : {}),
    tools,
    kernelWireguard: kw === 'loaded' || kw === 'module' ? kw : 'none',
    ...(defaultRoute(ok(r(4))) ? { defaultRoute4: defaultRoute(ok(r(4)))! } : {}),
    ...(defaultRoute(ok(r(5))) ? { defaultRoute6: defaultRoute(ok(r(5)))! } : {}),
    addresses,
    linkMtus,
    routes,
    resolvers: upstreamResolvers(ok(r(9)), ok(r(10))),
    iptables: { v4: ok(r(11)), v6: ok(r(12)) },
    nftJson: json(ok(r(13))),
    stateText: ok(r(14)),
    serverPublicKey: pub || undefined,
    acceptRa,
    systemd: r(17)?.exitCode === 0,
    sysctls,
    wgDump: ok(r(19)),
    unitEnabled: unit[0] || undefined,
    unitActive: unit[1] || undefined,
    linkUp: link ? link.flags.includes('UP') : undefined,
    nftTableText: ok(r(22)),
    provisionText: ok(r(23)),
    existingDirs: (ok(r(24)) ?? '').split('\n').map((x) => x.trim()).filter(Boolean),
    firewalld: (ok(r(25)) ?? '').trim() === 'running',
    implementationText: ok(r(26)) ?? '',
    ...((ok(r(27)) ?? '').trim() ? { wireguardGoVersion: ok(r(27))!.trim() } : {}),
    ...(ok(r(28)) !== undefined ? { backportsSourceText: ok(r(28))! } : {}),
  };
}

/**
 * The engine's first read for this VPS as the server renders it (its owned files, sysctl keys, link and units), so
 * it goes in the facts' batch. A VPS whose render needs more (the accept_ra key of an IPv6 public interface) just
 * reads again in the engine.
 */
export function engineReadCommands(iface = 'egress0'): Command[] {
  const own = serverOwnership({ interface: iface });
  const shape = {
    files: own.files.map((path) => ({ path })),
    sysctls: [{ key: 'net.ipv4.ip_forward' }, { key: 'net.ipv6.conf.all.forwarding' }],
    links: own.links.map((name) => ({ name })),
    units: own.units.map((name) => ({ name })),
  };
  return stateReadCommands(shape, own);
}

/**
 * Reads every fact in one round trip. In the same batch: the files egress owns (primed into an SSH host for readFile)
 * and, `withEngineRead`, the engine's first read (primed as answers), so a change reads the VPS once before it applies.
 */
export async function readFacts(
  host: Host & { primeFiles?: (files: ReadonlyMap<string, string | undefined>) => void; primeResults?: (commands: ReadonlyArray<Command>, results: ReadonlyArray<RunResult>) => void },
  iface = 'egress0',
  withEngineRead = false,
  scope: FactScope = 'all',
): Promise<VpsFacts> {
  const own = serverOwnership({ interface: iface });
  const paths = [...own.files, own.journalPath];
  const base = [...factCommands(iface, scope), ...paths.map((p) => ({ argv: ['cat', '--', p] }))];
  // Commands both lists hold (cat of owned files, wg show dump, the nft table) are sent once.
  const key = (c: Command): string => JSON.stringify(c.argv);
  const seen = new Set(base.filter((c) => c.argv[0] !== 'false').map(key));
  const engine = withEngineRead && host.primeResults ? engineReadCommands(iface) : [];
  const extra = engine.filter((c) => !seen.has(key(c)) && (seen.add(key(c)), true));
  const results = await runAll(host, [...base, ...extra]);
  const facts = factCommands(iface).length;
  if (host.primeFiles) {
    const primed = new Map<string, string | undefined>();
    paths.forEach((p, i) => {
      const r = results[facts + i];
      if (r?.exitCode === 0) primed.set(p, r.stdout);
      else if (r && /No such file or directory/.test(r.stderr)) primed.set(p, undefined);
    });
    host.primeFiles(primed);
  }
  const parsed = parseFacts(results.slice(0, facts));
  if (scope === 'peer-change') {
    // server.json is one of the owned files this batch reads anyway: not read a second time.
    const at = paths.indexOf(String(factCommands(iface)[STATE_FACT]!.argv[1]));
    const r = at >= 0 ? results[facts + at] : undefined;
    parsed.stateText = r?.exitCode === 0 ? r.stdout : undefined;
  }
  if (engine.length && host.primeResults && results.length === base.length + extra.length) {
    const byKey = new Map([...base, ...extra].map((c, i) => [key(c), results[i]!]));
    host.primeResults(engine, engine.map((c) => byKey.get(key(c))!));
    // The accept_ra key of an IPv6 public interface, as the engine reads it: the value this batch read from /proc.
    const ra = Object.entries(parsed.acceptRa).map(([name, value]) => ({ argv: ['sysctl', '-n', ifaceSysctlKey('ipv6', name, 'accept_ra')], result: { exitCode: 0, stdout: `${value}\n`, stderr: '' } }));
    host.primeResults(ra, ra.map((r) => r.result));
  }
  return parsed;
}
