// Reads `wg show IFACE dump` into handshake and transfer figures, and waits for a first handshake.
import type { Host } from '@egress/core/host/host';

export interface WgPeerStatus {
  publicKey: string;
  endpoint?: string;
  /** Unix seconds of the latest handshake; 0 when none yet. */
  latestHandshake: number;
  rxBytes: number;
  txBytes: number;
}

/** Parses the peer lines of `wg show IFACE dump` (the first line is the interface itself). */
export function parseWgPeers(dump: string): WgPeerStatus[] {
  return dump
    .split('\n')
    .slice(1)
    .filter((l) => l.trim())
    .map((l) => {
      const f = l.split('\t');
      return {
        publicKey: f[0]!,
        ...(f[2] && f[2] !== '(none)' ? { endpoint: f[2] } : {}),
        latestHandshake: Number(f[4] ?? 0) || 0,
        rxBytes: Number(f[5] ?? 0) || 0,
        txBytes: Number(f[6] ?? 0) || 0,
      };
    });
}

/** The peers of a WireGuard interface, or undefined when it does not exist. */
export async function wgPeers(host: Host, iface: string): Promise<WgPeerStatus[] | undefined> {
  const r = await host.run(['wg', 'show', iface, 'dump']);
  if (r.exitCode !== 0) return undefined;
  return parseWgPeers(r.stdout);
}

/** Polls until the peer has a handshake or `timeoutMs` passes; returns whether it did. */
export async function waitForHandshake(host: Host, iface: string, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const peers = await wgPeers(host, iface);
    if (peers?.some((p) => p.latestHandshake > 0)) return true;
    if (Date.now() >= end) return false;
    await new Promise((r) => setTimeout(r, 250));
  }
}
