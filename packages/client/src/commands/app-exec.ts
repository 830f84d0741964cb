// `exec` and `run`: the app-exec and isolate modules, loaded lazily so other commands never pay for them.
import type { CommandContext, Invocation } from '../cli.js';
import { exitCode, type ExitStatus } from '../exit-status.js';

/** Runs `exec` (LD_PRELOAD shim), `run` (cgroup v2) or `run --isolate` (own network namespace). */
export async function appExecCommand(inv: Invocation, ctx: CommandContext): Promise<ExitStatus> {
  const mod = await import('../app-exec/index.js');
  const egress = inv.options.egress as string | undefined;
  const base = { argv: inv.rest, output: ctx.output, ...(egress ? { egress } : {}) };
  if (inv.command === 'exec') {
    return exitCode(await mod.runExec(base));
  }
  if (inv.options.isolate) {
    const { runIsolated } = await import('../isolate/run-isolated.js');
    const user = inv.options.user as string | undefined;
    return exitCode(await runIsolated({ host: await ctx.host(), output: ctx.output, command: inv.rest, ...(egress ? { egress } : {}), ...(user ? { user } : {}) }));
  }
  const user = inv.options.user as string | undefined;
  return exitCode(await mod.runInCgroup({ ...base, ...(user ? { user } : {}) }));
}
