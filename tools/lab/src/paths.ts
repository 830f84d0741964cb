// Where the lab keeps its files and finds its assets and the CLIs it runs inside hosts.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** tools/lab (the package root, whether running from src or dist). */
export const LAB_PACKAGE_DIR = resolve(here, '..');

/** The monorepo root. */
export const REPO_DIR = resolve(LAB_PACKAGE_DIR, '../..');

/**
 * Where every host sees the repository (a bind mount): the clone may live where hosts cannot reach it as is — under
 * /tmp or /home (private tmpfs in hosts) or /root (0700, closed to appuser).
 */
export const HOST_REPO_DIR = '/usr/local/lib/egress-lab/repo';

/** The path inside a lab host of a file of the repository (other paths are returned unchanged). */
export function hostPath(path: string): string {
  return path === REPO_DIR || path.startsWith(`${REPO_DIR}/`) ? `${HOST_REPO_DIR}${path.slice(REPO_DIR.length)}` : path;
}

/** Absolute path of a script in tools/lab/assets. */
export function assetPath(name: string): string {
  return resolve(LAB_PACKAGE_DIR, 'assets', name);
}

/** Parent of every lab's state dir (removed when the last lab goes). */
export const LABS_ROOT = '/run/egress-lab';

/** State dir of one lab: state.json, keys, logs, and the (empty outside the host) mount points of its hosts. */
export function labDir(name: string): string {
  return `${LABS_ROOT}/${name}`;
}

/** Where every host has its own copy of the probe (0644 in a 0755 dir), so any user can run it wherever the repo lives. */
export const HOST_PROBE_PATH = '/usr/local/lib/egress-lab/probe.mjs';
