// `enroll --userspace-wireguard backports`: without the kernel module, an offload-capable wireguard-go — the
// distribution's own package where it has offloads (no source), else its backports (an apt source pinned to
// wireguard-go only); what egress changed is recorded for uninstall.
import { z } from 'zod';
import { EgressError } from '@egress/core/errors';
import type { Host } from '@egress/core/host/host';
import type { Output } from '@egress/core/output';
import { BACKPORTS_SOURCE_PATH, KNOWN_BACKPORT, WIREGUARD_GO_VERSION_ARGV, backportsPlan, dropBackportsListsCommand, restoreWireguardGoCommand, type UserspaceWireguard } from '@egress/core/wireguard-backports';
import { APT_POLICY_ARGV, chooseWireguardGo, parseAptPolicy } from '@egress/core/wireguard-go-source';
import { EGRESS_DIR } from '@egress/core/render/client-paths';
import { recordCreatedDirs, removeCreatedDirs } from '../state/created-dirs.js';

/** What enroll added to apt (removed by the uninstall of the last egress). */
export const APT_RECORD_PATH = '/etc/egress/apt-files.json';
// wireguardGoBefore: the wireguard-go version before egress replaced it (null: none), so uninstall puts it back;
// wireguardGoInstalled: the distribution's own version egress installed (uninstall undoes only while it is there).
const AptRecord = z.object({ files: z.array(z.string()), wireguardGoBefore: z.string().nullable().optional(), wireguardGoInstalled: z.string().optional() });

function osField(text: string, key: string): string | undefined {
  const m = new RegExp(`^${key}=("?)(.*)\\1$`, 'm').exec(text);
  return m?.[2];
}

/**
 * `--userspace-wireguard backports`, decided from this host's facts (chooseWireguardGo): nothing with the kernel module
 * or an offload-capable wireguard-go installed; the distribution's own package when its archive has offloads (Debian
 * 13: no source); bookworm-backports' pinned source where only it has them; refused (before any change) otherwise.
 */
export async function ensureUserspaceWireguard(host: Host, choice: UserspaceWireguard, output: Output, dryRun: boolean, mirror?: string): Promise<void> {
  if (choice === 'system') return;
  const kernel = (await host.run(['sh', '-c', 'test -d /sys/module/wireguard || modprobe -n wireguard 2>/dev/null'])).exitCode === 0;
  const osText = (await host.readFile('/etc/os-release')) ?? '';
  const codename = osField(osText, 'VERSION_CODENAME');
  const versionId = osField(osText, 'VERSION_ID');
  const os = { id: osField(osText, 'ID') ?? 'unknown', ...(codename ? { codename } : {}), ...(versionId ? { versionId } : {}), prettyName: osField(osText, 'PRETTY_NAME') ?? 'an unknown Linux' };
  const recordText = await host.readFile(APT_RECORD_PATH);
  const old = AptRecord.safeParse(JSON.parse(recordText ?? '{"files":[]}')).data;
  const recorded = old?.files ?? [];
  // Installed by an earlier enroll: only a source pointing at another archive now (--backports-mirror changed) is rewritten.
  if (!kernel && recorded.includes(BACKPORTS_SOURCE_PATH) && KNOWN_BACKPORT[codename ?? '']) {
    const source = backportsPlan(os, 'this host', mirror).files[0]!;
    const onDisk = await host.readFile(source.path);
    if (onDisk !== undefined && onDisk !== source.content) {
      output.info(`--userspace-wireguard backports: ${dryRun ? 'would rewrite' : 'rewrite'} ${source.path} to take bookworm-backports from ${mirror ?? 'the Debian archive'} (wireguard-go is not reinstalled):\n${source.content.trimEnd().replace(/^/gm, '  ')}`);
      if (!dryRun) await host.writeFile(source.path, source.content, { mode: 0o644 });
      return;
    }
  }
  const installed = (await host.run(WIREGUARD_GO_VERSION_ARGV)).stdout.trim() || undefined;
  const policy = parseAptPolicy((await host.run(APT_POLICY_ARGV)).stdout);
  const picked = chooseWireguardGo({ os, kernel, ...(installed ? { installed } : {}), ...(policy.candidate ? { candidate: policy.candidate } : {}), origins: policy.origins }, 'this host', mirror);
  if (picked.kind === 'kernel' || picked.kind === 'installed' || (picked.kind === 'own' && !picked.commands.length)) {
    output.info(picked.message);
    return;
  }
  const files = picked.kind === 'backport' ? picked.plan.files : [];
  const commands = picked.kind === 'backport' ? picked.plan.commands : picked.commands;
  if (picked.kind === 'own') {
    output.step(`Installing the distribution's own wireguard-go ${picked.version} (it has offloads; no apt source added)`);
    output.info(picked.message);
  } else output.step(`Installing wireguard-go ${picked.plan.version} from backports (an apt source pinned to wireguard-go only)`);
  for (const f of files) output.info(`${dryRun ? 'would write' : 'write'} ${f.path}:\n${f.content.trimEnd().replace(/^/gm, '  ')}`);
  for (const c of commands) output.info(`${dryRun ? 'would run' : 'run'}: ${c.argv.join(' ')}`);
  if (dryRun) return;
  // The record may be the first thing in /etc/egress: a directory made here is recorded like enroll's own, so the
  // last uninstall (or the rollback below) removes it and /etc ends as it was.
  const madeDir = (await host.run(['test', '-d', EGRESS_DIR])).exitCode !== 0;
  const before = old?.wireguardGoBefore !== undefined ? old.wireguardGoBefore : (installed ?? null);
  // The version egress installs from the distribution's own archive: uninstall undoes only that one.
  const own = picked.kind === 'own' ? { wireguardGoInstalled: picked.version } : old?.wireguardGoInstalled !== undefined ? { wireguardGoInstalled: old.wireguardGoInstalled } : {};
  await host.writeFile(APT_RECORD_PATH, `${JSON.stringify({ files: [...new Set([...recorded, ...files.map((f) => f.path)])], wireguardGoBefore: before, ...own }, null, 2)}\n`, { mode: 0o600 });
  if (madeDir) await recordCreatedDirs(host, [EGRESS_DIR]);
  for (const f of files) await host.writeFile(f.path, f.content, { mode: 0o644 });
  for (const c of commands) {
    const r = await host.run(c.argv, c.options);
    if (r.exitCode !== 0) {
      // Nothing half-applied: the source and pin go again (and the record with them when it held nothing else).
      for (const f of files) await host.removeFile(f.path);
      if (files.length) {
        const drop = dropBackportsListsCommand();
        await host.run(drop.argv, drop.options);
      }
      if (recordText !== undefined) await host.writeFile(APT_RECORD_PATH, recordText, { mode: 0o600 });
      else await host.removeFile(APT_RECORD_PATH);
      if (madeDir) await removeCreatedDirs(host);
      throw new EgressError('E_INSTALL', `${c.argv.join(' ')} failed: ${r.stderr.trim().split('\n').slice(-2).join(' ')}${files.length ? '; the backports source was removed again' : '; nothing was changed'}`, {
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
    const c = restoreWireguardGoCommand(rec.wireguardGoBefore, rec.wireguardGoInstalled ?? now);
    const r = await host.run(c.argv, c.options);
    if (r.exitCode !== 0) leftover = `wireguard-go ${now} ${rec.wireguardGoInstalled ? '' : 'from backports '}stays: ${c.options?.display ?? ''} failed: ${r.stderr.trim().split('\n').slice(-2).join(' ')}`;
  }
  await host.removeFile(APT_RECORD_PATH);
  return { files, ...(leftover ? { leftover } : {}) };
}
