// Where egress-client keeps its files on the client host (one place, so exec, doctor and uninstall agree).

/** Directory of egress's state, keys and public facts. */
export const EGRESS_DIR = '/etc/egress';

/** Paths of every file egress-client writes. */
export const CLIENT_PATHS = {
  /** The ClientState (0600). */
  state: `${EGRESS_DIR}/client.json`,
  /** Original values of the sysctls the engine changed (0600). */
  journal: `${EGRESS_DIR}/client-journal.json`,
  /** Directory of the public facts files (0755). */
  publicDir: `${EGRESS_DIR}/public`,
  /** The boot unit (`egress-client daemon`, the supervisor). */
  unit: '/etc/systemd/system/egress-client.service',
  unitName: 'egress-client.service',
  /** The early boot unit (`egress-client up --fence-only` before network-pre.target: kill switch, rules, cgroups). */
  fenceUnit: '/etc/systemd/system/egress-client-fence.service',
  fenceUnitName: 'egress-client-fence.service',
} as const;

/** Private key file of one egress (0600; read by `wg set %i private-key FILE`). */
export function clientKeyPath(egress: string): string {
  return `${EGRESS_DIR}/${egress}.key`;
}

/** PresharedKey file of one egress enrolled from a wg-quick file that has one (0600; `wg set … preshared-key FILE`). */
export function clientPskPath(egress: string): string {
  return `${EGRESS_DIR}/${egress}.psk`;
}

/** wg-quick config of one tunnel interface (0600). */
export function clientWgConfigPath(iface: string): string {
  return `/etc/wireguard/${iface}.conf`;
}

/** Public facts of one egress, readable by every user (0644), for unprivileged `exec`. */
export function publicFactsPath(egress: string): string {
  return `${CLIENT_PATHS.publicDir}/${egress}.json`;
}

/** Default parent of the egresses' cgroups under the cgroup2 root. */
export const DEFAULT_CGROUP_PARENT = 'egress';

const CGROUP_PARENT_RE = /^[A-Za-z0-9_.@-]+(\/[A-Za-z0-9_.@-]+)*$/;

/**
 * Parent of the egresses' cgroups: `egress`, or `EGRESS_CGROUP_PARENT` (e.g. a delegated sub-tree, or one lab host's
 * own sub-tree so simulated hosts sharing one kernel never share cgroups). A malformed value is refused, not ignored.
 */
export function cgroupParent(env: NodeJS.ProcessEnv = process.env): string {
  const value = env.EGRESS_CGROUP_PARENT;
  if (value === undefined || value === '') return DEFAULT_CGROUP_PARENT;
  if (!CGROUP_PARENT_RE.test(value) || value.split('/').some((p) => p === '.' || p === '..')) {
    throw new Error(`EGRESS_CGROUP_PARENT: expected a cgroup path of segments of letters, digits, '_', '.', '@' or '-' separated by '/', got '${value}'`);
  }
  return value;
}

/** The cgroup v2 path (relative to the hierarchy root) whose processes an egress carries: `<parent>/<name>`. */
export function egressCgroupPath(egress: string, parent: string = cgroupParent()): string {
  return `${parent}/${egress}`;
}
