// Refusals enroll makes before anything changes: flags that do not go with a bundle, a name that already holds
// another egress, a system account that other services use.
import { ConflictError, ValidationError } from '@egress/core/errors';
import type { Egress } from '@egress/core/model/client';
import { quoteArgv } from '@egress/core/shell-quote';
import type { PasswdEntry } from '../run-as/passwd.js';

/** The GECOS text `--create-user` gives the users it creates: such a system user is egress's own. */
export const EGRESS_USER_COMMENT = 'egress app user';

/** First uid of ordinary (login) users on Debian and most distributions. */
export const FIRST_NORMAL_UID = 1000;

/** Refuses options that only go with `--interface` when a bundle is enrolled. */
export function checkBundleFlags(options: Record<string, unknown>): void {
  for (const [key, flag] of [['gateway', '--gateway'], ['address', '--address']] as const) {
    const value = options[key];
    if (value !== undefined) {
      throw new ValidationError(`${flag}: '${String(value)}' only goes with --interface; a bundle's egress leaves through its WireGuard tunnel, whose router and address the bundle sets`, [{ path: flag, message: 'only with --interface' }], {
        hint: `drop ${flag}, or enroll a local interface: egress-client enroll --interface IF --user USER ${flag} ${quoteArgv([String(value)])}`,
      });
    }
  }
}

/** What differs between the enrolled wireguard egress and the one a new bundle describes (empty: the same peer). */
export function bundleDifferences(existing: Egress, incoming: Extract<Egress, { kind: 'wireguard' }>): string[] {
  if (existing.kind !== 'wireguard') return [`kind ${existing.kind} → wireguard`];
  const a = existing.wireguard;
  const b = incoming.wireguard;
  const diffs: string[] = [];
  if (a.publicKey !== b.publicKey) diffs.push(`client key ${a.publicKey} → ${b.publicKey}`);
  if (a.serverPublicKey !== b.serverPublicKey) diffs.push(`server key ${a.serverPublicKey} → ${b.serverPublicKey}`);
  if (a.endpoint !== b.endpoint) diffs.push(`endpoint ${a.endpoint} → ${b.endpoint}`);
  if (existing.address4 !== incoming.address4) diffs.push(`address ${existing.address4} → ${incoming.address4}`);
  return diffs;
}

/** Refuses to replace an enrolled egress with another peer's bundle unless --replace was given. */
export function checkReplace(existing: Egress | undefined, incoming: Extract<Egress, { kind: 'wireguard' }>, replace: boolean, bundlePath: string, userName: string): void {
  if (!existing || replace) return;
  const diffs = bundleDifferences(existing, incoming);
  if (diffs.length === 0) return;
  throw new ConflictError(`--name: egress '${existing.name}' is already enrolled from another bundle (${diffs.join('; ')}); nothing was changed`, {
    hint: `to replace it: egress-client enroll ${quoteArgv([bundlePath])} --user ${quoteArgv([userName])} --name ${existing.name} --replace; to add it beside: --name ANOTHER`,
  });
}

/**
 * Refuses a system account (uid below 1000) that egress did not create: its services' traffic would be caught
 * by the egress (and its kill switch). `--create-user` users, users already bound, and --allow-system-user pass.
 */
export function checkDedicatedUser(entry: PasswdEntry & { gecos?: string }, alreadyBound: boolean, allowSystemUser: boolean): void {
  if (entry.uid >= FIRST_NORMAL_UID || alreadyBound || allowSystemUser || entry.gecos === EGRESS_USER_COMMENT) return;
  throw new ValidationError(
    `--user: '${entry.name}' is a system account (uid ${entry.uid}) that egress did not create; other services may run as it, and all their traffic would go through the egress`,
    [{ path: '--user', message: 'system account' }],
    { hint: `use a dedicated user (--user NEWNAME --create-user), or pass --allow-system-user if '${entry.name}' runs only this app` },
  );
}
