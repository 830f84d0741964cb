// run-as without commander: the common `run-as USER [--] CMD ...` form is parsed here so an app starts sooner;
// anything unusual (help, options, missing parts) goes through the full CLI for its messages.
import { Output, exitCodeFor } from '@egress/core/output';
import type { Invocation } from '../cli.js';
import type { ExitStatus } from '../exit-status.js';

/** The invocation for a plain `run-as USER [--] CMD [ARGS...]`, or undefined when the full CLI must parse it. */
export function fastRunAsInvocation(argv: readonly string[]): Invocation | undefined {
  const [command, user, ...tail] = argv;
  if (command !== 'run-as' || !user || user.startsWith('-')) return undefined;
  const rest = tail[0] === '--' ? tail.slice(1) : tail;
  if (rest.length === 0 || (tail[0] !== '--' && rest[0]!.startsWith('-'))) return undefined;
  return { command: 'run-as', args: [user], rest, options: {} };
}

/** Runs run-as from the fast path; undefined when argv is not the plain form. */
export function fastRunAs(argv: readonly string[]): Promise<ExitStatus> | undefined {
  const inv = fastRunAsInvocation(argv);
  if (!inv) return undefined;
  return (async () => {
    try {
      return await (await import('./run-as.js')).runAsCommand(inv);
    } catch (err) {
      new Output().error(err);
      return { code: exitCodeFor(err) };
    }
  })();
}
