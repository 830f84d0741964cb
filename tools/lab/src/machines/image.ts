// Debian root filesystems for the machines lab: built once with debootstrap from the Debian archive and cached
// outside the repository; every booted machine gets its own overlay on top, so each boot starts from the same image.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../run.js';

export type MachineSuite = 'bookworm' | 'trixie';

/** Debian release number of each suite (for messages and test names). */
export const SUITE_RELEASE: Record<MachineSuite, number> = { bookworm: 12, trixie: 13 };

/** Where built images are kept (override with EGRESS_MACHINES_CACHE). */
export function machinesCacheDir(): string {
  return process.env.EGRESS_MACHINES_CACHE ?? '/var/cache/egress-machines';
}

/** The archive debootstrap reads (the apt sources of these machines point at it). */
export const DEBIAN_MIRROR = 'http://deb.debian.org/debian';

/**
 * What every image carries: systemd as PID 1, sshd (provision logs in as root by key), the tools egress's .deb
 * depends on and recommends (so `apt install ./egress.deb` needs no network: acl is recommended for the supervisor
 * socket's ACL), and netbase (/etc/protocols). No Node.js.
 */
export function imagePackages(_suite: MachineSuite): string[] {
  return [
    'systemd', 'systemd-sysv', 'dbus', 'netbase', 'openssh-server', 'iproute2', 'nftables',
    'wireguard-tools', 'wireguard-go', 'procps', 'ca-certificates', 'acl',
  ];
}

/** Bumped when the way an image is configured after debootstrap changes (part of the cache key). */
const CONFIGURE_VERSION = 1;

/** The cache key of a suite's image: suite, packages and configuration step. */
export function imageKey(suite: MachineSuite): string {
  const h = createHash('sha256').update(JSON.stringify({ suite, pkgs: imagePackages(suite), v: CONFIGURE_VERSION })).digest('hex');
  return `${suite}-${h.slice(0, 12)}`;
}

export interface MachineImage {
  suite: MachineSuite;
  /** The read-only lower directory of every machine's overlay. */
  dir: string;
  /** Set when this call built the image: how long it took and its size. */
  built?: { seconds: number; bytes: number };
  bytes: number;
}

async function must(argv: string[], what: string, timeoutMs = 900_000): Promise<string> {
  const r = await run(argv, { timeoutMs });
  if (r.exitCode !== 0) throw new Error(`machines: ${what} failed (exit ${r.exitCode}): ${argv.join(' ')}\n${r.stderr.slice(-3000)}${r.stdout.slice(-2000)}`);
  return r.stdout;
}

async function duBytes(dir: string): Promise<number> {
  const out = await must(['du', '-sb', dir], 'du');
  return Number(out.split(/\s/)[0]);
}

/** Configures a fresh debootstrap tree as a machine image (no per-machine identity: that is added per boot). */
function configureTree(root: string, suite: MachineSuite): void {
  // Per-machine identity comes with each boot: an empty machine-id, no host keys, no hostname.
  writeFileSync(join(root, 'etc/machine-id'), '');
  rmSync(join(root, 'var/lib/dbus/machine-id'), { force: true });
  for (const f of ['ssh_host_rsa_key', 'ssh_host_ecdsa_key', 'ssh_host_ed25519_key']) {
    rmSync(join(root, 'etc/ssh', f), { force: true });
    rmSync(join(root, 'etc/ssh', `${f}.pub`), { force: true });
  }
  writeFileSync(join(root, 'etc/apt/sources.list'), `deb ${DEBIAN_MIRROR} ${suite} main\n`);
  // systemd-networkd configures eth0 like a real VPS (the lab writes its .network file per machine).
  const wants = join(root, 'etc/systemd/system/multi-user.target.wants');
  mkdirSync(wants, { recursive: true });
  const link = (target: string, at: string): void => { rmSync(at, { force: true }); mkdirSync(join(at, '..'), { recursive: true }); symlinkSync(target, at); };
  link('/lib/systemd/system/systemd-networkd.service', join(wants, 'systemd-networkd.service'));
  link('/lib/systemd/system/systemd-networkd.socket', join(root, 'etc/systemd/system/sockets.target.wants/systemd-networkd.socket'));
  link('/lib/systemd/system/systemd-networkd-wait-online.service', join(root, 'etc/systemd/system/network-online.target.wants/systemd-networkd-wait-online.service'));
  // Nothing in the container needs a getty; a console getty on nspawn's pty is harmless but noisy.
  mkdirSync(join(root, 'root/.ssh'), { recursive: true, mode: 0o700 });
}

/**
 * Returns the cached image of a suite, building it first when missing (cold build: debootstrap, ~2–3 min).
 * Concurrent callers wait for the one that builds (a lock directory next to the image).
 */
export async function ensureImage(suite: MachineSuite): Promise<MachineImage> {
  const cache = machinesCacheDir();
  const dir = join(cache, imageKey(suite));
  const sizeFile = `${dir}.bytes`;
  if (existsSync(join(dir, 'etc/os-release'))) {
    const bytes = existsSync(sizeFile) ? Number(readFileSync(sizeFile, 'utf8')) : await duBytes(dir);
    return { suite, dir, bytes };
  }
  mkdirSync(cache, { recursive: true });
  // One builder at a time (test files run in parallel): the others wait for it and take its image.
  const lock = `${dir}.lock`;
  for (;;) {
    try { mkdirSync(lock); break; } catch { /* held */ }
    const holder = Number(existsSync(`${lock}/pid`) ? readFileSync(`${lock}/pid`, 'utf8') : 0);
    if (holder && !pidAlive(holder)) { rmSync(lock, { recursive: true, force: true }); continue; }
    await new Promise((r) => setTimeout(r, 1000));
  }
  writeFileSync(`${lock}/pid`, String(process.pid));
  try {
    if (existsSync(join(dir, 'etc/os-release'))) return { suite, dir, bytes: await duBytes(dir) };
    return await buildImage(suite, dir, sizeFile);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function pidAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

async function buildImage(suite: MachineSuite, dir: string, sizeFile: string): Promise<MachineImage> {
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  const t0 = Date.now();
  try {
    await must(['debootstrap', '--variant=minbase', `--include=${imagePackages(suite).join(',')}`, suite, tmp, DEBIAN_MIRROR], `debootstrap ${suite}`);
    configureTree(tmp, suite);
    await must(['chroot', tmp, 'apt-get', 'clean'], 'apt-get clean');
    if (existsSync(join(dir, 'etc/os-release'))) {
      rmSync(tmp, { recursive: true, force: true });
    } else {
      rmSync(dir, { recursive: true, force: true });
      renameSync(tmp, dir);
    }
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  const seconds = Math.round((Date.now() - t0) / 1000);
  const bytes = await duBytes(dir);
  writeFileSync(sizeFile, String(bytes));
  writeFileSync(`${dir}.built`, JSON.stringify({ suite, seconds, bytes, at: new Date().toISOString() }) + '\n');
  return { suite, dir, bytes, built: { seconds, bytes } };
}
