// Allowed groups are expanded to their member uids whenever the state is loaded (nft matches uids, not groups).
import type { Host } from '@egress/core/host/host';
import type { ClientState } from '@egress/core/model/client';
import { withGroupMembers } from '@egress/core/policy/access';

/** The user databases group expansion reads; the supervisor re-renders when either changes. */
export const USER_DB_FILES = ['/etc/group', '/etc/passwd'] as const;

/** Fills every allowed group's member uids from this host's /etc/group and /etc/passwd. */
export async function resolveAllowedGroups(host: Host, state: ClientState): Promise<ClientState> {
  if (!state.egresses.some((e) => e.access?.groups.length)) return state;
  const [group, passwd] = await Promise.all(USER_DB_FILES.map((f) => host.readFile(f)));
  return withGroupMembers(state, group ?? '', passwd ?? '');
}
