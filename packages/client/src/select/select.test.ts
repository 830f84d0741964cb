// select: one selector from the flags, refused before anything changes; the tagged accepts forwarded selectors need.
import { ClientState } from '@egress/core/model/client';
import { describe, expect, it } from 'vitest';
import { wantedAccepts } from './forward-accept.js';
import { parseSelector } from './parse-selector.js';

describe('parseSelector', () => {
  it('takes exactly one selector and normalizes a cgroup path', () => {
    expect(parseSelector({ interface: 'br-1a2b3c4d5e6f' })).toEqual({ kind: 'interface', value: 'br-1a2b3c4d5e6f' });
    expect(parseSelector({ cgroup: '/sys/fs/cgroup/app.slice/x.scope' })).toEqual({ kind: 'cgroup', value: 'app.slice/x.scope' });
    expect(parseSelector({ source: '192.168.50.0/24' })).toEqual({ kind: 'source', value: '192.168.50.0/24' });
    expect(parseSelector({ source: '192.168.50.7' })).toEqual({ kind: 'source', value: '192.168.50.7/32' });
    expect(() => parseSelector({})).toThrow(/expected exactly one of --user, --cgroup, --unit, --interface, --source, got none/);
    expect(() => parseSelector({ user: 'a', unit: 'b.service' })).toThrow(/got --user, --unit/);
  });

  it('refuses bad values naming the flag, the value and what is allowed', () => {
    expect(() => parseSelector({ interface: 'br0;rm' })).toThrow(/--interface: expected an interface name .*got 'br0;rm'/);
    expect(() => parseSelector({ interface: 'lo' })).toThrow(/--interface: 'lo'/);
    expect(() => parseSelector({ source: '192.168.50.7/24' })).toThrow(/--source: '192.168.50.7\/24' has host bits set; expected the network address 192.168.50.0\/24/);
    expect(() => parseSelector({ source: '10.0.0.0/33' })).toThrow(/--source: expected an IPv4 network/);
    expect(() => parseSelector({ source: '0.0.0.0/0' })).toThrow(/--source: '0.0.0.0\/0' is wider than a \/8/);
    expect(() => parseSelector({ unit: 'web' })).toThrow(/--unit: expected NAME.service/);
    expect(() => parseSelector({ unit: '../etc.service' })).toThrow(/--unit:/);
    expect(() => parseSelector({ cgroup: 'system.slice' })).toThrow(/--cgroup: 'system.slice' is a top-level cgroup/);
    expect(() => parseSelector({ cgroup: 'a/../b' })).toThrow(/--cgroup:/);
    expect(() => parseSelector({ user: '1bad' })).toThrow(/--user: expected a user name/);
  });
});

describe('wantedAccepts', () => {
  it('accepts out of the egress interface and related replies back, tagged with the egress name', () => {
    const st = ClientState.parse({
      version: 1,
      egresses: [{
        name: 'vps', kind: 'interface', interface: 'eth1', mark: 0x01000000, markMask: 0x01000000, table: 7100, priority: 7100, address4: '192.0.2.10', dns: [],
        selectors: { users: [], cgroups: [], interfaces: ['br0'], sources: [{ cidr: '192.168.50.0/24', via: 'lan0' }] }, uplink: {},
      }],
    });
    expect(wantedAccepts(st).map((r) => r.join(' '))).toEqual([
      '-i br0 -o eth1 -m comment --comment egress-select:vps -j ACCEPT',
      '-i eth1 -o br0 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment egress-select:vps -j ACCEPT',
      '-s 192.168.50.0/24 -i lan0 -o eth1 -m comment --comment egress-select:vps -j ACCEPT',
      '-d 192.168.50.0/24 -i eth1 -o lan0 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment egress-select:vps -j ACCEPT',
    ]);
  });
});
