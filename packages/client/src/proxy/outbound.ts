// The proxy's way out: every outgoing TCP connection, UDP socket and DNS query is bound to the egress's tunnel address,
// so the client's `from ADDRESS lookup TABLE` rule (with its prohibit fallback) and the kill switch carry it. When the
// egress is down its address is gone, the bind fails (EADDRNOTAVAIL) and the proxy answers with an error: fail closed.
import { Resolver } from 'node:dns/promises';
import dgram from 'node:dgram';
import net, { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { type PublicEgressFacts } from '@egress/core/model/client';

/** An error the proxy reports to its client (SOCKS reply / HTTP status) with a code like the socket's. */
export class OutboundError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Buffer size of both sockets of a tunnel: a pipe stops reading its source when the destination holds this much
 * unsent, so a larger mark means fewer stop/start cycles (epoll changes) on a fast source and a slower sink.
 */
export const PIPE_HIGH_WATER_MARK = 256 * 1024;

export interface ResolvedTarget {
  address: string;
  family: 4 | 6;
}

/** Destinations never proxied: this host's loopback and unspecified addresses (a LAN client must not reach local services). */
export function forbiddenDestination(address: string): string | undefined {
  const a = address.toLowerCase();
  if (isIP(a) === 4 && (a.startsWith('127.') || a === '0.0.0.0')) return 'a loopback or unspecified address';
  if (isIP(a) === 6 && (a === '::1' || a === '::' || a.startsWith('::ffff:127.') || a.startsWith('::ffff:7f'))) return 'a loopback or unspecified address';
  return undefined;
}

/** Every address on this host's interfaces (a destination among them would be delivered locally, not through the egress). */
let cached: { at: number; set: Set<string> } | undefined;
function hostAddresses(): Set<string> {
  // Read at most every 500 ms (getifaddrs per connection shows in connect latency). Safety does not rest on it: while
  // the egress is down its address is gone and the bind itself fails.
  const now = Date.now();
  if (!cached || now - cached.at > 500) {
    cached = { at: now, set: new Set(Object.values(networkInterfaces()).flatMap((l) => (l ?? []).map((a) => a.address.replace(/%.*$/, '')))) };
  }
  return cached.set;
}

export class EgressOutbound {
  private readonly resolver: Resolver;
  private readonly servers: string[];

  /** `allowLoopback` is for unit tests only (their fake tunnel address is 127.0.0.1). */
  constructor(readonly facts: PublicEgressFacts, private readonly opts: { timeoutMs?: number; allowLoopback?: boolean } = {}) {
    this.resolver = new Resolver({ timeout: opts.timeoutMs ?? 3000, tries: 2 });
    // Only the DNS servers of a family the tunnel has an address of: a query of another family would leave unbound.
    this.servers = facts.dns.filter((s) => (isIP(s) === 4 ? !!facts.address4 : !!facts.address6));
    if (this.servers.length > 0) {
      this.resolver.setServers(this.servers);
      this.resolver.setLocalAddress(facts.address4 ?? '0.0.0.0', facts.address6 ?? '::0');
    }
  }

  /** The tunnel address of a family, or an error saying the egress has none (never a fallback to another source). */
  sourceFor(family: 4 | 6): string {
    const src = family === 4 ? this.facts.address4 : this.facts.address6;
    if (!src) throw new OutboundError('E_PROXY_NOT_ALLOWED', `egress '${this.facts.name}' has no tunnel IPv${family} address, so IPv${family} destinations are refused`);
    return src;
  }

  /** A clear "egress down" before trying: the tunnel address must be on this host (the bind would fail anyway). */
  assertUp(): void {
    if (this.opts.allowLoopback) return;
    const have = hostAddresses();
    const missing = [this.facts.address4, this.facts.address6].filter((a): a is string => !!a && !have.has(a));
    if (missing.length > 0) throw new OutboundError('EADDRNOTAVAIL', `egress '${this.facts.name}' is down: its tunnel address ${missing.join(', ')} is not on this host`);
  }

  /** Resolves a name through the egress's DNS servers (socket bound to the tunnel address); IP literals pass through. */
  async resolve(host: string): Promise<ResolvedTarget> {
    return this.literal(host) ?? this.checked(host, await this.resolveName(host));
  }

  /**
   * An IP literal checked like resolve() does, without a promise (a CONNECT to an address goes out in the same tick
   * as its request arrived); undefined for a name. Throws an OutboundError when the egress is down or the address is
   * not allowed.
   */
  literal(host: string): ResolvedTarget | undefined {
    const lit = isIP(host);
    if (lit !== 4 && lit !== 6) return undefined;
    this.assertUp();
    return this.checked(host, { address: host, family: lit });
  }

  private async resolveName(host: string): Promise<ResolvedTarget> {
    this.assertUp();
    if (this.servers.length === 0) throw new OutboundError('ENOTFOUND', `egress '${this.facts.name}' has no DNS server reachable through its tunnel to resolve ${host}`);
    return this.lookupName(host);
  }

  private checked(host: string, target: ResolvedTarget): ResolvedTarget {
    const bad = this.opts.allowLoopback ? undefined : (forbiddenDestination(target.address) ?? (hostAddresses().has(target.address) ? 'an address of this host' : undefined));
    if (bad) throw new OutboundError('E_PROXY_NOT_ALLOWED', `${host} is ${bad}; the proxy does not connect there`);
    this.sourceFor(target.family);
    return target;
  }

  private async lookupName(host: string): Promise<ResolvedTarget> {
    const errors: string[] = [];
    const order: Array<4 | 6> = this.facts.address4 ? [4, 6] : [6];
    for (const family of order) {
      if (family === 6 && !this.facts.address6) continue;
      try {
        const addrs = family === 4 ? await this.resolver.resolve4(host) : await this.resolver.resolve6(host);
        if (addrs[0]) return { address: addrs[0], family };
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? 'ERR';
        errors.push(`${family === 4 ? 'A' : 'AAAA'}: ${code}`);
        // A server that cannot be reached (egress down) is not "no such name": stop and report it.
        if (code === 'ECONNREFUSED' || code === 'ETIMEOUT' || code === 'EADDRNOTAVAIL') throw new OutboundError(code === 'EADDRNOTAVAIL' ? 'EADDRNOTAVAIL' : 'ETIMEDOUT', `cannot resolve ${host} through egress '${this.facts.name}' (${errors.join(', ')})`);
      }
    }
    throw new OutboundError('ENOTFOUND', `cannot resolve ${host} through egress '${this.facts.name}' (${errors.join(', ') || 'no address'})`);
  }

  /** Opens a TCP connection from the tunnel address; resolves once connected. */
  connect(target: ResolvedTarget, port: number, timeoutMs = 10_000): Promise<net.Socket> {
    return new Promise((resolve, reject) => this.open(target, port, (err, sock) => (err ? reject(err) : resolve(sock!)), timeoutMs));
  }

  /**
   * connect() with a callback, called in the tick the connection completes (no promise hop between the upstream's
   * connect and the proxy's reply). An error is always an OutboundError; `done` is called exactly once.
   */
  open(target: ResolvedTarget, port: number, done: (err: OutboundError | undefined, sock?: net.Socket) => void, timeoutMs = 10_000): void {
    let localAddress: string;
    try {
      localAddress = this.sourceFor(target.family);
    } catch (err) {
      return done(err as OutboundError);
    }
    // An IP host: no lookup, connect() right away; small writes (a request, a handshake) go out at once.
    // (net.Socket passes highWaterMark on to its streams; @types/node does not list it for connect.)
    const sock = net.connect({ host: target.address, port, localAddress, family: target.family, noDelay: true, allowHalfOpen: true, highWaterMark: PIPE_HIGH_WATER_MARK } as net.NetConnectOpts);
    const onTimeout = () => {
      sock.removeListener('error', onError);
      sock.on('error', () => undefined);
      sock.destroy();
      done(new OutboundError('ETIMEDOUT', `connecting to ${target.address}:${port} timed out`));
    };
    const onError = (err: NodeJS.ErrnoException) => {
      sock.setTimeout(0, onTimeout);
      sock.destroy();
      done(new OutboundError(err.code ?? 'ERR', `connecting to ${target.address}:${port} from ${localAddress}: ${err.message}`));
    };
    // The socket's own idle timer (no separate timer object per connection); it only runs until connected.
    sock.setTimeout(timeoutMs, onTimeout);
    sock.once('error', onError);
    sock.once('connect', () => {
      sock.setTimeout(0, onTimeout);
      sock.removeListener('error', onError);
      done(undefined, sock);
    });
  }

  /** A UDP socket of a family bound to the tunnel address (port chosen by the kernel). */
  udpSocket(family: 4 | 6): Promise<dgram.Socket> {
    const address = this.sourceFor(family);
    return new Promise((resolve, reject) => {
      const sock = dgram.createSocket({ type: family === 4 ? 'udp4' : 'udp6' });
      sock.once('error', (err: NodeJS.ErrnoException) => {
        sock.close();
        reject(new OutboundError(err.code ?? 'ERR', `binding a UDP socket to ${address}: ${err.message}`));
      });
      sock.bind({ address, port: 0 }, () => {
        sock.removeAllListeners('error');
        resolve(sock);
      });
    });
  }
}
