// The fence check run-as makes before starting an app: each missing piece is named (table-driven), and a full
// fence as the renderer makes it passes.
import { describe, expect, it } from 'vitest';
import { renderClientRules } from '@egress/core/render/client-routing';
import type { Egress } from '@egress/core/model/client';
import { missingFence, missingMarkedFence, requireFence, requireMarkedFence, type FenceFacts, type MarkedBy, type MarkedFenceFacts } from './fence-check.js';

const egress = { name: 'main', priority: 7100, table: 7100, address4: '10.77.0.2', address6: 'fd7a:77::2' };
const uid = 1001;
const model = {
  ...egress,
  kind: 'wireguard',
  mark: 0x01000000,
  markMask: 0x01000000,
  interface: 'egress0',
  selectors: { users: [{ name: 'appuser', uid }], cgroups: [], shimSource: true },
  wireguard: { forwards: [] },
} as unknown as Egress;

/** `ip -j rule` as the kernel prints the rendered rules of one family. */
function ipJson(family: 4 | 6, drop: (r: { priority: number }) => boolean = () => false): string {
  return JSON.stringify(
    renderClientRules(model)
      .filter((r) => r.family === family && !drop(r))
      .map((r) => ({
        priority: r.priority,
        src: 'all',
        ...(r.uidrange ? { uid_start: r.uidrange[0], uid_end: r.uidrange[1] } : {}),
        ...(r.action === 'lookup' ? { table: String(r.table) } : { action: r.action }),
      })),
  );
}
const CHAIN = `table inet egress {\n\tchain output_filter {\n\t\tmeta skuid ${uid} oifname != "lo" oifname != "egress0" meta l4proto tcp reject with tcp reset comment "main: kill switch for appuser"\n\t}\n}\n`;
const full: FenceFacts = { rules4: ipJson(4), rules6: ipJson(6), filterChain: CHAIN };

describe('missingFence', () => {
  it('passes the fence the renderer makes', () => {
    expect(missingFence(egress, uid, full)).toEqual([]);
  });
  const cases: Array<{ what: string; facts: FenceFacts; missing: string[] }> = [
    { what: 'no rules at all (interrupted uninstall)', facts: { ...full, rules4: '[]', rules6: '[]' }, missing: ['IPv4 rule 7101 uidrange 1001-1001 lookup 7100', 'IPv4 rule 7108 uidrange 1001-1001 prohibit', 'IPv6 rule 7101 uidrange 1001-1001 lookup 7100', 'IPv6 rule 7108 uidrange 1001-1001 prohibit'] },
    { what: 'the IPv6 prohibit fallback', facts: { ...full, rules6: ipJson(6, (r) => r.priority === 7108) }, missing: ['IPv6 rule 7108 uidrange 1001-1001 prohibit'] },
    { what: 'the nft table', facts: { ...full, filterChain: undefined }, missing: ['nftables chain inet egress output_filter'] },
    { what: "the user's kill switch", facts: { ...full, filterChain: 'table inet egress {\n\tchain output_filter {\n\t}\n}\n' }, missing: ['kill switch for uid 1001 in nftables chain inet egress output_filter'] },
  ];
  for (const c of cases) {
    it(`names ${c.what}`, () => {
      expect(missingFence(egress, uid, c.facts)).toEqual(c.missing);
    });
  }
  it('an IPv4-only egress needs IPv6 unreachable, no IPv6 lookup', () => {
    const v4only = { ...egress, address6: undefined };
    const rules6 = JSON.stringify([{ priority: 7108, src: 'all', uid_start: uid, uid_end: uid, action: 'unreachable' }]);
    expect(missingFence(v4only, uid, { ...full, rules6 })).toEqual([]);
  });
  it('refuses with what is missing and what to run', async () => {
    await expect(requireFence(egress, { name: 'appuser', uid }, { ...full, filterChain: undefined })).rejects.toMatchObject({
      code: 'E_FENCE_MISSING',
      message: "egress 'main': the fence that keeps appuser's traffic in the egress is not in place (missing: nftables chain inet egress output_filter); the app was not started",
      hint: 'egress-client up main',
    });
  });
});

describe('missingMarkedFence (exec by source, run by fwmark)', () => {
  const addr = { name: 'main', address4: '10.77.0.2', address6: 'fd7a:77::2' };
  const json = (family: 4 | 6) =>
    JSON.stringify(
      renderClientRules(model)
        .filter((r) => r.family === family)
        .map((r) => ({ priority: r.priority, src: r.from ? r.from.replace(/\/\d+$/, '') : 'all', ...(r.fwmark !== undefined ? { fwmark: `0x${r.fwmark.toString(16)}` } : {}), ...(r.action === 'lookup' ? { table: String(r.table) } : { action: r.action }) })),
    );
  const marked: MarkedFenceFacts = {
    rules4: json(4),
    rules6: json(6),
    markChain: 'ip saddr 10.77.0.2 meta mark set x comment "main: source 10.77.0.2"\nip6 saddr fd7a:77::2 meta mark set x comment "main: source fd7a:77::2"',
    killChain: 'meta mark & 0x01000000 == 0x01000000 oifname != "lo" oifname != "egress0" drop comment "main: kill switch"',
  };
  it('passes the fence the renderer makes, for both selectors', () => {
    expect(missingMarkedFence(addr, 'source', marked)).toEqual([]);
    expect(missingMarkedFence(addr, 'fwmark', marked)).toEqual([]);
  });
  const cases: Array<{ what: string; by: MarkedBy; facts: MarkedFenceFacts; missing: string[] }> = [
    { what: 'no rules (run)', by: 'fwmark', facts: { ...marked, rules4: '[]', rules6: '[]' }, missing: ["IPv4 rule fwmark lookup (the egress's table)", "IPv6 rule fwmark lookup (the egress's table)"] },
    { what: 'no kill switch (run)', by: 'fwmark', facts: { ...marked, killChain: undefined }, missing: ["kill switch of 'main' in nftables chain inet egress postrouting_filter"] },
    { what: 'no IPv6 source rule (exec)', by: 'source', facts: { ...marked, rules6: '[]' }, missing: ["IPv6 rule from fd7a:77::2 lookup (the egress's table)"] },
    { what: 'no source mark (exec)', by: 'source', facts: { ...marked, markChain: '' }, missing: ['mark for source 10.77.0.2 in nftables chain inet egress output_mark', 'mark for source fd7a:77::2 in nftables chain inet egress output_mark'] },
    { what: 'nft hidden from a user: rules only (exec)', by: 'source', facts: { rules4: '[]', rules6: json(6), markChain: undefined, killChain: undefined, nftHidden: true }, missing: ["IPv4 rule from 10.77.0.2 lookup (the egress's table)"] },
  ];
  for (const c of cases) {
    it(`names ${c.what}`, () => {
      expect(missingMarkedFence(addr, c.by, c.facts)).toEqual(c.missing);
    });
  }
  it('refuses with the same message as run-as', async () => {
    await expect(requireMarkedFence(addr, 'fwmark', { ...marked, killChain: undefined })).rejects.toMatchObject({
      code: 'E_FENCE_MISSING',
      message: "egress 'main': the fence that keeps the app cgroup's traffic in the egress is not in place (missing: kill switch of 'main' in nftables chain inet egress postrouting_filter); the app was not started",
      hint: 'egress-client up main',
    });
  });
});
