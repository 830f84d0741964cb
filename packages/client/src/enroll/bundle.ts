// Loads and checks an enrollment bundle: present, JSON, schema version 1, and a private key that matches its public key.
import { resolve } from 'node:path';
import { NotFoundError, ValidationError } from '@egress/core/errors';
import type { Host } from '@egress/core/host/host';
import { LocalHost } from '@egress/core/host/local-host';
import { BUNDLE_MAX_BYTES, readUserFile } from '@egress/core/fs/user-file';
import { keysMatch } from '@egress/core/keys';
import { Bundle } from '@egress/core/model/bundle';
import { parseJsonWith } from '@egress/core/model/parse';
import { clientKeyPath } from '@egress/core/render/client-paths';

/** A checked bundle and the private key the client will use (from the bundle or an existing key file). */
export interface LoadedBundle {
  path: string;
  /** The egress name: `--name`, else the bundle's peer name. */
  name: string;
  bundle: Bundle;
  privateKey: string;
}

/** Reads the bundle at `path` and refuses it when it is missing, malformed, of another version or tampered with. */
export async function loadBundle(host: Host, path: string, nameOverride?: string): Promise<LoadedBundle> {
  const abs = resolve(path);
  // On this machine: regular files only (no FIFO, device or directory), at most 64 KiB, through the one shared reader.
  const text = host instanceof LocalHost ? await readUserFile(abs, { field: 'bundle', maxBytes: BUNDLE_MAX_BYTES }) : await host.readFile(abs);
  if (text === undefined) throw new NotFoundError(`bundle: no such file '${path}'`, { hint: 'egress-server provision (or peer add) writes the bundle; copy it to this machine' });
  const bundle = parseJsonWith(Bundle, text, 'bundle');
  const egressName = nameOverride ?? bundle.name;
  let privateKey = bundle.client.privateKey;
  if (privateKey === undefined) {
    const existing = (await host.readFile(clientKeyPath(egressName)))?.trim();
    if (!existing) {
      throw new ValidationError(`bundle.client.privateKey: the bundle has no private key and ${clientKeyPath(egressName)} does not exist`, [{ path: 'bundle.client.privateKey', message: 'missing' }], {
        hint: `put the private key whose public key is ${bundle.client.publicKey} in ${clientKeyPath(egressName)} (mode 0600)`,
      });
    }
    privateKey = existing;
  }
  if (!keysMatch(privateKey, bundle.client.publicKey)) {
    throw new ValidationError(
      `bundle.client.privateKey: does not belong to bundle.client.publicKey ${bundle.client.publicKey} (the bundle was altered or mixed up with another one)`,
      [{ path: 'bundle.client.privateKey', message: 'key pair mismatch' }],
      { hint: 'ask for a fresh bundle: egress-server peers add NAME' },
    );
  }
  return { path: abs, name: egressName, bundle, privateKey };
}
