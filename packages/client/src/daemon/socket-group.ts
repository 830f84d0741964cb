// The group `egress` owns the supervisor's socket (0660): enroll creates it (recorded as egress's own), `allow --user`
// adds the user, `disallow` removes them. The last uninstall removes it only when egress created it: a group named
// egress that was there before is left alone.
import type { Host } from '@egress/core/host/host';
import { EGRESS_DIR } from '@egress/core/render/client-paths';

/** Group of /run/egress/client.sock. */
export const SOCKET_GROUP = 'egress';

/** The record that egress-client created the group (its gid then); 0600, beside the record of created directories. */
export const CREATED_GROUP_PATH = `${EGRESS_DIR}/client-created-group.json`;

/**
 * What the record says: `{ gid }` once created, `{}` when egress was about to create it (written before groupadd,
 * so a run killed right after groupadd still knows the group is its own), undefined without a record.
 */
export async function createdGroup(host: Host): Promise<{ gid?: number } | undefined> {
  const text = await host.readFile(CREATED_GROUP_PATH);
  if (!text) return undefined;
  try {
    const data = JSON.parse(text) as { group?: unknown; gid?: unknown };
    if (data.group !== SOCKET_GROUP) return undefined;
    return Number.isInteger(data.gid) ? { gid: data.gid as number } : {};
  } catch {
    return undefined;
  }
}

async function writeRecord(host: Host, gid?: number): Promise<void> {
  await host.writeFile(CREATED_GROUP_PATH, `${JSON.stringify({ version: 1, group: SOCKET_GROUP, ...(gid !== undefined ? { gid } : {}) }, null, 2)}\n`, { mode: 0o600 });
}

async function groupGid(host: Host): Promise<number | undefined> {
  const r = await host.run(['getent', 'group', SOCKET_GROUP]);
  const gid = Number(r.stdout.trim().split(':')[2]);
  return r.exitCode === 0 && Number.isInteger(gid) ? gid : undefined;
}

/** The group's members, or undefined when it does not exist. */
export async function socketGroupMembers(host: Host): Promise<string[] | undefined> {
  const r = await host.run(['getent', 'group', SOCKET_GROUP]);
  if (r.exitCode !== 0) return undefined;
  return (r.stdout.trim().split(':')[3] ?? '').split(',').filter(Boolean);
}

/** Creates the system group `egress` when missing and records that egress created it; true when it did. */
export async function ensureSocketGroup(host: Host): Promise<boolean> {
  if ((await socketGroupMembers(host)) !== undefined) {
    // An earlier run was killed between groupadd and the record's gid: complete the record.
    const rec = await createdGroup(host);
    const gid = await groupGid(host);
    if (rec && rec.gid === undefined && gid !== undefined) await writeRecord(host, gid);
    return false;
  }
  await writeRecord(host);
  await host.run(['groupadd', '--system', SOCKET_GROUP], { check: true, change: true });
  const gid = await groupGid(host);
  if (gid !== undefined) await writeRecord(host, gid);
  return true;
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

/**
 * Removes the group (uninstall of the last egress) when egress created it and it still has the gid it was created
 * with (or egress was creating it when a run was killed); a pre-existing group named egress is left as it is. Returns what it did, for the uninstall's report.
 */
export async function removeSocketGroup(host: Host): Promise<'removed' | 'kept' | 'none'> {
  const created = await createdGroup(host);
  const gid = await groupGid(host);
  let did: 'removed' | 'kept' | 'none' = gid === undefined ? 'none' : 'kept';
  if (gid !== undefined && created && (created.gid === undefined || created.gid === gid)) {
    await host.run(['groupdel', SOCKET_GROUP], { check: true, change: true });
    did = 'removed';
  }
  // The record goes last: an uninstall killed before groupdel still knows the group is egress's.
  if ((await host.readFile(CREATED_GROUP_PATH)) !== undefined) await host.removeFile(CREATED_GROUP_PATH);
  return did;
}
