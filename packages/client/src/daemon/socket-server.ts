// The supervisor's Unix socket (/run/egress/client.sock, 0660 root:egress): unprivileged allowed users ask it to
// place their own processes in an egress's cgroup. The caller is known by SO_PEERCRED (egress-peercred), one JSON
// line per connection, refused with a reason (and logged) when malformed, oversized or not allowed.
import { spawn } from 'node:child_process';
import { accessSync, chmodSync, chownSync, constants, mkdirSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { ClientState } from '@egress/core/model/client';
import { runRequest, type OpsContext, type PeerCred } from './socket-ops.js';
import { MAX_REQUEST_BYTES, parseRequest, SOCKET_PATH, type SupervisorReply } from './socket-protocol.js';

/** The peer credential reader the package's build step compiles (native/peercred.c). */
export function peercredPath(): string {
  return fileURLToPath(new URL('../../build/egress-peercred', import.meta.url));
}

/** Asks the kernel who is on the other end of `sock` (SO_PEERCRED through the helper, which gets a dup of its fd). */
export function peerCred(sock: Socket, helper = peercredPath()): Promise<PeerCred> {
  const fd = (sock as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return Promise.reject(new Error('cannot get the connection’s file descriptor'));
  return new Promise((resolve, reject) => {
    const c = spawn(helper, [], { stdio: ['ignore', 'pipe', 'pipe', fd] });
    let out = '';
    let err = '';
    c.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    c.on('error', reject);
    // 'close', not 'exit': the output pipes may still hold the line when the process has exited.
    c.on('close', (code) => {
      const m = /^(\d+) (\d+) (\d+)\n$/.exec(out);
      if (code !== 0 || !m) reject(new Error(`egress-peercred failed (exit ${code}): ${err.trim()}`));
      else resolve({ pid: Number(m[1]), uid: Number(m[2]), gid: Number(m[3]) });
    });
  });
}

export interface SocketServerOptions {
  state(): ClientState | undefined;
  log(line: string): void;
  /** gid of the socket (group `egress`). */
  gid: number;
  path?: string;
  cgroupRoot?: string;
  /** At most this many connections at once; more are closed at once. */
  maxConnections?: number;
  /** Settles once the supervisor's first pass has loaded the state: requests wait for it (not refused as stateless). */
  ready?: Promise<unknown>;
}

export interface SocketServer {
  stop(): Promise<void>;
  /** Gives the socket to group `gid` (0: root only), as /etc/group now says. */
  setGroup(gid: number): void;
}

/** Starts listening; a stale socket file is replaced. */
export async function startSocketServer(o: SocketServerOptions): Promise<SocketServer> {
  const path = o.path ?? SOCKET_PATH;
  const helper = peercredPath();
  accessSync(helper, constants.X_OK);
  const ctx: OpsContext = { state: o.state, cgroupRoot: o.cgroupRoot ?? '/sys/fs/cgroup', selfPid: process.pid, origins: new Map() };
  mkdirSync(path.slice(0, path.lastIndexOf('/')), { recursive: true, mode: 0o755 });
  rmSync(path, { force: true });
  let open = 0;
  const server: Server = createServer((sock) => {
    if (open >= (o.maxConnections ?? 16)) {
      sock.destroy();
      return;
    }
    open++;
    sock.on('close', () => open--);
    serve(sock, ctx, o.log, helper, o.ready);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // Created 0600 (umask-independent): nobody connects before the mode and group below are set.
    const old = process.umask(0o177);
    server.listen(path, () => {
      process.umask(old);
      resolve();
    });
  });
  let gid = o.gid;
  chownSync(path, 0, gid);
  chmodSync(path, 0o660);
  o.log(`socket ${path} (0660 root:${gid}): place, attach, detach for allowed users`);
  return {
    setGroup: (g: number) => {
      if (g === gid) return;
      gid = g;
      chownSync(path, 0, g);
      o.log(`socket ${path} now 0660 root:${g}`);
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        rmSync(path, { force: true });
      }),
  };
}

function serve(sock: Socket, ctx: OpsContext, log: (line: string) => void, helper: string, ready?: Promise<unknown>): void {
  let settled = ready === undefined;
  let buf = Buffer.alloc(0);
  let line: string | undefined;
  let cred: PeerCred | undefined;
  let done = false;
  const reply = (r: SupervisorReply, who: string, what: string): void => {
    if (done) return;
    done = true;
    if (!r.ok) log(`socket: refused ${who}${what ? ` ${what}` : ''}: ${r.error}`);
    else if (r.pids.length) log(`socket: ${who} ${what}: moved pid ${r.pids.join(', ')}${r.cgroup ? ` into ${r.cgroup}` : ''}`);
    sock.end(`${JSON.stringify(r)}\n`);
  };
  const who = () => (cred ? `uid ${cred.uid} (pid ${cred.pid})` : 'unknown caller');
  const go = (): void => {
    if (done || line === undefined || !cred || !settled) return;
    const parsed = parseRequest(line);
    if (!parsed.ok) return reply({ ok: false, error: parsed.error }, who(), '');
    const req = parsed.request;
    reply(runRequest(ctx, req, cred), who(), `${req.op}${'pid' in req ? ` ${req.pid}` : ''}${'egress' in req && req.egress ? ` on ${req.egress}` : ''}`);
  };
  sock.setTimeout(5000, () => {
    reply({ ok: false, error: 'no complete request line within 5 s' }, who(), '');
    sock.destroy();
  });
  sock.on('error', () => undefined);
  sock.on('data', (d: Buffer) => {
    if (done || line !== undefined) return;
    buf = Buffer.concat([buf, d]);
    const nl = buf.indexOf(0x0a);
    if (nl < 0 && buf.length > MAX_REQUEST_BYTES) {
      // Refused unread: the rest of what the caller sends is ignored (`done`), not buffered.
      reply({ ok: false, error: `request too large (more than ${MAX_REQUEST_BYTES} bytes without a newline)` }, who(), '');
      return;
    }
    if (nl < 0) return;
    line = buf.subarray(0, nl).toString('utf8');
    go();
  });
  void ready?.then(
    () => {
      settled = true;
      go();
    },
    () => {
      settled = true;
      go();
    },
  );
  peerCred(sock, helper).then(
    (c) => {
      cred = c;
      go();
    },
    (err: Error) => reply({ ok: false, error: `cannot identify the caller: ${err.message}` }, 'unknown caller', ''),
  );
}
