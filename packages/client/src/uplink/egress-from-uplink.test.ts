import { ClientState } from '@egress/core';
import { describe, expect, it } from 'vitest';
import { defaultEgressName, egressFromUplink, listFlag } from './egress-from-uplink.js';

describe('egressFromUplink', () => {
  const plan = {
    interface: 'wlan0',
    ifindex: 3,
    pointToPoint: false,
    address4: '192.0.2.130',
    network4: '192.0.2.128/25',
    gateway4: '192.0.2.129',
    address6: '2001:db8:3::2',
    network6: '2001:db8:3::/64',
    gateway6: '2001:db8:3::1',
    dns: ['203.0.113.53'],
    sources: { dns: '--dns' },
  };
  const allocation = { mark: 0x01000000, markMask: 0x01000000, table: 7100, priority: 7100 };

  it('builds an interface egress that the client state schema accepts', () => {
    const e = egressFromUplink(plan, { name: 'wifi', allocation, users: [{ name: 'appuser', uid: 1001 }], cgroup2: true });
    expect(e).toEqual({
      name: 'wifi',
      kind: 'interface',
      interface: 'wlan0',
      mark: 0x01000000,
      markMask: 0x01000000,
      table: 7100,
      priority: 7100,
      address4: '192.0.2.130',
      address6: '2001:db8:3::2',
      dns: ['203.0.113.53'],
      selectors: { users: [{ name: 'appuser', uid: 1001 }], cgroups: ['egress/wifi'], shimSource: true, units: [], interfaces: [], sources: [] },
      uplink: { gateway4: '192.0.2.129', gateway6: '2001:db8:3::1' },
    });
    expect(ClientState.safeParse({ version: 1, egresses: [e] }).success).toBe(true);
  });

  it('leaves IPv6 and the gateway out when the uplink has none', () => {
    const { address6: _a, network6: _n, gateway6: _g, gateway4: _g4, ...v4only } = plan;
    const e = egressFromUplink({ ...v4only, pointToPoint: true }, { name: 'ppp', allocation, users: [], cgroup2: false });
    expect(e.address6).toBeUndefined();
    expect(e.uplink).toEqual({});
    expect(e.selectors.cgroups).toEqual([]);
  });

  it('derives a valid egress name from an interface name and splits list flags', () => {
    expect(defaultEgressName('wlan0')).toBe('wlan0');
    expect(defaultEgressName('eth0.100')).toBe('eth0-100');
    expect(defaultEgressName('WWAN_0')).toBe('wwan_0');
    expect(listFlag('192.0.2.129, fe80::1')).toEqual(['192.0.2.129', 'fe80::1']);
    expect(listFlag(['203.0.113.53', '203.0.113.54'])).toEqual(['203.0.113.53', '203.0.113.54']);
    expect(listFlag(undefined)).toEqual([]);
  });
});
