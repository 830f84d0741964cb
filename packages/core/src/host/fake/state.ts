// The in-memory machine a FakeHost models: files, nft tables, rules, routes, sysctls, links, units.
import type { RouteSpec, RuleSpec } from '../../engine/types.js';

export interface FakeFile {
  content: string;
  mode: number;
}

export interface FakeWgPeer {
  publicKey: string;
  allowedIps: string[];
  endpoint?: string;
}

export interface FakeLink {
  name: string;
  kind: 'loopback' | 'ether' | 'wireguard';
  mtu: number;
  addresses: string[];
  /** Set down (`ip link set dev X down`, or a wg-quick killed half-way). */
  down?: boolean;
  wg?: { privateKey?: string; publicKey?: string; listenPort?: number; peers: FakeWgPeer[] };
}

export interface FakeUnit {
  enabled: boolean;
  active: boolean;
}

/** Everything the fake machine holds; tests may seed or inspect it directly. */
export interface FakeMachine {
  files: Map<string, FakeFile>;
  dirs: Set<string>;
  /** nft tables by "family name": the text of the last `table F N {…}` loaded (concatenated bodies). */
  nft: Map<string, { family: string; name: string; body: string; handle: number }>;
  rules: RuleSpec[];
  routes: RouteSpec[];
  /** "4:51820" for every table the kernel has created (listing an unknown table fails like the kernel does). */
  routeTables: Set<string>;
  sysctls: Map<string, string>;
  links: Map<string, FakeLink>;
  units: Map<string, FakeUnit>;
  /** Unit files the distribution ships (templates as `name@.service`), besides files written under a systemd directory. */
  installedUnits: Set<string>;
  systemd: boolean;
  nextHandle: number;
}

/** A fresh machine: lo and eth0, the kernel's default rules, main/local tables, ip_forward off, systemd running. */
export function defaultMachine(options: { systemd?: boolean } = {}): FakeMachine {
  const m: FakeMachine = {
    files: new Map(),
    dirs: new Set(['/', '/etc', '/run', '/tmp']),
    nft: new Map(),
    rules: [
      { family: 4, priority: 0, action: 'lookup', table: 255 },
      { family: 4, priority: 32766, action: 'lookup', table: 254 },
      { family: 4, priority: 32767, action: 'lookup', table: 253 },
      { family: 6, priority: 0, action: 'lookup', table: 255 },
      { family: 6, priority: 32766, action: 'lookup', table: 254 },
    ],
    routes: [
      { family: 4, table: 254, dst: 'default', via: '192.0.2.1', dev: 'eth0' },
      { family: 4, table: 254, dst: '192.0.2.0/24', dev: 'eth0', src: '192.0.2.10' },
    ],
    routeTables: new Set(['4:253', '4:254', '4:255', '6:254', '6:255']),
    sysctls: new Map([
      ['net.ipv4.ip_forward', '0'],
      ['net.ipv6.conf.all.forwarding', '0'],
      ['net.ipv4.conf.all.src_valid_mark', '0'],
      ['net.ipv4.conf.all.rp_filter', '0'],
      ['net.ipv4.conf.default.rp_filter', '0'],
    ]),
    links: new Map([
      ['lo', { name: 'lo', kind: 'loopback', mtu: 65536, addresses: ['127.0.0.1/8', '::1/128'] }],
      ['eth0', { name: 'eth0', kind: 'ether', mtu: 1500, addresses: ['192.0.2.10/24'] }],
    ]),
    units: new Map(),
    installedUnits: new Set(['wg-quick@.service', 'nftables.service', 'systemd-sysctl.service']),
    systemd: options.systemd ?? true,
    nextHandle: 1,
  };
  if (m.systemd) m.dirs.add('/run/systemd/system');
  return m;
}

/** Deep copy of a machine (snapshots for "restored exactly" assertions). */
export function cloneMachine(m: FakeMachine): FakeMachine {
  return {
    files: new Map([...m.files].map(([k, v]) => [k, { ...v }])),
    dirs: new Set(m.dirs),
    nft: new Map([...m.nft].map(([k, v]) => [k, { ...v }])),
    rules: m.rules.map((r) => ({ ...r })),
    routes: m.routes.map((r) => ({ ...r })),
    routeTables: new Set(m.routeTables),
    sysctls: new Map(m.sysctls),
    links: new Map([...m.links].map(([k, v]) => [k, structuredClone(v)])),
    units: new Map([...m.units].map(([k, v]) => [k, { ...v }])),
    installedUnits: new Set(m.installedUnits),
    systemd: m.systemd,
    nextHandle: m.nextHandle,
  };
}
