// The enrollment bundle provision and `peer add` write locally (0600): endpoint, keys, addresses, MTU, DNS, forwards.
import { chmod, open, readFile, rename } from 'node:fs/promises';
import { dirname, join, basename } from 'node:path';
import { Bundle, joinHostPort, parseJsonWith, type Peer, type ServerConfig } from '@egress/core';

/** Default bundle path for a peer: ./egress-<name>.bundle.json. */
export function defaultBundlePath(name: string): string {
  return `./egress-${name}.bundle.json`;
}

/** Builds the bundle of one peer; `privateKey` only when the key was made here. */
export function makeBundle(config: ServerConfig, peer: Peer, privateKey?: string): Bundle {
  return {
    version: 1,
    kind: 'egress-bundle',
    name: peer.name,
    server: {
      endpoint: joinHostPort(config.endpointHost, config.listenPort),
      publicKey: config.publicKey,
      ...(config.publicAddress4 ? { publicAddress4: config.publicAddress4 } : {}),
      ...(config.publicAddress6 ? { publicAddress6: config.publicAddress6 } : {}),
      address4: config.address4,
      ...(config.address6 ? { address6: config.address6 } : {}),
    },
    client: {
      address4: peer.address4,
      ...(peer.address6 ? { address6: peer.address6 } : {}),
      publicKey: peer.publicKey,
      ...(privateKey ? { privateKey } : {}),
    },
    tunnel: { subnet4: config.subnet4, ...(config.subnet6 ? { subnet6: config.subnet6 } : {}), mtu: config.mtu, persistentKeepalive: 25 },
    dns: config.dns,
    forwards: config.forwards.filter((f) => f.peer === peer.name),
  };
}

/** Reads an existing bundle; undefined when the file does not exist. */
export async function readBundle(path: string): Promise<Bundle | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return parseJsonWith(Bundle, text, path);
}

/** Writes a bundle atomically with mode 0600 (also when the file existed with another mode). */
export async function writeBundle(path: string, bundle: Bundle): Promise<void> {
  await writePrivateFile(path, `${JSON.stringify(bundle, null, 2)}\n`);
}

/** Writes `text` to `path` atomically with mode 0600 (a bundle, a wg-quick config: both hold a private key). */
export async function writePrivateFile(path: string, text: string): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const handle = await open(tmp, 'w', 0o600);
  try {
    await handle.chmod(0o600);
    await handle.writeFile(text, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, path);
  await chmod(path, 0o600);
}
