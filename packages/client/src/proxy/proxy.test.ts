// The proxy's parsers, inputs and server on loopback (fake tunnel address 127.0.0.1, no DNS): malformed SOCKS5 and HTTP
// (a fuzz set) get an error reply or a clean close and the server keeps serving; auth and --allow are enforced.
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessList, parseProxyConfig, readAuthFile } from './options.js';
import { EgressOutbound, forbiddenDestination } from './outbound.js';
import { parseAuthority, ProxyServer } from './server.js';
import * as S from './socks5.js';

const facts = { version: 1 as const, name: 'unit', kind: 'wireguard' as const, interface: 'lo', address4: '127.0.0.1', dns: [] };

/** Malformed SOCKS5 byte strings: each must be answered with an error or closed. */
export const SOCKS_FUZZ: Buffer[] = [
  [5, 0], // no methods
  [5, 1, 0, 5, 9, 0, 1, 127, 0, 0, 1, 0, 80], // unknown command 9
  [5, 1, 0, 5, 2, 0, 1, 127, 0, 0, 1, 0, 80], // BIND
  [5, 1, 0, 5, 1, 1, 1, 127, 0, 0, 1, 0, 80], // reserved byte 1
  [5, 1, 0, 5, 1, 0, 7, 127, 0, 0, 1, 0, 80], // address type 7
  [5, 1, 0, 5, 1, 0, 0, 127, 0, 0, 1, 0, 80], // address type 0
  [5, 1, 0, 5, 1, 0, 3, 0, 0, 80], // empty domain
  [5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, 0, 0], // port 0
  [5, 1, 0, 4, 1, 0, 1, 127, 0, 0, 1, 0, 80], // request version 4
  [5, 1, 0, 0, 1, 0, 1, 127, 0, 0, 1, 0, 80], // request version 0
  [5, 1, 2], // only user/pass offered while no-auth is configured
  [5, 2, 1, 3], // GSSAPI and unassigned only
  [5, 1, 0xff],
  [5, 1, 0, 5, 1, 0, 3, 3, 0x61, 0x20, 0x62, 0, 80], // "a b"
  [5, 1, 0, 5, 1, 0, 3, 3, 0x2e, 0x2e, 0x2e, 0, 80], // "..."
  [5, 1, 0, 5, 1, 0, 3, 2, 0x61, 0x00, 0, 80], // NUL in name
  [5, 1, 0, 5, 1, 0, 3, 4, 0x2d, 0x2f, 0x3a, 0x40, 0, 80], // "-/:@"
  [5, 1, 0, 5, 1, 0, 3, 5, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0, 80], // non-ASCII
  [5, 1, 0, 5, 0, 0, 1, 127, 0, 0, 1, 0, 80], // command 0
  [5, 1, 0, 5, 0xff, 0, 1, 127, 0, 0, 1, 0, 80], // command 255
  [5, 1, 0, 5, 1, 0, 0xff, 1, 2, 3], // address type 255
  [5, 1, 0, 5, 1, 0, 1, 0, 0, 0, 0, 0, 80], // 0.0.0.0 (unspecified)
  [5, 0xff, ...Array(255).fill(0x09)], // 255 unassigned methods
  [5, 1, 0, 5, 1, 0, 3, 253, ...Array(253).fill(0x2e), 0, 80], // 253 dots
  [5, 1, 0, 5, 1, 0, 3, 64, ...Array(64).fill(0x61), 0, 80], // a 64-byte label
  [5, 1, 0, 5, 3, 0, 7, 0, 0], // UDP ASSOCIATE with address type 7
  [5, 1, 0, 5, 1, 0x80, 1, 127, 0, 0, 1, 0, 80], // reserved 0x80
  [5, 1, 0, 5, 1, 0, 4, ...Array(16).fill(0), 0, 0], // [::]:0
  [5, 1, 0, 5, 1, 0, 3, 1, 0x2e, 0, 80], // "."
  [5, 1, 0, 5, 1, 0, 3, 2, 0x61, 0x2e, 0x2e, 0, 80].slice(0, 11), // "a.." (length 2: "a.") then garbage
].map((a) => Buffer.from(a));

/** Truncated or oversized handshakes: closed by the handshake timeout or the size limit. */
const SOCKS_SHORT: Buffer[] = [[5], [5, 3, 0], [5, 1, 0, 5], [5, 1, 0, 5, 1, 0, 1, 127], [5, 1, 0, 5, 1, 0, 3, 10, 0x61]].map((a) => Buffer.from(a));

/** Malformed HTTP: each must get a 4xx or a close. */
export const HTTP_FUZZ: string[] = [
  'GET / HTTP/1.1\r\nHost: x\r\n\r\n', // origin-form: not a proxy request
  'GET ftp://example.org/ HTTP/1.1\r\n\r\n',
  'GET https://example.org/ HTTP/1.1\r\n\r\n',
  'GET http:// HTTP/1.1\r\n\r\n',
  'CONNECT example.org HTTP/1.1\r\n\r\n',
  'CONNECT example.org:0 HTTP/1.1\r\n\r\n',
  'CONNECT example.org:99999 HTTP/1.1\r\n\r\n',
  'CONNECT :80 HTTP/1.1\r\n\r\n',
  'CONNECT [::1 HTTP/1.1\r\n\r\n',
  'CONNECT a b:80 HTTP/1.1\r\n\r\n',
  'CONNECT exa$mple.org:80 HTTP/1.1\r\n\r\n',
  'GARBAGE\r\n\r\n',
  'GET\r\n\r\n',
  'GET http://x/ HTTP/9.9\r\n\r\n',
  'GET http://x/ HTTP/1.1\r\nBad Header\r\n\r\n',
  'GET http://x/ HTTP/1.1\r\nContent-Length: -1\r\n\r\n',
  'GET http://x/ HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
  'GET http://x/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
  `GET http://x/ HTTP/1.1\r\nX: ${'a'.repeat(20_000)}\r\n\r\n`,
  'GET http://x/\0 HTTP/1.1\r\n\r\n',
  '\x00\x01\x02\x03\r\n\r\n',
  '\x04\x01\x00\x50\x7f\x00\x00\x01\x00', // SOCKS4
  'GET http://127.0.0.1:1/ HTTP/1.1\r\n\r\n', // refused port: 502
  'CONNECT 127.0.0.1:1 HTTP/1.1\r\n\r\n', // refused port: 502
  'GET http://[::1]:80/ HTTP/1.1\r\n\r\n', // no tunnel IPv6: 403
];

let target: net.Server;
let targetPort: number;
let proxy: ProxyServer;
let proxyPort: number;
let authProxy: ProxyServer;
let authPort: number;

/** Sends bytes and collects everything until the server closes (or `ms` passes: then 'open'). */
/** Sends `data` (then ends its side when `halfClose`) and collects the reply until the proxy closes or `ms` pass. */
function exchange(port: number, data: Buffer | string, ms = 3000, halfClose = false): Promise<{ reply: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const s = net.connect(port, '127.0.0.1', () => (halfClose ? s.end(data) : s.write(data)));
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ reply: Buffer.concat(chunks), closed: false });
    }, ms);
    s.on('data', (c) => chunks.push(c));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ reply: Buffer.concat(chunks), closed: true });
    });
  });
}

/** A full SOCKS5 CONNECT to the target; resolves with what the target sent. */
function socksConnect(port: number, auth?: [string, string]): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let stage = 0;
    let buf = Buffer.alloc(0);
    const req = Buffer.from([5, 1, 0, 1, 127, 0, 0, 1, targetPort >> 8, targetPort & 0xff]);
    s.on('connect', () => s.write(Buffer.from(auth ? [5, 1, 2] : [5, 1, 0])));
    s.on('data', (c) => {
      buf = Buffer.concat([buf, c]);
      if (stage === 0 && buf.length >= 2) {
        if (buf[1] === 0xff) return reject(new Error('no method'));
        buf = buf.subarray(2);
        if (auth) {
          stage = 1;
          s.write(Buffer.concat([Buffer.from([1, auth[0].length]), Buffer.from(auth[0]), Buffer.from([auth[1].length]), Buffer.from(auth[1])]));
        } else {
          stage = 2;
          s.write(req);
        }
      }
      if (stage === 1 && buf.length >= 2) {
        if (buf[1] !== 0) return reject(new Error(`auth status ${buf[1]}`));
        buf = buf.subarray(2);
        stage = 2;
        s.write(req);
      }
      if (stage === 2 && buf.length >= 10) {
        if (buf[1] !== 0) return reject(new Error(`reply ${buf[1]}`));
        buf = buf.subarray(10);
        stage = 3;
      }
    });
    s.on('close', () => (stage === 3 ? resolve(buf.toString()) : reject(new Error(`closed at stage ${stage}`))));
    s.on('error', reject);
  });
}

beforeAll(async () => {
  target = net.createServer((s) => s.end(`hello ${s.remoteAddress}\n`));
  await new Promise<void>((r) => target.listen(0, '127.0.0.1', () => r()));
  targetPort = (target.address() as net.AddressInfo).port;
  const outbound = new EgressOutbound(facts, { allowLoopback: true });
  proxy = new ProxyServer({ outbound, listen: [{ host: '127.0.0.1', port: 0, family: 4 }], allowed: () => true, handshakeMs: 500 });
  await proxy.start();
  proxyPort = proxy.addresses()[0]!.port;
  authProxy = new ProxyServer({ outbound, listen: [{ host: '127.0.0.1', port: 0, family: 4 }], allowed: () => true, users: new Map([['alice', 's3cret']]), handshakeMs: 500 });
  await authProxy.start();
  authPort = authProxy.addresses()[0]!.port;
});

afterAll(async () => {
  await proxy?.close();
  await authProxy?.close();
  target?.close();
});

describe('SOCKS5 parsers', () => {
  it('parse a well-formed greeting, user/pass and the three address types', () => {
    expect(S.parseGreeting(Buffer.from([5, 2, 0, 2]))).toEqual({ kind: 'ok', value: { methods: [0, 2] }, used: 4 });
    expect(S.parseUserPass(Buffer.from([1, 1, 0x61, 2, 0x62, 0x63]))).toEqual({ kind: 'ok', value: { username: 'a', password: 'bc' }, used: 6 });
    expect(S.parseRequest(Buffer.from([5, 1, 0, 1, 203, 0, 113, 10, 0x1f, 0x40]))).toMatchObject({ kind: 'ok', value: { cmd: 1, type: 'ipv4', host: '203.0.113.10', port: 8000 } });
    const v6 = Buffer.from([5, 3, 0, 4, 0x20, 0x01, 0x0d, 0xb8, 0x01, 0x13, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 53]);
    expect(S.parseRequest(v6)).toMatchObject({ kind: 'ok', value: { cmd: 3, type: 'ipv6', host: '2001:db8:113::10', port: 53 } });
    const name = Buffer.from('Whoami.Egress.Test');
    expect(S.parseRequest(Buffer.concat([Buffer.from([5, 1, 0, 3, name.length]), name, Buffer.from([0, 80])]))).toMatchObject({ kind: 'ok', value: { type: 'domain', host: 'whoami.egress.test', port: 80 } });
    expect(S.parseUdpDatagram(Buffer.from([0, 0, 0, 1, 1, 2, 3, 4, 0, 9, 0x68, 0x69]))).toMatchObject({ kind: 'ok', value: { host: '1.2.3.4', port: 9, data: Buffer.from('hi') } });
  });

  it('encode replies and UDP headers that parse back (v4 and v6)', () => {
    expect([...S.encodeReply(0, '192.0.2.1', 1080)]).toEqual([5, 0, 0, 1, 192, 0, 2, 1, 4, 56]);
    const h = S.encodeUdpHeader('2001:db8::1', 53);
    expect(S.parseUdpDatagram(Buffer.concat([h, Buffer.from('x')]))).toMatchObject({ kind: 'ok', value: { host: '2001:db8::1', port: 53 } });
  });

  it(`refuse every one of ${SOCKS_FUZZ.length} malformed messages (error or, for an unconfigured method, no acceptable method)`, () => {
    for (const m of SOCKS_FUZZ) {
      const g = S.parseGreeting(m);
      if (g.kind === 'error') continue;
      expect(g.kind, m.toString('hex')).toBe('ok');
      if (g.kind !== 'ok') continue;
      if (!g.value.methods.includes(0)) continue; // the server answers 0xff
      const r = S.parseRequest(m.subarray(g.used));
      const refused = r.kind === 'error' || (r.kind === 'ok' && (r.value.host === '0.0.0.0' || r.value.host === '::' || r.value.port === 0));
      expect(refused || r.kind === 'need', m.toString('hex')).toBe(true);
    }
    for (const m of SOCKS_SHORT) expect(S.parseGreeting(m).kind === 'need' || S.parseRequest(m.subarray(2 + (m[1] ?? 0))).kind === 'need').toBe(true);
    expect(S.parseUdpDatagram(Buffer.from([0, 0, 1, 1, 1, 2, 3, 4, 0, 9])).kind).toBe('error'); // fragment
    expect(S.parseUdpDatagram(Buffer.from([1, 0, 0, 1, 1, 2, 3, 4, 0, 9])).kind).toBe('error');
    expect(S.parseUdpDatagram(Buffer.from([0, 0, 0, 1, 1, 2])).kind).toBe('error');
  });

  it('parse CONNECT authorities strictly', () => {
    expect(parseAuthority('Example.org:443')).toEqual({ host: 'example.org', port: 443 });
    expect(parseAuthority('[2001:DB8::1]:443')).toEqual({ host: '2001:db8::1', port: 443 });
    for (const bad of ['example.org', ':80', 'a b:80', 'x:0', 'x:65536', '[::1', 'exa$mple:1']) expect(parseAuthority(bad), bad).toBeUndefined();
  });
});

describe('proxy options', () => {
  it('default to 127.0.0.1:1080 and parse IPv6 listen addresses', () => {
    expect(parseProxyConfig({}).listen).toEqual([{ host: '127.0.0.1', port: 1080, family: 4 }]);
    expect(parseProxyConfig({ listen: ['[::1]:1081', '127.0.0.2:9'] }).listen).toEqual([
      { host: '::1', port: 1081, family: 6 },
      { host: '127.0.0.2', port: 9, family: 4 },
    ]);
  });

  it('refuse a non-loopback listen without --allow, naming the field; bad values name theirs', () => {
    expect(() => parseProxyConfig({ listen: ['192.0.2.2:1080'] })).toThrow(/--listen: 192\.0\.2\.2:1080 is not a loopback address; give --allow CIDR/);
    expect(() => parseProxyConfig({ listen: ['0.0.0.0:1080'], allow: ['192.0.2.0/33'] })).toThrow(/--allow: expected a CIDR .* got '192\.0\.2\.0\/33'/);
    expect(() => parseProxyConfig({ listen: ['localhost:1080'] })).toThrow(/--listen: expected ADDR:PORT/);
    expect(() => parseProxyConfig({ listen: ['127.0.0.1:70000'] })).toThrow(/--listen/);
    expect(() => parseProxyConfig({ egress: 'Bad Name' })).toThrow(/--egress/);
    expect(parseProxyConfig({ listen: ['192.0.2.2:1080'], allow: ['198.51.100.0/24'] }).allow).toEqual(['198.51.100.0/24']);
  });

  it('read a 0600 auth file and refuse one group/other can read, or a bad line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'proxy-auth-'));
    const f = join(dir, 'users');
    writeFileSync(f, '# users\nalice:s3cret:with:colons\n\nbob:pw\n', { mode: 0o600 });
    expect([...readAuthFile(f)]).toEqual([['alice', 's3cret:with:colons'], ['bob', 'pw']]);
    chmodSync(f, 0o640);
    expect(() => readAuthFile(f)).toThrow(/--auth-file: .* has mode 0640; .*chmod 600/);
    chmodSync(f, 0o600);
    writeFileSync(f, 'nocolon\n');
    expect(() => readAuthFile(f)).toThrow(/--auth-file: .* line 1: expected USER:PASSWORD/);
  });

  it('allow loopback and the --allow ranges only (v4-mapped sources too)', () => {
    const ok = accessList(['192.0.2.0/25', '2001:db8:2::/64']);
    expect(['127.0.0.1', '::1', '192.0.2.5', '::ffff:192.0.2.5', '2001:db8:2::9'].every(ok)).toBe(true);
    expect(['192.0.2.130', '198.51.100.1', '2001:db8:3::2', 'garbage'].some(ok)).toBe(false);
  });
});

describe('outbound destinations', () => {
  it('refuse loopback and unspecified destinations, and IPv6 when the tunnel has no IPv6 address', async () => {
    expect(['127.0.0.1', '127.8.9.10', '0.0.0.0', '::1', '::', '::ffff:127.0.0.1'].map(forbiddenDestination).every(Boolean)).toBe(true);
    expect(['203.0.113.10', '2001:db8::1', '192.0.2.2'].map(forbiddenDestination).some(Boolean)).toBe(false);
    const out = new EgressOutbound(facts);
    await expect(out.resolve('127.0.0.1')).rejects.toMatchObject({ code: 'E_PROXY_NOT_ALLOWED' });
    await expect(out.resolve('2001:db8::1')).rejects.toThrow(/has no tunnel IPv6 address, so IPv6 destinations are refused/);
    await expect(out.resolve('whoami.egress.test')).rejects.toThrow(/no DNS server reachable through its tunnel/);
  });
});

describe('proxy server on loopback', () => {
  it('relays a SOCKS5 CONNECT, an HTTP CONNECT and a plain http:// request, from the bound source', async () => {
    expect(await socksConnect(proxyPort)).toBe('hello 127.0.0.1\n');
    const c = await exchange(proxyPort, `CONNECT 127.0.0.1:${targetPort} HTTP/1.1\r\n\r\n`);
    expect(c.reply.toString()).toBe('HTTP/1.1 200 Connection Established\r\n\r\nhello 127.0.0.1\n');
    const web = (await import('node:http')).createServer((req, res) => res.end(`${req.method} ${req.url} host=${req.headers.host} via=${req.socket.remoteAddress}`));
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', () => r()));
    const wp = (web.address() as net.AddressInfo).port;
    const g = await exchange(proxyPort, `GET http://127.0.0.1:${wp}/a?b=1 HTTP/1.1\r\nHost: 127.0.0.1:${wp}\r\nProxy-Connection: close\r\nConnection: close\r\n\r\n`);
    web.close();
    expect(g.reply.toString()).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(g.reply.toString()).toContain(`GET /a?b=1 host=127.0.0.1:${wp} via=127.0.0.1`);
    const st = proxy.snapshot();
    expect(st.connections).toBeGreaterThanOrEqual(3);
    expect(st.bytesDown).toBeGreaterThan(0);
  });

  it(`answers ${SOCKS_FUZZ.length + SOCKS_SHORT.length} malformed SOCKS5 and ${HTTP_FUZZ.length} malformed HTTP requests with an error or a close, and keeps serving`, async () => {
    expect(SOCKS_FUZZ.length + SOCKS_SHORT.length + HTTP_FUZZ.length).toBeGreaterThanOrEqual(50);
    for (const m of [...SOCKS_FUZZ, ...SOCKS_SHORT]) {
      const r = await exchange(proxyPort, m);
      expect(r.closed, m.toString('hex')).toBe(true);
      // Whatever came back is a method choice/refusal, then (if any) a request reply whose code is a failure.
      if (r.reply.length > 2) expect(r.reply[3], m.toString('hex')).not.toBe(0);
    }
    for (const m of HTTP_FUZZ) {
      const r = await exchange(proxyPort, m);
      const text = r.reply.toString('latin1');
      expect(r.closed, JSON.stringify(m.slice(0, 60))).toBe(true);
      if (text) expect(text, JSON.stringify(m.slice(0, 60))).toMatch(/^HTTP\/1\.1 [45]\d\d /);
    }
    expect(await socksConnect(proxyPort)).toBe('hello 127.0.0.1\n');
  });

  it('refuses bad credentials (SOCKS5 status 1, HTTP 407) and accepts good ones', async () => {
    await expect(socksConnect(authPort, ['alice', 'wrong'])).rejects.toThrow(/auth status 1/);
    await expect(socksConnect(authPort)).rejects.toThrow(/no method/);
    expect(await socksConnect(authPort, ['alice', 's3cret'])).toBe('hello 127.0.0.1\n');
    const bad = await exchange(authPort, `CONNECT 127.0.0.1:${targetPort} HTTP/1.1\r\nProxy-Authorization: Basic ${Buffer.from('alice:nope').toString('base64')}\r\n\r\n`);
    expect(bad.reply.toString()).toMatch(/^HTTP\/1\.1 407 .*\r\nProxy-Authenticate: Basic realm="egress"/s);
    const good = await exchange(authPort, `CONNECT 127.0.0.1:${targetPort} HTTP/1.1\r\nProxy-Authorization: Basic ${Buffer.from('alice:s3cret').toString('base64')}\r\n\r\n`);
    expect(good.reply.toString()).toContain('200 Connection Established');
  });

  it('closes connections from sources outside the allowed ranges before reading anything', async () => {
    const closed = new ProxyServer({ outbound: new EgressOutbound(facts), listen: [{ host: '127.0.0.1', port: 0, family: 4 }], allowed: () => false });
    await closed.start();
    const r = await exchange(closed.addresses()[0]!.port, Buffer.from([5, 1, 0]));
    expect(r).toEqual({ reply: Buffer.alloc(0), closed: true });
    expect(closed.snapshot().refused).toBe(1);
    await closed.close();
  });

  it('fails closed when the tunnel address is not on this host: SOCKS reply 3, HTTP 503', async () => {
    const gone = new EgressOutbound({ ...facts, address4: '192.0.2.254' }, { allowLoopback: true });
    const p = new ProxyServer({ outbound: gone, listen: [{ host: '127.0.0.1', port: 0, family: 4 }], allowed: () => true });
    await p.start();
    const port = p.addresses()[0]!.port;
    await expect(socksConnect(port)).rejects.toThrow(/reply 3/);
    const h = await exchange(port, `CONNECT 127.0.0.1:${targetPort} HTTP/1.1\r\n\r\n`);
    expect(h.reply.toString()).toMatch(/^HTTP\/1\.1 503 /);
    await p.close();
  });

  it('carries a half-close both ways: a client that ends its side after the request still gets the whole answer', async () => {
    // Answers only after the request's end (like `nc -N`, or a request/response protocol that ends its side first).
    const late = net.createServer({ allowHalfOpen: true }, (c) => {
      let n = 0;
      c.on('data', (b) => (n += b.length));
      c.on('end', () => c.end(`got ${n}`));
    });
    await new Promise<void>((r) => late.listen(0, '127.0.0.1', () => r()));
    const port = (late.address() as net.AddressInfo).port;
    const p = new ProxyServer({ outbound: new EgressOutbound(facts, { allowLoopback: true }), listen: [{ host: '127.0.0.1', port: 0, family: 4 }], allowed: () => true });
    await p.start();
    const viaSocks = await exchange(p.addresses()[0]!.port, Buffer.concat([Buffer.from([5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, port >> 8, port & 0xff]), Buffer.alloc(500, 0x62)]), 3000, true);
    expect(viaSocks.reply.subarray(12).toString()).toBe('got 500');
    const viaHttp = await exchange(p.addresses()[0]!.port, `CONNECT 127.0.0.1:${port} HTTP/1.1\r\n\r\n${'c'.repeat(300)}`, 3000, true);
    expect(viaHttp.reply.toString()).toBe('HTTP/1.1 200 Connection Established\r\n\r\ngot 300');
    // A handshake cut short by the client's end is closed at once, not left to the handshake timeout.
    expect(await exchange(p.addresses()[0]!.port, Buffer.from([5, 1, 0, 5]), 3000, true)).toMatchObject({ closed: true });
    await p.close();
    late.close();
  });

  it('counts the active tunnels and their bytes exactly, from the socket counters (live and after close)', async () => {
    // A sink that answers each chunk with twice its length in bytes.
    const sink = net.createServer((c) => c.on('data', (b) => c.write(Buffer.alloc(b.length * 2, 0x61))));
    await new Promise<void>((r) => sink.listen(0, '127.0.0.1', () => r()));
    const sinkPort = (sink.address() as net.AddressInfo).port;
    const p = new ProxyServer({ outbound: new EgressOutbound(facts, { allowLoopback: true }), listen: [{ host: '127.0.0.1', port: 0, family: 4 }], allowed: () => true });
    await p.start();
    const c = net.connect(p.addresses()[0]!.port, '127.0.0.1');
    let got = 0;
    c.on('data', (b) => (got += b.length));
    // Greeting, request and 1000 bytes of payload in one write: the payload after the request is forwarded too.
    await new Promise<void>((r) => c.on('connect', () => r()));
    c.write(Buffer.concat([Buffer.from([5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, sinkPort >> 8, sinkPort & 0xff]), Buffer.alloc(1000, 0x62)]));
    // 2 (method) + 10 (reply) + 2000 (the answer)
    for (let i = 0; i < 200 && got < 2012; i++) await new Promise((r) => setTimeout(r, 10));
    expect(got).toBe(2012);
    const live = p.snapshot();
    expect(live).toMatchObject({ active: 1, bytesUp: 1000, bytesDown: 2000 });
    c.destroy();
    for (let i = 0; i < 200 && p.snapshot().active > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(p.snapshot()).toMatchObject({ active: 0, connections: 1, bytesUp: 1000, bytesDown: 2000 });
    await p.close();
    sink.close();
  });
});
