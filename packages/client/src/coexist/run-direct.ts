// `egress-client run --direct [--interface IF] -- CMD`: one app by the host's normal route (the main table's default
// route's interface) or IF, outside whatever full tunnel is active. A shorthand for an interface egress: it uses the
// cgroup of an interface egress that already leaves by IF, or enrolls a cgroup-only one named direct-<IF> (no user
// bound) on first use; its kill switch keeps the app on IF (IF down: the app fails, it never enters the tunnel).
import { NotFoundError, ValidationError } from '@egress/core/errors';
import type { Host } from '@egress/core/host/host';
import type { CommandContext, Invocation } from '../cli.js';
import { loadClientState } from '../state/store.js';

/** The interface of the main table's IPv4 default route with the lowest metric (the host's normal route). */
export async function normalRouteInterface(host: Host): Promise<string> {
  const r = await host.run(['ip', '-j', '-4', 'route', 'show', 'default', 'table', 'main']);
  let routes: Array<{ dev?: string; metric?: number }> = [];
  try {
    routes = r.exitCode === 0 && r.stdout.trim() ? (JSON.parse(r.stdout) as typeof routes) : [];
  } catch {
    routes = [];
  }
  const best = routes.filter((x) => x.dev).sort((a, b) => (a.metric ?? 0) - (b.metric ?? 0))[0];
  if (!best?.dev) throw new NotFoundError('--direct: the main table has no IPv4 default route, so there is no normal route to use', { hint: 'name the interface: egress-client run --direct --interface IF -- CMD' });
  return best.dev;
}

/** The egress `run --direct` uses for IF: an existing interface egress leaving by IF, else direct-<IF> enrolled now. */
export async function directEgress(inv: Invocation, ctx: CommandContext): Promise<string> {
  if (inv.options.egress !== undefined) throw new ValidationError('--direct: expected either --direct or --egress, got both', [{ path: '--egress', message: 'with --direct' }]);
  if (inv.options.isolate) throw new ValidationError('--direct: expected either --direct or --isolate, got both', [{ path: '--isolate', message: 'with --direct' }]);
  const host = await ctx.host();
  const iface = (inv.options.interface as string | undefined) ?? (await normalRouteInterface(host));
  const state = await loadClientState(host);
  const existing = state.egresses.find((e) => e.kind === 'interface' && e.interface === iface);
  if (existing) return existing.name;
  const name = `direct-${iface}`.slice(0, 32);
  ctx.output.step(`No egress leaves by ${iface} yet: enrolling ${name} (cgroup only, no user bound)`);
  const { enrollInterfaceCommand } = await import('../uplink/enroll-interface.js');
  const status = await enrollInterfaceCommand({ command: 'enroll', args: [], rest: [], options: { interface: iface, name, cgroupOnly: true } }, ctx);
  if (status.code !== 0) throw new ValidationError(`--direct: could not make an egress by ${iface}`, [{ path: '--interface', message: iface }]);
  return name;
}
