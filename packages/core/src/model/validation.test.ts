// Table-driven: a bad value for every validated field is refused with a message naming the field, the value and what is allowed.
import { describe, expect, it } from 'vitest';
import { ValidationError, quoteValue } from '../errors.js';
import { Bundle } from './bundle.js';
import { ClientState, Egress, PublicEgressFacts } from './client.js';
import { PortForward, formatForwardSpec, parseForwardSpec } from './forward.js';
import { parseJsonWith, parseWith } from './parse.js';
import { ServerConfig } from './server.js';

const KEY_A = 'qf7zLUFwxbfE9+eYcOTVQaW28hpi+Yt0Or4H63e6cQ0=';
const KEY_B = 'EP48duQvr+OjtmttqIGUlM67+vX88XozXFWRPO6JVHw=';

const server = (): Record<string, unknown> => ({
  version: 1,
  interface: 'egress0',
  listenPort: 51820,
  publicInterface: 'eth0',
  endpointHost: 'vps.example.org',
  publicAddress4: '203.0.113.7',
  publicAddress6: '2001:db8::7',
  subnet4: '10.77.0.0/24',
  subnet6: 'fd7a:77::/64',
  address4: '10.77.0.1',
  address6: 'fd7a:77::1',
  publicKey: KEY_A,
  mtu: 1420,
  dns: ['198.51.100.53'],
  peers: [{ name: 'laptop', publicKey: KEY_B, address4: '10.77.0.2', address6: 'fd7a:77::2' }],
  forwards: [{ proto: 'tcp', publicPort: 8080, peer: 'laptop', targetPort: 80 }],
});

const bundle = (): Record<string, unknown> => ({
  version: 1,
  kind: 'egress-bundle',
  name: 'laptop',
  server: { endpoint: 'vps.example.org:51820', publicKey: KEY_A, publicAddress4: '203.0.113.7', address4: '10.77.0.1', address6: 'fd7a:77::1' },
  client: { address4: '10.77.0.2', address6: 'fd7a:77::2', publicKey: KEY_B, privateKey: KEY_A },
  tunnel: { subnet4: '10.77.0.0/24', subnet6: 'fd7a:77::/64', mtu: 1420, persistentKeepalive: 25 },
  dns: ['198.51.100.53'],
  forwards: [],
});

const egress = (): Record<string, unknown> => ({
  kind: 'wireguard',
  name: 'vps',
  interface: 'egress0',
  mark: 0x100,
  markMask: 0xff00,
  table: 51820,
  priority: 5200,
  address4: '10.77.0.2',
  dns: ['198.51.100.53'],
  selectors: { users: [{ name: 'appuser', uid: 1001 }], cgroups: ['egress/app'], shimSource: true },
  wireguard: {
    endpoint: '[2001:db8::7]:51820',
    serverPublicKey: KEY_A,
    publicKey: KEY_B,
    mtu: 1420,
    persistentKeepalive: 25,
    serverAddress4: '10.77.0.1',
    subnet4: '10.77.0.0/24',
    forwards: [],
  },
});

const ifaceEgress = (): Record<string, unknown> => ({
  kind: 'interface',
  name: 'wifi',
  interface: 'wlan0',
  mark: 0x200,
  markMask: 0xff00,
  table: 51821,
  priority: 5210,
  selectors: { users: [], cgroups: [], shimSource: false },
  uplink: { gateway4: '192.0.2.1' },
});

const client = (): Record<string, unknown> => ({ version: 1, egresses: [egress(), ifaceEgress()] });
const forward = (): Record<string, unknown> => ({ proto: 'udp', publicPort: 6000, publicPortEnd: 6010, peer: 'laptop', targetPort: 7000 });
const facts = (): Record<string, unknown> => ({ version: 1, name: 'vps', kind: 'wireguard', interface: 'egress0', address4: '10.77.0.2', dns: [] });

function setAt(obj: Record<string, unknown>, path: (string | number)[], value: unknown): Record<string, unknown> {
  let cur: Record<string | number, unknown> = obj;
  for (const p of path.slice(0, -1)) cur = cur[p] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  if (value === undefined) delete cur[last];
  else cur[last] = value;
  return obj;
}

type Case = [path: (string | number)[], bad: unknown, rule: string | RegExp];

const SCHEMAS = {
  server: { schema: ServerConfig, base: server },
  bundle: { schema: Bundle, base: bundle },
  egress: { schema: Egress, base: egress },
  interfaceEgress: { schema: Egress, base: ifaceEgress },
  client: { schema: ClientState, base: client },
  forward: { schema: PortForward, base: forward },
  facts: { schema: PublicEgressFacts, base: facts },
} as const;

const CASES: Record<keyof typeof SCHEMAS, Case[]> = {
  server: [
    [['version'], 2, 'expected version 1'],
    [['interface'], 'egress/0', "expected an interface name of 1-15 letters, digits, '_', '.' or '-'"],
    [['interface'], 'a-very-long-interface', 'expected an interface name of 1-15'],
    [['listenPort'], 0, 'expected a port 1-65535'],
    [['listenPort'], 70000, 'expected a port 1-65535'],
    [['listenPort'], 5.5, 'expected a whole port number 1-65535'],
    [['listenPort'], '51820', 'expected a port number 1-65535'],
    [['publicInterface'], '', 'expected an interface name'],
    [['endpointHost'], 'bad host!', 'expected a host name (letters, digits, - and .) or an IP address'],
    [['publicAddress4'], '203.0.113.300', 'expected an IPv4 address like 192.0.2.1'],
    [['publicAddress6'], '2001:db8::zz', 'expected an IPv6 address like 2001:db8::1'],
    [['subnet4'], '10.77.0.0', 'expected an IPv4 network in CIDR form like 10.77.0.0/24'],
    [['subnet4'], 'fd7a::/64', 'expected an IPv4 network in CIDR form'],
    [['subnet6'], '10.0.0.0/8', 'expected an IPv6 network in CIDR form like fd7a:77::/64'],
    [['address4'], '10.77.0', 'expected an IPv4 address'],
    [['address6'], 'fd7a:77::1%eth0', 'expected an IPv6 address'],
    [['publicKey'], 'not-a-key', 'expected a WireGuard key: base64 of 32 bytes (44 characters ending in =)'],
    [['mtu'], 1000, 'expected an MTU 1280-9000'],
    [['mtu'], 1420.5, 'expected a whole-number MTU 1280-9000'],
    [['dns', 0], '8.8.8', 'expected an IPv4 or IPv6 address'],
    [['peers', 0, 'name'], 'Laptop One', "expected a name of 1-32 lowercase letters, digits, '_' or '-'"],
    [['peers', 0, 'publicKey'], 'AAAA', 'expected a WireGuard key'],
    [['peers', 0, 'address4'], '10.77.0.256', 'expected an IPv4 address'],
    [['peers', 0, 'address6'], 'fd7a:::2', 'expected an IPv6 address'],
    [['peers', 0, 'extra'], 1, 'expected no such field (unknown to this version of egress)'],
    [['forwards', 0, 'proto'], 'icmp', "expected 'tcp' or 'udp'"],
    [['forwards', 0, 'publicPort'], 0, 'expected a port 1-65535'],
    [['forwards', 0, 'peer'], 'nobody', 'expected the name of a peer (laptop)'],
    [['forwards', 0, 'targetPort'], 65536, 'expected a port 1-65535'],
    [['unknownField'], true, 'expected no such field (unknown to this version of egress)'],
  ],
  bundle: [
    [['version'], 0, 'expected version 1 (this egress reads bundle version 1)'],
    [['kind'], 'bundle', "expected 'egress-bundle'"],
    [['name'], '-x', "expected a name of 1-32 lowercase letters"],
    [['server', 'endpoint'], 'vps.example.org', 'expected host:port (port 1-65535, IPv6 in brackets)'],
    [['server', 'endpoint'], '2001:db8::7:51820', 'expected host:port (port 1-65535, IPv6 in brackets)'],
    [['server', 'endpoint'], 'vps.example.org:0', 'expected host:port (port 1-65535, IPv6 in brackets)'],
    [['server', 'publicKey'], KEY_A.slice(1), 'expected a WireGuard key'],
    [['server', 'publicAddress4'], 'x', 'expected an IPv4 address'],
    [['server', 'address4'], '10.77.0.1/24', 'expected an IPv4 address'],
    [['server', 'address6'], '10.77.0.1', 'expected an IPv6 address'],
    [['client', 'address4'], '', 'expected an IPv4 address'],
    [['client', 'publicKey'], 42, 'expected a WireGuard key'],
    [['tunnel', 'subnet4'], '10.77.0.0/40', 'expected an IPv4 network in CIDR form'],
    [['tunnel', 'subnet6'], 'fd7a:77::/129', 'expected an IPv6 network in CIDR form'],
    [['tunnel', 'mtu'], 65536, 'expected an MTU 1280-9000'],
    [['tunnel', 'persistentKeepalive'], -1, 'expected a keepalive interval 0-65535 seconds'],
    [['dns', 0], 'dns.google', 'expected an IPv4 or IPv6 address'],
    [['forwards', 0], { proto: 'tcp', publicPort: 80, peer: 'laptop', targetPort: 80, x: 1 }, 'expected no such field (unknown to this version of egress)'],
  ],
  egress: [
    [['kind'], 'openvpn', "expected kind 'wireguard' or 'interface'"],
    [['name'], 'VPS', 'expected a name of 1-32 lowercase letters'],
    [['interface'], 'eg 0', 'expected an interface name'],
    [['mark'], 0, 'expected a mark 0x1-0xffffffff'],
    [['mark'], 2 ** 32, 'expected a mark 0x1-0xffffffff'],
    [['mark'], 0x10000, 'expected a mark inside markMask (0xff00)'],
    [['markMask'], -1, 'expected a mark 0x1-0xffffffff'],
    [['table'], 254, 'expected a routing table id other than 253-255 (default/main/local)'],
    [['table'], 0, 'expected a routing table id 1-2147483647'],
    [['priority'], 32766, 'expected a rule priority 1-32765'],
    [['priority'], 0, 'expected a rule priority 1-32765'],
    [['address4'], '10.77.0.2/24', 'expected an IPv4 address'],
    [['address6'], 'x', 'expected an IPv6 address'],
    [['dns', 0], '', 'expected an IPv4 or IPv6 address'],
    [['selectors', 'users', 0, 'name'], '1user', "expected a user name: a letter or '_' then up to 31 letters"],
    [['selectors', 'users', 0, 'uid'], -5, 'expected a uid 0-4294967294'],
    [['selectors', 'users', 0, 'uid'], 1.5, 'expected a whole-number uid 0-4294967294'],
    [['selectors', 'cgroups', 0], '../escape', "expected a cgroup path without '.' or '..' segments"],
    [['selectors', 'cgroups', 0], '/abs', 'expected a cgroup path of segments'],
    [['selectors', 'shimSource'], 'yes', 'expected true or false'],
    [['wireguard', 'endpoint'], '[2001:db8::7]', 'expected host:port'],
    [['wireguard', 'serverPublicKey'], '', 'expected a WireGuard key'],
    [['wireguard', 'publicKey'], 'x'.repeat(44), 'expected a WireGuard key'],
    [['wireguard', 'mtu'], 100, 'expected an MTU 1280-9000'],
    [['wireguard', 'persistentKeepalive'], 70000, 'expected a keepalive interval 0-65535 seconds'],
    [['wireguard', 'serverAddress4'], '::1', 'expected an IPv4 address'],
    [['wireguard', 'subnet4'], '10.77.0.0/24/1', 'expected an IPv4 network in CIDR form'],
    [['wireguard', 'forwards', 0], { proto: 'tcp', publicPort: 90, publicPortEnd: 80, peer: 'vps', targetPort: 80 }, 'expected the end of a port range above its start'],
  ],
  interfaceEgress: [
    [['uplink', 'gateway4'], '192.0.2', 'expected an IPv4 address'],
    [['uplink', 'gateway6'], '192.0.2.1', 'expected an IPv6 address'],
    [['uplink', 'via'], 'x', 'expected no such field (unknown to this version of egress)'],
  ],
  client: [
    [['version'], '1', 'expected version 1'],
    [['egresses', 1, 'name'], 'vps', "expected a name no other egress uses (egress 'vps' has it)"],
    [['egresses', 1, 'interface'], 'egress0', "expected a interface no other egress uses (egress 'vps' has it)"],
    [['egresses', 1, 'table'], 51820, "expected a table no other egress uses (egress 'vps' has it)"],
    [['egresses', 1, 'mark'], 0x100, "expected a mark bit no other egress uses (egress 'vps' has it)"],
    [['egresses', 1, 'priority'], 5205, "expected a priority range not overlapping egress 'vps' (5200-5209)"],
    [['egresses', 1, 'selectors', 'users'], [{ name: 'appuser', uid: 1001 }], "expected a user bound to one egress only ('appuser' is bound to 'vps')"],
  ],
  forward: [
    [['proto'], 'sctp', "expected 'tcp' or 'udp'"],
    [['publicPort'], -1, 'expected a port 1-65535'],
    [['publicPortEnd'], 5000, 'expected the end of a port range above its start'],
    [['targetPort'], 65530, 'expected the target range to end at or below port 65535'],
    [['peer'], 'A B', 'expected a name of 1-32 lowercase letters'],
  ],
  facts: [
    [['version'], 2, 'expected version 1'],
    [['kind'], 'x', "expected kind 'wireguard' or 'interface'"],
    [['interface'], '', 'expected an interface name'],
    [['address4'], 'x', 'expected an IPv4 address'],
  ],
};

function pathText(prefix: string, path: (string | number)[]): string {
  return path.reduce<string>((out, p) => (typeof p === 'number' ? `${out}[${p}]` : `${out}.${p}`), prefix);
}

describe('model validation: every field, bad value -> message naming field, value and rule', () => {
  for (const [name, { schema, base }] of Object.entries(SCHEMAS)) {
    it(`${name}: the base value is valid`, () => {
      expect(() => parseWith(schema, base(), name)).not.toThrow();
    });
    for (const [path, bad, rule] of CASES[name as keyof typeof SCHEMAS]) {
      it(`${name}: ${pathText('', path).replace(/^\./, '')} = ${quoteValue(bad)}`, () => {
        const input = setAt(base(), path, bad);
        let error: unknown;
        try {
          parseWith(schema, input, name);
        } catch (err) {
          error = err;
        }
        expect(error).toBeInstanceOf(ValidationError);
        const v = error as ValidationError;
        const field = pathText(name, path);
        const composite = typeof bad === 'object' && bad !== null;
        const issue = v.issues.find((i) => i.path === field || (composite && i.path.startsWith(field)) || (typeof rule !== 'string' && i.path === pathText(name, path.slice(0, -1))));
        expect(issue, `no issue for ${field} in:\n${v.message}`).toBeDefined();
        const shown = path[path.length - 1] === 'privateKey' ? '(secret, not shown)' : quoteValue(bad);
        if (typeof rule === 'string') {
          expect(issue!.message).toContain(`: ${rule}`);
          if (!composite) expect(issue!.message).toMatch(new RegExp(`^${escape(issue!.path)}: .*, got ${escape(shown)}$`));
        } else expect(issue!.message).toMatch(rule);
      });
    }
  }

  it('never echoes a private key in a bundle error', () => {
    const input = setAt(bundle(), ['client', 'privateKey'], 'c2VjcmV0LXByaXZhdGUta2V5');
    expect(() => parseWith(Bundle, input, 'bundle')).toThrow('bundle.client.privateKey: expected a WireGuard key: base64 of 32 bytes (44 characters ending in =), got (secret, not shown)');
  });

  it('names the source of a JSON document that does not parse', () => {
    expect(() => parseJsonWith(Bundle, '{"version":', 'laptop.egress')).toThrow(/^laptop\.egress: expected a JSON document, got text that does not parse/);
  });

  it('lists every problem when several fields are bad', () => {
    const input = setAt(setAt(server(), ['listenPort'], 0), ['mtu'], 1);
    expect(() => parseWith(ServerConfig, input, 'server')).toThrow("invalid server:\n  server.listenPort: expected a port 1-65535, got 0\n  server.mtu: expected an MTU 1280-9000, got 1");
  });
});

describe('parseForwardSpec: SPEC strings', () => {
  const good: Array<[string, Record<string, unknown>]> = [
    ['8080', { proto: 'tcp', publicPort: 8080, peer: 'laptop', targetPort: 8080 }],
    ['8080/udp', { proto: 'udp', publicPort: 8080, peer: 'laptop', targetPort: 8080 }],
    ['8080/tcp:80', { proto: 'tcp', publicPort: 8080, peer: 'laptop', targetPort: 80 }],
    ['6000-6010/udp:7000', { proto: 'udp', publicPort: 6000, publicPortEnd: 6010, peer: 'laptop', targetPort: 7000 }],
    ['443/tcp:192.168.1.10:443', { proto: 'tcp', publicPort: 443, peer: 'laptop', targetPort: 443, targetHost: '192.168.1.10' }],
    ['5000-5002/udp:203.0.113.200:6000', { proto: 'udp', publicPort: 5000, publicPortEnd: 5002, peer: 'laptop', targetPort: 6000, targetHost: '203.0.113.200' }],
  ];
  it('formats a LAN forward back to the same SPEC', () => expect(formatForwardSpec(parseForwardSpec('443/tcp:192.168.1.10:8443', 'laptop'))).toBe('443/tcp:192.168.1.10:8443'));
  for (const [spec, want] of good) it(`parses '${spec}'`, () => expect(parseForwardSpec(spec, 'laptop')).toEqual(want));

  const bad: Array<[string, string]> = [
    ['http', "--forward: expected PUBLIC[-PUBLIC_END][/tcp|/udp][:[LAN_HOST:]TARGET_PORT] like 8080/tcp:80, 6000-6010/udp or 443/tcp:192.168.1.10:443, got 'http'"],
    ['8080/icmp', "--forward: expected PUBLIC[-PUBLIC_END][/tcp|/udp][:[LAN_HOST:]TARGET_PORT] like 8080/tcp:80, 6000-6010/udp or 443/tcp:192.168.1.10:443, got '8080/icmp'"],
    ['0', "--forward: '0': publicPort: expected a port 1-65535"],
    ['70000/tcp', "--forward: '70000/tcp': publicPort: expected a port 1-65535"],
    ['8080:0', "--forward: '8080:0': targetPort: expected a port 1-65535"],
    ['6010-6000', "--forward: '6010-6000': publicPortEnd: expected the end of a port range above its start"],
    ['65530-65535:65534', "--forward: '65530-65535:65534': targetPort: expected the target range to end at or below port 65535"],
    ['443/tcp:127.0.0.1:443', "--forward: '443/tcp:127.0.0.1:443': targetHost: '127.0.0.1' is a loopback address, which would not reach a host behind the client"],
    ['443/tcp:0.0.0.0:443', "targetHost: '0.0.0.0' is a unspecified address"],
    ['443/tcp:224.0.0.1:443', "targetHost: '224.0.0.1' is a multicast address"],
    ['443/tcp:[2001:db8::5]:443', "targetHost: '2001:db8::5' is an IPv6 address; LAN hosts are IPv4 only for now"],
    ['443/tcp:999.1.1.1:443', "--forward: '443/tcp:999.1.1.1:443': targetHost: expected an IPv4 or IPv6 address"],
  ];
  for (const [spec, message] of bad) {
    it(`refuses '${spec}'`, () => {
      expect(() => parseForwardSpec(spec, 'laptop')).toThrow(ValidationError);
      expect(() => parseForwardSpec(spec, 'laptop')).toThrow(message);
    });
  }
  it('names the flag it was given', () => {
    expect(() => parseForwardSpec('x', 'laptop', '--port')).toThrow(/^--port: expected PUBLIC/);
  });
  it('refuses a bad peer name', () => {
    expect(() => parseForwardSpec('80', 'Bad Peer')).toThrow("--forward: '80': peer: expected a name of 1-32 lowercase letters, digits, '_' or '-', starting with a letter or digit");
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
