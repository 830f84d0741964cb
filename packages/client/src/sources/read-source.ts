// Reads the file given to `enroll` and tells an egress bundle (JSON) from a wg-quick config by content, not by name.
import { basename, resolve } from 'node:path';
import { NotFoundError } from '@egress/core/errors';
import type { Host } from '@egress/core/host/host';
import { LocalHost } from '@egress/core/host/local-host';
import { BUNDLE_MAX_BYTES, readUserFile } from '@egress/core/fs/user-file';
import { looksLikeWgQuick } from '@egress/core/model/wg-quick';

export interface SourceFile {
  kind: 'bundle' | 'wg-quick';
  path: string;
  text: string;
}

/** Reads `path` (never modified) and says which source reads it. */
export async function readSourceFile(host: Host, path: string): Promise<SourceFile> {
  const abs = resolve(path);
  // On this machine: only a regular file, with a size limit (a FIFO never hangs, a device is never read).
  const text = host instanceof LocalHost ? await readUserFile(abs, { field: 'bundle', maxBytes: BUNDLE_MAX_BYTES }) : await host.readFile(abs);
  if (text === undefined) throw new NotFoundError(`bundle: no such file '${path}'`, { hint: 'egress-server provision (or peer add) writes the bundle; a wg-quick file (wg0.conf) from any WireGuard server works too' });
  return { kind: looksLikeWgQuick(text) ? 'wg-quick' : 'bundle', path: abs, text };
}

/** The file's name for messages ("wg0.conf"). */
export function displayName(path: string): string {
  return basename(path);
}
