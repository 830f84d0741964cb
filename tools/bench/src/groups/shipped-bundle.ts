// The shipped form of egress-server: the single ESM file tools/package/build-deb.mjs bundles with esbuild and the .deb
// installs as /usr/bin/egress-server. Built here with the same options (tools/package/bundle-options.mjs), so the
// peers bench times what users run next to the repository's dist tree.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hostPath } from '@egress/lab';

/** Where the bench puts the bundle (under the bench's dist/, which lab hosts see through the repository mount). */
export const SHIPPED_SERVER_PATH = fileURLToPath(new URL('../shipped/egress-server.js', import.meta.url));
const ENTRY = fileURLToPath(new URL('../../../../packages/server/dist/bin.js', import.meta.url));
const OPTIONS_MODULE = new URL('../../../package/bundle-options.mjs', import.meta.url).href;

/** Bundles packages/server/dist/bin.js as build-deb.mjs does; returns the argv that runs it inside a lab host. */
export async function buildShippedServer(): Promise<string[]> {
  const { bundleProgram } = (await import(OPTIONS_MODULE)) as { bundleProgram: (entry: string, out: string) => Promise<void> };
  mkdirSync(dirname(SHIPPED_SERVER_PATH), { recursive: true });
  await bundleProgram(ENTRY, SHIPPED_SERVER_PATH);
  return [process.execPath, hostPath(SHIPPED_SERVER_PATH)];
}
