// Starts the supervisor's socket with its group `egress` (created when missing); a socket that cannot start is
// logged and the supervisor runs on without it (launchers then say root is needed).
import type { Host } from '@egress/core/host/host';
import type { ClientState } from '@egress/core/model/client';
import { ensureSocketGroup, SOCKET_GROUP } from './socket-group.js';
import { startSocketServer, type SocketServer } from './socket-server.js';

/** The socket server, or a no-op when it cannot run here. */
export async function startSupervisorSocket(host: Host, state: () => ClientState | undefined, log: (line: string) => void): Promise<SocketServer> {
  try {
    await ensureSocketGroup(host);
    const g = await host.run(['getent', 'group', SOCKET_GROUP], { check: true });
    const gid = Number(g.stdout.trim().split(':')[2]);
    return await startSocketServer({ state, log, gid });
  } catch (err) {
    log(`socket: not started: ${(err as Error).message} (run, attach and exec need root until it runs)`);
    return { stop: async () => undefined };
  }
}
