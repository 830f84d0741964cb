// Address planning: server .1, peers from .2, full subnets refused, ULA /64s, overlaps with the host's routes and addresses.
import { describe, expect, it } from 'vitest';
import { addressAt, allocatePeer, assertNoOverlap, defaultSubnet6, hostCidrsFrom, overlaps, serverAddresses } from './address.js';
import { ConflictError, ValidationError } from './errors.js';

describe('address planning', () => {
  it('gives the server the first host of each subnet', () => {
    expect(serverAddresses('10.77.0.0/24', 'fd7a:77::/64')).toEqual({ address4: '10.77.0.1', address6: 'fd7a:77::1' });
    expect(serverAddresses('10.77.3.0/24')).toEqual({ address4: '10.77.3.1' });
    // A subnet written with host bits is taken as its network.
    expect(serverAddresses('10.77.0.9/24').address4).toBe('10.77.0.1');
  });

  it('allocates peers from .2, skipping used addresses (with or without prefix)', () => {
    expect(allocatePeer('10.77.0.0/24', [])).toBe('10.77.0.2');
    expect(allocatePeer('10.77.0.0/24', ['10.77.0.1', '10.77.0.2', '10.77.0.3/32'])).toBe('10.77.0.4');
    expect(allocatePeer('10.77.0.0/24', ['10.77.0.2', '10.77.0.4'])).toBe('10.77.0.3');
    expect(allocatePeer('fd7a:77::/64', ['fd7a:77::2'])).toBe('fd7a:77::3');
    expect(allocatePeer('fd7a:77::/64', ['fd7a:77:0:0::2'])).toBe('fd7a:77::3');
    expect(addressAt('10.77.0.0/16', 256)).toBe('10.77.1.0');
  });

  it('refuses a full subnet with a ConflictError naming it', () => {
    expect(allocatePeer('10.77.0.0/29', ['10.77.0.2', '10.77.0.3', '10.77.0.4', '10.77.0.5'])).toBe('10.77.0.6');
    const full = ['10.77.0.2', '10.77.0.3', '10.77.0.4', '10.77.0.5', '10.77.0.6'];
    expect(() => allocatePeer('10.77.0.0/29', full, 'subnet4')).toThrow(ConflictError);
    expect(() => allocatePeer('10.77.0.0/29', full, 'subnet4')).toThrow('subnet4: 10.77.0.0/29 is full (5 addresses in use, the server has .1)');
    expect(() => allocatePeer('10.77.0.0/31', [])).toThrow(/10.77.0.0\/31 is full/);
  });

  it('refuses a bad subnet with a message naming the field and value', () => {
    expect(() => allocatePeer('10.77.0.0/33', [], '--subnet')).toThrow(ValidationError);
    expect(() => allocatePeer('10.77.0.0/33', [], '--subnet')).toThrow("--subnet: expected a network in CIDR form like 10.77.0.0/24 or fd7a:77::/64, got '10.77.0.0/33'");
  });

  it('makes unique local /64s: random, or stable from a seed', () => {
    const a = defaultSubnet6();
    const b = defaultSubnet6();
    expect(a).toMatch(/^fd[0-9a-f]{2}:[0-9a-f]{1,4}:[0-9a-f]{1,4}::\/64$/);
    expect(a).not.toBe(b);
    expect(defaultSubnet6('vps-1')).toBe(defaultSubnet6('vps-1'));
    expect(defaultSubnet6('vps-1')).not.toBe(defaultSubnet6('vps-2'));
    expect(serverAddresses('10.77.0.0/24', defaultSubnet6('vps-1')).address6).toMatch(/^fd[0-9a-f:]+::1$/);
  });

  it('tells overlapping networks', () => {
    expect(overlaps('10.0.0.0/8', '10.77.0.0/24')).toBe(true);
    expect(overlaps('10.77.0.0/24', '10.0.0.0/8')).toBe(true);
    expect(overlaps('10.77.0.0/24', '10.77.1.0/24')).toBe(false);
    expect(overlaps('10.77.0.0/24', '10.77.0.200')).toBe(true);
    expect(overlaps('fd00::/8', 'fd7a:77::/64')).toBe(true);
    expect(overlaps('fd00::/8', '10.0.0.0/8')).toBe(false);
  });

  it('refuses a subnet overlapping a route or address of the host, naming field, subnet and conflict', () => {
    const routes = [
      { dst: 'default', gateway: '192.0.2.1', dev: 'eth0', flags: [] },
      { dst: '10.0.0.0/16', dev: 'eth1', protocol: 'kernel', scope: 'link', prefsrc: '10.0.0.5', flags: [] },
      { type: 'local', dst: '10.0.0.5', dev: 'eth1', table: 'local', flags: [] },
      { dst: 'fe80::/64', dev: 'eth0', metric: 256, flags: [] },
      { dst: '172.17.0.0/16', dev: 'docker0', table: '100', flags: [] },
    ];
    const addrs = [
      { ifname: 'lo', addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8, scope: 'host' }] },
      { ifname: 'eth0', addr_info: [{ family: 'inet', local: '192.0.2.10', prefixlen: 24, scope: 'global' }, { family: 'inet6', local: 'fe80::1', prefixlen: 64, scope: 'link' }] },
      { ifname: 'wg9', addr_info: [{ family: 'inet6', local: 'fd7a:77::9', prefixlen: 64, scope: 'global' }] },
    ];
    const cidrs = hostCidrsFrom(routes, addrs);
    expect(cidrs).toEqual([
      { cidr: '10.0.0.0/16', source: 'route 10.0.0.0/16 dev eth1' },
      { cidr: '172.17.0.0/16', source: 'route 172.17.0.0/16 dev docker0 table 100' },
      { cidr: '192.0.2.10/24', source: 'address 192.0.2.10/24 on eth0' },
      { cidr: 'fd7a:77::9/64', source: 'address fd7a:77::9/64 on wg9' },
    ]);
    expect(() => assertNoOverlap('10.0.3.0/24', cidrs, '--subnet')).toThrow(ConflictError);
    expect(() => assertNoOverlap('10.0.3.0/24', cidrs, '--subnet')).toThrow('--subnet: 10.0.3.0/24 overlaps route 10.0.0.0/16 dev eth1 that the host already has; nothing was changed');
    expect(() => assertNoOverlap('fd7a:77::/64', cidrs, 'subnet6')).toThrow('subnet6: fd7a:77::/64 overlaps address fd7a:77::9/64 on wg9');
    expect(() => assertNoOverlap('10.77.0.0/24', cidrs, '--subnet')).not.toThrow();
  });

  it('refuses ip JSON that does not have the expected shape', () => {
    expect(() => hostCidrsFrom([{ nodst: 1 }], [])).toThrow(/ip -j route\[0\]\.dst/);
  });
});
