// Debian version comparison, checked against `dpkg --compare-versions` (each expected sign below was printed by dpkg 1.21
// on Debian 12 for the same pair).
import { describe, expect, it } from 'vitest';
import { compareDebianVersions, parseDebianVersion, upstreamVersion } from './debian-version.js';

// [a, dpkg's answer, b]
const DPKG: Array<[string, '<' | '=' | '>', string]> = [
  ['0.0.20231211-1+b9', '>', '0.0.20231211-1'],
  ['0.0.20231211-1~bpo12+1', '<', '0.0.20231211-1'],
  ['1:0.0.20220316-1', '>', '0.0.20231211-1'],
  ['0.0.20230223~rc1', '<', '0.0.20230223'],
  ['0.0.20230223', '=', '0.0.20230223-0'],
  ['1.0', '=', '1.0-0'],
  ['1.0~', '<', '1.0'],
  ['1.0~~', '<', '1.0~'],
  ['1.0a', '>', '1.0'],
  ['1.0+', '<', '1.0.'],
  ['2.10', '>', '2.9'],
  ['0:1.0', '=', '1.0'],
  ['1.0-1ubuntu1', '>', '1.0-1'],
  ['0.0.20220316-1+b4', '<', '0.0.20220316-1+b10'],
];

describe('compareDebianVersions', () => {
  it.each(DPKG)('%s %s %s (as dpkg --compare-versions)', (a, op, b) => {
    const want = op === '<' ? -1 : op === '=' ? 0 : 1;
    expect(Math.sign(compareDebianVersions(a, b))).toBe(want);
    expect(Math.sign(compareDebianVersions(b, a))).toBe(want === 0 ? 0 : -want);
  });

  it('refuses what is not a Debian version', () => {
    expect(() => compareDebianVersions('(none)', '1.0')).toThrow("not a Debian version: '(none)'");
    expect(parseDebianVersion('')).toBeUndefined();
    expect(parseDebianVersion('1:2:3')).toEqual({ epoch: 1, upstream: '2:3', revision: '' });
    expect(parseDebianVersion('2:3')).toEqual({ epoch: 2, upstream: '3', revision: '' });
    expect(parseDebianVersion('a1.0')).toBeUndefined();
  });

  it('takes the upstream part: epoch and Debian revision off, a hyphen inside upstream kept', () => {
    expect(upstreamVersion('0.0.20231211-1+b9')).toBe('0.0.20231211');
    expect(upstreamVersion('1:0.0.20220316-1')).toBe('0.0.20220316');
    expect(upstreamVersion('0.0.20231211-1~bpo12+1')).toBe('0.0.20231211');
    expect(upstreamVersion('1.2-rc1-3')).toBe('1.2-rc1');
    expect(upstreamVersion('0.0.20230223')).toBe('0.0.20230223');
  });
});
