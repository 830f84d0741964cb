// `select add --unit NAME.service`: a systemd drop-in that has egress select the unit's cgroup before its first process
// runs. nft resolves a `socket cgroupv2` path to the cgroup's id when the table loads, and a service's cgroup is made
// anew at each start, so without this its first connections (until the supervisor's watcher reloads the table) would
// leave by the normal route. ExecStartPre runs inside the new cgroup, before ExecStart: it reloads the table then.
import type { Egress } from '../model/client.js';

/** The directory of the unit's drop-ins. */
export function unitDropInDir(unit: string): string {
  return `/etc/systemd/system/${unit}.d`;
}

/** The drop-in egress writes for a selected unit. */
export function unitDropInPath(unit: string): string {
  return `${unitDropInDir(unit)}/50-egress-select.conf`;
}

/** Every drop-in path (and its directory) of the units `egresses` select. */
export function unitDropInPaths(egresses: readonly Egress[]): string[] {
  return egresses.flatMap((e) => e.selectors.units).flatMap((u) => [unitDropInDir(u), unitDropInPath(u)]);
}

/** systemd expands % specifiers in command lines: a literal % is written %%. */
function literal(s: string): string {
  return s.replace(/%/g, '%%');
}

/**
 * The drop-in for `unit` (its name is validated: letters, digits, _ . @ -). `+` runs the command with full privileges
 * (it changes nft); a missing egress (purged without uninstall) must not stop the service from starting, a failing
 * sync must (fail closed): so the command runs only when the program exists, and its exit status counts.
 */
export function renderUnitDropIn(unit: string, egressCommand: readonly string[]): string {
  const argv = [...egressCommand, 'select', 'sync', '--unit', unit].map(literal).join(' ');
  return [
    '# Written by egress-client (select add --unit); removed by select remove and uninstall.',
    '# Selects this unit\'s new cgroup before its first process runs, so none of its traffic leaves directly.',
    '[Service]',
    `ExecStartPre=+/bin/sh -c 'if [ -x ${literal(egressCommand[0]!)} ]; then exec ${argv}; fi'`,
    '',
  ].join('\n');
}
