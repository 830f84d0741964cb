// SOCKS5 wire format (RFC 1928, RFC 1929): pure parsers and encoders, no sockets, so every malformed input is unit-testable.
// Each parser takes the bytes received so far and answers "need more", "error" (with the reply to send) or the parsed value.
import { isIP } from 'node:net';

export const SOCKS_VERSION = 0x05;
export const METHOD_NONE = 0x00;
export const METHOD_USERPASS = 0x02;
export const METHOD_UNACCEPTABLE = 0xff;

export const CMD_CONNECT = 0x01;
export const CMD_BIND = 0x02;
export const CMD_UDP_ASSOCIATE = 0x03;

/** Reply codes (RFC 1928 section 6). */
export const REP = {
  succeeded: 0x00,
  generalFailure: 0x01,
  notAllowed: 0x02,
  networkUnreachable: 0x03,
  hostUnreachable: 0x04,
  connectionRefused: 0x05,
  ttlExpired: 0x06,
  commandNotSupported: 0x07,
  addressTypeNotSupported: 0x08,
} as const;

export type Parse<T> = { kind: 'need' } | { kind: 'error'; reason: string; reply?: Buffer } | { kind: 'ok'; value: T; used: number };

export interface Greeting {
  methods: number[];
}

export interface Target {
  /** An IP literal (v4 or v6) or a domain name. */
  host: string;
  type: 'ipv4' | 'ipv6' | 'domain';
  port: number;
}

export interface Request extends Target {
  cmd: number;
}

const NEED = { kind: 'need' } as const;

/** VER NMETHODS METHODS... */
export function parseGreeting(buf: Buffer): Parse<Greeting> {
  if (buf.length < 1) return NEED;
  if (buf[0] !== SOCKS_VERSION) return { kind: 'error', reason: `not SOCKS5 (version byte ${buf[0]})` };
  if (buf.length < 2) return NEED;
  const n = buf[1]!;
  if (n === 0) return { kind: 'error', reason: 'greeting offers no methods', reply: Buffer.from([SOCKS_VERSION, METHOD_UNACCEPTABLE]) };
  if (buf.length < 2 + n) return NEED;
  return { kind: 'ok', value: { methods: [...buf.subarray(2, 2 + n)] }, used: 2 + n };
}

export interface UserPass {
  username: string;
  password: string;
}

const AUTH_FAIL = Buffer.from([0x01, 0x01]);

/** RFC 1929: VER(1) ULEN UNAME PLEN PASSWD. */
export function parseUserPass(buf: Buffer): Parse<UserPass> {
  if (buf.length < 1) return NEED;
  if (buf[0] !== 0x01) return { kind: 'error', reason: `username/password version ${buf[0]} (expected 1)`, reply: AUTH_FAIL };
  if (buf.length < 2) return NEED;
  const ulen = buf[1]!;
  if (ulen === 0) return { kind: 'error', reason: 'empty username', reply: AUTH_FAIL };
  if (buf.length < 3 + ulen) return NEED;
  const plen = buf[2 + ulen]!;
  if (buf.length < 3 + ulen + plen) return NEED;
  return {
    kind: 'ok',
    value: { username: buf.subarray(2, 2 + ulen).toString('utf8'), password: buf.subarray(3 + ulen, 3 + ulen + plen).toString('utf8') },
    used: 3 + ulen + plen,
  };
}

/** A DNS name as SOCKS carries it: 1-255 bytes of letters, digits, '-', '_' and dots, no empty label. */
export function validDomain(name: string): boolean {
  return name.length > 0 && name.length <= 253 && /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$/.test(name) && name.split('.').every((l) => l.length <= 63);
}

/** ATYP ADDR PORT at `off`; returns the target and the offset after it. */
function parseAddress(buf: Buffer, off: number): { kind: 'need' } | { kind: 'error'; reason: string; rep: number } | { kind: 'ok'; target: Target; end: number } {
  if (buf.length < off + 1) return NEED;
  const atyp = buf[off]!;
  if (atyp === 0x01) {
    if (buf.length < off + 7) return NEED;
    return { kind: 'ok', target: { type: 'ipv4', host: [...buf.subarray(off + 1, off + 5)].join('.'), port: buf.readUInt16BE(off + 5) }, end: off + 7 };
  }
  if (atyp === 0x04) {
    if (buf.length < off + 19) return NEED;
    const parts: string[] = [];
    for (let i = 0; i < 8; i++) parts.push(buf.readUInt16BE(off + 1 + i * 2).toString(16));
    return { kind: 'ok', target: { type: 'ipv6', host: normalizeV6(parts.join(':')), port: buf.readUInt16BE(off + 17) }, end: off + 19 };
  }
  if (atyp === 0x03) {
    if (buf.length < off + 2) return NEED;
    const len = buf[off + 1]!;
    if (len === 0) return { kind: 'error', reason: 'empty domain name', rep: REP.hostUnreachable };
    if (buf.length < off + 2 + len + 2) return NEED;
    const name = buf.subarray(off + 2, off + 2 + len).toString('latin1');
    const port = buf.readUInt16BE(off + 2 + len);
    // A domain that is an IP literal is treated as that address (curl --socks5-hostname with an IP does this).
    const ipType = isIP(name);
    if (ipType === 4) return { kind: 'ok', target: { type: 'ipv4', host: name, port }, end: off + 4 + len };
    if (ipType === 6) return { kind: 'ok', target: { type: 'ipv6', host: normalizeV6(name), port }, end: off + 4 + len };
    if (!validDomain(name)) return { kind: 'error', reason: `invalid domain name ${JSON.stringify(name)}`, rep: REP.hostUnreachable };
    return { kind: 'ok', target: { type: 'domain', host: name.replace(/\.$/, '').toLowerCase(), port }, end: off + 4 + len };
  }
  return { kind: 'error', reason: `address type ${atyp} is not supported`, rep: REP.addressTypeNotSupported };
}

/** The canonical text of an IPv6 address (as node's socket addresses print it). */
export function normalizeV6(a: string): string {
  try {
    return new URL(`http://[${a}]/`).hostname.slice(1, -1);
  } catch {
    return a;
  }
}

/** VER CMD RSV ATYP DST.ADDR DST.PORT. */
export function parseRequest(buf: Buffer): Parse<Request> {
  if (buf.length < 1) return NEED;
  if (buf[0] !== SOCKS_VERSION) return { kind: 'error', reason: `request version ${buf[0]} (expected 5)`, reply: encodeReply(REP.generalFailure) };
  if (buf.length < 3) return NEED;
  const cmd = buf[1]!;
  if (buf[2] !== 0x00) return { kind: 'error', reason: `reserved byte is ${buf[2]} (expected 0)`, reply: encodeReply(REP.generalFailure) };
  const addr = parseAddress(buf, 3);
  if (addr.kind === 'need') return NEED;
  if (addr.kind === 'error') return { kind: 'error', reason: addr.reason, reply: encodeReply(addr.rep) };
  if (cmd !== CMD_CONNECT && cmd !== CMD_UDP_ASSOCIATE) {
    return { kind: 'error', reason: `command ${cmd} is not supported (CONNECT and UDP ASSOCIATE are)`, reply: encodeReply(REP.commandNotSupported) };
  }
  if (cmd === CMD_CONNECT && addr.target.port === 0) return { kind: 'error', reason: 'CONNECT to port 0', reply: encodeReply(REP.hostUnreachable) };
  return { kind: 'ok', value: { cmd, ...addr.target }, used: addr.end };
}

export interface UdpDatagram extends Target {
  data: Buffer;
}

/** One UDP ASSOCIATE datagram: RSV(2) FRAG ATYP DST.ADDR DST.PORT DATA; fragments are not supported (dropped). */
export function parseUdpDatagram(buf: Buffer): { kind: 'error'; reason: string } | { kind: 'ok'; value: UdpDatagram } {
  if (buf.length < 4) return { kind: 'error', reason: 'datagram shorter than its header' };
  if (buf[0] !== 0 || buf[1] !== 0) return { kind: 'error', reason: 'reserved bytes are not 0' };
  if (buf[2] !== 0) return { kind: 'error', reason: `fragment ${buf[2]} (fragmentation is not supported)` };
  const addr = parseAddress(buf, 3);
  if (addr.kind === 'need') return { kind: 'error', reason: 'datagram shorter than its header' };
  if (addr.kind === 'error') return { kind: 'error', reason: addr.reason };
  if (addr.target.port === 0) return { kind: 'error', reason: 'destination port 0' };
  return { kind: 'ok', value: { ...addr.target, data: buf.subarray(addr.end) } };
}

function encodeAddress(host: string, port: number): Buffer {
  const p = Buffer.alloc(2);
  p.writeUInt16BE(port);
  if (isIP(host) === 4) return Buffer.concat([Buffer.from([0x01, ...host.split('.').map(Number)]), p]);
  if (isIP(host) === 6) {
    const full = new URL(`http://[${host}]/`).hostname.slice(1, -1);
    const [head, tail] = full.includes('::') ? full.split('::') : [full, undefined];
    const h = head ? head.split(':') : [];
    const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
    // A v4-mapped tail (::ffff:1.2.3.4) is printed by URL as hex groups already.
    const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t].map((g) => parseInt(g || '0', 16));
    const b = Buffer.alloc(16);
    groups.forEach((g, i) => b.writeUInt16BE(g, i * 2));
    return Buffer.concat([Buffer.from([0x04]), b, p]);
  }
  const name = Buffer.from(host, 'latin1');
  return Buffer.concat([Buffer.from([0x03, name.length]), name, p]);
}

/** VER REP RSV ATYP BND.ADDR BND.PORT (0.0.0.0:0 unless given). */
export function encodeReply(rep: number, host = '0.0.0.0', port = 0): Buffer {
  return Buffer.concat([Buffer.from([SOCKS_VERSION, rep, 0x00]), encodeAddress(host, port)]);
}

/** The header put before a datagram relayed back to the client: where it came from. */
export function encodeUdpHeader(host: string, port: number): Buffer {
  return Buffer.concat([Buffer.from([0x00, 0x00, 0x00]), encodeAddress(host, port)]);
}

/** Maps a socket/DNS error code to the closest SOCKS reply code. */
export function replyForError(code: string | undefined): number {
  switch (code) {
    case 'ENETUNREACH':
    case 'EADDRNOTAVAIL':
      return REP.networkUnreachable;
    case 'EHOSTUNREACH':
    case 'ENOTFOUND':
    case 'ENODATA':
    case 'ETIMEDOUT':
    case 'ETIMEOUT':
      return REP.hostUnreachable;
    case 'ECONNREFUSED':
      return REP.connectionRefused;
    case 'EACCES':
    case 'EPERM':
    case 'E_PROXY_NOT_ALLOWED':
      return REP.notAllowed;
    default:
      return REP.generalFailure;
  }
}
