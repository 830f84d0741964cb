// Remembers which directories enroll created (/etc/egress, its public/, /etc/wireguard) so the last uninstall
// removes exactly those and /etc ends as it was before enroll.
import type { Host } from '@egress/core/host/host';
import { CLIENT_PATHS, EGRESS_DIR } from '@egress/core/render/client-paths';

/** The record of directories egress-client created (0600; not part of the engine's desired state). */
export const CREATED_DIRS_PATH = `${EGRESS_DIR}/client-created-dirs.json`;

/** Directories enroll may create, parents first. */
export const MANAGED_DIRS = [EGRESS_DIR, CLIENT_PATHS.publicDir, '/etc/wireguard'] as const;

/** The managed directories that do not exist yet (call before the first write). */
export async function missingDirs(host: Host): Promise<string[]> {
  const out: string[] = [];
  for (const d of MANAGED_DIRS) if ((await host.run(['test', '-d', d])).exitCode !== 0) out.push(d);
  return out;
}

/** Adds `dirs` to the record (keeps what an earlier enroll recorded). */
export async function recordCreatedDirs(host: Host, dirs: string[]): Promise<void> {
  const known = await readCreatedDirs(host);
  const all = [...new Set([...known, ...dirs])];
  if (all.length === known.length) return;
  await host.writeFile(CREATED_DIRS_PATH, `${JSON.stringify({ version: 1, created: all }, null, 2)}\n`, { mode: 0o600 });
}

/** The recorded directories (empty when none). */
export async function readCreatedDirs(host: Host): Promise<string[]> {
  const text = await host.readFile(CREATED_DIRS_PATH);
  if (!text) return [];
  try {
    const data = JSON.parse(text) as { created?: unknown };
    return Array.isArray(data.created) ? data.created.filter((d): d is string => (MANAGED_DIRS as readonly string[]).includes(d as string)) : [];
  } catch {
    return [];
  }
}

/**
 * Removes the recorded directories that are empty (deepest first; others are left alone) and the record — the
 * record goes last (just before its own directory), so a run killed half-way leaves it for the next run to finish.
 */
export async function removeCreatedDirs(host: Host): Promise<void> {
  const dirs = [...(await readCreatedDirs(host))].sort((a, b) => b.length - a.length);
  const rmdir = async (d: string): Promise<void> => {
    if ((await host.run(['test', '-d', d])).exitCode !== 0) return;
    await host.run(['rmdir', '--ignore-fail-on-non-empty', '--', d], { change: true });
  };
  // The record goes after the directories it lists (only its own directory after it), so an uninstall killed
  // half-way still knows what to remove next time.
  for (const d of dirs.filter((x) => x !== EGRESS_DIR)) await rmdir(d);
  await host.removeFile(CREATED_DIRS_PATH);
  if (dirs.includes(EGRESS_DIR)) await rmdir(EGRESS_DIR);
}
