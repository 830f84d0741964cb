// Helpers for the egress-client end-to-end tests: provision, enroll, snapshots of the client's kernel and /etc.
import type { Lab, LabProcess } from '@egress/lab';
import { expect } from 'vitest';

export const BUNDLE = '/root/egress-client.bundle.json';

/** Runs egress-client inside the client host. */
export function client(lab: Lab, args: string[], opts: { user?: string; timeoutMs?: number } = {}) {
  return lab.exec('client', [...lab.egressClientArgv, ...args], { timeoutMs: opts.timeoutMs ?? 90_000, ...(opts.user ? { user: opts.user } : {}) });
}

/** Provisions the lab's VPS with the real egress-server over SSH and leaves the bundle on the client. */
export async function provision(lab: Lab, extra: string[] = ['--forward', '8080/tcp']): Promise<void> {
  const r = await lab.exec('client', [...lab.egressServerArgv, 'provision', lab.ssh.target, '-i', lab.ssh.identity, '--out', BUNDLE, ...extra], { timeoutMs: 120_000 });
  expect(r.exitCode, r.stderr).toBe(0);
}

/** Enrolls appuser (or `user`) and expects success. */
export async function enroll(lab: Lab, extra: string[] = []): Promise<{ stdout: string; stderr: string }> {
  const r = await client(lab, ['enroll', BUNDLE, '--user', 'appuser', ...extra]);
  expect(r.exitCode, r.stderr).toBe(0);
  return r;
}

/**
 * What uninstall must leave as it was: the nft ruleset (without set elements), ip rules, every routing table, the interface sysctls and
 * /etc (paths, modes, file sizes).
 */
export async function clientSnapshot(lab: Lab): Promise<Record<string, string>> {
  const run = async (script: string): Promise<string> => {
    const r = await lab.exec('client', ['sh', '-c', script]);
    expect(r.exitCode, r.stderr).toBe(0);
    return r.stdout;
  };
  return {
    nft: await run('nft -t list ruleset'), // -t: without the elements traffic adds to dynamic sets
    rules: await run('ip -4 rule; ip -6 rule'),
    routes: await run('ip -4 route show table all; ip -6 route show table all'),
    sysctls: await run("sysctl -a -r '^net\\.ipv[46]\\.(conf\\.|ip_forward)' 2>/dev/null | sort"),
    // The shadow tools' backups (/etc/group- after groupadd/groupdel of group egress) are not the machine's state.
    etc: await run("find /etc -xdev ! -name '*-' \\( -type f -printf '%p %M %s\\n' \\) -o ! -name '*-' \\( ! -type f -printf '%p %M\\n' \\) | sort"),
    links: await run('ip -br link | cut -d" " -f1 | sort'),
  };
}

/** Kills the client's wireguard-go for `iface` (only the one in the client's network namespace). */
export async function killClientWireguardGo(lab: Lab): Promise<void> {
  const script = 'me=$(readlink /proc/self/ns/net); n=0; for p in $(pgrep -x wireguard-go); do [ "$(readlink /proc/$p/ns/net)" = "$me" ] && kill -9 $p && n=$((n+1)); done; echo $n';
  const r = await lab.exec('client', ['sh', '-c', script]);
  expect(r.stdout.trim()).toBe('1');
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `cond` every 50 ms until it holds; throws naming `what` after `ms`. */
export async function waitUntil(what: string, ms: number, cond: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** appuser's probe result, or the failure text. */
export async function appuserSees(lab: Lab): Promise<string> {
  const r = await lab.exec('client', [...lab.probeArgv(), '1500'], { user: 'appuser' });
  return r.exitCode === 0 ? r.stdout.trim() : `failed: ${r.stderr.trim()}`;
}

/** `allow --user USER` on an egress (exec by users other than root and the bound user needs it since issue 18). */
export async function allowUser(lab: Lab, user: string, egress: string): Promise<void> {
  const r = await client(lab, ['allow', '--egress', egress, '--user', user]);
  expect(r.exitCode, r.stderr).toBe(0);
}

/**
 * The afterAll of a client lab: stops the processes a test left running (SIGTERM, waits for each: a supervisor
 * writes its last state), uninstalls (`egress`, or every egress; egress cgroups live in the machine's cgroup2
 * hierarchy and outlive the lab otherwise) and takes the lab down.
 */
export async function tearDownClientLab(lab: Lab | undefined, opts: { stop?: Array<LabProcess | undefined>; egress?: string } = {}): Promise<void> {
  for (const p of opts.stop ?? []) {
    if (!p) continue;
    p.kill('SIGTERM');
    await p.exited;
  }
  if (lab) await client(lab, ['uninstall', ...(opts.egress ? [opts.egress] : [])]).catch(() => undefined);
  await lab?.down();
}
