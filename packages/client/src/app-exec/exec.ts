// `egress-client exec`: runs a command as the invoking user with the LD_PRELOAD shim bound to an egress.
import { EgressError, NotFoundError, ValidationError } from '@egress/core/errors';
import { type Output } from '@egress/core/output';
import { type PublicEgressFacts } from '@egress/core/model/client';
import { locateShim, shimEnv, ShimMissingError } from '@egress/shim';
import { existsSync } from 'node:fs';
import { runChild } from './child-run.js';
import { assertEgressUp, type InterfaceAddresses } from './egress-up.js';
import { inspectExecutable, uncoveredReasons, type ExecutableInfo, type Runner } from './inspect-executable.js';
import { reportHandoff } from './handoff.js';
import { readPublicFacts } from './public-facts.js';
import { resolveCommand } from './resolve-command.js';
import { requireMarkedFence, type MarkedFenceFacts } from '../run-as/fence-check.js';

export interface ExecOptions {
  egress?: string;
  argv: string[];
  env?: NodeJS.ProcessEnv;
  output: Output;
  /** Where the public facts live (tests); default /etc/egress/public. */
  publicDir?: string;
  /** Interfaces and addresses of this host (tests); default: read them. */
  interfaces?: InterfaceAddresses;
  /** The shim library (tests); default: locateShim(). */
  shimPath?: string;
  /** The kernel's fence facts (tests); default: read them. */
  fenceFacts?: MarkedFenceFacts;
  /** Who runs the app (tests); default: this process's uid and gid. */
  runner?: Runner;
  /** Start programs the shim cannot cover anyway (--allow-uncovered): the user is told their traffic leaves directly. */
  allowUncovered?: boolean;
}

/** Finds the shim library or explains how to build it (as a user error). */
export function requireShim(): string {
  try {
    return locateShim();
  } catch (err) {
    if (err instanceof ShimMissingError) throw new NotFoundError(err.message, { hint: err.hint, cause: err });
    throw err;
  }
}

/** Inspects a command, following a `#!` line to its interpreter (whose linking decides whether the shim loads). */
export async function inspectCommand(file: string, runner?: Runner): Promise<ExecutableInfo & { inspected: string }> {
  const info = await inspectExecutable(file, runner);
  if (info.interpreter && info.interpreter.startsWith('/') && existsSync(info.interpreter)) {
    const inner = await inspectExecutable(info.interpreter, runner);
    return { ...inner, setuid: info.setuid || inner.setuid, inspected: info.interpreter };
  }
  return { ...info, inspected: file };
}

/**
 * Problems with a command the shim cannot cover (static, Go, setuid, another ELF class/machine than the shim), one
 * line each, naming the program and the reason and pointing to `run` / `run-as`. Empty when the shim applies.
 */
export function shimWarnings(info: ExecutableInfo & { inspected: string }, facts: PublicEgressFacts, argv: string[], shim?: ExecutableInfo): string[] {
  const run = `egress-client run --egress ${facts.name} -- ${argv.join(' ')}`;
  return uncoveredReasons(info, shim).map(
    (reason) => `${info.inspected} is ${reason}: the LD_PRELOAD shim cannot send its traffic through egress '${facts.name}', it would leave by the normal route. Use the cgroup way instead: ${run} (or run-as a bound user; with sudo unless a supervisor allows you)`,
  );
}

/** The "PROGRAM is REASON" part of each shim warning (before the advice). */
function uncoveredOf(problems: string[]): string[] {
  return problems.map((p) => p.split(': the LD_PRELOAD shim cannot')[0]!);
}

/** Runs argv as the current user with the shim prepended to LD_PRELOAD; resolves with the exit code (128+N for signal N). */
export async function runExec(opts: ExecOptions): Promise<number> {
  if (opts.argv.length === 0 || !opts.argv[0]) {
    throw new ValidationError('exec: expected a command after --, got none', [{ path: 'cmd', message: 'required' }], { hint: 'egress-client exec [--egress NAME] -- CMD [ARGS...]' });
  }
  const env = opts.env ?? process.env;
  const facts = await readPublicFacts(opts.egress, opts.publicDir);
  const placed = await import('./placed-launch.js');
  placed.assertAllowed(facts, 'exec');
  assertEgressUp(facts, opts.interfaces);
  // Like run-as: the state (here the public facts) is not enough; the source rules and kill switch must be in place.
  await requireMarkedFence(facts, 'source', opts.fenceFacts);
  const shim = opts.shimPath ?? requireShim();
  const file = resolveCommand(opts.argv[0], env);
  const shimInfo = await inspectExecutable(shim).catch(() => undefined);
  const problems = shimWarnings(await inspectCommand(file, opts.runner), facts, opts.argv, shimInfo);
  // What the shim cannot cover, the egress's cgroup does: the kernel selects every process in it, static, Go or
  // setuid alike. So with a supervisor to place it, exec starts it; without one it refuses (or leaks when told to).
  let needsCgroup = false;
  if (problems.length > 0) {
    const supervisor = await placed.supervisorReachable();
    if (supervisor.running) {
      needsCgroup = true;
      for (const p of uncoveredOf(problems)) opts.output.info(`egress: ${p}; the supervisor places it in egress '${facts.name}''s cgroup, where the kernel selects its traffic`);
    } else if (!opts.allowUncovered) {
      const why = supervisor.error ? supervisor.error.message : 'no supervisor is running';
      throw new EgressError('E_UNCOVERED', `exec: refusing to start ${opts.argv[0]}: ${problems.join('; ')}. exec could place it in the egress's cgroup, but ${why}: start the supervisor (egress-client daemon / the systemd unit) or use run`, {
        hint: `sudo systemctl start egress-client (or sudo egress-client daemon), then run exec again; to start it anyway, knowing its traffic will NOT go through egress '${facts.name}': egress-client exec --allow-uncovered --egress ${facts.name} -- ${opts.argv.join(' ')}`,
      });
    } else {
      for (const p of problems) opts.output.warn(`--allow-uncovered: starting it anyway; its traffic will LEAK outside the egress. ${p}`);
    }
  }
  let childEnv: NodeJS.ProcessEnv;
  try {
    childEnv = shimEnv(shim, { ...facts, allowUncovered: opts.allowUncovered === true && !needsCgroup }, env);
  } catch (err) {
    throw new EgressError('E_SHIM_PATH', (err as Error).message, { hint: 'install egress in a directory whose path has no spaces or colons' });
  }
  opts.output.info(`egress: ${opts.argv[0]} through '${facts.name}' (${[facts.address4, facts.address6].filter(Boolean).join(', ')} on ${facts.interface}, ${needsCgroup ? "the egress's cgroup" : 'LD_PRELOAD shim'})`);
  const started = Date.now();
  // With a supervisor running, the kernel selects the app by cgroup too (what the shim cannot reach); else the shim
  // alone. A program only the cgroup covers is never started unplaced (no fallback: a refusal ends it before it runs).
  const viaSupervisor = await placed.runPlaced(file, opts.argv.slice(1), { egress: facts.name, env: childEnv, argv0: opts.argv[0], output: opts.output, fallback: !needsCgroup });
  if (viaSupervisor === undefined && needsCgroup) {
    throw new EgressError('E_UNCOVERED', `exec: the supervisor stopped before it placed ${opts.argv[0]}; nothing was started`, { hint: 'start the supervisor (egress-client daemon / the systemd unit) or use run' });
  }
  const code = viaSupervisor ?? (await runChild(file, opts.argv.slice(1), { env: childEnv, argv0: opts.argv[0] }));
  reportHandoff(opts.output, { argv: opts.argv, exitCode: code, elapsedMs: Date.now() - started, egress: facts.name, env });
  return code;
}
