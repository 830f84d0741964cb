// Planning the server config: SPEC edge cases with the SSH/WireGuard guards, reruns, subnet changes, DNS families.
import { describe, expect, it } from 'vitest';
import type { VpsFacts } from '../remote/facts.js';
import { clientStep } from '../commands/forward.js';
import { allocatePeer, checkForwardClashes, checkForwardLoops, parseForwards, planServerConfig } from './server-config.js';
import { hostAt } from './addresses.js';

const KEY_S = 'nKj0Z3mEjnij6kBZCfavXks08pg8B8p0q5thDKtcSAU=';
const KEY_C = 'zrWgoz+XWrmY13w7SqNsDGYYWM83XZOaM9I/WgRY8xo=';
const KEY_D = 'Zv2sdakWGkqXggw6OdOXQhBnmxlXLkG2NFj8fs+fnFo=';

function facts(v6 = true): VpsFacts {
  return {
    uid: 0, osId: 'debian', osLike: [], distro: 'debian', prettyName: 'Debian', tools: {}, kernelWireguard: 'loaded',
    defaultRoute4: { dev: 'eth0', gateway: '198.51.100.1' },
    ...(v6 ? { defaultRoute6: { dev: 'eth0', gateway: '2001:db8:100::1' } } : {}),
    addresses: [
      { ifname: 'eth0', family: 4, address: '198.51.100.2', prefixlen: 24, scope: 'global' },
      ...(v6 ? [{ ifname: 'eth0', family: 6 as const, address: '2001:db8:100::2', prefixlen: 64, scope: 'global' }] : []),
    ],
    routes: [{ family: 4, dst: '198.51.100.0/24', dev: 'eth0' }],
    resolvers: ['203.0.113.53', '2001:db8::53'],
    iptables: { v4: undefined, v6: undefined }, nftJson: [], stateText: undefined, serverPublicKey: KEY_S, acceptRa: {}, systemd: true, sysctls: {},
    wgDump: undefined, unitEnabled: undefined, unitActive: undefined, linkUp: undefined, nftTableText: undefined, provisionText: undefined, existingDirs: [], firewalld: false, implementationText: '',
  };
}

const input = { targetHost: '198.51.100.2', sshPort: 22, name: 'laptop', subnets: [], dns: [], forwards: [] as string[] };
const keys = { serverPublicKey: KEY_S, clientPublicKey: KEY_C };

describe('parseForwards', () => {
  const guard = { sshPort: 22, listenPort: 51820 };

  it('parses ranges onto ranges of the same size, tcp by default, target = public by default', () => {
    expect(parseForwards(['8080', '6000-6009/udp:7000', ' 443/tcp:8443 '], 'p', guard)).toEqual([
      { proto: 'tcp', publicPort: 8080, peer: 'p', targetPort: 8080 },
      { proto: 'udp', publicPort: 6000, publicPortEnd: 6009, peer: 'p', targetPort: 7000 },
      { proto: 'tcp', publicPort: 443, peer: 'p', targetPort: 8443 },
    ]);
  });

  it('refuses bad specs naming the field and what is allowed', () => {
    expect(() => parseForwards(['8080/TCP'], 'p', guard)).toThrow("--forward: expected PUBLIC[-PUBLIC_END][/tcp|/udp][:[LAN_HOST:]TARGET_PORT] like 8080/tcp:80, 6000-6010/udp or 443/tcp:192.168.1.10:443, got '8080/TCP'");
    expect(() => parseForwards(['65530-65535:65534'], 'p', guard)).toThrow("--forward: '65530-65535:65534': targetPort: expected the target range to end at or below port 65535");
    expect(() => parseForwards(['100-100'], 'p', guard)).toThrow('publicPortEnd: expected the end of a port range above its start');
    expect(() => parseForwards(['8080:0'], 'p', guard)).toThrow("--forward: '8080:0': targetPort: expected a port 1-65535");
    expect(() => parseForwards([''], 'p', guard)).toThrow("got ''");
  });

  it('refuses the SSH port (tcp) and the WireGuard port (udp), also inside a range, but not the other protocol', () => {
    expect(() => parseForwards(['20-30'], 'p', guard)).toThrow("--forward: '20-30' would forward 22/tcp, the SSH port");
    expect(() => parseForwards(['51800-51900/udp'], 'p', guard)).toThrow('would forward 51820/udp, the WireGuard listen port');
    expect(parseForwards(['22/udp', '51820/tcp'], 'p', guard)).toHaveLength(2);
  });

  it('refuses overlapping public ports of the same protocol', () => {
    expect(() => parseForwards(['8000-8100', '8080/tcp:80'], 'p', guard)).toThrow("'8080/tcp:80' claims a public port already given by '8000-8100/tcp:8000'");
    expect(parseForwards(['53/udp', '53/tcp'], 'p', guard)).toHaveLength(2);
  });
});

describe('LAN forwards', () => {
  const guard = { sshPort: 22, listenPort: 51820 };
  it('refuses LAN hosts inside a tunnel subnet or on the VPS, and accepts a LAN address', () => {
    const around = { subnets: ['10.77.0.0/24', 'fd7a:77::/64', undefined], vpsAddresses: ['198.51.100.2'] };
    expect(() => checkForwardLoops(parseForwards(['443/tcp:10.77.0.2:443'], 'p', guard), around)).toThrow("--forward: '443/tcp:10.77.0.2:443': 10.77.0.2 is inside the tunnel subnet 10.77.0.0/24, so the forward would loop");
    expect(() => checkForwardLoops(parseForwards(['443/tcp:198.51.100.2:443'], 'p', guard), around)).toThrow('198.51.100.2 is an address of the VPS itself');
    expect(() => checkForwardLoops(parseForwards(['443/tcp:192.168.1.10:443', '8080'], 'p', guard), around)).not.toThrow();
  });
  it('says what to run on the client for a LAN forward, and nothing for a forward to the client itself', () => {
    const [lan, own] = parseForwards(['443/tcp:192.168.1.10:443', '8080'], 'laptop', guard);
    expect(clientStep('add', lan!)).toBe("\nthe client forwards it on to 192.168.1.10: on the client (peer 'laptop') run\n  sudo egress-client forward add 443/tcp:192.168.1.10:443");
    expect(clientStep('remove', lan!)).toContain('sudo egress-client forward remove 443/tcp:192.168.1.10:443');
    expect(clientStep('add', own!)).toBe('');
  });

  it('refuses a LAN forward landing on a client port another forward of the peer uses', () => {
    const existing = parseForwards(['8080/tcp:443'], 'p', guard);
    expect(() => checkForwardClashes({ forwards: existing }, parseForwards(['9443/tcp:192.168.1.10:443'], 'p', guard), 'SPEC', true)).toThrow(
      "SPEC: 9443/tcp:192.168.1.10:443 lands on the same port of peer 'p' as 8080/tcp:443, and one of them goes to a LAN host",
    );
    expect(() => checkForwardClashes({ forwards: existing }, parseForwards(['9443/udp:192.168.1.10:443', '9444/tcp:192.168.1.10:444'], 'p', guard), 'SPEC', true)).not.toThrow();
  });
});

describe('planServerConfig', () => {
  it('plans a dual-stack server with the first peer and the VPS resolvers', () => {
    const { config, peerIsNew } = planServerConfig(facts(), { ...input, forwards: ['8080'] }, undefined, keys);
    expect(peerIsNew).toBe(true);
    expect(config).toMatchObject({
      interface: 'egress0', listenPort: 51820, publicInterface: 'eth0', endpointHost: '198.51.100.2', publicAddress4: '198.51.100.2', publicAddress6: '2001:db8:100::2',
      subnet4: '10.77.0.0/24', subnet6: 'fd7a:77::/64', address4: '10.77.0.1', address6: 'fd7a:77::1', dns: ['203.0.113.53', '2001:db8::53'],
      peers: [{ name: 'laptop', publicKey: KEY_C, address4: '10.77.0.2', address6: 'fd7a:77::2' }],
      forwards: [{ proto: 'tcp', publicPort: 8080, peer: 'laptop', targetPort: 8080 }],
    });
  });

  it('plans v4 only without a v6 default route, and drops v6 resolvers then', () => {
    const { config } = planServerConfig(facts(false), input, undefined, keys);
    expect(config.subnet6).toBeUndefined();
    expect(config.peers[0]!.address6).toBeUndefined();
    expect(config.dns).toEqual(['203.0.113.53']);
  });

  it('keeps the existing peer and order on a rerun, replaces only this peer forwards, and refuses renumbering', () => {
    const first = planServerConfig(facts(), { ...input, forwards: ['8080', '53/udp'] }, undefined, keys).config;
    const withOther = { ...first, peers: [...first.peers, { name: 'desk', publicKey: KEY_D, address4: '10.77.0.3' }], forwards: [...first.forwards, { proto: 'tcp' as const, publicPort: 9000, peer: 'desk', targetPort: 9000 }] };
    const same = planServerConfig(facts(), { ...input, forwards: ['53/udp', '8080'] }, withOther, { serverPublicKey: KEY_S, clientPublicKey: '' });
    expect(same.peerIsNew).toBe(false);
    expect(same.config).toEqual(withOther);
    const changed = planServerConfig(facts(), { ...input, forwards: ['8443:443'] }, withOther, keys).config;
    expect(changed.forwards.map((f) => `${f.peer}:${f.publicPort}`)).toEqual(['desk:9000', 'laptop:8443']);
    expect(() => planServerConfig(facts(), { ...input, forwards: ['9000'] }, withOther, keys)).toThrow("--forward: 9000/tcp:9000 is already forwarded to peer 'desk'");
    expect(() => planServerConfig(facts(), { ...input, subnets: ['10.50.0.0/24'] }, withOther, keys)).toThrow('--subnet: the server already uses 10.77.0.0/24 and fd7a:77::/64; changing it would renumber every peer');
    expect(planServerConfig(facts(), { ...input, listenPort: 51999 }, withOther, keys).config.listenPort).toBe(51999);
  });

  it('refuses an unknown public interface and a VPS without a default route', () => {
    expect(() => planServerConfig(facts(), { ...input, publicInterface: 'ens9' }, undefined, keys)).toThrow("--public-interface: 'ens9' has no address on the VPS (interfaces: eth0)");
    const noRoute = { ...facts(false), defaultRoute4: undefined };
    delete (noRoute as Partial<VpsFacts>).defaultRoute4;
    expect(() => planServerConfig(noRoute, input, undefined, keys)).toThrow('the VPS has no default route');
  });
});

describe('tunnel MTU of a new server', () => {
  it('is the public interface MTU minus 60 (IPv4 only) or 80 (IPv6 endpoint too), a multiple of 16; 1420 when unknown; kept on re-runs', () => {
    expect(planServerConfig({ ...facts(false), linkMtus: { eth0: 1400 } }, input, undefined, keys).config.mtu).toBe(1328);
    expect(planServerConfig({ ...facts(true), linkMtus: { eth0: 1500 } }, input, undefined, keys).config.mtu).toBe(1408);
    expect(planServerConfig({ ...facts(false), linkMtus: { eth0: 1500 } }, input, undefined, keys).config.mtu).toBe(1440);
    expect(planServerConfig(facts(false), input, undefined, keys).config.mtu).toBe(1420);
    const first = planServerConfig({ ...facts(false), linkMtus: { eth0: 1400 } }, input, undefined, keys).config;
    expect(planServerConfig({ ...facts(false), linkMtus: { eth0: 9000 } }, input, first, keys).config.mtu).toBe(1328);
  });
});

describe('a server with 1,000 peers (a /22)', () => {
  it('takes the next free address past the first /24 and refuses only when the /22 is full', () => {
    const peers = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `p${i}`, publicKey: `${String(i).padStart(42, 'A')}A=`, address4: hostAt('10.77.0.0/22', i + 2) }));
    const config = { subnet4: '10.77.0.0/22', peers: peers(1000) };
    expect(allocatePeer(config, 'new', KEY_D)).toMatchObject({ name: 'new', address4: '10.77.3.234' });
    expect(() => allocatePeer({ ...config, peers: peers(1021) }, 'new', KEY_D)).toThrow('subnet 10.77.0.0/22 has no room for host number 1023');
    expect(planServerConfig(facts(false), { ...input, subnets: ['10.77.0.0/22'] }, undefined, keys).config.subnet4).toBe('10.77.0.0/22');
  });
});
