// Health of each egress (healthy / degraded / down, with the reason and since when), kept in /run/egress/health.json.
import { z } from 'zod';
import type { Host } from '@egress/core/host/host';
import type { Egress } from '@egress/core/model/client';
import { wgPeers } from '../wg-show.js';

export const RUN_DIR = '/run/egress';
export const HEALTH_PATH = `${RUN_DIR}/health.json`;
export const PID_PATH = `${RUN_DIR}/daemon.pid`;
/** A handshake older than this is stale (WireGuard re-handshakes every 2 min while traffic flows). */
export const STALE_HANDSHAKE_S = 180;

export const HealthLevel = z.enum(['healthy', 'degraded', 'down']);
export const EgressHealth = z.object({ name: z.string(), health: HealthLevel, reason: z.string(), since: z.string(), handshakeAgeS: z.number().optional() }).strict();
export type EgressHealth = z.infer<typeof EgressHealth>;
export const HealthFile = z.object({ pid: z.number().int(), updated: z.string(), egresses: z.array(EgressHealth), error: z.string().optional() }).strict();
export type HealthFile = z.infer<typeof HealthFile>;

/** What one egress looks like right now (no `since`: the daemon keeps that across checks). */
export async function checkEgress(host: Host, e: Egress, nowS: number): Promise<Omit<EgressHealth, 'since'>> {
  if (e.kind === 'interface') {
    // `ip` (not /sys, which may belong to another network namespace) says whether the link is administratively up.
    const r = await host.run(['ip', '-o', 'link', 'show', 'dev', e.interface]);
    if (r.exitCode !== 0) return { name: e.name, health: 'down', reason: `interface ${e.interface} is missing` };
    const flags = /<([^>]*)>/.exec(r.stdout)?.[1]?.split(',') ?? [];
    if (!flags.includes('UP') || !flags.includes('LOWER_UP')) return { name: e.name, health: 'down', reason: `interface ${e.interface} is down` };
    return { name: e.name, health: 'healthy', reason: `leaving by ${e.interface}` };
  }
  const peers = await wgPeers(host, e.interface);
  if (!peers) return { name: e.name, health: 'down', reason: `tunnel ${e.interface} is missing (kill switch armed)` };
  const hs = peers[0]?.latestHandshake ?? 0;
  if (hs === 0) return { name: e.name, health: 'degraded', reason: 'no handshake yet' };
  const age = Math.max(0, nowS - hs);
  if (age > STALE_HANDSHAKE_S) return { name: e.name, health: 'degraded', reason: `handshake stale (${age} s old)`, handshakeAgeS: age };
  return { name: e.name, health: 'healthy', reason: `handshake ${age} s ago`, handshakeAgeS: age };
}

/** Keeps `since` of an egress whose level and reason kind did not change. */
export function withSince(prev: EgressHealth | undefined, now: Omit<EgressHealth, 'since'>, at: string): EgressHealth {
  const same = prev && prev.health === now.health;
  return { ...now, since: same ? prev.since : at };
}

/** Reads the health file the daemon writes, or undefined when there is none (or it cannot be parsed). */
export async function readHealth(host: Host): Promise<HealthFile | undefined> {
  const text = await host.readFile(HEALTH_PATH);
  if (text === undefined) return undefined;
  try {
    return HealthFile.parse(JSON.parse(text));
  } catch {
    return undefined;
  }
}

/** The pid of a running supervisor (pid file + the process exists and is an egress-client daemon), or undefined. */
export async function runningDaemon(host: Host): Promise<number | undefined> {
  const text = await host.readFile(PID_PATH);
  const pid = Number(text?.trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  const cmdline = await host.readFile(`/proc/${pid}/cmdline`);
  if (cmdline === undefined || !cmdline.split('\0').includes('daemon')) return undefined;
  return pid;
}
