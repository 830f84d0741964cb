// The supervisor loop: watchers trigger debounced reconcile passes; a slow timer checks health and stale handshakes.
import type { Host } from '@egress/core/host/host';
import type { ClientState } from '@egress/core/model/client';
import { CLIENT_PATHS } from '@egress/core/render/client-paths';
import { checkEgress, HEALTH_PATH, PID_PATH, RUN_DIR, STALE_HANDSHAKE_S, withSince, type EgressHealth, type HealthFile } from './health.js';
import { watchNft, watchRtnetlink, type MonitorWatcher } from './monitor-watcher.js';
import { startProxyRunner } from './proxies.js';
import { reconcilePass } from './reconcile.js';
import { PROXIES_PATH } from '../proxy/persist.js';
import { watchResume } from './resume-detector.js';
import { watchStateFile } from './state-watcher.js';
import { startSupervisorSocket } from './socket-start.js';
import { watchUserDb } from './user-db-watcher.js';
import { watchSelectedCgroups } from './cgroup-watcher.js';
import { foreignCgroups } from '@egress/core/render/client';
import { wgPeers } from '../wg-show.js';

export interface SupervisorOptions {
  /** Quiet time after an event before a pass runs (events come in bursts). */
  debounceMs: number;
  /** Slow backstop pass and health check period. */
  healthIntervalMs: number;
  backstopMs: number;
  /** A handshake older than this (seconds) makes the daemon resolve the endpoint's name again (default 180). */
  staleAfter?: number;
  log: (line: string) => void;
}

export interface Supervisor {
  /** Resolves when stopped. */
  done: Promise<void>;
  stop(): Promise<void>;
}

/** The triggers worth naming in a repair line: deletions and nftables events first, then the rest; at most 3. */
export function pickTriggers(all: readonly string[]): string[] {
  const rank = (t: string): number => (/Deleted|delete|flush/.test(t) ? 0 : t.startsWith('nft:') ? 1 : 2);
  return [...new Set(all)].sort((a, b) => rank(a) - rank(b)).slice(0, 3);
}

/** Starts the supervisor on `host`; the kernel state is left as it is when it stops (the kill switch stays armed). */
export async function startSupervisor(host: Host, o: SupervisorOptions): Promise<Supervisor> {
  const log = o.log;
  const triggers: string[] = [];
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = false;
  let lastRefusal: string | undefined;
  let lastStuck = '';
  let state: ClientState | undefined;
  const problems = new Map<string, string>();
  const health = new Map<string, EgressHealth>();
  const started = Date.now();
  const lastResolve = new Map<string, number>();
  // Socket requests wait for the first pass (the state it loads), so a launch right after the start is not refused.
  let firstPassDone!: () => void;
  const firstPass = new Promise<void>((r) => (firstPassDone = r));
  // The socket's ACL follows the policy the pass loaded (set once the socket runs).
  const socketHooks: { refreshAccess?: () => Promise<void> } = {};

  const pass = async (): Promise<void> => {
    // Named at the end: events that arrived while the pass ran (the drift itself, often) belong to this repair.
    const why = (): string => pickTriggers(triggers.splice(0)).join('; ');
    const t0 = performance.now();
    try {
      const r = await reconcilePass(host, problems);
      if (r.refused) {
        if (r.refused !== lastRefusal) log(`state refused, kernel state kept as it is (kill switch stays); waiting for ${CLIENT_PATHS.state} to be fixed: ${r.refused}`);
        lastRefusal = r.refused;
        state = undefined;
        await writeHealth(r.refused);
        return;
      }
      if (lastRefusal) log(`state accepted again (${r.state?.egresses.length ?? 0} egresses)`);
      lastRefusal = undefined;
      state = r.state;
      const ms = Math.round(performance.now() - t0);
      // A foreign rule no free range can beat: said once (not every pass) until it changes.
      const stuck = (r.stuck ?? []).join('\n');
      if (stuck && stuck !== lastStuck) for (const l of r.stuck ?? []) log(`foreign rule wins, cannot move: ${l}`);
      lastStuck = stuck;
      if (r.failed) {
        log(`repair failed after [${why()}]: ${r.failed} (retrying at the next event or in ${Math.round(o.backstopMs / 1000)} s)`);
        await writeHealth();
        return;
      }
      for (const f of r.followed) log(`uplink changed: ${f}; egress re-applied`);
      for (const m of r.moved ?? []) log(`foreign rule before egress: ${m}`);
      if (r.steps.length) log(`repair in ${ms} ms after [${why()}]: ${r.steps.join('; ')}`);
      else triggers.splice(0);
      await writeHealth();
    } catch (err) {
      log(`repair failed after [${why()}]: ${(err as Error).message} (retrying at the next event or in ${Math.round(o.backstopMs / 1000)} s)`);
    } finally {
      firstPassDone();
      await socketHooks.refreshAccess?.().catch((err: Error) => log(`socket: ${err.message}`));
    }
  };

  const schedule = (reason: string): void => {
    if (stopped) return;
    if (triggers.length < 20) triggers.push(reason);
    if (running) {
      again = true;
      return;
    }
    if (timer) return;
    timer = setTimeout(run, o.debounceMs);
  };
  const run = (): void => {
    timer = undefined;
    running = pass().finally(() => {
      running = undefined;
      if (again && !stopped) {
        again = false;
        timer = setTimeout(run, o.debounceMs);
      }
    });
  };

  const writeHealth = async (error?: string): Promise<void> => {
    const nowS = Math.floor(Date.now() / 1000);
    const at = new Date().toISOString();
    const list: EgressHealth[] = [];
    for (const e of state?.egresses ?? []) {
      let h = await checkEgress(host, e, nowS);
      const problem = problems.get(e.name);
      if (problem && h.health === 'healthy') h = { ...h, health: 'degraded', reason: problem };
      const next = withSince(health.get(e.name), h, at);
      if (health.get(e.name)?.health !== next.health) log(`health ${e.name}: ${next.health} (${next.reason})`);
      health.set(e.name, next);
      list.push(next);
    }
    const doc: HealthFile = { pid: process.pid, updated: at, egresses: list, ...(error ? { error } : {}) };
    await host.writeFile(HEALTH_PATH, `${JSON.stringify(doc, null, 2)}\n`, { mode: 0o644 });
  };

  /** A tunnel whose handshake is stale (or never came) gets its endpoint set again, so `wg` resolves the name anew. */
  const refreshEndpoints = async (force: string | undefined): Promise<void> => {
    const nowS = Math.floor(Date.now() / 1000);
    for (const e of state?.egresses ?? []) {
      if (e.kind !== 'wireguard') continue;
      const peers = await wgPeers(host, e.interface);
      if (!peers) continue;
      const hs = peers[0]?.latestHandshake ?? 0;
      const stale = hs === 0 ? Date.now() - started > 15_000 : nowS - hs > (o.staleAfter ?? STALE_HANDSHAKE_S);
      if (!stale && !force) continue;
      if (!force && Date.now() - (lastResolve.get(e.name) ?? 0) < 30_000) continue;
      lastResolve.set(e.name, Date.now());
      const before = peers[0]?.endpoint ?? 'none';
      const r = await host.run(['wg', 'set', e.interface, 'peer', e.wireguard.serverPublicKey, 'endpoint', e.wireguard.endpoint]);
      const after = (await wgPeers(host, e.interface))?.[0]?.endpoint ?? 'none';
      const reason = force ?? (hs === 0 ? 'no handshake yet' : `handshake ${nowS - hs} s old`);
      if (r.exitCode !== 0) log(`endpoint ${e.name}: ${reason}; resolving ${e.wireguard.endpoint} failed: ${r.stderr.trim()}`);
      else if (after !== before) log(`endpoint ${e.name}: ${reason}; ${e.wireguard.endpoint} now resolves to ${after} (was ${before}); set with wg set`);
    }
  };

  const tick = async (force?: string): Promise<void> => {
    try {
      await refreshEndpoints(force);
      await writeHealth(lastRefusal);
    } catch (err) {
      log(`health check failed: ${(err as Error).message}`);
    }
  };

  await host.run(['mkdir', '-p', RUN_DIR]);
  await host.writeFile(PID_PATH, `${process.pid}\n`, { mode: 0o644 });
  log(`egress-client daemon ${process.pid}: watching nftables, rtnetlink and ${CLIENT_PATHS.state}`);

  const watchers: Array<{ stop(): void }> = [];
  // `ip monitor` prints a link's details on indented continuation lines: the first line is the event.
  const ours = (line: string): boolean => !/^\s/.test(line);
  watchers.push(watchNft((l) => schedule(`nft: ${l.slice(0, 80)}`), log) as MonitorWatcher);
  watchers.push(watchRtnetlink((l) => ours(l) && schedule(`ip: ${l.slice(0, 80)}`), log) as MonitorWatcher);
  watchers.push(watchStateFile(CLIENT_PATHS.state, () => schedule('state file changed'), log));
  // Allowed groups are expanded to uids at render time: a membership change re-renders the policy (and the socket
  // follows the group `egress`).
  const socket = await startSupervisorSocket(host, () => state, log, firstPass);
  socketHooks.refreshAccess = socket.refreshAccess;
  watchers.push(
    watchUserDb((f) => {
      schedule(`${f} changed`);
      void socket.refreshGroup().catch((err: Error) => log(`socket: ${err.message}`));
    }, log),
  );
  // Selected units/cgroups that start later (or restart) need the table loaded again to be selected.
  watchers.push(watchSelectedCgroups(() => (state?.egresses ?? []).flatMap(foreignCgroups), (what) => {
    log(`${what}: re-applying (selectors name it)`);
    schedule(what);
  }));
  watchers.push(
    watchResume((gap) => {
      log(`clock jumped ${Math.round(gap / 1000)} s (suspend/resume?): re-checking`);
      schedule('resume');
      void tick('resume');
    }),
  );
  // Saved proxies (proxy --persist) run as children; proxies.json is re-read when it changes.
  const proxies = startProxyRunner(host, log);
  const reloadProxies = (): void => void proxies.reload().catch((err: Error) => log(`proxies: ${err.message}`));
  watchers.push(watchStateFile(PROXIES_PATH, reloadProxies, log));
  reloadProxies();
  const healthTimer = setInterval(() => void tick(), o.healthIntervalMs);
  const backstop = setInterval(() => schedule('periodic check'), o.backstopMs);

  // The first pass converges whatever happened while no supervisor ran.
  schedule('start');
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  // Health written once the first pass has settled.
  setTimeout(() => void tick(), o.debounceMs + 500);

  return {
    done,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (timer) clearTimeout(timer);
      clearInterval(healthTimer);
      clearInterval(backstop);
      for (const w of watchers) w.stop();
      await running;
      await socket.stop();
      await proxies.stop();
      await host.removeFile(PID_PATH);
      log('stopped; kernel state left as it is (kill switch armed)');
      resolveDone();
    },
  };
}
