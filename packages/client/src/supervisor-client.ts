// Talks to the supervisor's socket: one JSON request line, one JSON reply line. Undefined when no supervisor runs.
import { connect } from 'node:net';
import { EgressError, PermissionError } from '@egress/core/errors';
import { SOCKET_PATH, SupervisorReply, type SupervisorRequest } from './daemon/socket-protocol.js';
import { SOCKET_GROUP } from './daemon/socket-group.js';

/** Sends one request; resolves undefined when the socket is missing or nobody listens (no supervisor running). */
export function askSupervisor(req: SupervisorRequest, path = SOCKET_PATH, timeoutMs = 10_000): Promise<SupervisorReply | undefined> {
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    let buf = '';
    sock.setTimeout(timeoutMs, () => {
      sock.destroy();
      reject(new EgressError('E_SUPERVISOR', `the supervisor did not answer on ${path} within ${timeoutMs / 1000} s`, { hint: 'check its log (journalctl -u egress-client)' }));
    });
    sock.on('connect', () => sock.write(`${JSON.stringify(req)}\n`));
    sock.on('data', (d: Buffer) => (buf += d.toString()));
    sock.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') resolve(undefined);
      else if (err.code === 'EACCES') {
        reject(new PermissionError(`you may not use the supervisor's socket ${path} (it is for root, group '${SOCKET_GROUP}' and the users and groups an egress allows)`, { hint: 'an administrator allows you with: sudo egress-client allow --user $(id -un) (or --group GROUP)' }));
      } else reject(new EgressError('E_SUPERVISOR', `cannot talk to the supervisor on ${path}: ${err.message}`, { cause: err }));
    });
    sock.on('end', () => {
      const line = buf.split('\n')[0] ?? '';
      const r = SupervisorReply.safeParse((() => { try { return JSON.parse(line); } catch { return undefined; } })());
      if (r.success) resolve(r.data);
      else reject(new EgressError('E_SUPERVISOR', `the supervisor sent an unreadable reply: ${line.slice(0, 200)}`));
    });
  });
}
