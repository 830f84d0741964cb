// `enroll --userspace-wireguard backports`: without the kernel module, install the offload-capable wireguard-go from
// the distribution's backports (an apt source pinned to wireguard-go only); the files are recorded for uninstall.
import { z } from 'zod';
import { EgressError } from '@egress/core/errors';
import type { Host } from '@egress/core/host/host';
import type { Output } from '@egress/core/output';
import { WIREGUARD_GO_VERSION_ARGV, backportsPlan, dropBackportsListsCommand, restoreWireguardGoCommand, type UserspaceWireguard } from '@egress/core/wireguard-backports';
import { hasOffloadSupport, parseWireguardGoVersion } from '@egress/core/wireguard-impl';
import { EGRESS_DIR } from '@egress/core/render/client-paths';
import { recordCreatedDirs, removeCreatedDirs } from '../state/created-dirs.js';

/** What enroll added to apt (removed by the uninstall of the last egress). */
export const APT_RECORD_PATH = '/etc/egress/apt-files.json';
// wireguardGoBefore: the wireguard-go version before backports replaced it (null: none), so uninstall puts it back.
const AptRecord = z.object({ files: z.array(z.string()), wireguardGoBefore: z.string().nullable().optional() });

function osField(text: string, key: string): string | undefined {
  const m = new RegExp(`^${key}=("?)(.*)\\1$`, 'm').exec(text);
  return m?.[2];
}

/** Installs wireguard-go from backports when asked and useful; refuses (before any change) where no backport exists. */
export async function ensureUserspaceWireguard(host: Host, choice: UserspaceWireguard, output: Output, dryRun: boolean, mirror?: string): Promise<void> {
  if (choice === 'system') return;
  const kernel = (await host.run(['sh', '-c', 'test -d /sys/module/wireguard || modprobe -n wireguard 2>/dev/null'])).exitCode === 0;
  if (kernel) {
    output.info('--userspace-wireguard backports: this kernel has the WireGuard module, which wg-quick uses; no wireguard-go is installed');
    return;
  }
  const os = (await host.readFile('/etc/os-release')) ?? '';
  const codename = osField(os, 'VERSION_CODENAME');
  const plan = backportsPlan({ id: osField(os, 'ID') ?? 'unknown', ...(codename ? { codename } : {}), prettyName: osField(os, 'PRETTY_NAME') ?? 'an unknown Linux' }, 'this host', mirror);
  // Installed by an earlier enroll: only a source pointing at another archive now (--backports-mirror changed) is rewritten.
  const source = plan.files[0]!;
  const onDisk = await host.readFile(source.path);
  const recordText = await host.readFile(APT_RECORD_PATH);
  if (onDisk !== undefined && onDisk !== source.content && recordText !== undefined && AptRecord.safeParse(JSON.parse(recordText)).data?.files.includes(source.path)) {
    output.info(`--userspace-wireguard backports: ${dryRun ? 'would rewrite' : 'rewrite'} ${source.path} to take bookworm-backports from ${mirror ?? 'the Debian archive'} (wireguard-go is not reinstalled):\n${source.content.trimEnd().replace(/^/gm, '  ')}`);
    if (!dryRun) await host.writeFile(source.path, source.content, { mode: 0o644 });
    return;
  }
  const current = parseWireguardGoVersion((await host.run(['wireguard-go', '--version'])).stdout);
  if (current && hasOffloadSupport(current)) {
    // The package version where there is one: bookworm-backports' 0.0.20231211 prints v0.0.20230223.
    const pkg = (await host.run(WIREGUARD_GO_VERSION_ARGV)).stdout.trim();
    output.info(`--userspace-wireguard backports: wireguard-go ${current}${pkg ? ` (package ${pkg})` : ''} is installed and has TUN offloads; nothing to install`);
    return;
  }
  output.step(`Installing wireguard-go ${plan.version} from backports (an apt source pinned to wireguard-go only)`);
  for (const f of plan.files) output.info(`${dryRun ? 'would write' : 'write'} ${f.path}:\n${f.content.trimEnd().replace(/^/gm, '  ')}`);
  for (const c of plan.commands) output.info(`${dryRun ? 'would run' : 'run'}: ${c.argv.join(' ')}`);
  if (dryRun) return;
  const old = AptRecord.safeParse(JSON.parse((await host.readFile(APT_RECORD_PATH)) ?? '{"files":[]}')).data;
  const recorded = old?.files ?? [];
  // The record may be the first thing in /etc/egress: a directory made here is recorded like enroll's own, so the
  // last uninstall (or the rollback below) removes it and /etc ends as it was.
  const madeDir = (await host.run(['test', '-d', EGRESS_DIR])).exitCode !== 0;
  const before = old?.wireguardGoBefore !== undefined ? old.wireguardGoBefore : ((await host.run(WIREGUARD_GO_VERSION_ARGV)).stdout.trim() || null);
  await host.writeFile(APT_RECORD_PATH, `${JSON.stringify({ files: [...new Set([...recorded, ...plan.files.map((f) => f.path)])], wireguardGoBefore: before }, null, 2)}\n`, { mode: 0o600 });
  if (madeDir) await recordCreatedDirs(host, [EGRESS_DIR]);
  for (const f of plan.files) await host.writeFile(f.path, f.content, { mode: 0o644 });
  for (const c of plan.commands) {
    const r = await host.run(c.argv, c.options);
    if (r.exitCode !== 0) {
      // Nothing half-applied: the source and pin go again (and the record with them when it held nothing else).
      for (const f of plan.files) await host.removeFile(f.path);
      const drop = dropBackportsListsCommand();
      await host.run(drop.argv, drop.options);
      if (recorded.length) await host.writeFile(APT_RECORD_PATH, `${JSON.stringify(old, null, 2)}\n`, { mode: 0o600 });
      else await host.removeFile(APT_RECORD_PATH);
      if (madeDir) await removeCreatedDirs(host);
      throw new EgressError('E_INSTALL', `${c.argv.join(' ')} failed: ${r.stderr.trim().split('\n').slice(-2).join(' ')}; the backports source was removed again`, {
        hint: 'check apt and the network, or enroll with --userspace-wireguard system',
      });
    }
  }
}

/**
 * Removes the apt files enroll recorded, puts wireguard-go back as it was before backports (Debian's own version, or
 * none), and removes the record (uninstall of the last egress). A failed restore is returned as a leftover to report.
 */
export async function removeAptFiles(host: Host): Promise<{ files: string[]; leftover?: string }> {
  const text = await host.readFile(APT_RECORD_PATH);
  if (text === undefined) return { files: [] };
  const rec = AptRecord.safeParse(JSON.parse(text)).data;
  const files = rec?.files ?? [];
  for (const f of files) await host.removeFile(f);
  const drop = dropBackportsListsCommand();
  await host.run(drop.argv, drop.options);
  let leftover: string | undefined;
  const now = (await host.run(WIREGUARD_GO_VERSION_ARGV)).stdout.trim();
  if (rec?.wireguardGoBefore !== undefined && now && now !== rec.wireguardGoBefore) {
    const c = restoreWireguardGoCommand(rec.wireguardGoBefore, now);
    const r = await host.run(c.argv, c.options);
    if (r.exitCode !== 0) leftover = `wireguard-go ${now} from backports stays: ${c.options?.display ?? ''} failed: ${r.stderr.trim().split('\n').slice(-2).join(' ')}`;
  }
  await host.removeFile(APT_RECORD_PATH);
  return { files, ...(leftover ? { leftover } : {}) };
}
