// `egress-client enroll --interface IF [--gateway IP] [--dns IP] --user NAME [--name EGRESS]`: an egress of kind `interface`, no VPS.
import { ValidationError } from '@egress/core/errors';
import { SafeName } from '@egress/core/model/primitives';
import type { CommandContext, Invocation } from '../cli.js';
import { requireRoot, runEnroll } from '../enroll/pipeline.js';
import type { ExitStatus } from '../exit-status.js';
import { interfaceSource } from '../sources/interface.js';
import { checkUserName } from '../users.js';
import { defaultEgressName } from './egress-from-uplink.js';

interface Options {
  interface?: string;
  gateway?: string | string[];
  address?: string;
  dns?: string | string[];
  user?: string;
  createUser?: boolean;
  name?: string;
  dryRun?: boolean;
  /** Internal (run --direct): an egress selected by its cgroup only, no user bound. */
  cgroupOnly?: boolean;
}

/** `enroll --interface`: checks every flag and the interface before any change, then the shared pipeline applies and saves. */
export async function enrollInterfaceCommand(inv: Invocation, ctx: CommandContext): Promise<ExitStatus> {
  const o = inv.options as Options;
  if (inv.args[0] !== undefined) throw new ValidationError(`enroll: expected either a bundle or --interface, got both ('${inv.args[0]}' and --interface ${o.interface})`, [{ path: 'bundle', message: 'with --interface' }]);
  if (!o.user && !o.cgroupOnly) throw new ValidationError('--user: expected the user whose traffic leaves by the interface, got nothing', [{ path: '--user', message: 'missing' }], { hint: `egress-client enroll --interface ${o.interface} --user appuser` });
  const user = o.user === undefined ? '' : checkUserName(o.user);
  const name = o.name ?? defaultEgressName(o.interface!);
  if (!SafeName.safeParse(name).success) throw new ValidationError(`--name: expected 1-32 lowercase letters, digits, '_' or '-' starting with a letter or digit, got '${name}'`, [{ path: '--name', message: 'bad name' }]);
  requireRoot(ctx, o.dryRun, `sudo egress-client enroll --interface ${o.interface} --user ${user}`);
  const host = await ctx.host();
  ctx.output.step(`Reading ${o.interface}: addresses, gateway, resolvers`);
  const source = await interfaceSource(host, name, {
    interface: o.interface!,
    user,
    ...(o.gateway === undefined ? {} : { gateway: o.gateway }),
    ...(o.address === undefined ? {} : { address: o.address }),
    ...(o.dns === undefined ? {} : { dns: o.dns }),
  });
  return runEnroll(ctx, { user, ...(o.createUser ? { createUser: true } : {}), ...(o.dryRun ? { dryRun: true } : {}), ...(inv.options.allowSystemUser === true ? { allowSystemUser: true } : {}) }, async () => source);
}
