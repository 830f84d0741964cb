// `egress-client enroll SOURCE --user NAME`: a source (bundle, wg-quick file, --interface) → the one enroll pipeline.
import { ValidationError } from '@egress/core/errors';
import { IpAddr, SafeName } from '@egress/core/model/primitives';
import type { CommandContext, Invocation } from '../cli.js';
import { checkBundleFlags } from '../enroll/guards.js';
import { checkPrerequisites } from '../enroll/preflight.js';
import { parseBackportsMirror, parseUserspaceWireguard } from '@egress/core/wireguard-backports';
import { requireRoot, runEnroll } from '../enroll/pipeline.js';
import type { ExitStatus } from '../exit-status.js';
import { checkUserName } from '../users.js';

export { describeEgress, summary } from '../enroll/pipeline.js';

interface EnrollOptions {
  user?: string;
  createUser?: boolean;
  name?: string;
  dns?: string;
  dryRun?: boolean;
  json?: boolean;
  outsideAllowed?: string;
  allowHooks?: boolean;
  replace?: boolean;
  allowSystemUser?: boolean;
  userspaceWireguard?: string;
  backportsMirror?: string;
}

/** Checks the flags before anything is read or changed. */
function checkFlags(o: EnrollOptions): { user: string } {
  if (!o.user) throw new ValidationError('--user: expected the user whose traffic goes through the egress, got nothing', [{ path: '--user', message: 'missing' }], { hint: 'egress-client enroll BUNDLE --user appuser' });
  checkUserName(o.user);
  if (o.name !== undefined && !SafeName.safeParse(o.name).success) {
    throw new ValidationError(`--name: expected 1-32 lowercase letters, digits, '_' or '-' starting with a letter or digit, got '${o.name}'`, [{ path: '--name', message: 'bad name' }]);
  }
  if (o.dns !== undefined && !IpAddr.safeParse(o.dns).success) throw new ValidationError(`--dns: expected an IPv4 or IPv6 address, got '${o.dns}'`, [{ path: '--dns', message: 'bad address' }]);
  if (o.outsideAllowed !== undefined && o.outsideAllowed !== 'refuse' && o.outsideAllowed !== 'direct') {
    throw new ValidationError(`--outside-allowed: expected 'refuse' (the default) or 'direct', got '${o.outsideAllowed}'`, [{ path: '--outside-allowed', message: 'bad value' }]);
  }
  return { user: o.user };
}

/** `egress-client enroll`. */
export async function enrollCommand(inv: Invocation, ctx: CommandContext): Promise<ExitStatus> {
  if (inv.options.interface !== undefined) return (await import('../uplink/enroll-interface.js')).enrollInterfaceCommand(inv, ctx);
  const o = inv.options as EnrollOptions;
  const { user } = checkFlags(o);
  const userspace = parseUserspaceWireguard(o.userspaceWireguard);
  const mirror = parseBackportsMirror(o.backportsMirror);
  if (mirror && userspace !== 'backports') throw new ValidationError(`--backports-mirror: only used with --userspace-wireguard backports (got --userspace-wireguard ${userspace})`, [{ path: '--backports-mirror', message: 'needs --userspace-wireguard backports' }]);
  checkBundleFlags(inv.options);
  const path = inv.args[0];
  if (path === undefined) throw new ValidationError('enroll: expected a bundle or wg-quick file, or --interface IF, got neither', [{ path: 'bundle', message: 'missing' }], { hint: 'egress-client enroll BUNDLE --user USER' });
  requireRoot(ctx, o.dryRun, `sudo egress-client enroll ${path} --user ${user}`);
  const host = await ctx.host();
  ctx.output.step('Checking the file, the user and this host');
  const { readSourceFile } = await import('../sources/read-source.js');
  const file = await readSourceFile(host, path);
  if (userspace !== 'system') await (await import('../enroll/userspace-wireguard.js')).ensureUserspaceWireguard(host, userspace, ctx.output, !!o.dryRun, mirror);
  if (!o.dryRun || userspace === 'system') await checkPrerequisites(host);
  return runEnroll(ctx, { user, sourcePath: path, ...(o.createUser ? { createUser: true } : {}), ...(o.dryRun ? { dryRun: true } : {}), ...(o.replace ? { replace: true } : {}), ...(o.allowSystemUser ? { allowSystemUser: true } : {}) }, async () => {
    if (file.kind === 'bundle' && o.outsideAllowed === 'direct') throw new ValidationError('--outside-allowed direct: an egress bundle carries everything (no narrower AllowedIPs); it applies to wg-quick files only', [{ path: '--outside-allowed', message: 'with a bundle' }]);
    if (file.kind === 'bundle') return (await import('../sources/bundle.js')).bundleSource(host, path, { user, ...(o.name === undefined ? {} : { name: o.name }), ...(o.dns === undefined ? {} : { dns: o.dns }) });
    return (await import('../sources/wg-quick.js')).wgQuickSource(file.path, file.text, { user, ...(o.name === undefined ? {} : { name: o.name }), ...(o.dns === undefined ? {} : { dns: o.dns }), ...(o.outsideAllowed === 'direct' ? { outsideDirect: true } : {}) });
  });
}
