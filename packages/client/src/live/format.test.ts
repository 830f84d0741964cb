// Small pieces of status and doctor: resolvers asked, wg dump parsing, human durations and sizes, check lines.
import { describe, expect, it } from 'vitest';
import { formatCheck } from '../commands/doctor.js';
import { parseWgPeers } from '../wg-show.js';
import { localResolvers } from './checks.js';
import { ago, bytes, formatStatus, type EgressStatus } from './egress-status.js';

describe('status and doctor helpers', () => {
  it('asks the resolv.conf servers and the systemd-resolved stub', () => {
    expect(localResolvers('# x\nnameserver 192.0.2.53\nnameserver fe80::1%eth0\nnameserver 2001:db8::53\nsearch lan\n')).toEqual(['192.0.2.53', '2001:db8::53', '127.0.0.53']);
    expect(localResolvers(undefined)).toEqual(['127.0.0.53']);
  });

  it('parses wg show dump peers', () => {
    const dump = 'PRIV\tPUB\t0\toff\nSERVERPUB\t(none)\t198.51.100.2:51820\t0.0.0.0/0,::/0\t1763700000\t1200\t3400\t25\n';
    expect(parseWgPeers(dump)).toEqual([{ publicKey: 'SERVERPUB', endpoint: '198.51.100.2:51820', latestHandshake: 1763700000, rxBytes: 1200, txBytes: 3400 }]);
  });

  it('prints durations and sizes for people', () => {
    expect(ago(0)).toBe('never');
    expect(ago(1000, 1012)).toBe('12s ago');
    expect(ago(1000, 1000 + 600)).toBe('10m ago');
    expect(bytes(512)).toBe('512 B');
    expect(bytes(1536)).toBe('1.5 KiB');
  });

  it('prints a failed check with its fix', () => {
    expect(formatCheck({ name: 'nft table', ok: false, detail: 'missing', fix: 'egress-client up main' })).toBe('FAIL nft table: missing\n       fix: egress-client up main');
    expect(formatCheck({ name: 'routes', ok: true, detail: 'table 7100' })).toBe('ok   routes: table 7100');
  });

  it('status names everything that leaves by the egress: users, cgroups, units, forwarded interfaces and sources, namespaces, who else is allowed', () => {
    const s: EgressStatus = {
      ...{ name: 'main', kind: 'wireguard', interface: 'egress0', up: true, addresses: ['10.77.0.2/32'], endpoint: '198.51.100.2:51820', latestHandshake: 0, rxBytes: 0, txBytes: 0 },
      ...{ users: [{ name: 'appuser', uid: 1001 }], cgroups: ['egress.slice/main'], units: [], interfaces: [], sources: [], allowed: [], namespaces: [] },
      ...{ mark: '0x01000000', markMask: '0x01000000', table: 7100, priorities: [7100, 7109], killSwitch: { armed: true, nft: true, fallbackRules: true }, dns: ['203.0.113.53'] },
    };
    const plain = formatStatus(s).split('\n');
    expect(plain).toContain('  users appuser (uid 1001); cgroup egress.slice/main');
    expect(plain.some((l) => /units|forwarded|namespaces|allowed/.test(l))).toBe(false);
    const full = formatStatus({ ...s, units: ['nginx.service'], interfaces: ['br0'], sources: [{ cidr: '10.212.1.0/24', via: 'eth1' }], namespaces: ['vpn'], allowed: ['user alice', 'group egress'] }).split('\n');
    expect(full).toEqual(
      expect.arrayContaining([
        '  units nginx.service',
        '  forwarded traffic from br0, 10.212.1.0/24 via eth1',
        '  namespaces vpn (/run/netns/vpn)',
        '  also allowed user alice, group egress',
      ]),
    );
  });
});
