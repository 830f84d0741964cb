// Listings captured from nft 1.0.6 (Debian 12) and nft 1.1.3 (Debian 13) in the machines lab: each is the rendered
// table of the fixture next to it, loaded and listed back. Both must compare equal to the rendered text.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { normalizeNftListing } from '../engine/journal.js';
import { numericNftPriorities } from './nft-priority.js';
import { normalizeNftText } from './server-nft.js';

const dir = new URL('../engine/fixtures/', import.meta.url);
const read = (sub: string, f: string): string => readFileSync(new URL(`${sub}/${f}`, dir), 'utf8');
const names = readdirSync(new URL('nft-rendered/', dir)).filter((f) => f.endsWith('.nft')).sort();

describe('named nft priorities', () => {
  it('are written as numbers, with offsets, and numbers stay as they are', () => {
    expect(numericNftPriorities('type nat hook output priority dstnat; policy accept;')).toBe('type nat hook output priority -100; policy accept;');
    expect(numericNftPriorities('type filter hook forward priority filter + 10;')).toBe('type filter hook forward priority 10;');
    expect(numericNftPriorities('type filter hook prerouting priority mangle - 5;')).toBe('type filter hook prerouting priority -155;');
    expect(numericNftPriorities('type nat hook postrouting priority srcnat;')).toBe('type nat hook postrouting priority 100;');
    expect(numericNftPriorities('type filter hook output priority -150;')).toBe('type filter hook output priority -150;');
    expect(numericNftPriorities('type filter hook input priority raw\n')).toBe('type filter hook input priority -300\n');
  });

  it('has listings of both versions for every rendered fixture, and 1.1.3 does print names where 1.0.6 printed numbers', () => {
    expect(names.length).toBeGreaterThanOrEqual(6);
    for (const v of ['nft-1.0.6', 'nft-1.1.3']) expect(readdirSync(new URL(`${v}/`, dir)).sort()).toEqual(names);
    expect(read('nft-1.0.6', 'client-v4only.nft')).toContain('priority -100;');
    expect(read('nft-1.1.3', 'client-v4only.nft')).toContain('priority dstnat;');
  });

  for (const f of names.filter((n) => n.startsWith('client-'))) {
    it(`client ${f}: the 1.0.6 and 1.1.3 listings compare equal to the rendered table (normalizeNftListing)`, () => {
      const want = normalizeNftListing(read('nft-rendered', f));
      expect(normalizeNftListing(read('nft-1.0.6', f))).toBe(want);
      expect(normalizeNftListing(read('nft-1.1.3', f))).toBe(want);
    });
  }
  for (const f of names.filter((n) => n.startsWith('server-'))) {
    it(`server ${f}: the 1.0.6 and 1.1.3 listings compare equal to the rendered table (normalizeNftText)`, () => {
      const want = normalizeNftText(read('nft-rendered', f));
      expect(normalizeNftText(read('nft-1.0.6', f))).toBe(want);
      expect(normalizeNftText(read('nft-1.1.3', f))).toBe(want);
    });
  }

  it('still tells a changed table apart', () => {
    const f = 'client-v4only.nft';
    expect(normalizeNftListing(read('nft-1.1.3', f).replace('priority dstnat', 'priority srcnat'))).not.toBe(normalizeNftListing(read('nft-rendered', f)));
  });
});
