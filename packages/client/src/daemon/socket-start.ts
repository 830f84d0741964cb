// Starts the supervisor's socket, owned by group `egress` when that group exists (enroll creates it; the daemon
// never edits /etc/group itself, so a machine where nobody was allowed keeps its user database as it was).
// A socket that cannot start is logged and the supervisor runs on without it (launchers then say root is needed).
//
// Who may connect follows the policy: besides root and group `egress`, an ACL entry for every allowed user (bound,
// `allow --user`, and members of allowed groups as /etc/group says now) and every allowed group (`allow --group`).
// So `allow` takes effect at once, with no new login for a new supplementary group. Connecting is not authorising:
// the supervisor still checks every request against the policy by the caller's SO_PEERCRED uid.
import type { Host } from '@egress/core/host/host';
import type { ClientState } from '@egress/core/model/client';
import { allowedUids } from '@egress/core/policy/access';
import { SOCKET_GROUP } from './socket-group.js';
import { SOCKET_PATH } from './socket-protocol.js';
import { startSocketServer, type SocketServer } from './socket-server.js';

async function socketGid(host: Host): Promise<number> {
  const g = await host.run(['getent', 'group', SOCKET_GROUP]);
  const gid = Number(g.stdout.trim().split(':')[2]);
  return g.exitCode === 0 && Number.isInteger(gid) ? gid : 0;
}

/** The socket's ACL for a state: owner root and group rw, others nothing, plus each allowed uid and group (not root). */
export function socketAcl(state: ClientState): string {
  const num = (a: number, b: number) => a - b;
  const uids = [...new Set(state.egresses.flatMap(allowedUids))].filter((u) => u !== 0).sort(num);
  const gids = [...new Set(state.egresses.flatMap((e) => (e.access?.groups ?? []).map((g) => g.gid)))].sort(num);
  return ['u::rw-', 'g::rw-', 'o::---', ...uids.map((u) => `u:${u}:rw-`), ...gids.map((g) => `g:${g}:rw-`), 'm::rw-'].join(',');
}

export type SupervisorSocket = SocketServer & { refreshGroup(): Promise<void>; refreshAccess(): Promise<void> };

/** The socket server (its group follows /etc/group, its ACL the policy), or a no-op when it cannot run here. */
export async function startSupervisorSocket(host: Host, state: () => ClientState | undefined, log: (line: string) => void, ready?: Promise<unknown>): Promise<SupervisorSocket> {
  try {
    const server = await startSocketServer({ state, log, gid: await socketGid(host), ...(ready ? { ready } : {}) });
    let applied = '';
    const refreshAccess = async (): Promise<void> => {
      const s = state();
      if (!s) return;
      const acl = socketAcl(s);
      if (acl === applied) return;
      applied = acl;
      const r = await host.run(['setfacl', '--set', acl, '--', SOCKET_PATH]);
      if (r.exitCode !== 0) log(`socket: cannot give allowed users and groups access (setfacl: ${r.stderr.trim() || `exit ${r.exitCode}`}); only root and group ${SOCKET_GROUP} can connect`);
      else log(`socket: access for allowed users and groups (ACL ${acl})`);
    };
    return {
      ...server,
      refreshGroup: async () => {
        server.setGroup(await socketGid(host));
        await refreshAccess();
      },
      refreshAccess,
    };
  } catch (err) {
    log(`socket: not started: ${(err as Error).message} (run, attach and exec need root until it runs)`);
    return { stop: async () => undefined, setGroup: () => undefined, refreshGroup: async () => undefined, refreshAccess: async () => undefined };
  }
}
