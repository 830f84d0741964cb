// `exec` and `run` are built in ./app-exec (the shim part); loaded lazily, or refused clearly when not built.
import { EgressError } from '@egress/core/errors';
import type { Output } from '@egress/core/output';
import type { CommandContext, Invocation } from '../cli.js';
import { exitCode, type ExitStatus } from '../exit-status.js';

interface AppExecModule {
  runExec?: (o: { egress?: string; argv: string[]; output: Output }) => Promise<number>;
  runInCgroup?: (o: { egress?: string; argv: string[]; output: Output; user?: string }) => Promise<number>;
}

/** Runs `exec` (runExec) or `run` (runInCgroup) from ./app-exec/index.js. */
export async function appExecCommand(inv: Invocation, ctx: CommandContext): Promise<ExitStatus> {
  let mod: AppExecModule;
  try {
    const path = '../app-exec/index.js';
    mod = (await import(path)) as AppExecModule;
  } catch (err) {
    throw new EgressError('E_NOT_BUILT', `'${inv.command}' is not built yet (packages/client/src/app-exec is missing)`, { cause: err, hint: 'use egress-client run-as USER -- CMD for now' });
  }
  const egress = inv.options.egress as string | undefined;
  const base = { argv: inv.rest, output: ctx.output, ...(egress ? { egress } : {}) };
  if (inv.command === 'exec') {
    if (!mod.runExec) throw new EgressError('E_NOT_BUILT', "'exec' is not built yet (app-exec has no runExec)");
    return exitCode(await mod.runExec(base));
  }
  if (inv.options.isolate) {
    const { runIsolated } = await import('../isolate/run-isolated.js');
    const user = inv.options.user as string | undefined;
    return exitCode(await runIsolated({ host: await ctx.host(), output: ctx.output, command: inv.rest, ...(egress ? { egress } : {}), ...(user ? { user } : {}) }));
  }
  if (!mod.runInCgroup) throw new EgressError('E_NOT_BUILT', "'run' is not built yet (app-exec has no runInCgroup)");
  const user = inv.options.user as string | undefined;
  return exitCode(await mod.runInCgroup({ ...base, ...(user ? { user } : {}) }));
}
