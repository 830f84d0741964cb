// Starts the supervisor's socket, owned by group `egress` when that group exists (`allow --user` creates it; the
// daemon never edits /etc/group itself, so a machine where nobody was allowed keeps its user database as it was).
// A socket that cannot start is logged and the supervisor runs on without it (launchers then say root is needed).
import type { Host } from '@egress/core/host/host';
import type { ClientState } from '@egress/core/model/client';
import { SOCKET_GROUP } from './socket-group.js';
import { startSocketServer, type SocketServer } from './socket-server.js';

async function socketGid(host: Host): Promise<number> {
  const g = await host.run(['getent', 'group', SOCKET_GROUP]);
  const gid = Number(g.stdout.trim().split(':')[2]);
  return g.exitCode === 0 && Number.isInteger(gid) ? gid : 0;
}

/** The socket server (its group follows /etc/group through `refreshGroup`), or a no-op when it cannot run here. */
export async function startSupervisorSocket(host: Host, state: () => ClientState | undefined, log: (line: string) => void, ready?: Promise<unknown>): Promise<SocketServer & { refreshGroup(): Promise<void> }> {
  try {
    const server = await startSocketServer({ state, log, gid: await socketGid(host), ...(ready ? { ready } : {}) });
    return { ...server, refreshGroup: async () => server.setGroup(await socketGid(host)) };
  } catch (err) {
    log(`socket: not started: ${(err as Error).message} (run, attach and exec need root until it runs)`);
    return { stop: async () => undefined, setGroup: () => undefined, refreshGroup: async () => undefined };
  }
}
