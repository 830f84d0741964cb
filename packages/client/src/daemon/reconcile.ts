// One supervisor pass: read the saved state, follow interface uplinks, converge with the engine, say what was repaired.
import type { Host } from '@egress/core/host/host';
import type { ClientState, Egress } from '@egress/core/model/client';
import { Output } from '@egress/core/output';
import { withLock } from '@egress/core/lock/flock';
import { applyClient } from '../apply-client.js';
import { syncForwardAccepts } from '../select/forward-accept.js';
import { CLIENT_LOCK_PATH } from '../state/change-lock.js';
import { markedDown } from '../state/down-markers.js';
import { loadClientState } from '../state/store.js';
import { detectUplink } from '../uplink/detect-uplink.js';
import { readHostUsage } from '../state/host-usage.js';
import { keepWinning } from './keep-winning.js';

export interface PassResult {
  /** The state the pass converged to (undefined when the saved state is invalid: nothing was touched). */
  state?: ClientState;
  /** Steps the engine ran. */
  steps: string[];
  /** Uplink changes followed (one text per egress). */
  followed: string[];
  /** Egresses moved to an early range because another tool's rule would capture their traffic (one line each). */
  moved?: string[];
  /** Egresses a foreign rule captures that no free range can beat (left as they are; doctor reports it). */
  stuck?: string[];
  /** Why the pass did nothing (invalid state file). */
  refused?: string;
  /** The engine's failure (the host was restored to what it was); the next event or the backstop retries. */
  failed?: string;
}

/** The interface egress as its uplink is now (address, gateway, resolvers), or the same one when it cannot be read. */
export async function followUplink(host: Host, e: Extract<Egress, { kind: 'interface' }>): Promise<{ egress: Egress; change?: string; problem?: string }> {
  let plan;
  try {
    // A lease's resolvers win (a new network); without a lease naming one, the resolvers chosen at enroll stay.
    plan = await detectUplink(host, { interface: e.interface }).catch((err: Error) => {
      if (!/^--dns:|no resolver found/.test(err.message) || e.dns.length === 0) throw err;
      return detectUplink(host, { interface: e.interface, dns: e.dns });
    });
  } catch (err) {
    // Down, no address, no lease: keep what we have; its routes fail with the link and the kill switch refuses meanwhile.
    return { egress: e, problem: (err as Error).message };
  }
  const next: Egress = {
    ...e,
    address4: plan.address4,
    ...(plan.address6 ? { address6: plan.address6 } : {}),
    dns: plan.dns.length ? [...plan.dns] : e.dns,
    uplink: { ...(plan.gateway4 ? { gateway4: plan.gateway4 } : {}), ...(plan.gateway6 ? { gateway6: plan.gateway6 } : {}) },
  };
  if (!plan.address6) delete (next as { address6?: string }).address6;
  const diffs: string[] = [];
  if (next.address4 !== e.address4) diffs.push(`address ${e.address4} -> ${next.address4}`);
  if (next.address6 !== e.address6) diffs.push(`address6 ${e.address6 ?? 'none'} -> ${next.address6 ?? 'none'}`);
  if (next.uplink.gateway4 !== e.uplink.gateway4) diffs.push(`gateway ${e.uplink.gateway4 ?? 'none'} -> ${next.uplink.gateway4 ?? 'none'}`);
  if (next.uplink.gateway6 !== e.uplink.gateway6) diffs.push(`gateway6 ${e.uplink.gateway6 ?? 'none'} -> ${next.uplink.gateway6 ?? 'none'}`);
  if (next.dns.join(',') !== e.dns.join(',')) diffs.push(`resolvers ${e.dns.join(',')} -> ${next.dns.join(',')}`);
  return diffs.length ? { egress: next, change: `${e.name} (${e.interface}): ${diffs.join(', ')}` } : { egress: e };
}

/** Runs one pass: every egress up, interface egresses following their uplink; the engine touches only what egress owns. */
export async function reconcilePass(host: Host, problems: Map<string, string>): Promise<PassResult> {
  // The one change lock, held from reading the state to applying it: a pass never interleaves with enroll, up, down
  // or uninstall (it would re-apply the state it read before their change).
  return withLock({ path: CLIENT_LOCK_PATH, command: 'egress-client daemon', waitMs: 120_000 }, () => reconcileUnlocked(host, problems));
}

/**
 * True while systemd takes the machine down: interfaces and tunnels going away then are not drift, and a pass could
 * half-apply (a `systemctl enable` refused mid-shutdown would be rolled back with a `disable` of the boot units).
 */
export async function shuttingDown(host: Host): Promise<boolean> {
  if ((await host.run(['test', '-d', '/run/systemd/system'])).exitCode !== 0) return false;
  return (await host.run(['systemctl', 'is-system-running'])).stdout.trim() === 'stopping';
}

async function reconcileUnlocked(host: Host, problems: Map<string, string>): Promise<PassResult> {
  let before: ClientState;
  try {
    before = await loadClientState(host);
  } catch (err) {
    return { steps: [], followed: [], refused: (err as Error).message };
  }
  if (await shuttingDown(host)) return { state: before, steps: [], followed: [] };
  if (before.egresses.length === 0) return { state: before, steps: [], followed: [] };
  const followed: string[] = [];
  const egresses: Egress[] = [];
  // Interface egresses whose uplink is unusable (down, no address): their routes wait, the kill switch refuses.
  const down: string[] = [];
  for (const e of before.egresses) {
    if (e.kind !== 'interface') {
      egresses.push(e);
      continue;
    }
    const r = await followUplink(host, e);
    egresses.push(r.egress);
    if (r.change) followed.push(r.change);
    if (r.problem) {
      problems.set(e.name, r.problem);
      down.push(e.name);
    } else problems.delete(e.name);
  }
  // Egresses taken down by `egress-client down` stay down (their kill switch holds) until `egress-client up`.
  down.push(...(await markedDown(host, before.egresses.map((e) => e.name))).filter((n) => !down.includes(n)));
  // Another tool's rule (Tailscale re-adds 5270 `lookup 52` on every change) now before an egress's range: move the
  // egress to a free early range; the engine adds the new rules before it removes the old ones (no gap).
  const win = keepWinning(egresses, await readHostUsage(host));
  const after: ClientState = { ...before, egresses: win.egresses };
  const quiet = new Output({ quiet: true });
  try {
    const { steps } = await applyClient(host, { before, after, down, output: quiet });
    // Forwarded selectors' accepts in a foreign FORWARD chain (Docker started later, or flushed it): put back.
    steps.push(...(await syncForwardAccepts(host, after)));
    return { state: after, steps, followed, moved: win.moved, stuck: win.stuck };
  } catch (err) {
    return { state: before, steps: [], followed: [], stuck: win.stuck, failed: (err as Error).message };
  }
}
