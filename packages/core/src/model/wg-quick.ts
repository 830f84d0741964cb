// A strict parser of wg-quick configuration files (as VPN providers, routers and WireGuard installers write them):
// [Interface] and [Peer] sections, keys in any case, comments, CRLF, a UTF-8 BOM, spacing as wg-quick accepts.
// Every value goes through a zod schema; anything malformed is refused naming the line, the key and what is allowed.
// Shell hooks (PreUp, PostUp, PreDown, PostDown) are reported, never interpreted: a caller refuses or ignores them.
import { z } from 'zod';
import { ValidationError } from '../errors.js';
import { Cidr4, Cidr6, Endpoint, HostName, IpAddr, Keepalive, Mtu, Port, WgKey } from './primitives.js';

/** A value with the 1-based line it came from. */
export interface At<T> {
  value: T;
  line: number;
}

/** An interface address: the address and its network prefix (as `ip address add` takes it). */
export interface WgQuickAddress {
  address: string;
  prefix: number;
  family: 4 | 6;
}

export interface WgQuickPeer {
  line: number;
  publicKey: At<string>;
  presharedKey?: At<string>;
  endpoint?: At<string>;
  allowedIps: At<string[]>;
  persistentKeepalive?: At<number>;
}

export interface WgQuickConfig {
  privateKey: At<string>;
  addresses: Array<At<WgQuickAddress>>;
  dns: At<string[]>[];
  searchDomains: string[];
  mtu?: At<number>;
  listenPort?: At<number>;
  /** Keys egress decides itself (Table, FwMark, SaveConfig): present, and ignored. */
  ignored: Array<At<string>>;
  /** Shell hooks found (PreUp, PostUp, PreDown, PostDown): never run. */
  hooks: Array<At<string>>;
  peers: WgQuickPeer[];
}

const INTERFACE_KEYS = ['PrivateKey', 'Address', 'DNS', 'MTU', 'ListenPort', 'Table', 'FwMark', 'SaveConfig', 'PreUp', 'PostUp', 'PreDown', 'PostDown'] as const;
const PEER_KEYS = ['PublicKey', 'PresharedKey', 'Endpoint', 'AllowedIPs', 'PersistentKeepalive'] as const;
const HOOKS = new Set(['PreUp', 'PostUp', 'PreDown', 'PostDown']);
const IGNORED = new Set(['Table', 'FwMark', 'SaveConfig']);
/** Keys that may appear once per section (the list keys Address, DNS, AllowedIPs may repeat and add up). */
const LIST_KEYS = new Set(['Address', 'DNS', 'AllowedIPs', 'PreUp', 'PostUp', 'PreDown', 'PostDown']);
/** A file bigger than this is not a wg-quick config. */
export const MAX_WG_QUICK_BYTES = 64 * 1024;
const MAX_LIST = 64;

/** The name of the file for messages, e.g. "wg0.conf". */
type Where = (line: number, key?: string) => string;

function fail(where: Where, line: number, key: string | undefined, message: string): never {
  const at = where(line, key);
  throw new ValidationError(`${at}: ${message}`, [{ path: at, message }], { hint: 'fix the line (or remove it) and run enroll again; the file itself is never changed' });
}

/** Parses one value with a zod schema, refusing with line, key, value and what is allowed. */
function parseValue<S extends z.ZodType>(schema: S, raw: unknown, where: Where, line: number, key: string): z.infer<S> {
  const r = schema.safeParse(raw);
  if (r.success) return r.data;
  fail(where, line, key, `${r.error.issues[0]?.message ?? 'invalid'}, got '${String(raw)}'`);
}

const Integer = z.string().regex(/^\d{1,10}$/, { message: 'expected a whole number' }).transform(Number);

function listOf(value: string, where: Where, line: number, key: string): string[] {
  const items = value.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) fail(where, line, key, `expected a comma-separated list without empty entries, got '${value}'`);
  if (items.length > MAX_LIST) fail(where, line, key, `expected at most ${MAX_LIST} entries, got ${items.length}`);
  return items;
}

function parseAddress(item: string, where: Where, line: number): WgQuickAddress {
  const [addr, prefixText, extra] = item.split('/');
  if (extra !== undefined) fail(where, line, 'Address', `expected an address with an optional /prefix like 10.66.0.2/32 or fd00::2/128, got '${item}'`);
  const family = addr!.includes(':') ? 6 : 4;
  const max = family === 4 ? 32 : 128;
  const cidr = `${addr}/${prefixText ?? max}`;
  parseValue(family === 4 ? Cidr4 : Cidr6, cidr, where, line, 'Address');
  const prefix = Number(prefixText ?? max);
  if (!/^\d{1,3}$/.test(prefixText ?? String(max)) || prefix < 1 || prefix > max) fail(where, line, 'Address', `expected a prefix length 1-${max}, got '${item}'`);
  return { address: addr!, prefix, family };
}

function parseAllowed(item: string, where: Where, line: number): string {
  const family = item.includes(':') ? 6 : 4;
  const cidr = item.includes('/') ? item : `${item}/${family === 4 ? 32 : 128}`;
  return parseValue(family === 4 ? Cidr4 : Cidr6, cidr, where, line, 'AllowedIPs') as string;
}

/** A search domain as wg-quick passes it to resolvconf: a DNS name. */
const SearchDomain = HostName.refine((s) => !IpAddr.safeParse(s).success && /[A-Za-z]/.test(s), { message: 'expected a DNS server address or a search domain' });

/** Parses `text` (the whole file) named `fileName` in messages. */
export function parseWgQuick(text: string, fileName: string): WgQuickConfig {
  const where: Where = (line, key) => `${fileName} line ${line}${key ? `: ${key}` : ''}`;
  if (text.length > MAX_WG_QUICK_BYTES) fail(where, 1, undefined, `expected a wg-quick file of at most ${MAX_WG_QUICK_BYTES} bytes, got ${text.length}`);
  if (text.includes('\0')) fail(where, text.slice(0, text.indexOf('\0')).split('\n').length, undefined, 'expected text, got a NUL byte');
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  let section: 'interface' | 'peer' | undefined;
  let iface: Partial<WgQuickConfig> & { line?: number; seen: Set<string> } | undefined;
  const cfg: WgQuickConfig = { privateKey: { value: '', line: 0 }, addresses: [], dns: [], searchDomains: [], ignored: [], hooks: [], peers: [] };
  let peer: (Partial<WgQuickPeer> & { seen: Set<string>; allowed: string[] }) | undefined;
  const closePeer = () => {
    if (!peer) return;
    if (!peer.publicKey) fail(where, peer.line!, 'PublicKey', 'expected a PublicKey in every [Peer] section, got none');
    cfg.peers.push({ line: peer.line!, publicKey: peer.publicKey, allowedIps: { value: peer.allowed, line: peer.allowedIps?.line ?? peer.line! }, ...(peer.presharedKey ? { presharedKey: peer.presharedKey } : {}), ...(peer.endpoint ? { endpoint: peer.endpoint } : {}), ...(peer.persistentKeepalive ? { persistentKeepalive: peer.persistentKeepalive } : {}) });
    peer = undefined;
  };

  lines.forEach((raw, i) => {
    const n = i + 1;
    if ([...raw.replace(/\r$/, '')].some((ch) => { const c = ch.charCodeAt(0); return (c < 32 && c !== 9) || c === 127; })) fail(where, n, undefined, 'expected printable text, got a control character');
    const stripped = raw.replace(/#.*$/, '').trim();
    if (stripped === '') return;
    if (stripped.startsWith('[')) {
      const m = /^\[\s*([A-Za-z]+)\s*\]$/.exec(stripped);
      const name = m?.[1]?.toLowerCase();
      if (name === 'interface') {
        if (iface) fail(where, n, '[Interface]', `expected one [Interface] section, got a second one (the first is at line ${iface.line})`);
        closePeer();
        iface = { line: n, seen: new Set() };
        section = 'interface';
      } else if (name === 'peer') {
        closePeer();
        peer = { line: n, seen: new Set(), allowed: [] };
        section = 'peer';
      } else fail(where, n, stripped, "expected a section [Interface] or [Peer]");
      return;
    }
    const eq = stripped.indexOf('=');
    if (eq <= 0) fail(where, n, undefined, `expected 'Key = value', got '${stripped.slice(0, 60)}'`);
    const rawKey = stripped.slice(0, eq).trim();
    const value = stripped.slice(eq + 1).trim();
    if (!section) fail(where, n, rawKey, 'expected the line inside an [Interface] or [Peer] section');
    const allowed: readonly string[] = section === 'interface' ? INTERFACE_KEYS : PEER_KEYS;
    const key = allowed.find((k) => k.toLowerCase() === rawKey.toLowerCase());
    if (!key) fail(where, n, rawKey, `expected a key of [${section === 'interface' ? 'Interface' : 'Peer'}]: ${allowed.join(', ')}`);
    const seen = section === 'interface' ? iface!.seen : peer!.seen;
    if (seen.has(key) && !LIST_KEYS.has(key)) fail(where, n, key, `expected ${key} once in this section, got it again`);
    seen.add(key);
    if (value === '') fail(where, n, key, `expected a value, got nothing`);
    if (HOOKS.has(key)) return void cfg.hooks.push({ value: key, line: n });
    if (IGNORED.has(key)) return void cfg.ignored.push({ value: key, line: n });
    switch (key) {
      case 'PrivateKey':
        cfg.privateKey = { value: parseValue(WgKey, value, where, n, key), line: n };
        return;
      case 'Address':
        for (const item of listOf(value, where, n, key)) cfg.addresses.push({ value: parseAddress(item, where, n), line: n });
        return;
      case 'DNS': {
        const servers: string[] = [];
        for (const item of listOf(value, where, n, key)) {
          if (IpAddr.safeParse(item).success) servers.push(item);
          else cfg.searchDomains.push(parseValue(SearchDomain, item, where, n, key));
        }
        if (servers.length) cfg.dns.push({ value: servers, line: n });
        return;
      }
      case 'MTU':
        cfg.mtu = { value: parseValue(Mtu, parseValue(Integer, value, where, n, key), where, n, key), line: n };
        return;
      case 'ListenPort':
        cfg.listenPort = { value: parseValue(Port, parseValue(Integer, value, where, n, key), where, n, key), line: n };
        return;
      case 'PublicKey':
        peer!.publicKey = { value: parseValue(WgKey, value, where, n, key), line: n };
        return;
      case 'PresharedKey':
        peer!.presharedKey = { value: parseValue(WgKey, value, where, n, key), line: n };
        return;
      case 'Endpoint':
        peer!.endpoint = { value: parseValue(Endpoint, value, where, n, key), line: n };
        return;
      case 'AllowedIPs':
        peer!.allowed.push(...listOf(value, where, n, key).map((item) => parseAllowed(item, where, n)));
        peer!.allowedIps = { value: peer!.allowed, line: n };
        return;
      case 'PersistentKeepalive':
        peer!.persistentKeepalive = { value: value.toLowerCase() === 'off' ? 0 : parseValue(Keepalive, parseValue(Integer, value, where, n, key), where, n, key), line: n };
        return;
    }
  });
  closePeer();
  if (!iface) fail(where, 1, '[Interface]', 'expected an [Interface] section, got none (is this a wg-quick file?)');
  if (!cfg.privateKey.value) fail(where, iface.line!, 'PrivateKey', 'expected a PrivateKey in [Interface], got none');
  return cfg;
}

/** True when `text` looks like a wg-quick file rather than JSON (told apart by content, not by name). */
export function looksLikeWgQuick(text: string): boolean {
  const body = text.replace(/^\uFEFF/, '').trimStart();
  return !body.startsWith('{') && /^\s*\[\s*(interface|peer)\s*\]/im.test(body);
}
