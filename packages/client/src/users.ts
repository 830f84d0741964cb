// Users on the client through the Host: look one up (`getent passwd`), create a system user without a login shell.
import { ValidationError } from '@egress/core/errors';
import type { Host } from '@egress/core/host/host';
import { UserName } from '@egress/core/model/primitives';
import { EGRESS_USER_COMMENT } from './enroll/guards.js';
import { parsePasswdLine, type PasswdEntry } from './run-as/passwd.js';

/** Validates a user name as useradd accepts it. */
export function checkUserName(name: string, field = '--user'): string {
  if (!UserName.safeParse(name).success) {
    throw new ValidationError(`${field}: expected a user name (a letter or '_' then up to 31 letters, digits, '_', '.' or '-'), got ${JSON.stringify(name)}`, [{ path: field, message: 'bad user name' }]);
  }
  return name;
}

/** The passwd entry of `name`, or undefined. */
export async function lookupUser(host: Host, name: string): Promise<PasswdEntry | undefined> {
  const r = await host.run(['getent', 'passwd', '--', name]);
  if (r.exitCode !== 0) return undefined;
  const e = parsePasswdLine(r.stdout.split('\n')[0] ?? '');
  return e && e.name === name ? e : undefined;
}

/** Creates a system user with its own group, a home directory and no login shell. */
export async function createSystemUser(host: Host, name: string): Promise<PasswdEntry> {
  await host.run(['useradd', '--system', '--user-group', '--create-home', '--shell', '/usr/sbin/nologin', '--comment', EGRESS_USER_COMMENT, '--', name], { check: true, change: true });
  const e = await lookupUser(host, name);
  if (!e) throw new ValidationError(`--create-user: useradd reported success but '${name}' is not in the user database`);
  return e;
}
