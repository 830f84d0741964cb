// The full desired state of a VPS running egress-server, and what egress owns there.
import type { HostState, Ownership } from '../engine/types.js';
import type { ServerConfig } from '../model/server.js';
import { renderServerDropIn, renderServerSysctl, serverSysctls, type ServerRenderOptions } from './server-boot.js';
import { SERVER_NFT_TABLE, renderServerNft, renderServerNftFile } from './server-nft.js';
import { serverPaths } from './server-paths.js';
import { GUARD_SCRIPT, GUARD_SERVICE, GUARD_TIMER, GUARD_UNIT_DIR, renderServerGuardScript, renderServerGuardService, renderServerGuardTimer } from './server-guard.js';
import { renderServerWgConfig } from './server-wg.js';

/** Renders everything the VPS keeps: model, wg-quick config, nft table and file, sysctls and their drop-in, the boot unit. */
export function renderServer(config: ServerConfig, options: ServerRenderOptions = {}): HostState {
  const paths = serverPaths(config);
  const addresses = [`${config.address4}/${config.subnet4.split('/')[1]}`];
  if (config.address6 && config.subnet6) addresses.push(`${config.address6}/${config.subnet6.split('/')[1]}`);
  return {
    files: [
      { path: paths.state, content: `${JSON.stringify(config, null, 2)}\n`, mode: 0o600 },
      { path: paths.wgConfig, content: renderServerWgConfig(config), mode: 0o600 },
      { path: paths.nft, content: renderServerNftFile(config), mode: 0o600 },
      { path: paths.sysctl, content: renderServerSysctl(config, options), mode: 0o644 },
      { path: paths.dropIn, content: renderServerDropIn(config, options), mode: 0o644 },
      { path: GUARD_SCRIPT, content: renderServerGuardScript(config, options), mode: 0o755 },
      { path: `${GUARD_UNIT_DIR}/${GUARD_SERVICE}`, content: renderServerGuardService(), mode: 0o644 },
      { path: `${GUARD_UNIT_DIR}/${GUARD_TIMER}`, content: renderServerGuardTimer(), mode: 0o644 },
    ],
    nft: [{ ...SERVER_NFT_TABLE, ruleset: renderServerNft(config) }],
    sysctls: serverSysctls(config, options),
    rules: [],
    routes: [],
    links: [
      {
        kind: 'wireguard',
        name: config.interface,
        configPath: paths.wgConfig,
        addresses,
        peers: config.peers.map((p) => p.publicKey),
        listenPort: config.listenPort,
        mtu: config.mtu,
        unit: paths.unit,
      },
    ],
    units: [
      { name: paths.unit, enable: true },
      { name: GUARD_TIMER, enable: true },
    ],
  };
}

/**
 * What egress owns on the VPS: the engine reads and removes only these. The server key is not listed
 * (the engine would delete a file the desired state does not carry); deprovision removes it itself.
 */
export function serverOwnership(config: Pick<ServerConfig, 'interface'>): Ownership {
  const paths = serverPaths(config);
  return {
    nftTables: [{ ...SERVER_NFT_TABLE }],
    rulePriorities: [],
    routeTables: [],
    links: [config.interface],
    files: [paths.state, paths.wgConfig, paths.nft, paths.sysctl, paths.dropIn, GUARD_SCRIPT, `${GUARD_UNIT_DIR}/${GUARD_SERVICE}`, `${GUARD_UNIT_DIR}/${GUARD_TIMER}`],
    journalPath: paths.journal,
    units: [paths.unit, GUARD_TIMER],
  };
}
