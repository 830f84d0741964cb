// Applies a client state through the core engine: render, own the union of before and after, converge.
import { fileURLToPath } from 'node:url';
import type { Host } from '@egress/core/host/host';
import type { ClientState } from '@egress/core/model/client';
import type { Output } from '@egress/core/output';
import { clientOwnership, renderClient, unitDropInPaths } from '@egress/core/render/client';
import { absentParts } from './select/absent.js';
import { ensureCgroupFences } from './cgroup.js';
import { removeStaleTemps } from './state/stale-temps.js';

const SYSTEMD_DIR = '/etc/systemd/system/';

export interface ApplyClientOptions {
  before: ClientState;
  after: ClientState;
  /** Egresses to leave (or take) down: tunnel and routes absent, kill switch armed. */
  down?: readonly string[];
  output: Output;
  dryRun?: boolean;
  /**
   * The early boot unit (`up --fence-only`): kernel state only, never systemd's units. Its boot runs from the installed
   * units, and a `systemctl daemon-reload` + `enable` from inside the boot transaction (seen once when an early
   * `is-enabled` read did not say enabled) lost the supervisor's queued start: egress-client.service never started.
   */
  kernelOnly?: boolean;
}

export interface ApplyClientResult {
  /** Titles of the steps that ran (or would run with dryRun). */
  steps: string[];
  notes: string[];
}

/**
 * The boot command. Installed from the package, /usr/bin/egress-client says where it is (EGRESS_INSTALLED_BIN), so
 * units survive upgrades; from a clone, this node binary and this package's bin.js by absolute path.
 */
export function bootCommand(env: NodeJS.ProcessEnv = process.env): string[] {
  const installed = env.EGRESS_INSTALLED_BIN;
  if (installed && /^\/[A-Za-z0-9/._-]+$/.test(installed)) return [installed];
  return [process.execPath, fileURLToPath(new URL('./bin.js', import.meta.url))];
}

/** Whether systemd runs on the host (then the boot unit is installed and enabled). */
export async function systemdRuns(host: Host): Promise<boolean> {
  return (await host.run(['test', '-d', '/run/systemd/system'])).exitCode === 0;
}

/** Renders `after`, and converges the host to it owning everything `before` and `after` have. */
export async function applyClient(host: Host, o: ApplyClientOptions): Promise<ApplyClientResult> {
  const systemd = await systemdRuns(host);
  const absent = await absentParts(host, o.after);
  const desired = renderClient(o.after, { down: o.down ?? [], absent, ...(systemd ? { bootCommand: bootCommand() } : {}) });
  const owned = clientOwnership(o.before, o.after);
  // Unit files and the drop-ins of selected units are systemd's: written, removed and loaded (daemon-reload) only
  // outside kernelOnly. kernelOnly keeps each exactly as it is on disk (the journal lists them: left out, they would
  // be removed; rewritten without a reload, systemd would run the old text until some later reload).
  const ownership = o.kernelOnly ? { ...owned, units: [] } : owned;
  if (o.kernelOnly) {
    desired.units = [];
    const systemdFiles = new Set([...desired.files.map((f) => f.path), ...unitDropInPaths([...o.before.egresses, ...o.after.egresses])].filter((p) => p.startsWith(SYSTEMD_DIR) && !p.endsWith('.d')));
    const kept = [];
    for (const path of systemdFiles) {
      const content = await host.readFile(path);
      if (content !== undefined) kept.push({ path, content, mode: 0o644 });
    }
    desired.files = [...desired.files.filter((f) => !systemdFiles.has(f.path)), ...kept];
  }
  // Cgroup selection's own fence first (the mark at socket creation, the loopback-DNS guard): it holds without nft.
  if (!o.dryRun) {
    for (const w of await ensureCgroupFences(host, o.after, o.before)) o.output.warn(w);
    await removeStaleTemps(host);
  }
  // Named namespaces (`netns add`): gone ones lose their veth before their kill switch goes; the rest are built after it is in place.
  const netns = !o.dryRun && (o.before.namespaces?.length || o.after.namespaces?.length) ? await import('./netns/ensure.js') : undefined;
  const removed = netns ? await netns.removeGoneNamespaces(host, o.before, o.after) : [];
  const engine = await import('@egress/core/engine/apply');
  const result = await engine.apply(host, desired, ownership, { output: o.output, dryRun: !!o.dryRun });
  const titles: string[] = result.steps.map((s: { title: string }) => s.title);
  // Unit files and drop-ins that changed are loaded at once (after an upgrade the units' text can change too).
  if (systemd && !o.kernelOnly && titles.some((t) => / \/etc\/systemd\/system\/\S+\.(service|conf)\b/.test(t))) {
    if (o.dryRun) titles.push('systemctl daemon-reload (a unit file or drop-in changed)');
    else await host.run(['systemctl', 'daemon-reload'], { check: true, change: true });
  }
  const built = netns ? [...(await netns.resetTunnelForwarding(host, o.before, o.after)), ...(await netns.ensureNamespaces(host, o.after))] : [];
  return { steps: [...removed, ...titles, ...built], notes: result.notes ?? [] };
}
