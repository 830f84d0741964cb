// Small pieces of status and doctor: resolvers asked, wg dump parsing, human durations and sizes, check lines.
import { describe, expect, it } from 'vitest';
import { formatCheck } from '../commands/doctor.js';
import { parseWgPeers } from '../wg-show.js';
import { localResolvers } from './checks.js';
import { ago, bytes } from './egress-status.js';

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
});
