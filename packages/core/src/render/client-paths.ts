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
  /** The boot unit (`egress-client up` after the network is online). */
  unit: '/etc/systemd/system/egress-client.service',
  unitName: 'egress-client.service',
} as const;

/** Private key file of one egress (0600; read by `wg set %i private-key FILE`). */
export function clientKeyPath(egress: string): string {
  return `${EGRESS_DIR}/${egress}.key`;
}

/** wg-quick config of one tunnel interface (0600). */
export function clientWgConfigPath(iface: string): string {
  return `/etc/wireguard/${iface}.conf`;
}

/** Public facts of one egress, readable by every user (0644), for unprivileged `exec`. */
export function publicFactsPath(egress: string): string {
  return `${CLIENT_PATHS.publicDir}/${egress}.json`;
}

/** The cgroup v2 path (relative to the hierarchy root) whose processes an egress carries: `egress/<name>`. */
export function egressCgroupPath(egress: string): string {
  return `egress/${egress}`;
}
