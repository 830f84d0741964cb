// Where provision and `peer add` put a client's bundle: the --out path checked before the VPS is touched, a
// pending key file (0600) written before the VPS learns the peer, so an interrupted run never loses the key.
import { rm } from 'node:fs/promises';
import { z } from 'zod';
import { BUNDLE_MAX_BYTES, Bundle, WgKey, keysMatch, parseJsonWith, readUserFile, checkOutputPath, writeOutputFile, ValidationError, type Peer, type ServerConfig } from '@egress/core';
import { makeBundle } from './bundle.js';

/** The key a run made for a new peer, kept next to --out until the bundle is written. */
export const PendingKey = z.object({ kind: z.literal('egress-pending-key'), name: z.string(), publicKey: WgKey, privateKey: WgKey }).strict();
export type PendingKey = z.infer<typeof PendingKey>;

/** The pending-key file of an --out path. */
export function pendingPath(out: string): string {
  return `${out}.pending`;
}

/** Reads an existing bundle at --out (regular files only); undefined when nothing is there. */
export async function readOutBundle(out: string): Promise<Bundle | undefined> {
  const text = await readUserFile(out, { field: '--out', maxBytes: BUNDLE_MAX_BYTES });
  return text === undefined ? undefined : parseJsonWith(Bundle, text, out);
}

/**
 * Refuses an --out path that cannot take the bundle, before anything changes on the VPS: devices, directories,
 * symlinks, FIFOs; an existing file unless it is this peer's own earlier bundle (provision re-runs update it)
 * or --force is given (a regular file the caller owns).
 */
export async function checkOut(out: string, name: string, force: boolean): Promise<void> {
  const ownBundle = await readOutBundle(out).then(
    (b) => b?.name === name,
    () => false,
  );
  await checkOutputPath(out, { field: '--out', force: force || ownBundle });
  const pending = pendingPath(out);
  await checkOutputPath(pending, { field: '--out', force: true });
}

/** The pending key of `name` left by an earlier, interrupted run; undefined when there is none. */
export async function readPendingKey(out: string, name: string): Promise<PendingKey | undefined> {
  const text = await readUserFile(pendingPath(out), { field: '--out (pending key)' });
  if (text === undefined) return undefined;
  const key = parseJsonWith(PendingKey, text, pendingPath(out));
  if (key.name !== name) throw new ValidationError(`${pendingPath(out)}: holds the pending key of peer '${key.name}', not '${name}'; move it away or use another --out`);
  if (!keysMatch(key.privateKey, key.publicKey)) throw new ValidationError(`${pendingPath(out)}: its private key does not belong to its public key`);
  return key;
}

/** Writes the pending key (0600) before the VPS is changed. */
export async function writePendingKey(out: string, key: PendingKey): Promise<void> {
  await writeOutputFile(pendingPath(out), `${JSON.stringify(key, null, 2)}\n`, 0o600, { field: '--out (pending key)', force: true });
}

/** Writes the bundle of `peer` to --out (0600, never onto a device, directory or symlink), then drops the pending key. */
export async function writeOutBundle(out: string, config: ServerConfig, peer: Peer, privateKey: string | undefined, force: boolean): Promise<void> {
  const old = await readOutBundle(out).catch(() => undefined);
  await writeOutputFile(out, `${JSON.stringify(makeBundle(config, peer, privateKey), null, 2)}\n`, 0o600, { field: '--out', force: force || old?.name === peer.name });
  await rm(pendingPath(out), { force: true });
}

/** Drops a pending key once the bundle at --out carries it. */
export async function dropPendingKey(out: string): Promise<void> {
  await rm(pendingPath(out), { force: true });
}
