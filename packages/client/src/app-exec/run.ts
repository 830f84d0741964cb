// `egress-client run`: starts a command in a per-run cgroup under egress/<name>, whose sockets the egress marks.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { EgressError, ValidationError } from '@egress/core/errors';
import { egressCgroupPath } from '@egress/core/render/client-paths';
import { type Output } from '@egress/core/output';
import { dnsViewPrefix } from '../dns-view/view.js';
import { runChild } from './child-run.js';
import { reportHandoff } from './handoff.js';
import { findCgroup2Mount } from './cgroup-mount.js';
import { assertEgressUp, type InterfaceAddresses } from './egress-up.js';
import { envForUser, invokingUser, type RunUser } from './invoking-user.js';
import { readPublicFacts } from './public-facts.js';
import { resolveCommand } from './resolve-command.js';
import { createRunGroup, removeRunGroup, removeStaleRunGroups } from './run-cgroup.js';
import { requireMarkedFence, type MarkedFenceFacts } from '../run-as/fence-check.js';

export interface RunOptions {
  egress?: string;
  argv: string[];
  output: Output;
  /** Run as this user instead of the sudo caller. */
  user?: string;
  env?: NodeJS.ProcessEnv;
  publicDir?: string;
  interfaces?: InterfaceAddresses;
  /** /proc/self/mountinfo text (tests). */
  mountinfo?: string;
  /** The kernel's fence facts (tests); default: read them. */
  fenceFacts?: MarkedFenceFacts;
}

/** The shell wrapper: moves itself into the run cgroup, then becomes the app (same pid). */
const WRAPPER = 'echo $$ > "$1" || { echo "egress: cannot move the app into its cgroup ($1)" >&2; exit 126; }; shift; exec "$@"';

/** The nft match the client renders for a cgroup (nft resolves it under /sys/fs/cgroup at load time; level = depth). */
export function cgroupMatch(cgroup: string): string {
  return `socket cgroupv2 level ${cgroup.split('/').length} "${cgroup}"`;
}

/** Refuses unless the egress's nftables table marks sockets of its cgroup (otherwise the app would leave directly). */
export function assertCgroupMarked(egress: string, cgroup: string, listChain: () => string = () => execFileSync('nft', ['list', 'chain', 'inet', 'egress', 'output_mark'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })): void {
  let text: string;
  try {
    text = listChain();
  } catch (err) {
    throw new EgressError('E_EGRESS_DOWN', `egress '${egress}': cannot read its nftables rules (nft list chain inet egress output_mark failed)`, { hint: `bring it up: sudo egress-client up ${egress}`, cause: err });
  }
  if (!text.includes(cgroupMatch(cgroup)) && text.includes(`comment "${egress}: cgroup ${cgroup}"`)) {
    // nft prints the id instead of the path when the directory it resolved at load time is gone (removed and made again).
    throw new EgressError('E_STALE_CGROUP_RULE', `egress '${egress}': its nftables rule refers to a cgroup ${cgroup} that no longer exists (the directory was removed and created again); an app run there would leave directly`, {
      hint: `re-apply the egress: sudo egress-client up ${egress}`,
    });
  }
  if (!text.includes(cgroupMatch(cgroup))) {
    throw new EgressError('E_NO_CGROUP_RULE', `egress '${egress}' does not mark cgroup ${cgroup} (no '${cgroupMatch(cgroup)}' rule in table inet egress); an app run there would leave directly`, {
      hint: `re-apply the egress: sudo egress-client up ${egress}`,
    });
  }
}

/** Where nft resolves `socket cgroupv2` paths: the only cgroup2 mount point `run` can use. */
export const NFT_CGROUP_ROOT = '/sys/fs/cgroup';

/** The cgroup2 mount `run` can use (at /sys/fs/cgroup, where nft looks); refuses clearly otherwise. */
export function usableCgroup2Root(mountinfo?: string, exists: (path: string) => boolean = existsSync): string {
  const mount = findCgroup2Mount(mountinfo);
  const hint = 'use egress-client exec -- CMD (LD_PRELOAD shim) or a dedicated user (enroll --user NAME) instead';
  if (!mount) {
    throw new EgressError('E_NO_CGROUP2', 'this host has no usable cgroup v2 hierarchy (no cgroup2 mount in /proc/self/mountinfo), so run cannot select the app by cgroup', { hint });
  }
  if (mount.path !== NFT_CGROUP_ROOT) {
    throw new EgressError('E_NO_CGROUP2', `this host has no usable cgroup v2 hierarchy: cgroup2 is mounted at ${mount.path} (hybrid layout), but nftables resolves 'socket cgroupv2' paths under ${NFT_CGROUP_ROOT}`, { hint });
  }
  if (!exists(join(mount.path, 'cgroup.procs'))) {
    throw new EgressError('E_NO_CGROUP2', `this host has no usable cgroup v2 hierarchy: ${mount.path} has no cgroup.procs`, { hint });
  }
  return mount.path;
}

/** argv that drops from root to `user` and execs file (setpriv from util-linux); plain file when staying root. */
export function dropArgv(user: RunUser, file: string, args: string[], setpriv: string): string[] {
  if (user.uid === 0 && user.gid === 0) return [file, ...args];
  return [setpriv, `--reuid=${user.uid}`, `--regid=${user.gid}`, user.name ? '--init-groups' : '--clear-groups', '--', file, ...args];
}

/** Runs argv in a fresh cgroup under egress/<name> as the invoking user; resolves with the exit code (128+N for signal N). */
export async function runInCgroup(opts: RunOptions): Promise<number> {
  if (opts.argv.length === 0 || !opts.argv[0]) {
    throw new ValidationError('run: expected a command after --, got none', [{ path: 'cmd', message: 'required' }], { hint: 'sudo egress-client run [--egress NAME] -- CMD [ARGS...]' });
  }
  // Without root: the supervisor places the app for an allowed user (or it says root is needed).
  if (process.getuid!() !== 0) return (await import('./placed-launch.js')).runUnprivileged({ ...opts, command: 'run' });
  const facts = await readPublicFacts(opts.egress, opts.publicDir);
  assertEgressUp(facts, opts.interfaces);
  const root = usableCgroup2Root(opts.mountinfo);
  const cgroup = facts.cgroup ?? egressCgroupPath(facts.name);
  const egressDir = join(root, cgroup);
  if (!existsSync(egressDir)) {
    throw new EgressError('E_NO_CGROUP', `egress '${facts.name}' has no cgroup ${egressDir} (cgroup2 is mounted at ${root})`, { hint: `bring it up: sudo egress-client up ${facts.name}` });
  }
  assertCgroupMarked(facts.name, cgroup);
  // Like run-as: the mark alone is not the fence; the fwmark rules and the kill switch must be in place too.
  await requireMarkedFence(facts, 'fwmark', opts.fenceFacts);

  const env0 = opts.env ?? process.env;
  const user = invokingUser(opts.user, env0);
  const env = envForUser(user, env0, process.getuid!(), existsSync);
  const file = resolveCommand(opts.argv[0], env);
  const setpriv = user.uid === 0 && user.gid === 0 ? '' : resolveCommand('setpriv', { PATH: '/usr/bin:/bin:/usr/sbin:/sbin' });

  removeStaleRunGroups(egressDir, opts.output);
  const dir = createRunGroup(egressDir, opts.output);
  // A SIGINT/SIGTERM while the app runs or afterwards also stops what the app left in its group.
  let stop = false;
  const onStop = () => {
    stop = true;
  };
  process.on('SIGINT', onStop);
  process.on('SIGTERM', onStop);
  opts.output.info(`egress: ${opts.argv[0]} through '${facts.name}' as uid ${user.uid}${user.name ? ` (${user.name})` : ''} in cgroup ${dir}`);
  try {
    const view = dnsViewPrefix(facts.name, facts.dns);
    const started = Date.now();
    const code = await runChild('/bin/sh', ['-c', WRAPPER, 'egress-run', join(dir, 'cgroup.procs'), ...view, ...dropArgv(user, file, opts.argv.slice(1), setpriv)], { env });
    reportHandoff(opts.output, { argv: opts.argv, exitCode: code, elapsedMs: Date.now() - started, egress: facts.name, env: env0 });
    return code;
  } finally {
    try {
      await removeRunGroup(dir, () => stop, opts.output);
    } finally {
      process.off('SIGINT', onStop);
      process.off('SIGTERM', onStop);
    }
  }
}
