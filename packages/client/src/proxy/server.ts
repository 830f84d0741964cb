// One listening port that speaks SOCKS5 (CONNECT, UDP ASSOCIATE; no-auth or username/password) and HTTP (CONNECT and
// absolute-URI requests), told apart by the first byte (5 = SOCKS5). Every way out goes through EgressOutbound.
import { createHash, timingSafeEqual } from 'node:crypto';
import dgram from 'node:dgram';
import http from 'node:http';
import net, { isIP } from 'node:net';
import { type ListenAddress } from './options.js';
import { EgressOutbound, OutboundError, PIPE_HIGH_WATER_MARK, type ResolvedTarget } from './outbound.js';
import * as S from './socks5.js';

export interface ProxyStats {
  active: number;
  activeUdp: number;
  connections: number;
  refused: number;
  failed: number;
  bytesUp: number;
  bytesDown: number;
  listening: string[];
}

export interface ProxyServerOptions {
  outbound: EgressOutbound;
  listen: ListenAddress[];
  allowed: (address: string) => boolean;
  users?: Map<string, string>;
  /** One line per refused or failed request (stderr). */
  log?: (line: string) => void;
  /** How long a client may take to finish its handshake / request head. */
  handshakeMs?: number;
}

/** Hop-by-hop and proxy headers, never forwarded (RFC 9110 7.6.1). */
const HOP = new Set(['connection', 'proxy-connection', 'keep-alive', 'proxy-authorization', 'proxy-authenticate', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

const digest = (s: string) => createHash('sha256').update(s).digest();

function endedEarly(this: net.Socket): void {
  this.destroy();
}

function plainAddress(a: string | undefined): string {
  if (!a) return '';
  return a.startsWith('::ffff:') && isIP(a.slice(7)) === 4 ? a.slice(7) : a;
}

/** An HTTP status for a failure to reach the destination: 503 when the egress is down, 403 refused, else 502. */
export function httpStatusFor(code: string | undefined): number {
  if (code === 'EADDRNOTAVAIL' || code === 'ENETUNREACH' || code === 'EACCES' || code === 'EPERM') return 503;
  if (code === 'E_PROXY_NOT_ALLOWED') return 403;
  if (code === 'ETIMEDOUT') return 504;
  return 502;
}

/** Splits "host:port" / "[v6]:port" of an HTTP CONNECT request line. */
export function parseAuthority(text: string): { host: string; port: number } | undefined {
  const m = /^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})$/.exec(text) ?? /^([A-Za-z0-9_.-]+):(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[2]);
  const host = m[1]!;
  if (port < 1 || port > 65535) return undefined;
  if (isIP(host) === 0 && !S.validDomain(host)) return undefined;
  return { host: isIP(host) === 6 ? S.normalizeV6(host) : host.toLowerCase(), port };
}

export class ProxyServer {
  private readonly servers: net.Server[] = [];
  private readonly sockets = new Set<net.Socket | dgram.Socket>();
  /** Open outbound TCP sockets (CONNECT tunnels, http:// requests): their byte counters are the traffic. */
  private readonly spliced = new Set<net.Socket>();
  private readonly http: http.Server;
  private readonly stats: ProxyStats = { active: 0, activeUdp: 0, connections: 0, refused: 0, failed: 0, bytesUp: 0, bytesDown: 0, listening: [] };
  private readonly log: (line: string) => void;
  private readonly handshakeMs: number;

  constructor(private readonly opts: ProxyServerOptions) {
    this.log = opts.log ?? (() => undefined);
    this.handshakeMs = opts.handshakeMs ?? 15_000;
    this.http = http.createServer({ requestTimeout: this.handshakeMs * 4, headersTimeout: this.handshakeMs, maxHeaderSize: 16 * 1024 });
    this.http.on('request', (req, res) => void this.httpRequest(req, res));
    this.http.on('connect', (req: http.IncomingMessage, sock: net.Socket, head: Buffer) => this.httpConnect(req, sock, head));
    this.http.on('clientError', (err: NodeJS.ErrnoException, sock: net.Socket) => {
      this.stats.failed++;
      this.log(`http: malformed request from ${plainAddress(sock.remoteAddress)}: ${err.code ?? err.message}`);
      if (sock.writable) sock.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      else sock.destroy();
    });
  }

  /** Listens on every address; on a failure closes the ones already open and throws. */
  async start(): Promise<void> {
    for (const l of this.opts.listen) {
      // Handshake replies are small writes the client waits for: never hold them back for Nagle (noDelay). A client's
      // end (FIN) is passed on through a tunnel, and the answer still comes back (allowHalfOpen; see splice()).
      const server = net.createServer({ noDelay: true, allowHalfOpen: true, highWaterMark: PIPE_HIGH_WATER_MARK }, (sock) => this.accept(sock));
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen({ host: l.host, port: l.port, ipv6Only: l.family === 6 }, () => resolve());
        });
      } catch (err) {
        await this.close();
        throw err;
      }
      const a = server.address() as net.AddressInfo;
      this.stats.listening.push(a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`);
      this.servers.push(server);
    }
  }

  /** The way out for connections from now on (the egress's addresses changed); open ones keep theirs. */
  setOutbound(outbound: EgressOutbound): void {
    this.opts.outbound = outbound;
  }

  /** Where it listens (actual ports, also for port 0). */
  addresses(): net.AddressInfo[] {
    return this.servers.map((s) => s.address() as net.AddressInfo);
  }

  snapshot(): ProxyStats {
    let up = 0;
    let down = 0;
    for (const out of this.spliced) {
      up += out.bytesWritten;
      down += out.bytesRead;
    }
    return { ...this.stats, bytesUp: this.stats.bytesUp + up, bytesDown: this.stats.bytesDown + down, listening: [...this.stats.listening] };
  }

  /** Stops listening and ends every connection and association. */
  async close(): Promise<void> {
    const closing = this.servers.map((s) => new Promise<void>((r) => s.close(() => r())));
    this.servers.length = 0;
    for (const s of this.sockets) {
      if (s instanceof net.Socket) s.destroy();
      else s.close();
    }
    this.sockets.clear();
    this.http.close();
    await Promise.all(closing);
  }

  private track<T extends net.Socket | dgram.Socket>(s: T): T {
    this.sockets.add(s);
    s.once('close', () => this.sockets.delete(s));
    return s;
  }

  private accept(sock: net.Socket): void {
    const from = plainAddress(sock.remoteAddress);
    sock.on('error', () => undefined);
    if (!this.opts.allowed(from)) {
      this.stats.refused++;
      this.log(`refused a connection from ${from}: not in --allow`);
      sock.destroy();
      return;
    }
    this.track(sock);
    this.stats.connections++;
    sock.setTimeout(this.handshakeMs, () => sock.destroy());
    // A client that ends before its handshake is done gets nothing more (removed once the handshake is).
    sock.once('end', endedEarly);
    sock.once('data', (chunk: Buffer) => {
      if (chunk[0] === S.SOCKS_VERSION) {
        this.socks(sock, chunk);
      } else {
        // The HTTP server handles the client's end itself from here on.
        sock.removeListener('end', endedEarly);
        sock.pause();
        sock.unshift(chunk);
        sock.setTimeout(0);
        this.http.emit('connection', sock);
        sock.resume();
      }
    });
  }

  private checkUser(username: string, password: string): boolean {
    const want = this.opts.users?.get(username);
    // Compare digests so the time taken does not depend on where the passwords differ.
    return want !== undefined && timingSafeEqual(digest(want), digest(password));
  }

  // ---- SOCKS5 ------------------------------------------------------------------------------------

  private socks(sock: net.Socket, first: Buffer): void {
    let buf = first;
    let state: 'greeting' | 'auth' | 'request' | 'busy' = 'greeting';
    const fail = (reason: string, reply?: Buffer) => {
      this.stats.failed++;
      this.log(`socks: ${plainAddress(sock.remoteAddress)}: ${reason}`);
      if (reply && sock.writable) sock.end(reply);
      else sock.destroy();
      state = 'busy';
      sock.removeListener('data', onData);
    };
    const step = () => {
      while (state !== 'busy') {
        if (state === 'greeting') {
          const r = S.parseGreeting(buf);
          if (r.kind === 'need') break;
          if (r.kind === 'error') return fail(r.reason, r.reply);
          buf = buf.subarray(r.used);
          const method = this.opts.users ? S.METHOD_USERPASS : S.METHOD_NONE;
          if (!r.value.methods.includes(method)) return fail(`client offers no acceptable method (${this.opts.users ? 'username/password is required' : 'no-auth'})`, Buffer.from([S.SOCKS_VERSION, S.METHOD_UNACCEPTABLE]));
          sock.write(Buffer.from([S.SOCKS_VERSION, method]));
          state = this.opts.users ? 'auth' : 'request';
        } else if (state === 'auth') {
          const r = S.parseUserPass(buf);
          if (r.kind === 'need') break;
          if (r.kind === 'error') return fail(r.reason, r.reply);
          buf = buf.subarray(r.used);
          if (!this.checkUser(r.value.username, r.value.password)) return fail(`bad credentials for user ${JSON.stringify(r.value.username)}`, Buffer.from([0x01, 0x01]));
          sock.write(Buffer.from([0x01, 0x00]));
          state = 'request';
        } else {
          const r = S.parseRequest(buf);
          if (r.kind === 'need') break;
          if (r.kind === 'error') return fail(r.reason, r.reply);
          const rest = buf.subarray(r.used);
          state = 'busy';
          sock.removeListener('data', onData);
          // The request is complete: a client that ends now (FIN right after it) still gets its tunnel and answer;
          // the end is passed on by pipe() once the upstream is connected (it handles a source that already ended).
          sock.removeListener('end', endedEarly);
          sock.pause();
          if (r.value.cmd === S.CMD_CONNECT) this.socksConnect(sock, r.value, rest);
          else void this.socksUdp(sock, r.value);
          return;
        }
      }
      // A handshake never needs more than a few hundred bytes; more is garbage.
      if (buf.length > 1024) fail('handshake longer than 1024 bytes');
    };
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      step();
    };
    sock.on('data', onData);
    step();
  }

  /**
   * The upstream of a CONNECT, then `ready(out)` in the tick it connects. An IP literal is checked and connected in the
   * tick its request arrived (no promise between the request, the connect and the reply); a name is resolved first.
   */
  private openUpstream(host: string, port: number, failed: (err: OutboundError) => void, ready: (out: net.Socket) => void): void {
    const outbound = this.opts.outbound;
    const opened = (err: OutboundError | undefined, out?: net.Socket) => (err ? failed(err) : ready(out!));
    let target: ResolvedTarget | undefined;
    try {
      target = outbound.literal(host);
    } catch (err) {
      return failed(err as OutboundError);
    }
    if (target) return outbound.open(target, port, opened);
    outbound.resolve(host).then((t) => outbound.open(t, port, opened), failed);
  }

  private socksConnect(sock: net.Socket, req: S.Request, early: Buffer): void {
    this.openUpstream(
      req.host,
      req.port,
      (err) => {
        this.stats.failed++;
        this.log(`socks: CONNECT ${req.host}:${req.port} failed: ${err.message}`);
        if (sock.writable) sock.end(S.encodeReply(S.replyForError(err.code)));
      },
      (out) => {
        if (sock.destroyed) return void out.destroy();
        sock.write(S.encodeReply(S.REP.succeeded, plainAddress(out.localAddress), out.localPort ?? 0));
        if (early.length > 0) out.write(early);
        this.splice(sock, out);
        sock.resume();
      },
    );
  }

  private async socksUdp(sock: net.Socket, req: S.Request): Promise<void> {
    const clientIp = plainAddress(sock.remoteAddress);
    const localIp = plainAddress(sock.localAddress);
    const fam = isIP(localIp) === 6 ? 6 : 4;
    let clientPort = req.port !== 0 ? req.port : undefined;
    const relay = this.track(dgram.createSocket({ type: fam === 6 ? 'udp6' : 'udp4' }));
    const outs = new Map<4 | 6, Promise<dgram.Socket>>();
    try {
      await new Promise<void>((resolve, reject) => {
        relay.once('error', reject);
        relay.bind({ address: localIp, port: 0 }, () => resolve());
      });
    } catch (err) {
      this.stats.failed++;
      this.log(`socks: UDP ASSOCIATE: cannot open a relay on ${localIp}: ${(err as Error).message}`);
      relay.close();
      if (sock.writable) sock.end(S.encodeReply(S.REP.generalFailure));
      return;
    }
    relay.on('error', () => undefined);
    const closeAll = () => {
      try {
        relay.close();
      } catch {
        /* already closed */
      }
      for (const p of outs.values()) void p.then((s) => s.close(), () => undefined);
      this.stats.activeUdp--;
    };
    this.stats.activeUdp++;
    this.stats.active++;
    sock.setTimeout(0);
    sock.on('data', () => undefined); // the control connection carries nothing more; its end ends the association
    sock.once('close', () => {
      this.stats.active--;
      closeAll();
    });
    sock.resume();

    const outFor = (family: 4 | 6): Promise<dgram.Socket> => {
      let p = outs.get(family);
      if (!p) {
        p = this.opts.outbound.udpSocket(family).then((s) => {
          this.track(s);
          s.on('error', () => undefined);
          s.on('message', (msg, rinfo) => {
            if (clientPort === undefined) return;
            this.stats.bytesDown += msg.length;
            relay.send(Buffer.concat([S.encodeUdpHeader(plainAddress(rinfo.address), rinfo.port), msg]), clientPort, clientIp);
          });
          return s;
        });
        // A failed bind (egress down) is retried on the next datagram, never replaced by an unbound socket.
        p.catch(() => outs.delete(family));
        outs.set(family, p);
      }
      return p;
    };

    relay.on('message', (msg, rinfo) => {
      // Only the client that asked for the association may use it (and only from the port it named, if it named one).
      if (plainAddress(rinfo.address) !== clientIp) return;
      if (clientPort !== undefined && rinfo.port !== clientPort) return;
      clientPort = rinfo.port;
      const d = S.parseUdpDatagram(msg);
      if (d.kind === 'error') {
        this.log(`socks: UDP from ${clientIp}:${rinfo.port} dropped: ${d.reason}`);
        return;
      }
      void (async () => {
        try {
          const target: ResolvedTarget = await this.opts.outbound.resolve(d.value.host);
          const out = await outFor(target.family);
          this.stats.bytesUp += d.value.data.length;
          out.send(d.value.data, d.value.port, target.address);
        } catch (err) {
          this.stats.failed++;
          this.log(`socks: UDP to ${d.value.host}:${d.value.port} dropped: ${(err as Error).message}`);
        }
      })();
    });
    const a = relay.address();
    sock.write(S.encodeReply(S.REP.succeeded, a.address, a.port));
    // Half-open socket: the client's end (even one that came while the relay was opened) closes it from our side too.
    if (sock.readableEnded) sock.end();
    else sock.once('end', () => sock.end());
  }

  /**
   * Pipes two sockets both ways and ends each when the other ends (a half-close is passed on: both are half-open
   * sockets, so the other way keeps flowing until its own end); once either is fully closed both are destroyed. No
   * per-chunk work besides the pipe itself: the bytes are counted by countBytes().
   */
  private splice(client: net.Socket, out: net.Socket): void {
    client.removeListener('end', endedEarly);
    this.track(out);
    client.setTimeout(0);
    this.stats.active++;
    this.countBytes(out);
    out.on('error', () => client.destroy());
    client.on('error', () => out.destroy());
    client.pipe(out);
    out.pipe(client);
    let closed = 0;
    const done = () => {
      if (++closed === 1) {
        this.stats.active--;
        client.destroy();
        out.destroy();
      }
    };
    client.once('close', done);
    out.once('close', done);
  }

  /**
   * Counts an outbound socket's traffic by its own counters (bytesWritten up, bytesRead down): read live for a
   * snapshot, added to the totals when it closes. No per-chunk work.
   */
  private countBytes(out: net.Socket): void {
    this.spliced.add(out);
    out.once('close', () => {
      this.spliced.delete(out);
      this.stats.bytesUp += out.bytesWritten;
      this.stats.bytesDown += out.bytesRead;
    });
  }

  // ---- HTTP --------------------------------------------------------------------------------------

  /** True when no auth is configured or Proxy-Authorization carries a known user; else answers 407. */
  private httpAuthorized(req: http.IncomingMessage): boolean {
    if (!this.opts.users) return true;
    const m = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(req.headers['proxy-authorization'] ?? '');
    if (!m) return false;
    const text = Buffer.from(m[1]!, 'base64').toString('utf8');
    const at = text.indexOf(':');
    return at > 0 && this.checkUser(text.slice(0, at), text.slice(at + 1));
  }

  private refuse(sock: net.Socket, status: number, reason: string, extra = ''): void {
    this.stats.failed++;
    this.log(`http: ${plainAddress(sock.remoteAddress)}: ${status} ${reason}`);
    const body = `${reason}\n`;
    if (sock.writable) sock.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}\r\n${extra}Content-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    else sock.destroy();
  }

  private httpConnect(req: http.IncomingMessage, sock: net.Socket, head: Buffer): void {
    sock.on('error', () => undefined);
    if (!this.httpAuthorized(req)) return this.refuse(sock, 407, 'proxy authentication required', 'Proxy-Authenticate: Basic realm="egress"\r\n');
    const dest = parseAuthority(req.url ?? '');
    if (!dest) return this.refuse(sock, 400, `CONNECT needs HOST:PORT, got ${JSON.stringify(req.url ?? '')}`);
    this.openUpstream(
      dest.host,
      dest.port,
      (err) => this.refuse(sock, httpStatusFor(err.code), `CONNECT ${dest.host}:${dest.port} failed: ${err.message}`),
      (out) => {
        if (sock.destroyed) return void out.destroy();
        sock.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        if (head.length > 0) out.write(head);
        this.splice(sock, out);
      },
    );
  }

  private async httpRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const sock = req.socket;
    const fail = (status: number, reason: string, headers: Record<string, string> = {}) => {
      this.stats.failed++;
      this.log(`http: ${plainAddress(sock.remoteAddress)}: ${status} ${reason}`);
      if (!res.headersSent) res.writeHead(status, { 'content-type': 'text/plain', connection: 'close', ...headers });
      res.end(`${reason}\n`);
    };
    if (!this.httpAuthorized(req)) return fail(407, 'proxy authentication required', { 'proxy-authenticate': 'Basic realm="egress"' });
    let url: URL;
    try {
      url = new URL(req.url ?? '');
    } catch {
      return fail(400, `expected an absolute http:// URI (this is a proxy), got ${JSON.stringify(req.url ?? '')}`);
    }
    if (url.protocol !== 'http:') return fail(400, `only http:// URIs are proxied as requests (use CONNECT for ${url.protocol.replace(':', '')}), got ${url.protocol}`);
    const host = url.hostname.startsWith('[') ? S.normalizeV6(url.hostname.slice(1, -1)) : url.hostname;
    const port = url.port ? Number(url.port) : 80;
    let target: ResolvedTarget;
    try {
      target = await this.opts.outbound.resolve(host);
      this.opts.outbound.sourceFor(target.family);
    } catch (err) {
      return fail(httpStatusFor((err as OutboundError).code), `${host}: ${(err as Error).message}`);
    }
    const headers: http.OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(req.headers)) if (!HOP.has(k) && v !== undefined) headers[k] = v;
    headers.host = url.host;
    this.stats.active++;
    let counted = true;
    const finish = () => {
      if (counted) {
        counted = false;
        this.stats.active--;
      }
    };
    res.once('close', finish);
    const up = http.request({
      host: target.address,
      family: target.family,
      port,
      method: req.method,
      path: `${url.pathname}${url.search}`,
      headers,
      localAddress: this.opts.outbound.sourceFor(target.family),
      setHost: false,
      agent: false,
      timeout: 30_000,
    });
    up.on('timeout', () => up.destroy(new OutboundError('ETIMEDOUT', 'no answer in 30 s')));
    up.on('error', (err: NodeJS.ErrnoException) => {
      if (res.headersSent) res.destroy();
      else fail(httpStatusFor(err.code), `${req.method} ${url.href} failed: ${err.message}`);
    });
    up.on('response', (r) => {
      const out: http.OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(r.headers)) if (!HOP.has(k) && v !== undefined) out[k] = v;
      res.writeHead(r.statusCode ?? 502, r.statusMessage, out);
      r.pipe(res);
    });
    // Bytes are the upstream socket's counters (its own connection: agent false), request and response heads included.
    up.once('socket', (out: net.Socket) => this.countBytes(out));
    req.pipe(up);
  }
}
