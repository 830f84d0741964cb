// Shared steps of every command: load the VPS model, render, converge through the engine, keep firewall accepts in line.
import { z } from 'zod';
import {
  ApplyError,
  NotFoundError,
  PermissionError,
  ServerConfig,
  apply,
  describeAction,
  parseJsonWith,
  renderServer,
  runAll,
  serverOwnership,
  type Command,
  type Host,
  type Output,
  type ServerRenderOptions,
  type Step,
} from '@egress/core';
import { acceptCommands, neededAccepts, nftAcceptCommands, nftBootAccepts, presentAccepts } from './remote/firewall.js';
import { readFacts, type VpsFacts } from './remote/facts.js';
import type { CliOptions } from './cli/parse-cli.js';
import type { Session, SessionOpener } from './session.js';
import { span } from './timing.js';

/** What provision records for deprovision: packages it installed and directories it created. */
export const ProvisionRecord = z
  .object({
    version: z.literal(1),
    installedPackages: z.array(z.string()).default([]),
    createdDirs: z.array(z.string()).default([]),
    /** apt sources/pins provision added (--userspace-wireguard backports); deprovision removes them. */
    aptFiles: z.array(z.string()).default([]),
    /** The wireguard-go version before --userspace-wireguard backports replaced it (null: none); deprovision puts it back. */
    wireguardGoBefore: z.string().nullable().optional(),
    /** The wireguard-go version egress installed (the distribution's own package): deprovision undoes only that one. */
    wireguardGoInstalled: z.string().optional(),
  })
  .strict();
export type ProvisionRecord = z.infer<typeof ProvisionRecord>;
export const PROVISION_RECORD_PATH = '/etc/egress/provision.json';

/** Refuses to go on without root (or --sudo) on the VPS. */
export function requireRoot(facts: VpsFacts, sudo: boolean, hostName: string): void {
  if (facts.uid === 0) return;
  throw new PermissionError(
    sudo ? `commands on ${hostName} do not run as root even through sudo (uid ${facts.uid})` : `${hostName}: egress-server needs root on the VPS (connected as uid ${Number.isNaN(facts.uid) ? '?' : facts.uid}); nothing was changed`,
    { hint: 'connect as root@host, or pass --sudo for a sudoer without a password prompt' },
  );
}

/** The server model on the VPS, if provisioned. */
export function loadState(facts: VpsFacts): ServerConfig | undefined {
  return facts.stateText ? parseJsonWith(ServerConfig, facts.stateText, '/etc/egress/server.json') : undefined;
}

/** The server model, or a clear error when the VPS was never provisioned. */
export function requireState(facts: VpsFacts, hostName: string): ServerConfig {
  const state = loadState(facts);
  if (!state) throw new NotFoundError(`${hostName} is not provisioned by egress (no /etc/egress/server.json)`, { hint: `run egress-server provision ${hostName} first` });
  return state;
}

/** The provision record, empty when absent. */
export function loadRecord(facts: VpsFacts): ProvisionRecord {
  return facts.provisionText ? parseJsonWith(ProvisionRecord, facts.provisionText, PROVISION_RECORD_PATH) : { version: 1, installedPackages: [], createdDirs: [], aptFiles: [] };
}

/** Renderer options from facts: keep RAs on the public interface, re-add accepts in dropping firewalls at boot. */
export function renderOptionsFor(facts: VpsFacts, config: ServerConfig): ServerRenderOptions {
  return {
    acceptRa: !!config.subnet6 && (facts.acceptRa[config.publicInterface] ?? 0) !== 0,
    firewallAccepts: [...neededAccepts(facts.iptables, config.interface, config.listenPort, !!config.subnet6), ...nftBootAccepts(facts.nftJson, config.interface)],
  };
}

/** Commands that bring egress's accepts in other firewalls in line with `config` (none when nothing drops). */
export function firewallCommands(facts: VpsFacts, config: ServerConfig | undefined): Command[] {
  const wanted = config ? neededAccepts(facts.iptables, config.interface, config.listenPort, !!config.subnet6) : [];
  return [...acceptCommands(presentAccepts(facts.iptables), wanted), ...(config ? nftAcceptCommands(facts.nftJson, config.interface) : [])];
}

/** The plan for --dry-run: each step with its commands, and the full text of every file it writes (secret files masked). */
export function planText(steps: readonly Step[]): string {
  if (steps.length === 0) return 'nothing to change';
  return steps
    .map((step, i) => {
      const body = step.do.map((a) => {
        if (a.kind !== 'write') return `     ${describeAction(a).replace(/\n/g, '\n     ')}`;
        const content = a.secret ? '     (secret, not shown)' : a.content.replace(/\n$/, '').split('\n').map((l) => `     | ${l}`).join('\n');
        return `     write ${a.path} (mode ${a.mode.toString(8).padStart(4, '0')}):\n${content}`;
      });
      return `${i + 1}. ${step.title}\n${body.join('\n')}`;
    })
    .join('\n');
}

export interface ConvergeResult {
  changed: number;
  steps: string[];
  /** The engine's plan as text (what --dry-run prints: files, the nft ruleset, commands); '' unless a dry run. */
  plan: string;
  notes: string[];
  firewall: string[];
}

/**
 * Converges the VPS to `config` through the engine, then the firewall accepts; when the accepts fail,
 * the engine is pointed back at `previous` (or nothing) so the VPS ends as it was.
 */
export async function converge(host: Host, facts: VpsFacts, config: ServerConfig, previous: ServerConfig | undefined, output: Output, dryRun = false): Promise<ConvergeResult> {
  const desired = renderServer(config, renderOptionsFor(facts, config));
  const ownership = serverOwnership(config);
  // A dry run prints its own plan (with file contents) instead of the engine's step list.
  const result = await apply(host, desired, ownership, { ...(dryRun ? {} : { output }), dryRun });
  const fw = firewallCommands(facts, config);
  const firewall = fw.map((c) => c.argv.join(' '));
  // Only a dry run prints the plan: formatting every written file line by line is O(peers) work a change never shows.
  const plan = dryRun ? planText(result.steps) : '';
  if (dryRun || fw.length === 0) return { changed: result.changed, steps: result.steps.map((s) => s.title), plan, notes: result.notes, firewall: dryRun ? firewall : [] };
  output.step('Letting the tunnel through other firewalls whose policy drops');
  const res = await runAll(host, fw, { stopOnError: true });
  const bad = res.findIndex((r) => r.exitCode !== 0);
  if (bad >= 0 || res.length < fw.length) {
    const cause = res[bad]?.stderr.trim() ?? 'did not run';
    const back = previous ? renderServer(previous, renderOptionsFor(facts, previous)) : { files: [], nft: [], sysctls: [], rules: [], routes: [], links: [], units: [] };
    await apply(host, back, ownership, { output }).catch(() => undefined);
    const undo = fw.slice(0, Math.max(0, bad)).map((c) => ({ argv: c.argv.map((a) => (a === '-I' ? '-D' : a)), options: { change: true } }));
    if (undo.length) await runAll(host, undo);
    throw new ApplyError(`firewall accept failed: ${firewall[bad] ?? '?'}: ${cause}; the previous state was restored`, true);
  }
  return { changed: result.changed + fw.length, steps: [...result.steps.map((s) => s.title), ...firewall], plan, notes: result.notes, firewall };
}

/** A connected, inspected VPS: the session, its Host and the facts read in the first round trip. */
export interface Vps {
  session: Session;
  host: Session['host'];
  facts: VpsFacts;
}

/**
 * Opens the one SSH session, reads every fact in one exec and checks root, runs `fn`, and always closes the connection.
 * `reads: 'engine'` (commands that converge) sends the engine's first read in the same exec; `peer-change` too, with only
 * the facts a peer add/remove uses (factCommands).
 */
export async function withVps<T>(
  targetText: string,
  options: CliOptions,
  output: Output,
  open: SessionOpener,
  fn: (vps: Vps) => Promise<T>,
  reads: 'facts' | 'engine' | 'peer-change' = 'engine',
): Promise<T> {
  const session = await open(targetText, options, output);
  try {
    // With the VPS lock taken in the facts' own exec, this is said once the lock is held (as before).
    const host = session.host as Session['host'] & { deferUntilGated?: (fn: () => void) => boolean };
    const announce = () => output.step('Reading the VPS');
    if (!host.deferUntilGated?.(announce)) announce();
    const endFacts = span('facts');
    const facts = await readFacts(session.host, 'egress0', reads !== 'facts', reads === 'peer-change' ? 'peer-change' : 'all');
    endFacts();
    requireRoot(facts, session.sudo, session.host.name);
    const endChange = span('command');
    try {
      return await fn({ session, host: session.host, facts });
    } finally {
      endChange();
    }
  } finally {
    const endClose = span('close');
    await session.host.close();
    endClose();
  }
}
