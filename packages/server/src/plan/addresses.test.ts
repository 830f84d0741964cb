// Subnet choice and address allocation.
import { describe, expect, it } from 'vitest';
import { chooseSubnet, cidrsOverlap, hostAt, networkOf, nextPeerIndex, occupiedPrefixes } from './addresses.js';
import { isPrivateAddress, splitSubnets } from './server-config.js';

describe('addresses', () => {
  it('computes networks and host addresses', () => {
    expect(networkOf('10.77.0.9/24')).toBe('10.77.0.0/24');
    expect(networkOf('fd7a:77::9/64')).toBe('fd7a:77::/64');
    expect(hostAt('10.77.0.0/24', 1)).toBe('10.77.0.1');
    expect(hostAt('10.77.0.0/23', 300)).toBe('10.77.1.44');
    expect(hostAt('fd7a:77::/64', 2)).toBe('fd7a:77::2');
    expect(() => hostAt('10.77.0.0/30', 3)).toThrow(/no room/);
  });

  it('detects overlaps either way round', () => {
    expect(cidrsOverlap('10.77.0.0/24', '10.0.0.0/8')).toBe(true);
    expect(cidrsOverlap('10.0.0.0/8', '10.77.0.5/32')).toBe(true);
    expect(cidrsOverlap('10.77.0.0/24', '10.78.0.0/24')).toBe(false);
    expect(cidrsOverlap('10.77.0.0/24', 'fd7a:77::/64')).toBe(false);
  });

  it('ignores default, local-table and the tunnel own routes; refuses an explicit overlap; skips taken defaults', () => {
    const occupied = occupiedPrefixes(
      [
        { family: 4, dst: 'default', dev: 'eth0' },
        { family: 4, dst: '10.77.0.0/24', dev: 'eth1' },
        { family: 4, dst: '10.78.0.0/24', dev: 'egress0' },
        { family: 4, dst: '127.0.0.1', dev: 'lo', table: 'local' },
      ],
      4,
      'egress0',
    );
    expect(occupied).toEqual(['10.77.0.0/24']);
    expect(chooseSubnet(undefined, ['10.77.0.0/24', '10.78.0.0/24'], occupied)).toBe('10.78.0.0/24');
    expect(() => chooseSubnet('10.77.0.128/25', [], occupied)).toThrow('--subnet: 10.77.0.128/25 overlaps 10.77.0.0/24, already routed on the VPS; nothing was changed');
  });

  it('allocates the lowest free peer number', () => {
    expect(nextPeerIndex({ subnet4: '10.77.0.0/24', peers: [] })).toBe(2);
    const peers = [{ address4: '10.77.0.2' }, { address4: '10.77.0.4' }] as never;
    expect(nextPeerIndex({ subnet4: '10.77.0.0/24', peers })).toBe(3);
    // Across octets of a /22, with addresses out of order and one outside the subnet (ignored): the first gap.
    const many = [...Array.from({ length: 400 }, (_, i) => ({ address4: hostAt('10.77.0.0/22', 401 - i) })), { address4: '10.99.0.2' }, { address4: hostAt('10.77.0.0/22', 403) }] as never;
    expect(nextPeerIndex({ subnet4: '10.77.0.0/22', peers: many })).toBe(402);
    // The subnet given with host bits set counts from its network.
    expect(nextPeerIndex({ subnet4: '10.77.0.9/24', peers: [{ address4: '10.77.0.2' }] as never })).toBe(3);
  });

  it('validates --subnet values and private addresses', () => {
    expect(splitSubnets(['10.9.0.0/24', 'fd00:9::/64'])).toEqual({ v4: '10.9.0.0/24', v6: 'fd00:9::/64' });
    expect(() => splitSubnets(['10.9.0.0/30'])).toThrow('--subnet: expected an IPv4 prefix length 8-29');
    expect(() => splitSubnets(['nope'])).toThrow("--subnet: expected a CIDR like 10.77.0.0/24 or fd7a:77::/64, got 'nope'");
    expect(() => splitSubnets(['10.1.0.0/24', '10.2.0.0/24'])).toThrow('at most one IPv4 subnet');
    expect(isPrivateAddress('10.0.0.1')).toBe(true);
    expect(isPrivateAddress('100.64.1.1')).toBe(true);
    expect(isPrivateAddress('198.51.100.2')).toBe(false);
    expect(isPrivateAddress('fd00::1')).toBe(true);
  });
});
