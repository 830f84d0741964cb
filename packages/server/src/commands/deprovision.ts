// egress-server deprovision: remove everything egress added (interface, unit, files, nft table, sysctls, accepts), nothing else.
import { runAll, serverOwnership, serverPaths, teardown, type Command, type Output } from '@egress/core';
import { dropBackportsListsCommand, restoreWireguardGoCommand } from '@egress/core/wireguard-backports';
import type { CliOptions } from '../cli/parse-cli.js';
import { acceptCommands, nftRemoveCommands, presentAccepts } from '../remote/firewall.js';
import { purgeCommands } from '../remote/install.js';
import { PROVISION_RECORD_PATH, loadRecord, loadState, withVps } from '../server-ops.js';
import type { SessionOpener } from '../session.js';

export interface DeprovisionReport {
  host: string;
  changed: number;
  changes: string[];
  purged: string[];
  roundTrips: number;
}

/** The cleanup commands after the engine's teardown: key, record, narrow accepts, directories, packages with --purge. */
export function cleanupCommands(facts: Parameters<typeof loadRecord>[0], iface: string, purge: boolean): Command[] {
  const paths = serverPaths({ interface: iface });
  const record = loadRecord(facts);
  // Directories provision created, deepest first, and always the unit drop-in directory named after egress's
  // interface (an interrupted run may have dropped the record already); rmdir leaves any that hold someone else's files.
  const dropInDir = paths.dropIn.slice(0, paths.dropIn.lastIndexOf('/'));
  const dirs = [...new Set([dropInDir, ...record.createdDirs])].sort((a, b) => b.length - a.length);
  const rmdir = (d: string): Command => ({ argv: ['sh', '-c', '[ ! -d "$1" ] || rmdir --ignore-fail-on-non-empty -- "$1"', 'egress-rmdir', d], options: { change: true } });
  return [
    ...acceptCommands(presentAccepts(facts.iptables), []),
    ...nftRemoveCommands(facts.nftJson),
    { argv: ['rm', '-f', '--', paths.key], options: { change: true } },
    // The apt source and pin of --userspace-wireguard backports.
    ...(record.aptFiles.length ? [{ argv: ['rm', '-f', '--', ...record.aptFiles], options: { change: true } }, dropBackportsListsCommand()] : []),
    // ... and wireguard-go as it was before (Debian's own again, or none), once the source is gone; only while the
    // version egress installed is there (recorded for the distribution's own package; else the one found now).
    ...(record.wireguardGoBefore !== undefined && facts.wireguardGoVersion && facts.wireguardGoVersion !== record.wireguardGoBefore
      ? [restoreWireguardGoCommand(record.wireguardGoBefore, record.wireguardGoInstalled ?? facts.wireguardGoVersion)] : []),
    ...dirs.filter((d) => d !== '/etc/egress').map(rmdir),
    // The record goes last, so a run killed before this point still knows what to remove next time.
    { argv: ['rm', '-f', '--', PROVISION_RECORD_PATH], options: { change: true } },
    ...dirs.filter((d) => d === '/etc/egress').map(rmdir),
    ...(purge ? purgeCommands(facts.distro, record.installedPackages) : []),
  ];
}

/** Runs `deprovision`. */
export async function deprovisionCommand(targetText: string, options: CliOptions, output: Output, open: SessionOpener): Promise<DeprovisionReport> {
  return withVps(targetText, options, output, open, async ({ host, facts }) => {
    const config = loadState(facts);
    const iface = config?.interface ?? 'egress0';
    output.step('Removing the server state');
    const res = await teardown(host, serverOwnership({ interface: iface }), { output });
    output.step('Removing keys, records and accepts');
    const cleanup = cleanupCommands(facts, iface, !!options.purge);
    const results = await runAll(host, cleanup);
    const failed = results.map((r, i) => (r.exitCode !== 0 ? `${cleanup[i]!.argv.join(' ')}: ${r.stderr.trim()}` : undefined)).filter(Boolean);
    for (const f of failed) output.warn(`cleanup step failed: ${f}`);
    const record = loadRecord(facts);
    const changes = [...res.steps.map((s) => s.title), ...cleanup.filter((_, i) => results[i]?.exitCode === 0).map((c) => c.argv.join(' '))];
    output.result(config || res.changed ? `${host.name}: egress removed` : `${host.name}: nothing of egress was there`);
    return { host: host.name, changed: res.changed, changes, purged: options.purge ? record.installedPackages : [], roundTrips: host.roundTrips ?? 0 };
  });
}
