// `exec` and `run`: the app-exec and isolate modules, loaded lazily so other commands never pay for them.
import { ValidationError } from '@egress/core/errors';
import type { CommandContext, Invocation } from '../cli.js';
import { exitCode, type ExitStatus } from '../exit-status.js';

/** Runs `exec` (LD_PRELOAD shim), `run` (cgroup v2) or `run --isolate` (own network namespace). */
export async function appExecCommand(inv: Invocation, ctx: CommandContext): Promise<ExitStatus> {
  const mod = await import('../app-exec/index.js');
  let egress = inv.options.egress as string | undefined;
  if (inv.command === 'run' && inv.options.direct) {
    // run --direct: the enrollment's own output goes to stderr, so the app's stdout stays the app's.
    const { directEgress } = await import('../coexist/run-direct.js');
    const { Output } = await import('@egress/core/output');
    egress = await directEgress(inv, { ...ctx, output: new Output({ stdout: process.stderr }) });
  } else if (inv.options.interface !== undefined) throw new ValidationError('--interface: only with run --direct', [{ path: '--interface', message: 'without --direct' }]);
  const base = { argv: inv.rest, output: ctx.output, ...(egress ? { egress } : {}) };
  if (inv.command === 'exec') {
    return exitCode(await mod.runExec({ ...base, allowUncovered: inv.options.allowUncovered === true }));
  }
  if (inv.options.isolate) {
    const { runIsolated } = await import('../isolate/run-isolated.js');
    const user = inv.options.user as string | undefined;
    return exitCode(await runIsolated({ host: await ctx.host(), output: ctx.output, command: inv.rest, ...(egress ? { egress } : {}), ...(user ? { user } : {}) }));
  }
  const user = inv.options.user as string | undefined;
  return exitCode(await mod.runInCgroup({ ...base, ...(user ? { user } : {}) }));
}
