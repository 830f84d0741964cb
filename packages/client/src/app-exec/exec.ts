// `egress-client exec`: runs a command as the invoking user with the LD_PRELOAD shim bound to an egress.
import { EgressError, NotFoundError, ValidationError } from '@egress/core/errors';
import { type Output } from '@egress/core/output';
import { type PublicEgressFacts } from '@egress/core/model/client';
import { locateShim, shimEnv, ShimMissingError } from '@egress/shim';
import { existsSync } from 'node:fs';
import { runChild } from './child-run.js';
import { assertEgressUp, type InterfaceAddresses } from './egress-up.js';
import { inspectExecutable, type ExecutableInfo } from './inspect-executable.js';
import { readPublicFacts } from './public-facts.js';
import { resolveCommand } from './resolve-command.js';

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
export async function inspectCommand(file: string): Promise<ExecutableInfo & { inspected: string }> {
  const info = await inspectExecutable(file);
  if (info.interpreter && info.interpreter.startsWith('/') && existsSync(info.interpreter)) {
    const inner = await inspectExecutable(info.interpreter);
    return { ...inner, setuid: info.setuid || inner.setuid, inspected: info.interpreter };
  }
  return { ...info, inspected: file };
}

/** Warnings for a command the shim cannot apply to (static, setuid, or another ELF class/machine than the shim), pointing to `run`. */
export function shimWarnings(info: ExecutableInfo & { inspected: string }, facts: PublicEgressFacts, argv: string[], shim?: ExecutableInfo): string[] {
  const run = `sudo egress-client run --egress ${facts.name} -- ${argv.join(' ')}`;
  const out: string[] = [];
  if (info.elf && info.static) {
    out.push(`${info.inspected} is statically linked: LD_PRELOAD does not apply, so its traffic will NOT go through egress '${facts.name}'. Use the cgroup way instead: ${run}`);
  }
  if (info.elf && !info.static && shim?.bits && info.bits && (info.bits !== shim.bits || info.machine !== shim.machine)) {
    out.push(`${info.inspected} is a ${info.bits}-bit program (ELF machine ${info.machine}), unlike the ${shim.bits}-bit shim (machine ${shim.machine}): the loader skips the shim, so its traffic will NOT go through egress '${facts.name}'. Use the cgroup way instead: ${run}`);
  }
  if (info.setuid) {
    out.push(`${info.inspected} is setuid/setgid: the loader ignores LD_PRELOAD for it, so its traffic will NOT go through egress '${facts.name}'. Use the cgroup way instead: ${run}`);
  }
  return out;
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
  const shim = opts.shimPath ?? requireShim();
  const file = resolveCommand(opts.argv[0], env);
  const shimInfo = await inspectExecutable(shim).catch(() => undefined);
  for (const w of shimWarnings(await inspectCommand(file), facts, opts.argv, shimInfo)) opts.output.warn(w);
  let childEnv: NodeJS.ProcessEnv;
  try {
    childEnv = shimEnv(shim, facts, env);
  } catch (err) {
    throw new EgressError('E_SHIM_PATH', (err as Error).message, { hint: 'install egress in a directory whose path has no spaces or colons' });
  }
  opts.output.info(`egress: ${opts.argv[0]} through '${facts.name}' (${[facts.address4, facts.address6].filter(Boolean).join(', ')} on ${facts.interface}, LD_PRELOAD shim)`);
  // With a supervisor running, the kernel selects the app by cgroup too (what the shim cannot reach); else the shim alone.
  const viaSupervisor = await placed.runPlaced(file, opts.argv.slice(1), { egress: facts.name, env: childEnv, argv0: opts.argv[0], output: opts.output, fallback: true });
  return viaSupervisor ?? runChild(file, opts.argv.slice(1), { env: childEnv, argv0: opts.argv[0] });
}
