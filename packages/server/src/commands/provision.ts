// egress-server provision: read the VPS in one exec, install what is missing, generate the server key there,
// render and converge the server state, write the client bundle. Re-running with the same flags changes nothing.
import { EgressError, ValidationError, IfaceName, IpAddr, SafeName, ServerConfig, generateKeyPair, parseWith, runAll, serverPaths, type Command, type Host, type Output } from '@egress/core';
import { defaultBundlePath, makeBundle } from '../bundle.js';
import { checkOut, dropPendingKey, pendingPath, readOutBundle, readPendingKey, writeOutBundle, writePendingKey } from '../bundle-out.js';
import type { CliOptions } from '../cli/parse-cli.js';
import { parseForwards, planServerConfig, splitSubnets } from '../plan/server-config.js';
import { nftForwardDropChains } from '../remote/firewall.js';
import { installCommands, missingPackages } from '../remote/install.js';
import { PROVISION_RECORD_PATH, converge, loadRecord, loadState, withVps, type ProvisionRecord } from '../server-ops.js';
import type { VpsFacts } from '../remote/facts.js';
import { BACKPORTS_PIN_PATH, BACKPORTS_SOURCE_PATH, aptFileCommand, backportsPlan, dropBackportsListsCommand, parseBackportsMirror, parseUserspaceWireguard, type UserspaceWireguard } from '@egress/core/wireguard-backports';
import { APT_POLICY_ARGV, chooseWireguardGo, parseAptPolicy, type AptPolicy } from '@egress/core/wireguard-go-source';
import type { SessionOpener } from '../session.js';

/** Stands in for the server public key in a dry run before the key exists on the VPS. */
export const PENDING_SERVER_KEY = `${'PENDING+SERVER+KEY+GENERATED+ON+THE+VPS'.padEnd(42, '0')}A=`;

/** Validates provision flags before connecting. */
export function validateProvisionFlags(options: CliOptions): { name: string; dns: string[] } {
  const name = parseWith(SafeName, options.name ?? 'client', '--name');
  if (options.publicInterface !== undefined) parseWith(IfaceName, options.publicInterface, '--public-interface');
  if (options.publicInterface === 'lo') {
    throw new ValidationError(`--public-interface: 'lo' is the loopback interface, which reaches no other host; expected the interface of the VPS's default route (e.g. eth0)`, [{ path: '--public-interface', message: 'loopback' }]);
  }
  const dns = (options.dns ?? []).map((d) => parseWith(IpAddr, d, '--dns'));
  splitSubnets(options.subnet ?? []);
  // Syntax, ranges and duplicates now; the SSH and WireGuard ports are checked once they are known.
  parseForwards(options.forward ?? [], name, { sshPort: 0, listenPort: 0 });
  return { name, dns };
}

/** The command to make the server key on the VPS (umask 077, never printed) and print its public key. */
export function serverKeyCommand(keyPath: string): Command {
  const script = `umask 077 && mkdir -p -- "$(dirname -- "$1")" && { [ -s "$1" ] || wg genkey > "$1"; } && wg pubkey < "$1"`;
  return { argv: ['sh', '-c', script, 'egress-keygen', keyPath] };
}

/** The command that writes the provision record (content on stdin, 0600, atomic rename). */
export function recordCommand(content: string): Command {
  const script = 'umask 077 && mkdir -p -- "$(dirname -- "$1")" && cat > "$1.egress-tmp" && mv -f -- "$1.egress-tmp" "$1"';
  return { argv: ['sh', '-c', script, 'egress-record', PROVISION_RECORD_PATH], options: { stdin: content } };
}

export interface ProvisionReport {
  host: string;
  /** With --dry-run: the exact plan (files, nft ruleset, commands; no secrets). */
  plan?: string;
  distro: string;
  dryRun: boolean;
  changed: number;
  changes: string[];
  installed: string[];
  serverPublicKey: string;
  endpoint: string;
  peer: { name: string; address4: string; address6?: string; new: boolean };
  bundle: string | null;
  forwards: string[];
  notes: string[];
  roundTrips: number;
}

/** After a failed first provision: removes the key and record it made and the directories it created. */
async function undoFreshPreparation(host: Host, keyPath: string, createdDirs: readonly string[]): Promise<void> {
  await runAll(host, [
    { argv: ['rm', '-f', '--', keyPath, PROVISION_RECORD_PATH], options: { change: true } },
    ...createdDirs.map((d) => ({ argv: ['rmdir', '--ignore-fail-on-non-empty', '--', d], options: { change: true } })),
  ]).catch(() => undefined);
}

/** What `--userspace-wireguard backports` does on this VPS: files to write, commands, and what to record for deprovision. */
interface UserspacePlan {
  files: Array<{ path: string; content: string }>;
  commands: Command[];
  /** The wireguard-go version the commands install when it is the distribution's own package (recorded). */
  ownVersion?: string;
}

/**
 * `--userspace-wireguard backports`, decided from the VPS's facts (chooseWireguardGo): the distribution's own package
 * when it has offloads (no source), bookworm-backports' pinned source where only it has them, or undefined when
 * nothing is to do (system, the kernel module, already installed, or an earlier provision did it). Refuses before any
 * change where neither exists.
 */
function userspaceWireguardPlan(choice: UserspaceWireguard, mirror: string | undefined, facts: VpsFacts, policy: AptPolicy | undefined, record: ProvisionRecord, hostName: string, output: Output): UserspacePlan | undefined {
  if (choice === 'system') return undefined;
  const os = { id: facts.osId, ...(facts.codename ? { codename: facts.codename } : {}), ...(facts.versionId ? { versionId: facts.versionId } : {}), prettyName: facts.prettyName };
  if (record.aptFiles.includes(BACKPORTS_SOURCE_PATH) && facts.tools['wireguard-go'] && facts.kernelWireguard === 'none') {
    // Done by an earlier run; only a source pointing at another archive now (--backports-mirror changed) is rewritten.
    const source = backportsPlan(os, hostName, mirror).files.find((f) => f.path === BACKPORTS_SOURCE_PATH)!;
    if (facts.backportsSourceText === undefined || facts.backportsSourceText === source.content) return undefined;
    output.info(`--userspace-wireguard backports: ${BACKPORTS_SOURCE_PATH} is rewritten to take bookworm-backports from ${mirror ?? 'the Debian archive'} (wireguard-go is not reinstalled)`);
    return { files: [source], commands: [aptFileCommand(source.path, source.content)] };
  }
  const picked = chooseWireguardGo({
    os,
    kernel: facts.kernelWireguard !== 'none',
    ...(facts.wireguardGoVersion ? { installed: facts.wireguardGoVersion } : {}),
    ...(policy?.candidate ? { candidate: policy.candidate } : {}),
    ...(policy ? { origins: policy.origins } : {}),
  }, hostName, mirror);
  output.info(picked.message);
  if (picked.kind === 'kernel' || picked.kind === 'installed' || (picked.kind === 'own' && !picked.commands.length)) return undefined;
  if (facts.linkUp !== undefined) output.info('note: the running tunnel keeps its wireguard-go until it restarts (systemctl restart wg-quick@IF, or a reboot: a few seconds without the tunnel)');
  if (picked.kind === 'own') {
    output.info(`deprovision ${facts.wireguardGoVersion ? `puts wireguard-go ${facts.wireguardGoVersion} back if apt still offers it` : `purges the wireguard-go ${picked.version} egress installed`} (only while ${picked.version} is installed)`);
    return { files: [], commands: picked.commands, ownVersion: picked.version };
  }
  const plan = picked.plan;
  output.info(`--userspace-wireguard backports: wireguard-go ${plan.version} from ${BACKPORTS_SOURCE_PATH}, pinned by ${BACKPORTS_PIN_PATH} to wireguard-go only (deprovision removes both)`);
  return { files: plan.files, commands: [...plan.files.map((f) => aptFileCommand(f.path, f.content)), ...plan.commands] };
}

/** Runs provision against one VPS. */
export async function provision(targetText: string, options: CliOptions, output: Output, open: SessionOpener): Promise<ProvisionReport> {
  const { name, dns } = validateProvisionFlags(options);
  const userspace = parseUserspaceWireguard(options.userspaceWireguard);
  const mirror = parseBackportsMirror(options.backportsMirror);
  if (mirror && userspace !== 'backports') throw new ValidationError(`--backports-mirror: only used with --userspace-wireguard backports (got --userspace-wireguard ${userspace})`, [{ path: '--backports-mirror', message: 'needs --userspace-wireguard backports' }]);
  const out = options.out ?? defaultBundlePath(name);
  const force = !!options.force;
  // --out is checked before the VPS is touched: never a device, directory, symlink or someone else's file.
  if (!options.dryRun) await checkOut(out, name, force);
  return withVps(targetText, options, output, open, async ({ session, host, facts }) => {
    const { target } = session;
    const existing = loadState(facts);
    const peerExists = !!existing?.peers.some((p) => p.name === name);
    // A key an interrupted run made (and kept next to --out) is used again, so the VPS and the bundle agree.
    const pending = await readPendingKey(out, name).catch(() => undefined);
    const clientKeys = peerExists ? undefined : (pending ?? generateKeyPair());
    const input = {
      targetHost: target.host,
      sshPort: target.port,
      name,
      subnets: options.subnet ?? [],
      ...(options.listenPort ? { listenPort: options.listenPort } : {}),
      ...(options.publicInterface ? { publicInterface: options.publicInterface } : {}),
      dns,
      forwards: options.forward ?? [],
    };
    const keysFor = (serverPublicKey: string) => ({ serverPublicKey, clientPublicKey: clientKeys?.publicKey ?? '' });
    // Plan once with what is known, so bad input is refused before anything changes.
    let { config, peerIsNew } = planServerConfig(facts, input, existing, keysFor(facts.serverPublicKey ?? existing?.publicKey ?? PENDING_SERVER_KEY));
    const record = loadRecord(facts);
    // apt's candidate for wireguard-go: read only with --userspace-wireguard backports (apt-cache takes ~0.5 s, so it
    // is not in every status's facts), in one more round trip.
    const policy = userspace === 'backports' ? parseAptPolicy((await host.run(APT_POLICY_ARGV)).stdout) : undefined;
    const backports = userspaceWireguardPlan(userspace, mirror, facts, policy, record, host.name, output);
    const packages = missingPackages(facts).filter((p) => !(backports && p === 'wireguard-go'));
    const prep: Command[] = [...installCommands(facts.distro, packages), ...(backports?.commands ?? [])];
    const paths = serverPaths(config);
    const dropInDir = paths.dropIn.slice(0, paths.dropIn.lastIndexOf('/'));
    const createdDirs = ['/etc/wireguard', '/etc/egress', dropInDir].filter((d) => !facts.existingDirs.includes(d));
    output.info(`VPS: ${facts.prettyName}; public interface ${config.publicInterface}${config.publicAddress4 ? ` (${config.publicAddress4})` : ''}; endpoint ${config.endpointHost}:${config.listenPort}`);
    if (packages.length) output.info(`missing packages: ${packages.join(', ')}`);
    if (facts.firewalld) {
      output.warn(`firewalld is running on ${host.name}; egress does not change its zones: put ${config.interface} in a zone that forwards (e.g. firewall-cmd --permanent --zone=trusted --add-interface=${config.interface}) and open ${config.listenPort}/udp`);
    }
    for (const c of nftForwardDropChains(facts.nftJson)) {
      output.info(`nft chain ${c.family} ${c.table} ${c.name} drops forwarded traffic by policy: egress adds accepts for ${config.interface} there (and at boot)`);
    }

    if (options.dryRun) {
      output.step('Plan (dry run: nothing is changed)');
      if (prep.length) output.info(prep.map((c) => `install: ${c.options?.display ?? c.argv.join(' ')}`).join('\n'));
      for (const f of backports?.files ?? []) output.info(`${f.path}:\n${f.content.trimEnd().replace(/^/gm, '  ')}`);
      if (!facts.serverPublicKey) output.info(`server key: wg genkey > ${paths.key} on the VPS (umask 077; the private key never leaves it)`);
      const res = await converge(host, facts, config, existing, output, true);
      output.info(res.plan);
      for (const n of res.notes) output.info(`note: ${n}`);
      for (const f of res.firewall) output.info(`firewall: ${f}`);
      output.info(peerIsNew ? `bundle: would write ${out} (mode 0600, private key *** masked)` : `peer '${name}' exists; its bundle is not rewritten`);
      return { ...report(true, res.changed + res.firewall.length + prep.length + (facts.serverPublicKey ? 0 : 1), [...prep.map((c) => c.argv.join(' ')), ...res.steps, ...res.firewall], res.notes, null), plan: res.plan };
    }

    const changes: string[] = [];
    if (clientKeys && !pending) {
      // Before the VPS learns the peer: killed after this, a re-run finds the key here and finishes the bundle.
      await writePendingKey(out, { kind: 'egress-pending-key', name, publicKey: clientKeys.publicKey, privateKey: clientKeys.privateKey });
    }
    const newRecord = {
      version: 1 as const,
      installedPackages: [...new Set([...record.installedPackages, ...packages, ...(backports && !facts.tools['wireguard-go'] ? ['wireguard-go'] : [])])],
      createdDirs: [...new Set([...record.createdDirs, ...createdDirs])],
      aptFiles: [...new Set([...record.aptFiles, ...(backports?.files.map((f) => f.path) ?? [])])],
      // What wireguard-go was before backports replaced it, so deprovision puts it back (kept from the first run).
      ...(record.wireguardGoBefore !== undefined ? { wireguardGoBefore: record.wireguardGoBefore } : backports ? { wireguardGoBefore: facts.wireguardGoVersion ?? null } : {}),
      // ... and which version egress installed from the distribution's own archive (only that one is undone).
      ...(backports?.ownVersion ? { wireguardGoInstalled: backports.ownVersion } : record.wireguardGoInstalled !== undefined ? { wireguardGoInstalled: record.wireguardGoInstalled } : {}),
    };
    const recordChanged = !facts.provisionText || JSON.stringify(newRecord) !== JSON.stringify(record);
    if (prep.length || !facts.serverPublicKey || recordChanged) {
      // One round trip: installs, the server key (made and kept on the VPS), the provision record.
      output.step(packages.length ? `Installing ${packages.join(', ')} and the server key` : 'Preparing the VPS');
      if (!facts.serverPublicKey) output.echo(`wg genkey > ${paths.key} (umask 077, stays on the VPS)`, host.name);
      if (recordChanged) output.echo(`write ${PROVISION_RECORD_PATH} (mode 0600)`, host.name);
      const batch = [...prep, serverKeyCommand(paths.key), ...(recordChanged ? [recordCommand(`${JSON.stringify(newRecord, null, 2)}\n`)] : [])];
      const results = await runAll(host, batch, { stopOnError: true });
      const failed = results.findIndex((r) => r.exitCode !== 0);
      if (failed >= 0 || results.length < batch.length) {
        // A backports source that did not install is not left behind (nothing half-applied).
        if (backports?.files.length && !record.aptFiles.length) await runAll(host, [{ argv: ['rm', '-f', '--', ...backports.files.map((f) => f.path)], options: { change: true } }, dropBackportsListsCommand()]).catch(() => undefined);
        const what = failed < prep.length ? `installing ${[...packages, ...(backports ? [backports.ownVersion ? `wireguard-go ${backports.ownVersion}` : 'wireguard-go from backports'] : [])].join(', ')}` : failed === prep.length ? 'generating the server key' : `writing ${PROVISION_RECORD_PATH}`;
        throw new EgressError('E_INSTALL', `${what} on ${host.name} failed: ${results[failed]?.stderr.trim().split('\n').slice(-3).join(' ') ?? 'did not run'}`, {
          hint: backports?.files.length ? `check the VPS package manager and network (and --backports-mirror), then rerun provision; the backports source and pin were removed again` : 'check the VPS package manager and network, then rerun provision',
        });
      }
      const pub = results[prep.length]!.stdout.trim();
      changes.push(...prep.map((c) => c.argv.join(' ')));
      if (!facts.serverPublicKey) changes.push(`generate ${paths.key}`);
      ({ config, peerIsNew } = planServerConfig(facts, input, existing, keysFor(pub)));
    }
    output.step('Applying the server state');
    let res;
    try {
      res = await converge(host, facts, parseWith(ServerConfig, config, 'server'), existing, output);
    } catch (err) {
      if (!existing) await undoFreshPreparation(host, paths.key, createdDirs);
      throw err;
    }
    changes.push(...res.steps);
    let bundle: string | null = null;
    const peer = config.peers.find((p) => p.name === name)!;
    if (peerIsNew && clientKeys) {
      await writeOutBundle(out, config, peer, clientKeys.privateKey, force);
      bundle = out;
      output.info(`wrote ${out} (mode 0600; it holds the client's private key)`);
    } else {
      const old = await readOutBundle(out).catch(() => undefined);
      if (old && old.client.publicKey === peer.publicKey && old.client.privateKey) {
        if (JSON.stringify(makeBundle(config, peer, old.client.privateKey)) !== JSON.stringify(old)) {
          await writeOutBundle(out, config, peer, old.client.privateKey, force);
          bundle = out;
          output.info(`updated ${out}`);
        } else await dropPendingKey(out);
      } else if (pending && pending.publicKey === peer.publicKey) {
        await writeOutBundle(out, config, peer, pending.privateKey, force);
        bundle = out;
        output.info(`finished an interrupted provision: wrote ${out} with the key kept in ${pendingPath(out)} (mode 0600)`);
      } else {
        output.info(`peer '${name}' already exists; its key stays where its bundle went (to issue a new bundle: egress-server peer remove, then peer add)`);
      }
    }
    const changed = changes.length;
    output.result(changed === 0 ? `${host.name}: already provisioned, nothing changed` : `${host.name}: provisioned (${changed} change${changed === 1 ? '' : 's'})${bundle ? `; bundle ${bundle}` : ''}`);
    return report(false, changed, changes, res.notes, bundle);

    function report(dryRun: boolean, changed: number, list: string[], notes: string[], bundlePath: string | null): ProvisionReport {
      const p = config.peers.find((x) => x.name === name)!;
      return {
        host: host.name,
        distro: facts.prettyName,
        dryRun,
        changed,
        changes: list,
        installed: dryRun ? [] : packages,
        serverPublicKey: config.publicKey,
        endpoint: `${config.endpointHost.includes(':') ? `[${config.endpointHost}]` : config.endpointHost}:${config.listenPort}`,
        peer: { name: p.name, address4: p.address4, ...(p.address6 ? { address6: p.address6 } : {}), new: peerIsNew },
        bundle: bundlePath,
        forwards: config.forwards.filter((f) => f.peer === name).map((f) => `${f.publicPort}${f.publicPortEnd ? `-${f.publicPortEnd}` : ''}/${f.proto}:${f.targetPort}`),
        notes,
        roundTrips: host.roundTrips ?? 0,
      };
    }
  });
}
