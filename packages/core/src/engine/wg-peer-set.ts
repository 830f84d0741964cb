// Peers added or removed between two wg-quick configs as `wg set` commands: one peer changes, the rest keep flowing.
import type { Action } from './step.js';

/** One [Peer] of a config, as `wg set IF peer KEY …` takes it. */
export interface WgPeerSettings {
  publicKey: string;
  allowedIps: string[];
  endpoint?: string;
  persistentKeepalive?: string;
  presharedKey?: string;
}

/** The [Interface] section (normalized) and the peers of a config; undefined when a peer holds a key `wg set` is not given here. */
export function splitWgConfig(text: string): { iface: string; peers: WgPeerSettings[] } | undefined {
  const iface: string[] = [];
  const peers: WgPeerSettings[] = [];
  let peer: WgPeerSettings | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    if (/^\[peer\]$/i.test(line)) {
      peer = { publicKey: '', allowedIps: [] };
      peers.push(peer);
      continue;
    }
    if (!peer) {
      iface.push(line.replace(/\s*=\s*/, ' = '));
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0) return undefined;
    const key = line.slice(0, eq).trim().toLowerCase();
    const value = line.slice(eq + 1).trim();
    if (key === 'publickey') peer.publicKey = value;
    else if (key === 'allowedips') peer.allowedIps.push(...value.split(',').map((v) => v.trim()).filter(Boolean));
    else if (key === 'endpoint') peer.endpoint = value;
    else if (key === 'persistentkeepalive') peer.persistentKeepalive = value;
    else if (key === 'presharedkey') peer.presharedKey = value;
    else return undefined;
  }
  if (peers.some((p) => !p.publicKey) || new Set(peers.map((p) => p.publicKey)).size !== peers.length) return undefined;
  return { iface: iface.join('\n'), peers };
}

/** Same settings (allowed IPs in any order); field by field, as it runs once per kept peer of a 1,000-peer config. */
function samePeer(a: WgPeerSettings, b: WgPeerSettings): boolean {
  if (a.publicKey !== b.publicKey || a.endpoint !== b.endpoint || a.persistentKeepalive !== b.persistentKeepalive || a.presharedKey !== b.presharedKey) return false;
  if (a.allowedIps.length !== b.allowedIps.length) return false;
  if (a.allowedIps.length === 1) return a.allowedIps[0] === b.allowedIps[0];
  const x = [...a.allowedIps].sort();
  const y = [...b.allowedIps].sort();
  return x.every((v, i) => v === y[i]);
}

/** `wg set IF peer KEY …` adding a peer with its settings (a preshared key goes on stdin, never on argv). */
export function wgAddPeer(iface: string, p: WgPeerSettings): Action {
  const argv = ['wg', 'set', iface, 'peer', p.publicKey, 'allowed-ips', p.allowedIps.join(',')];
  if (p.endpoint) argv.push('endpoint', p.endpoint);
  if (p.persistentKeepalive) argv.push('persistent-keepalive', p.persistentKeepalive);
  if (p.presharedKey) return { kind: 'run', argv: [...argv, 'preshared-key', '/dev/stdin'], stdin: `${p.presharedKey}\n`, secret: true };
  return { kind: 'run', argv };
}

/** `wg set IF peer KEY remove`. */
export function wgRemovePeer(iface: string, publicKey: string): Action {
  return { kind: 'run', argv: ['wg', 'set', iface, 'peer', publicKey, 'remove'] };
}

/** At most this many peers change by `wg set` (one command each); more go through the whole-config sync. */
export const MAX_PEER_SETS = 16;

export interface PeerSetChange {
  added: WgPeerSettings[];
  removed: WgPeerSettings[];
  /** Removals first (an address a new peer takes over is free), then additions. */
  do: Action[];
  /** The inverse: the added peers removed, the removed ones added back. */
  undo: Action[];
}

/**
 * The `wg set` commands taking a link that runs `oldText` (its live peers `livePeers`) to `newText`, when the only
 * difference is whole peers added or removed; undefined when anything else differs (then the caller syncs the whole
 * config): the [Interface] section, a kept peer's settings, keys `wg set` is not given, live peers that drifted,
 * one allowed prefix given to two peers (the kernel moves it to the last one: not a one-peer change), or more than
 * MAX_PEER_SETS peers changing.
 */
export function peerSetChange(iface: string, oldText: string, newText: string, livePeers: readonly string[]): PeerSetChange | undefined {
  const before = splitWgConfig(oldText);
  const after = splitWgConfig(newText);
  if (!before || !after || before.iface !== after.iface) return undefined;
  const live = new Set(livePeers);
  if (live.size !== before.peers.length || before.peers.some((p) => !live.has(p.publicKey))) return undefined;
  const old = new Map(before.peers.map((p) => [p.publicKey, p]));
  const now = new Map(after.peers.map((p) => [p.publicKey, p]));
  for (const [key, p] of now) if (old.has(key) && !samePeer(old.get(key)!, p)) return undefined;
  const added = after.peers.filter((p) => !old.has(p.publicKey));
  const removed = before.peers.filter((p) => !now.has(p.publicKey));
  // A bulk change (a provision re-run converging hundreds of peers) is one syncconf, not a `wg` process per peer.
  if (!added.length && !removed.length) return undefined;
  if (added.length + removed.length > MAX_PEER_SETS) return undefined;
  // A prefix held by two peers belongs to the last one set: that would change a kept peer too, so syncconf decides.
  const held = after.peers.flatMap((p) => p.allowedIps.map((a) => a.toLowerCase()));
  if (new Set(held).size !== held.length) return undefined;
  return {
    added,
    removed,
    do: [...removed.map((p) => wgRemovePeer(iface, p.publicKey)), ...added.map((p) => wgAddPeer(iface, p))],
    undo: [...added.map((p) => wgRemovePeer(iface, p.publicKey)), ...removed.map((p) => wgAddPeer(iface, p))],
  };
}
