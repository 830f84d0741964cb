// The VPS's own repair, without Node: a systemd timer runs a plain shell script that reloads the egress nft table
// and the sysctls when they are missing or wrong (e.g. after `nft flush ruleset` or `systemctl restart nftables`).
import type { ServerConfig } from '../model/server.js';
import type { ServerRenderOptions } from './server-boot.js';
import { serverSysctls } from './server-boot.js';
import { serverPaths } from './server-paths.js';

export const GUARD_SCRIPT = '/etc/egress/server-guard.sh';
export const GUARD_SERVICE = 'egress-server-guard.service';
export const GUARD_TIMER = 'egress-server-guard.timer';
export const GUARD_UNIT_DIR = '/etc/systemd/system';
/** How often the timer checks (seconds). */
export const GUARD_PERIOD_S = 15;

/** The guard script: prints one line per repair; exits 0 when all is in place (no single quotes inside). */
export function renderServerGuardScript(config: ServerConfig, options: ServerRenderOptions = {}): string {
  const paths = serverPaths(config);
  const lines = [
    '#!/bin/sh',
    '# Managed by egress-server: restore the egress nftables table and sysctls when missing (run by egress-server-guard.timer).',
    'set -u',
    'rc=0',
    'if ! nft list table inet egress >/dev/null 2>&1; then',
    `  if nft -f ${paths.nft}; then echo "egress-guard: table inet egress was missing: reloaded ${paths.nft}"; else echo "egress-guard: reloading ${paths.nft} failed" >&2; rc=1; fi`,
    'fi',
    ...serverSysctls(config, options).flatMap((s) => {
      const proc = `/proc/sys/${s.key.replace(/\./g, '/')}`;
      return [
        `if [ "$(cat ${proc} 2>/dev/null)" != "${s.value}" ]; then`,
        `  if sysctl -q -w ${s.key}=${s.value}; then echo "egress-guard: ${s.key} was not ${s.value}: set"; else rc=1; fi`,
        'fi',
      ];
    }),
    'exit $rc',
  ];
  return `${lines.join('\n')}\n`;
}

/** The oneshot service the timer starts. */
export function renderServerGuardService(): string {
  return [
    '# Managed by egress-server: restore the egress nftables table and sysctls when missing.',
    '[Unit]',
    'Description=egress server: restore the egress nftables table and sysctls when missing',
    'After=nftables.service',
    '',
    '[Service]',
    'Type=oneshot',
    `ExecStart=/bin/sh ${GUARD_SCRIPT}`,
    '',
  ].join('\n');
}

/** The timer: shortly after boot, then every GUARD_PERIOD_S seconds. */
export function renderServerGuardTimer(): string {
  return [
    '# Managed by egress-server: check the egress nftables table and sysctls periodically.',
    '[Unit]',
    'Description=egress server: periodic check of the egress nftables table and sysctls',
    '',
    '[Timer]',
    'OnBootSec=30s',
    `OnUnitActiveSec=${GUARD_PERIOD_S}s`,
    'AccuracySec=1s',
    '',
    '[Install]',
    'WantedBy=timers.target',
    '',
  ].join('\n');
}
