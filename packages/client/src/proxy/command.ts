// `egress-client proxy`: runs the SOCKS5/HTTP proxy in the foreground until SIGTERM/SIGINT; SIGUSR1 prints its status.
import { ConflictError, ValidationError } from '@egress/core/errors';
import type { CommandContext, Invocation } from '../cli.js';
import { exitCode, type ExitStatus } from '../exit-status.js';
import { assertEgressUp } from '../app-exec/egress-up.js';
import { readPublicFacts } from '../app-exec/public-facts.js';
import { CLIENT_PATHS } from '@egress/core/render/client-paths';
import { watchStateFile } from '../daemon/state-watcher.js';
import { accessList, parseProxyConfig } from './options.js';
import { EgressOutbound } from './outbound.js';
import { recordedBySupervisor, startStatusWriter } from './running.js';
import { ProxyServer } from './server.js';

export async function proxyCommand(inv: Invocation, ctx: CommandContext): Promise<ExitStatus> {
  const action = inv.args[0];
  if (action !== undefined || inv.options.persist) {
    const saved = await import('./persist-command.js');
    if (action === 'list') return saved.listCommand(inv, ctx);
    if (action === 'remove') return saved.removeCommand(inv, ctx);
    if (action !== undefined) throw new ValidationError(`proxy: unknown action '${action}'; expected list or remove (or none: run it, --persist: save it)`, [{ path: 'action', message: `'${action}' is not list or remove` }]);
    return saved.persistCommand(inv, ctx);
  }
  const config = parseProxyConfig(inv.options);
  const facts = await readPublicFacts(config.egress);
  // Its sockets bind the egress address: the kernel refuses users the policy does not allow, so say it first.
  (await import('../app-exec/placed-launch.js')).assertAllowed(facts, 'proxy');
  try {
    assertEgressUp(facts);
  } catch (err) {
    // Not fatal: while the egress is down every request gets a proxy error; it works again once it is up.
    ctx.output.warn(`${(err as Error).message}; until it is up every request through the proxy fails`);
  }
  // The daemon's child (--status-file) serves only once the daemon has recorded it: a daemon killed between the spawn
  // and its record would otherwise leave a proxy that no later daemon finds (two on one port, or an orphan).
  if (typeof inv.options.statusFile === 'string' && !(await recordedBySupervisor(process.stdin))) {
    ctx.output.warn('proxy: the supervisor that started it ended before recording it; not starting');
    return exitCode(1);
  }
  const server = new ProxyServer({
    outbound: new EgressOutbound(facts),
    listen: config.listen,
    allowed: accessList(config.allow),
    ...(config.users ? { users: config.users } : {}),
    log: (line) => ctx.output.info(line),
  });
  try {
    await server.start();
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
    if (e.code === 'EADDRINUSE' || e.code === 'EADDRNOTAVAIL') {
      throw new ConflictError(`--listen: ${e.address ?? '?'}:${e.port ?? '?'} ${e.code === 'EADDRINUSE' ? 'is already in use by another process' : 'is not an address of this host'}`, { hint: e.code === 'EADDRINUSE' ? 'see who: ss -ltnp' : undefined });
    }
    throw err;
  }
  const where = server.snapshot().listening.join(', ');
  ctx.output.info(`proxy: SOCKS5 and HTTP on ${where} through egress '${facts.name}' (${[facts.address4, facts.address6].filter(Boolean).join(', ')})${config.users ? ', username/password required' : ''}; pid ${process.pid}, SIGUSR1 prints status`);
  const status = () => ctx.output.info(`proxy status: ${JSON.stringify({ pid: process.pid, egress: facts.name, ...server.snapshot() })}`);
  process.on('SIGUSR1', status);
  // The egress's addresses are read once and kept (no lookup per connection); a re-enroll that changes them is seen
  // through its public facts file and used from the next connection on.
  let current = facts;
  const facts$ = watchStateFile(`${CLIENT_PATHS.publicDir}/${facts.name}.json`, () => {
    void readPublicFacts(facts.name).then(
      (next) => {
        if (JSON.stringify([next.address4, next.address6, next.dns]) === JSON.stringify([current.address4, current.address6, current.dns])) return;
        current = next;
        server.setOutbound(new EgressOutbound(next));
        ctx.output.info(`proxy: egress '${next.name}' now has ${[next.address4, next.address6].filter(Boolean).join(', ')} (DNS ${next.dns.join(', ') || 'none'})`);
      },
      () => undefined, // gone while being rewritten, or uninstalled: the old address is gone too, so binds fail closed
    );
  }, (line) => ctx.output.warn(`proxy: ${line}`));
  // --status-file (the daemon gives it): the counters for `proxy list` and `status`, rewritten while they change.
  const statusFile = typeof inv.options.statusFile === 'string' ? startStatusWriter(inv.options.statusFile, () => server.snapshot()) : undefined;
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  process.off('SIGUSR1', status);
  facts$.stop();
  await server.close();
  await statusFile?.stop();
  ctx.output.info(`proxy: stopped on ${signal}; ${JSON.stringify(server.snapshot())}`);
  return exitCode(0);
}
