// Where egress-server keeps its files on the VPS: one place so renderers, provision and deprovision agree.
import type { ServerConfig } from '../model/server.js';

/** Directory of egress's state and keys on the VPS. */
export const SERVER_DIR = '/etc/egress';

/** Paths of every file egress-server writes on the VPS for `config`. */
export interface ServerPaths {
  /** The model, 0600 JSON. */
  state: string;
  /** Server private key, generated on the VPS, never read back. */
  key: string;
  /** The nftables file the boot unit loads. */
  nft: string;
  /** wg-quick config of the tunnel interface. */
  wgConfig: string;
  sysctl: string;
  /** systemd drop-in of wg-quick@IF that loads the nft file and sysctls at boot. */
  dropIn: string;
  /** The engine's journal of original sysctl values. */
  journal: string;
  /** The wg-quick unit enabled at boot. */
  unit: string;
}

/** Computes the file paths for a server config (only the interface name varies). */
export function serverPaths(config: Pick<ServerConfig, 'interface'>): ServerPaths {
  const unit = `wg-quick@${config.interface}.service`;
  return {
    state: `${SERVER_DIR}/server.json`,
    key: `${SERVER_DIR}/server.key`,
    nft: `${SERVER_DIR}/server.nft`,
    wgConfig: `/etc/wireguard/${config.interface}.conf`,
    sysctl: '/etc/sysctl.d/90-egress.conf',
    dropIn: `/etc/systemd/system/${unit}.d/egress.conf`,
    journal: `${SERVER_DIR}/server.journal.json`,
    unit,
  };
}
