// `egress-client doctor [EGRESS] [--json]`: every check with pass/fail and the fix for each failure.
import { PermissionError } from '@egress/core/errors';
import type { CommandContext, Invocation } from '../cli.js';
import { exitCode, type ExitStatus } from '../exit-status.js';
import { checkEgress, type Check } from '../live/checks.js';
import { readLiveFor } from '../live/egress-status.js';
import { loadClientState, selectEgresses } from '../state/store.js';
import { readSupervisor, supervisorCheck } from '../daemon/supervisor-view.js';
import { systemdRuns } from '../apply-client.js';

/** Formats one check: `ok   name: detail` or `FAIL name: detail` + `fix:`. */
export function formatCheck(c: Check, style: (s: 'green' | 'red', t: string) => string = (_s, t) => t): string {
  const head = c.ok ? style('green', 'ok  ') : style('red', 'FAIL');
  return `${head} ${c.name}: ${c.detail}${c.ok || !c.fix ? '' : `\n       fix: ${c.fix}`}`;
}

/** `egress-client doctor`. */
export async function doctorCommand(inv: Invocation, ctx: CommandContext): Promise<ExitStatus> {
  if (!ctx.isRoot) throw new PermissionError('doctor must run as root (it reads the state and runs checks as the bound user)', { hint: 'sudo egress-client doctor' });
  const host = await ctx.host();
  const state = await loadClientState(host);
  const egresses = selectEgresses(state, inv.args[0], 'doctor');
  const live = await readLiveFor(host, state);
  const report: Array<{ name: string; ok: boolean; checks: Check[] }> = [];
  for (const e of egresses) {
    const checks = await checkEgress(host, state, e, live);
    report.push({ name: e.name, ok: checks.every((c) => c.ok), checks });
  }
  const out = ctx.output;
  out.result(report.map((r) => [`egress ${r.name}: ${r.ok ? 'all checks passed' : `${r.checks.filter((c) => !c.ok).length} failed`}`, ...r.checks.map((c) => `  ${formatCheck(c, (s, t) => out.style(s, t))}`)].join('\n')).join('\n\n'));
  // Without a supervisor drift stays unrepaired: a failure where systemd runs (the boot unit should run it), a FAIL line elsewhere.
  const sup = supervisorCheck(await readSupervisor(host));
  const supCounts = !sup.ok && (await systemdRuns(host));
  out.result(formatCheck(sup, (s, t) => out.style(s, t)));
  const ok = report.every((r) => r.ok) && (sup.ok || !supCounts);
  out.document({ ok, egresses: report, supervisor: sup });
  return exitCode(ok ? 0 : 1);
}
