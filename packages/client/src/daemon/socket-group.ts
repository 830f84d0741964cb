// The group `egress` owns the supervisor's socket (0660): `allow --user` adds the user, `disallow` removes them.
import type { Host } from '@egress/core/host/host';

/** Group of /run/egress/client.sock. */
export const SOCKET_GROUP = 'egress';

/** The group's members, or undefined when it does not exist. */
export async function socketGroupMembers(host: Host): Promise<string[] | undefined> {
  const r = await host.run(['getent', 'group', SOCKET_GROUP]);
  if (r.exitCode !== 0) return undefined;
  return (r.stdout.trim().split(':')[3] ?? '').split(',').filter(Boolean);
}

/** Creates the system group `egress` when missing. */
export async function ensureSocketGroup(host: Host): Promise<void> {
  if ((await socketGroupMembers(host)) !== undefined) return;
  await host.run(['groupadd', '--system', SOCKET_GROUP], { check: true, change: true });
}

/** Adds a user to the group (creating it); no change when already a member. */
export async function addToSocketGroup(host: Host, user: string): Promise<boolean> {
  await ensureSocketGroup(host);
  if ((await socketGroupMembers(host))?.includes(user)) return false;
  await host.run(['gpasswd', '--add', user, SOCKET_GROUP], { check: true, change: true });
  return true;
}

/** Removes a user from the group; no change when not a member (or no group). */
export async function removeFromSocketGroup(host: Host, user: string): Promise<boolean> {
  if (!(await socketGroupMembers(host))?.includes(user)) return false;
  await host.run(['gpasswd', '--delete', user, SOCKET_GROUP], { check: true, change: true });
  return true;
}

/** Removes the group (uninstall of the last egress); nothing when it is missing. */
export async function removeSocketGroup(host: Host): Promise<void> {
  if ((await socketGroupMembers(host)) === undefined) return;
  await host.run(['groupdel', SOCKET_GROUP], { change: true });
}
