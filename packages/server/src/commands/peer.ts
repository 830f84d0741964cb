// egress-server peer add|remove|list: enroll another client (next free address, bundle written here), or remove one.
import { SafeName, ValidationError, WgKey, generateKeyPair, parseWith, renderPeerWgQuick, type Output } from '@egress/core';
import { checkOutputPath, writeOutputFile } from '@egress/core/fs/user-file';
import { defaultBundlePath } from '../bundle.js';
import { checkOut, pendingPath, readPendingKey, writeOutBundle, writePendingKey } from '../bundle-out.js';
import type { CliOptions } from '../cli/parse-cli.js';
import { allocatePeer, requirePeer } from '../plan/server-config.js';
import { parseWgDump } from '../remote/facts.js';
import { converge, requireState, withVps } from '../server-ops.js';
import type { SessionOpener } from '../session.js';

export interface PeerReport {
  host: string;
  action: 'add' | 'remove' | 'list';
  changed: number;
  peers: Array<{ name: string; publicKey: string; address4: string; address6?: string; forwards: number; latestHandshake?: number }>;
  bundle: string | null;
  roundTrips: number;
}

/** Runs `peer add|remove|list`. */
export async function peerCommand(action: 'add' | 'remove' | 'list', targetText: string, nameArg: string | undefined, options: CliOptions, output: Output, open: SessionOpener): Promise<PeerReport> {
  const name = action === 'list' ? undefined : parseWith(SafeName, nameArg ?? '', 'NAME');
  const publicKey = options.publicKey !== undefined ? parseWith(WgKey, options.publicKey, '--public-key') : undefined;
  if (publicKey && action !== 'add') throw new ValidationError('--public-key: only `peer add` takes a public key');
  if ((options.wgQuick !== undefined || options.qr) && action !== 'add') throw new ValidationError('--wg-quick/--qr: only `peer add` writes a wg-quick config');
  if ((options.wgQuick !== undefined || options.qr) && publicKey) {
    throw new ValidationError('--wg-quick/--qr: a wg-quick config holds the private key, but with --public-key the client keeps its own; drop one of them', [{ path: '--public-key', message: 'with --wg-quick' }]);
  }
  const out = action === 'add' ? (options.out ?? defaultBundlePath(name!)) : '';
  const force = !!options.force;
  // --out (and --wg-quick) are checked before the VPS is touched: never a device, directory, symlink or someone else's file.
  if (action === 'add') await checkOut(out, name!, force);
  if (options.wgQuick !== undefined) await checkOutputPath(options.wgQuick, { field: '--wg-quick', force });
  return withVps(targetText, options, output, open, async ({ host, facts }) => {
    const config = requireState(facts, host.name);
    let next = config;
    let bundle: string | null = null;
    let changed = 0;
    if (action === 'add') {
      const pending = publicKey ? undefined : await readPendingKey(out, name!);
      const half = config.peers.find((p) => p.name === name);
      if (half && (half.publicKey === pending?.publicKey || (publicKey && half.publicKey === publicKey))) {
        // An earlier `peer add` was interrupted after the VPS learned the peer: finish it with the kept key.
        await writeOutBundle(out, config, half, pending?.privateKey, force);
        output.result(`finished an interrupted peer add: peer ${half.name} exists; bundle ${out}${pending ? ` (with the key kept in ${pendingPath(out)}, mode 0600)` : ''}`);
        bundle = out;
      } else {
        const keys = publicKey ? { publicKey, privateKey: undefined } : (pending ?? generateKeyPair());
        const peer = allocatePeer(config, name!, keys.publicKey);
        next = { ...config, peers: [...config.peers, peer] };
        // Before the VPS learns the peer: killed after this, a re-run finds the key here and finishes the bundle.
        if (keys.privateKey && !pending) await writePendingKey(out, { kind: 'egress-pending-key', name: peer.name, publicKey: keys.publicKey, privateKey: keys.privateKey });
        output.step(`Adding peer ${peer.name} (${[peer.address4, peer.address6].filter(Boolean).join(', ')})`);
        changed = (await converge(host, facts, next, config, output)).changed;
        bundle = out;
        await writeOutBundle(out, next, peer, keys.privateKey, force);
        const lines = [`added peer ${peer.name}; bundle ${bundle}${keys.privateKey ? ' (mode 0600, holds its private key)' : ' (no private key: the client keeps its own)'}`];
        if (keys.privateKey && (options.wgQuick !== undefined || options.qr)) {
          const text = renderPeerWgQuick(next, peer, keys.privateKey);
          if (options.wgQuick !== undefined) {
            await writeOutputFile(options.wgQuick, text, 0o600, { field: '--wg-quick', force });
            lines.push(`wg-quick config ${options.wgQuick} (mode 0600, holds its private key): wg-quick up, or import it in any WireGuard app`);
          }
          if (options.qr) {
            const { toString } = await import('qrcode');
            lines.push(`scan this with the WireGuard app (it holds ${peer.name}'s private key: show it to no one else):`, await toString(text, { type: 'terminal', small: true, errorCorrectionLevel: 'L' }));
          }
        }
        output.result(lines.join('\n'));
      }
    } else if (action === 'remove') {
      const peer = requirePeer(config, name!);
      next = { ...config, peers: config.peers.filter((p) => p.name !== peer.name), forwards: config.forwards.filter((f) => f.peer !== peer.name) };
      output.step(`Removing peer ${peer.name} and its ${config.forwards.length - next.forwards.length} forward(s)`);
      changed = (await converge(host, facts, next, config, output)).changed;
      output.result(`removed peer ${peer.name}; ${peer.address4} is free again`);
    }
    const live = new Map(parseWgDump(facts.wgDump).peers.map((p) => [p.publicKey, p]));
    const peers = next.peers.map((p) => ({
      name: p.name,
      publicKey: p.publicKey,
      address4: p.address4,
      ...(p.address6 ? { address6: p.address6 } : {}),
      forwards: next.forwards.filter((f) => f.peer === p.name).length,
      ...(live.get(p.publicKey) ? { latestHandshake: live.get(p.publicKey)!.latestHandshake } : {}),
    }));
    if (action === 'list') {
      output.result(peers.length ? peers.map((p) => `${p.name.padEnd(16)} ${[p.address4, p.address6].filter(Boolean).join(', ').padEnd(32)} ${p.forwards} forward(s)  ${p.publicKey}`).join('\n') : 'no peers');
    }
    return { host: host.name, action, changed, peers, bundle, roundTrips: host.roundTrips ?? 0 };
  }, action === 'list' ? 'engine' : 'peer-change');
}
