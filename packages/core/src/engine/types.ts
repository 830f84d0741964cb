// The desired state of one host, as renderers produce it and the engine converges to.

/** A file egress owns on the host. */
export interface FileSpec {
  path: string;
  content: string;
  mode: number;
  /** Never echoed; masked in plans. */
  secret?: boolean;
}

/** One nftables table egress owns, replaced atomically with `nft -f`. */
export interface NftTableSpec {
  family: 'inet' | 'ip' | 'ip6';
  name: string;
  /** Complete `table FAMILY NAME { … }` text, as `nft -f` reads it. */
  ruleset: string;
}

/** A runtime sysctl egress needs; the engine records the original value and restores it on teardown. */
export interface SysctlSpec {
  key: string;
  value: string;
}

/** One `ip rule`; found again by priority + family (egress owns a priority range). */
export interface RuleSpec {
  family: 4 | 6;
  priority: number;
  /** Selector: any combination; absent means "all". */
  fwmark?: number;
  fwmask?: number;
  uidrange?: [number, number];
  from?: string;
  iif?: string;
  oif?: string;
  /** Action: lookup a table, or a terminal type. */
  table?: number;
  action?: 'lookup' | 'prohibit' | 'unreachable' | 'blackhole';
  /** `suppress_prefixlength N` on a lookup rule. */
  suppressPrefixlength?: number;
}

/** One route in a table egress owns. */
export interface RouteSpec {
  family: 4 | 6;
  table: number;
  /** 'default' or a CIDR. */
  dst: string;
  type?: 'unicast' | 'prohibit' | 'unreachable' | 'blackhole' | 'throw';
  dev?: string;
  via?: string;
  src?: string;
  metric?: number;
}

/** A WireGuard interface managed by wg-quick from its config file. */
export interface WireguardLinkSpec {
  kind: 'wireguard';
  name: string;
  /** Path of the wg-quick config (also listed in `files`). */
  configPath: string;
  /** Addresses the interface must carry once up (CIDR form). */
  addresses: string[];
  /** Peer public keys expected in `wg show NAME dump` (to detect drift). */
  peers: string[];
  listenPort?: number;
  /** Link MTU once up (a change needs `wg-quick down` + `up`). */
  mtu?: number;
  /**
   * The systemd unit that runs wg-quick for this link (`wg-quick@IF.service`): where systemd runs, the link is
   * started, restarted and stopped through it, so the unit's state is true (`systemctl restart` works at once).
   */
  unit?: string;
}

/** A systemd unit to enable (boot persistence); skipped where systemd does not run. */
export interface UnitSpec {
  name: string;
  enable: boolean;
}

/** Everything egress wants on one host. Teardown is applying an empty HostState with the same Ownership. */
export interface HostState {
  files: FileSpec[];
  nft: NftTableSpec[];
  sysctls: SysctlSpec[];
  rules: RuleSpec[];
  routes: RouteSpec[];
  links: WireguardLinkSpec[];
  units: UnitSpec[];
}

/** What egress owns on a host: the engine reads and removes only these. */
export interface Ownership {
  /** nft tables by family/name. */
  nftTables: Array<{ family: NftTableSpec['family']; name: string }>;
  /** Inclusive ip rule priority range(s). */
  rulePriorities: Array<[number, number]>;
  /** Routing table ids. */
  routeTables: number[];
  /** Interface names. */
  links: string[];
  /** File paths (and directories whose egress files they are). */
  files: string[];
  /** Where the engine keeps the original sysctl values it changed (0600 JSON). */
  journalPath: string;
  units: string[];
}

/** Creates an empty desired state (the teardown target). */
export function emptyHostState(): HostState {
  return { files: [], nft: [], sysctls: [], rules: [], routes: [], links: [], units: [] };
}
