// What status and doctor say about the supervisor: is it running, and each egress's health as it last wrote it.
import type { Host } from '@egress/core/host/host';
import { HEALTH_PATH, PID_PATH, readHealth, runningDaemon, type EgressHealth } from './health.js';

export interface SupervisorView {
  running: boolean;
  pid?: number;
  /** Health per egress name, from the supervisor's health file (only while it runs). */
  health: Record<string, Omit<EgressHealth, 'name'>>;
  /** Why the supervisor refuses to act (an invalid state file), when it does. */
  error?: string;
}

/** Reads the pid file (checked alive) and the health file. */
export async function readSupervisor(host: Host): Promise<SupervisorView> {
  const pid = await runningDaemon(host);
  if (pid === undefined) return { running: false, health: {} };
  const h = await readHealth(host);
  const health: SupervisorView['health'] = {};
  for (const e of h?.egresses ?? []) {
    const { name, ...rest } = e;
    health[name] = rest;
  }
  return { running: true, pid, health, ...(h?.error ? { error: h.error } : {}) };
}

/** The status line of one egress: `health degraded since …: reason`, or that no supervisor watches it. */
export function formatHealth(view: SupervisorView, name: string): string {
  if (!view.running) return '  health unknown: no supervisor runs (egress-client daemon)';
  const h = view.health[name];
  if (!h) return `  health unknown: supervisor ${view.pid} has not checked it yet${view.error ? ` (${view.error})` : ''}`;
  return `  health ${h.health} since ${h.since}: ${h.reason}`;
}

/** Doctor's supervisor check. */
export function supervisorCheck(view: SupervisorView): { name: string; ok: boolean; detail: string; fix?: string } {
  if (!view.running) {
    return { name: 'supervisor', ok: false, detail: `no egress-client daemon is running (${PID_PATH} missing or its process gone): drift is not repaired`, fix: 'systemctl start egress-client (or run egress-client daemon)' };
  }
  if (view.error) return { name: 'supervisor', ok: false, detail: `daemon ${view.pid} refuses the state file: ${view.error}`, fix: 'fix /etc/egress/client.json' };
  return { name: 'supervisor', ok: true, detail: `daemon ${view.pid} is running (health in ${HEALTH_PATH})` };
}
