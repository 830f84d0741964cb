// Which egresses were taken down by `egress-client down`: the supervisor keeps them down (it holds every other egress
// up). Markers live on tmpfs (/run), so a reboot brings every egress up again, as the boot unit always did.
import type { Host } from '@egress/core/host/host';

/** One empty file per egress taken down by hand. */
export const DOWN_DIR = '/run/egress/down';

/** Records that `name` was taken down by hand. */
export async function markDown(host: Host, name: string): Promise<void> {
  await host.run(['mkdir', '-p', DOWN_DIR], { check: true });
  await host.writeFile(`${DOWN_DIR}/${name}`, 'down\n', { mode: 0o644 });
}

/** Forgets that `name` was taken down (up, uninstall). */
export async function clearDown(host: Host, name: string): Promise<void> {
  if ((await host.readFile(`${DOWN_DIR}/${name}`)) === undefined) return;
  await host.removeFile(`${DOWN_DIR}/${name}`);
  // Runtime directories of egress's own: gone again when nothing is left in them.
  for (const d of [DOWN_DIR, '/run/egress']) await host.run(['rmdir', '--ignore-fail-on-non-empty', '--', d]);
}

/** The names among `names` that were taken down by hand. */
export async function markedDown(host: Host, names: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const n of names) if ((await host.readFile(`${DOWN_DIR}/${n}`)) !== undefined) out.push(n);
  return out;
}
