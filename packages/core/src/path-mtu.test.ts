// Tunnel MTU from the underlay: route mtu metric first, else the device's, minus 60/80 by endpoint family.
import { describe, expect, it } from 'vitest';
import type { Host } from './host/host.js';
import { pathTunnelMtu, splitEndpoint, tunnelMtuFrom } from './path-mtu.js';

const ROUTE = '[{"dst":"198.51.100.2","gateway":"192.0.2.1","dev":"eth0","prefsrc":"192.0.2.2","flags":[],"uid":0,"cache":[]}]';
const LOCKED = '[{"dst":"203.0.113.5","gateway":"192.0.2.1","dev":"eth0","cache":[],"metrics":[{"mtu":1300}]}]';
const ROUTE6 = '[{"dst":"2001:db8:100::2","gateway":"2001:db8:2::1","dev":"eth0","metric":1024,"flags":[],"pref":"medium"}]';
const LINK = (mtu: number) => `[{"ifindex":3,"ifname":"eth0","mtu":${mtu}}]`;

describe('path MTU', () => {
  it('splits endpoints', () => {
    expect(splitEndpoint('198.51.100.2:51820')).toEqual({ host: '198.51.100.2', port: '51820' });
    expect(splitEndpoint('[2001:db8::1]:51820')).toEqual({ host: '2001:db8::1', port: '51820' });
    expect(splitEndpoint('vps.example:443')).toEqual({ host: 'vps.example', port: '443' });
  });

  it('takes the device MTU minus 60 for IPv4 and 80 for IPv6, the route metric when present, within 1280-9000, as a multiple of 16', () => {
    expect(tunnelMtuFrom('198.51.100.2', ROUTE, LINK(1500))).toEqual({ mtu: 1440, how: 'eth0 (the route to 198.51.100.2) has mtu 1500, minus 60 for an IPv4 endpoint = 1440' });
    expect(tunnelMtuFrom('198.51.100.2', ROUTE, LINK(1400))).toEqual({ mtu: 1328, how: 'eth0 (the route to 198.51.100.2) has mtu 1400, minus 60 for an IPv4 endpoint = 1340, rounded down to 1328 (a multiple of 16)' });
    expect(tunnelMtuFrom('2001:db8:100::2', ROUTE6, LINK(1400))?.mtu).toBe(1312);
    expect(tunnelMtuFrom('2001:db8:100::2', ROUTE6, LINK(1500))?.mtu).toBe(1408);
    expect(tunnelMtuFrom('203.0.113.5', LOCKED, LINK(1500))).toEqual({ mtu: 1280, how: 'the route to 203.0.113.5 has mtu 1300, minus 60 for an IPv4 endpoint = 1240, raised to the minimum 1280' });
    expect(tunnelMtuFrom('198.51.100.2', ROUTE, LINK(9216))?.mtu).toBe(8992);
    expect(tunnelMtuFrom('198.51.100.2', ROUTE, undefined)).toBeUndefined();
    expect(tunnelMtuFrom('198.51.100.2', 'garbage', LINK(1500))).toBeUndefined();
  });

  it('asks the host for the route and the device, resolving a name first', async () => {
    const seen: string[] = [];
    const answers: Record<string, string> = {
      'getent ahosts vps.example': '198.51.100.2    STREAM vps.example\n198.51.100.2    DGRAM\n',
      'ip -j route get 198.51.100.2': ROUTE,
      'ip -j link show dev eth0': LINK(1400),
    };
    const host = {
      name: 'fake',
      run: async (argv: readonly string[]) => {
        seen.push(argv.join(' '));
        const out = answers[argv.join(' ')];
        return { stdout: out ?? '', stderr: '', exitCode: out === undefined ? 2 : 0 };
      },
    } as unknown as Host;
    expect((await pathTunnelMtu(host, 'vps.example:51820'))?.mtu).toBe(1328);
    expect(seen).toEqual(Object.keys(answers));
    expect(await pathTunnelMtu(host, 'unknown.example:51820')).toBeUndefined();
  });
});
