// Names of everything one `run --isolate` creates, each stamped with the owner's pid so a later start can sweep leftovers.

/** Prefix shared by every isolate object (namespace, veth, nft table, /etc/netns dir). */
export const ISOLATE_PREFIX = 'egiso';

/** Directory of the per-run records (tmpfs: gone at reboot, like the namespaces). */
export const ISOLATE_RUN_DIR = '/run/egress/isolate';

/** Original values of the sysctls isolated runs share (one file per key, written by the first run). */
export const ISOLATE_SYSCTL_DIR = `${ISOLATE_RUN_DIR}/sysctl`;

/** ip rule priorities of isolated runs: `iif VETH lookup TABLE`, then `iif VETH unreachable` (outside every egress's range). */
export const ISOLATE_PRIORITY = { lookup: 4900, fallback: 4901 } as const;

/** Every name one run uses; the pid is the egress-client process that owns them. */
export interface IsolateNames {
  pid: number;
  /** Network namespace (`ip netns`), `egiso-<pid>`. */
  ns: string;
  /** Host end of the veth pair, at most 15 characters. */
  vethHost: string;
  /** Namespace end of the veth pair. */
  vethNs: string;
  /** nftables table (family inet). */
  nftTable: string;
  /** Per-namespace /etc files that `ip netns exec` bind-mounts (resolv.conf, nsswitch.conf). */
  etcDir: string;
  /** The run's record (JSON). */
  recordPath: string;
}

/** Derives every object name from the owner pid. */
export function isolateNames(pid: number): IsolateNames {
  if (!Number.isInteger(pid) || pid < 1 || pid > 9_999_999) throw new RangeError(`isolate owner pid must be 1-9999999, got ${pid}`);
  const ns = `${ISOLATE_PREFIX}-${pid}`;
  return {
    pid,
    ns,
    vethHost: `${ISOLATE_PREFIX}${pid}h`,
    vethNs: `${ISOLATE_PREFIX}${pid}n`,
    nftTable: `${ISOLATE_PREFIX}_${pid}`,
    etcDir: `/etc/netns/${ns}`,
    recordPath: `${ISOLATE_RUN_DIR}/${pid}.json`,
  };
}

const PATTERNS = {
  ns: new RegExp(`^${ISOLATE_PREFIX}-(\\d{1,7})$`),
  vethHost: new RegExp(`^${ISOLATE_PREFIX}(\\d{1,7})h$`),
  nftTable: new RegExp(`^${ISOLATE_PREFIX}_(\\d{1,7})$`),
  record: /^(\d{1,7})\.json$/,
} as const;

/** The owner pid stamped in an object name, or undefined when the name is not one of ours. */
export function ownerPidOf(kind: keyof typeof PATTERNS, name: string): number | undefined {
  const m = PATTERNS[kind].exec(name);
  return m ? Number(m[1]) : undefined;
}
