// The cgroup BPF fence of an egress (native/cgroup-bpf.c): marks every socket created in the egress's cgroup and
// refuses its DNS to loopback resolvers, so cgroup selection holds without the nft table (`nft flush ruleset`).
import { accessSync, constants } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CommandError, EgressError, ValidationError } from '@egress/core/errors';
import type { Host } from '@egress/core/host/host';
import { egressCgroupPath } from '@egress/core/render/client-paths';

/** Where nft and the loader resolve cgroup paths (also in cgroup.ts; kept here so this module has no cycle). */
const ROOT = '/sys/fs/cgroup';

/** Absolute path the package's build step writes the loader to: <package>/build/egress-cgroup-bpf. */
export function cgroupBpfLoaderPath(): string {
  return fileURLToPath(new URL('../build/egress-cgroup-bpf', import.meta.url));
}

/** The loader, or a user error saying how to build it. */
export function locateCgroupBpfLoader(path: string = cgroupBpfLoaderPath()): string {
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new EgressError('E_BPF_LOADER_MISSING', `the cgroup BPF loader is not built: ${path} is missing or not executable`, {
      hint: 'build it with `npm run build -w @egress/client` (needs gcc and the kernel headers: apt-get install gcc libc6-dev linux-libc-dev)',
    });
  }
  return path;
}

/** The egress's own cgroup directory: the only place egress attaches programs (never a root or shared cgroup). */
export function egressCgroupDir(egress: string): string {
  return `${ROOT}/${egressCgroupPath(egress)}`;
}

/** The argv that attaches the fence (mark bit MARK within MASK) to the egress's cgroup; refuses bad input before anything runs. */
export function bpfAttachArgv(loader: string, dir: string, mark: number, mask: number): string[] {
  checkDir(dir);
  const u32 = (n: number) => Number.isInteger(n) && n > 0 && n <= 0xffffffff;
  if (!u32(mark)) throw new ValidationError(`mark: expected a non-zero 32-bit number, got ${mark}`, [{ path: 'mark', message: 'bad mark' }]);
  if (!u32(mask)) throw new ValidationError(`markMask: expected a non-zero 32-bit number, got ${mask}`, [{ path: 'markMask', message: 'bad mask' }]);
  if ((mark & ~mask) >>> 0) throw new ValidationError(`mark: 0x${mark.toString(16)} has bits outside the mask 0x${mask.toString(16)}`, [{ path: 'mark', message: 'outside mask' }]);
  return [loader, 'attach', dir, `0x${mark.toString(16).padStart(8, '0')}`, `0x${mask.toString(16).padStart(8, '0')}`];
}

/** The argv that attaches only the mark program to a cgroup egress selects but does not run (a unit, a --cgroup path). */
export function bpfAttachMarkArgv(loader: string, dir: string, mark: number, mask: number): string[] {
  const argv = bpfAttachArgv(loader, dir, mark, mask);
  argv[1] = 'attach-mark';
  return argv;
}

/** The argv that detaches egress's programs from the egress's cgroup. */
export function bpfDetachArgv(loader: string, dir: string): string[] {
  checkDir(dir);
  return [loader, 'detach', dir];
}

function checkDir(dir: string): void {
  const below = dir.startsWith(`${ROOT}/`) ? dir.slice(ROOT.length + 1).split('/') : [];
  // <root>/<parent…>/<name>: never the root, never a first-level (shared) cgroup, never a relative step.
  if (below.length < 2 || below.some((p) => p === '' || p === '.' || p === '..')) {
    throw new ValidationError(`cgroup: expected an egress cgroup ${ROOT}/<parent>/<name>, got '${dir}'`, [{ path: 'cgroup', message: 'not an egress cgroup' }]);
  }
}

/**
 * True when the loader failed because this host forbids BPF to egress (a container without CAP_BPF/CAP_SYS_ADMIN, as
 * systemd-nspawn, LXC and Docker give their services, or a seccomp filter): then cgroup selection rests on the nft
 * rules alone, which egress says, and nothing else fails.
 */
export function bpfForbidden(stderr: string): boolean {
  return /Operation not permitted|Permission denied/.test(stderr);
}

/** What attaching the fence gave: attached (or already there), or forbidden on this host. */
export type BpfAttach = 'attached' | 'forbidden';

/** Attaches (idempotently) the fence to the egress's cgroup; the loader echoes `[#] bpf attach …` for each program. */
export async function attachCgroupBpf(host: Host, egress: { name: string; mark: number; markMask: number }): Promise<BpfAttach> {
  const argv = bpfAttachArgv(locateCgroupBpfLoader(), egressCgroupDir(egress.name), egress.mark, egress.markMask);
  // Echoed as a change only when something is missing (a second `up` changes nothing and says nothing).
  const have = await queryCgroupBpf(host, egress.name);
  if (have === 'forbidden') return 'forbidden';
  if (expectedPrograms(egress.mark).every((p) => have.includes(p)) && have.length === expectedPrograms(egress.mark).length) return 'attached';
  const r = await host.run(argv, { change: true });
  if (r.exitCode === 0) return 'attached';
  if (bpfForbidden(r.stderr)) return 'forbidden';
  throw new CommandError(argv, r.exitCode, r.stderr);
}

/** The programs `attach` leaves on an egress cgroup, as `query` lists them. */
export function expectedPrograms(mark: number): string[] {
  return [`sock_create egmark_${mark.toString(16).padStart(8, '0')}`, 'connect4 egdns_c4', 'connect6 egdns_c6', 'sendmsg4 egdns_s4', 'sendmsg6 egdns_s6'];
}

/** Detaches egress's programs from the egress's cgroup (removing the cgroup detaches them too). */
export async function detachCgroupBpf(host: Host, egress: string): Promise<void> {
  const dir = egressCgroupDir(egress);
  if ((await host.run(['test', '-d', dir])).exitCode !== 0) return;
  const have = await queryCgroupBpf(host, egress);
  if (have === 'forbidden' || !have.length) return;
  await host.run(bpfDetachArgv(locateCgroupBpfLoader(), dir), { check: true, change: true });
}

/** The programs egress attached to the egress's cgroup, as `attach-point name` lines ('forbidden': no BPF here). */
export async function queryCgroupBpf(host: Host, egress: string): Promise<string[] | 'forbidden'> {
  const argv = [locateCgroupBpfLoader(), 'query', egressCgroupDir(egress)];
  const r = await host.run(argv);
  if (r.exitCode === 0) return r.stdout.split('\n').filter(Boolean);
  if (bpfForbidden(r.stderr)) return 'forbidden';
  throw new CommandError(argv, r.exitCode, r.stderr);
}

/**
 * Marks every socket created in a selected cgroup egress does not run (`select add --unit/--cgroup`), so its traffic
 * is routed into the egress by the fwmark rule (and refused by its fallback) without the nft table too. Only the mark:
 * its DNS goes to the resolver the host configures and is redirected by nft. Idempotent; 'forbidden' where the host
 * allows no BPF. `path` is relative to /sys/fs/cgroup and must exist.
 */
export async function attachSelectedCgroupMark(host: Host, path: string, egress: { mark: number; markMask: number }): Promise<BpfAttach> {
  const loader = locateCgroupBpfLoader();
  const dir = `${ROOT}/${path}`;
  const q = await host.run([loader, 'query', dir]);
  if (q.exitCode !== 0 && bpfForbidden(q.stderr)) return 'forbidden';
  const want = expectedPrograms(egress.mark)[0]!;
  const have = q.exitCode === 0 ? q.stdout.split('\n').filter(Boolean) : [];
  if (have.length === 1 && have[0] === want) return 'attached';
  const argv = bpfAttachMarkArgv(loader, dir, egress.mark, egress.markMask);
  const r = await host.run(argv, { change: true });
  if (r.exitCode === 0) return 'attached';
  if (bpfForbidden(r.stderr)) return 'forbidden';
  throw new CommandError(argv, r.exitCode, r.stderr);
}

/** Detaches egress's programs from a selected cgroup it does not run (a no-op when the cgroup or the programs are gone). */
export async function detachSelectedCgroupMark(host: Host, path: string): Promise<void> {
  const dir = `${ROOT}/${path}`;
  if ((await host.run(['test', '-d', dir])).exitCode !== 0) return;
  const loader = locateCgroupBpfLoader();
  const q = await host.run([loader, 'query', dir]);
  if (q.exitCode !== 0 || !q.stdout.trim()) return;
  await host.run(bpfDetachArgv(loader, dir), { check: true, change: true });
}
