// `egress-client daemon`: the supervisor in the foreground, one log line per event on stderr, until SIGTERM/SIGINT.
import { EgressError, PermissionError } from '@egress/core/errors';
import type { CommandContext, Invocation } from '../cli.js';
import { exitCode, type ExitStatus } from '../exit-status.js';
import { parseDaemonOptions } from '../daemon/options.js';
import { runningDaemon } from '../daemon/health.js';

/** Runs the supervisor until a signal stops it; the kernel state (kill switch) is left in place. */
export async function daemonCommand(inv: Invocation, ctx: CommandContext): Promise<ExitStatus> {
  const opts = parseDaemonOptions(inv.options);
  if (!ctx.isRoot) throw new PermissionError('daemon must run as root', { hint: 'sudo egress-client daemon' });
  const { LocalHost } = await import('@egress/core/host/local-host');
  const { Output } = await import('@egress/core/output');
  const host = new LocalHost({ output: new Output({ quiet: true }) });
  const other = await runningDaemon(host);
  if (other !== undefined && other !== process.pid) throw new EgressError('E_DAEMON_RUNNING', `another egress-client daemon runs already (pid ${other})`, { hint: 'stop it first (systemctl stop egress-client)' });
  const log = (line: string): void => void process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  const { startSupervisor } = await import('../daemon/supervisor.js');
  const sup = await startSupervisor(host, { ...opts, log });
  let stopping = false;
  const stop = (sig: string): void => {
    if (stopping) return;
    stopping = true;
    log(`${sig}: stopping`);
    void sup.stop();
  };
  // Persistent handlers, not `once`: execa's signal-exit re-raises a signal that has no other listener left, which
  // would kill the daemon mid-stop (exit by signal, pid file left) when the signal lands while a command runs.
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  await sup.done;
  await host.close();
  return exitCode(0);
}
