// The wg-quick parser: a provider-style file in every accepted spelling, and hostile or malformed files refused
// naming the line and the key.
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../errors.js';
import { generateKeyPair } from '../keys.js';
import { looksLikeWgQuick, parseWgQuick } from './wg-quick.js';

const me = generateKeyPair();
const srv = generateKeyPair();
const psk = generateKeyPair().privateKey;

const provider = [
  '# Provider-style config: generated 2026-11-30',
  '[Interface]',
  `PrivateKey = ${me.privateKey}`,
  'Address = 10.66.66.2/32, fd42:42:42::2/128   # both families',
  'DNS = 10.66.66.1, fd42:42:42::1, corp.example',
  'MTU = 1380',
  '',
  '[Peer]',
  `PublicKey = ${srv.publicKey}`,
  `PresharedKey = ${psk}`,
  'Endpoint = vpn.example.net:51820',
  'AllowedIPs = 0.0.0.0/0, ::/0',
  'PersistentKeepalive = 25',
].join('\r\n');

describe('parseWgQuick accepts what wg-quick accepts', () => {
  it('reads a provider file with CRLF, comments, both families, DNS servers and a search domain', () => {
    const c = parseWgQuick(provider, 'wg0.conf');
    expect(c.privateKey).toEqual({ value: me.privateKey, line: 3 });
    expect(c.addresses.map((a) => a.value)).toEqual([
      { address: '10.66.66.2', prefix: 32, family: 4 },
      { address: 'fd42:42:42::2', prefix: 128, family: 6 },
    ]);
    expect(c.dns).toEqual([{ value: ['10.66.66.1', 'fd42:42:42::1'], line: 5 }]);
    expect(c.searchDomains).toEqual(['corp.example']);
    expect(c.mtu).toEqual({ value: 1380, line: 6 });
    expect(c.peers).toHaveLength(1);
    expect(c.peers[0]).toMatchObject({ line: 8, publicKey: { value: srv.publicKey }, presharedKey: { value: psk, line: 10 }, endpoint: { value: 'vpn.example.net:51820' }, allowedIps: { value: ['0.0.0.0/0', '::/0'] }, persistentKeepalive: { value: 25 } });
    expect(c.hooks).toEqual([]);
  });

  it('takes a UTF-8 BOM, key and section case, odd spacing, tabs, an address without prefix, [v6]:port and repeated AllowedIPs', () => {
    const text = `\uFEFF[interface]\n  privatekey=${me.privateKey}\nADDRESS\t=\t10.1.2.3\nlistenport = 51999\n[PEER]\npublickey =${srv.publicKey}\nendpoint= [2001:db8::1]:443\nallowedips = 10.0.0.0/8\nAllowedIPs = 192.0.2.7\npersistentkeepalive = off\n`;
    const c = parseWgQuick(text, 'x.conf');
    expect(c.addresses[0]!.value).toEqual({ address: '10.1.2.3', prefix: 32, family: 4 });
    expect(c.listenPort?.value).toBe(51999);
    expect(c.peers[0]!.endpoint?.value).toBe('[2001:db8::1]:443');
    expect(c.peers[0]!.allowedIps.value).toEqual(['10.0.0.0/8', '192.0.2.7/32']);
    expect(c.peers[0]!.persistentKeepalive?.value).toBe(0);
  });

  it('reports hooks and ignored keys with their lines, never interpreting them', () => {
    const c = parseWgQuick(`[Interface]\nPrivateKey = ${me.privateKey}\nPostUp = touch /tmp/pwned\nTable = off\nFwMark = 0x1\nSaveConfig = true\n`, 'h.conf');
    expect(c.hooks).toEqual([{ value: 'PostUp', line: 3 }]);
    expect(c.ignored.map((i) => i.value)).toEqual(['Table', 'FwMark', 'SaveConfig']);
  });

  it('reads several peers', () => {
    const other = generateKeyPair().publicKey;
    const c = parseWgQuick(`[Interface]\nPrivateKey = ${me.privateKey}\n[Peer]\nPublicKey = ${srv.publicKey}\n[Peer]\nPublicKey = ${other}\n`, 'p.conf');
    expect(c.peers.map((p) => p.publicKey.value)).toEqual([srv.publicKey, other]);
  });

  it('tells a wg-quick file from a bundle by content', () => {
    expect(looksLikeWgQuick(provider)).toBe(true);
    expect(looksLikeWgQuick(`\uFEFF# c\n[Interface]\n`)).toBe(true);
    expect(looksLikeWgQuick('{"version":1,"kind":"egress-bundle"}')).toBe(false);
    expect(looksLikeWgQuick('{"x":"[Interface]"}')).toBe(false);
  });
});

const I = `[Interface]\nPrivateKey = ${me.privateKey}\n`;
const P = `[Peer]\nPublicKey = ${srv.publicKey}\n`;

/** [name, file text, expected "line N: Key" in the message, expected fragment of what is allowed]. */
const MALFORMED: Array<[string, string, string, RegExp]> = [
  ['no [Interface]', P, 'line 1: [Interface]', /expected an \[Interface\] section/],
  ['empty file', '', 'line 1: [Interface]', /expected an \[Interface\] section/],
  ['no PrivateKey', `[Interface]\nAddress = 10.0.0.2/32\n`, 'line 1: PrivateKey', /expected a PrivateKey/],
  ['short PrivateKey', `[Interface]\nPrivateKey = abc=\n`, 'line 2: PrivateKey', /base64 of 32 bytes/],
  ['PrivateKey with shell', `[Interface]\nPrivateKey = $(reboot)\n`, 'line 2: PrivateKey', /base64 of 32 bytes/],
  ['empty PrivateKey', `[Interface]\nPrivateKey =\n`, 'line 2: PrivateKey', /expected a value/],
  ['PrivateKey twice', `${I}PrivateKey = ${me.privateKey}\n`, 'line 3: PrivateKey', /once in this section/],
  ['unknown section', `${I}[Peers]\n`, 'line 3: [Peers]', /\[Interface\] or \[Peer\]/],
  ['unclosed section', `${I}[Peer\n`, 'line 3: [Peer', /\[Interface\] or \[Peer\]/],
  ['second [Interface]', `${I}[Interface]\n`, 'line 3: [Interface]', /second one/],
  ['key before any section', `PrivateKey = ${me.privateKey}\n${I}`, 'line 1: PrivateKey', /inside an \[Interface\] or \[Peer\]/],
  ['line without =', `${I}Address 10.0.0.2/32\n`, 'line 3', /Key = value/],
  ['unknown Interface key', `${I}Adress = 10.0.0.2/32\n`, 'line 3: Adress', /PrivateKey, Address, DNS/],
  ['Peer key in Interface', `${I}Endpoint = 192.0.2.1:51820\n`, 'line 3: Endpoint', /key of \[Interface\]/],
  ['Interface key in Peer', `${I}${P}MTU = 1400\n`, 'line 5: MTU', /key of \[Peer\]/],
  ['bad Address', `${I}Address = 10.0.0.300/24\n`, 'line 3: Address', /IPv4 network/],
  ['Address prefix 0', `${I}Address = 10.0.0.2/0\n`, 'line 3: Address', /prefix length 1-32/],
  ['Address prefix 33', `${I}Address = 10.0.0.2/33\n`, 'line 3: Address', /prefix length 1-32|IPv4 network/],
  ['Address with two slashes', `${I}Address = 10.0.0.2/24/8\n`, 'line 3: Address', /optional \/prefix/],
  ['Address empty entry', `${I}Address = 10.0.0.2/32,,\n`, 'line 3: Address', /without empty entries/],
  ['Address host name', `${I}Address = router.lan\n`, 'line 3: Address', /IPv4 network/],
  ['DNS garbage', `${I}DNS = 1.2.3.4; rm -rf /\n`, 'line 3: DNS', /DNS server address or a search domain|host name/],
  ['MTU text', `${I}MTU = big\n`, 'line 3: MTU', /whole number/],
  ['MTU too small', `${I}MTU = 500\n`, 'line 3: MTU', /MTU 1280-9000/],
  ['MTU negative', `${I}MTU = -1420\n`, 'line 3: MTU', /whole number/],
  ['ListenPort 70000', `${I}ListenPort = 70000\n`, 'line 3: ListenPort', /port 1-65535/],
  ['Peer without PublicKey', `${I}[Peer]\nEndpoint = 192.0.2.1:51820\n`, 'line 3: PublicKey', /PublicKey in every \[Peer\]/],
  ['bad PublicKey', `${I}[Peer]\nPublicKey = not-a-key\n`, 'line 4: PublicKey', /base64 of 32 bytes/],
  ['bad PresharedKey', `${I}${P}PresharedKey = 1234\n`, 'line 5: PresharedKey', /base64 of 32 bytes/],
  ['Endpoint without port', `${I}${P}Endpoint = 192.0.2.1\n`, 'line 5: Endpoint', /host:port/],
  ['Endpoint port 0', `${I}${P}Endpoint = 192.0.2.1:0\n`, 'line 5: Endpoint', /port 1-65535/],
  ['Endpoint v6 without brackets', `${I}${P}Endpoint = 2001:db8::1:51820\n`, 'line 5: Endpoint', /IPv6 in brackets/],
  ['Endpoint with shell', `${I}${P}Endpoint = $(id):51820\n`, 'line 5: Endpoint', /host:port/],
  ['Endpoint twice', `${I}${P}Endpoint = 192.0.2.1:1\nEndpoint = 192.0.2.1:2\n`, 'line 6: Endpoint', /once in this section/],
  ['AllowedIPs bad CIDR', `${I}${P}AllowedIPs = 10.0.0.0/40\n`, 'line 5: AllowedIPs', /IPv4 network/],
  ['AllowedIPs words', `${I}${P}AllowedIPs = everything\n`, 'line 5: AllowedIPs', /IPv4 network/],
  ['PersistentKeepalive too big', `${I}${P}PersistentKeepalive = 99999\n`, 'line 5: PersistentKeepalive', /0-65535/],
  ['PersistentKeepalive text', `${I}${P}PersistentKeepalive = often\n`, 'line 5: PersistentKeepalive', /whole number/],
  ['NUL byte', `${I}Address = 10.0.0.2/32\0\n`, 'line 3', /NUL byte/],
  ['control character', `${I}Address = 10.0.0.2/32\u001b[2J\n`, 'line 3', /control character/],
  ['too many AllowedIPs', `${I}${P}AllowedIPs = ${Array.from({ length: 65 }, (_, i) => `10.${i}.0.0/16`).join(',')}\n`, 'line 5: AllowedIPs', /at most 64 entries/],
  ['huge file', `${I}${'#'.repeat(70000)}\n`, 'line 1', /at most 65536 bytes/],
];

describe('parseWgQuick refuses malformed and hostile files naming the line and the key', () => {
  it(`has at least 30 cases (${MALFORMED.length})`, () => expect(MALFORMED.length).toBeGreaterThanOrEqual(30));
  it.each(MALFORMED)('%s', (_name, text, at, allowed) => {
    let err: unknown;
    try {
      parseWgQuick(text, 'bad.conf');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    const msg = (err as ValidationError).message;
    expect(msg).toContain(`bad.conf ${at}`);
    expect(msg).toMatch(allowed);
    expect(msg).not.toContain(me.privateKey);
  });
});
