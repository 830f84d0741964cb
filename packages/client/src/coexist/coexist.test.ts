import { describe, expect, it } from 'vitest';
import { allocate, type HostUsage } from '../state/allocate.js';
import { droppingChains } from './foreign-firewall.js';
import { capturingRules, defaultRoutesByTable, ownerOf, type IpRuleJson } from './foreign-rules.js';

// `ip -j rule` of a host with Tailscale's layout (as Tailscale adds it) and wg-quick's Table = auto rules.
const TAILSCALE: IpRuleJson[] = [
  { priority: 0, src: 'all', table: 'local' },
  { priority: 5210, src: 'all', fwmark: '0x80000', fwmask: '0xff0000', table: 'main' },
  { priority: 5230, src: 'all', fwmark: '0x80000', fwmask: '0xff0000', table: 'default' },
  { priority: 5250, src: 'all', fwmark: '0x80000', fwmask: '0xff0000', action: 'unreachable' },
  { priority: 5270, src: 'all', table: '52' },
  { priority: 32766, src: 'all', table: 'main' },
  { priority: 32767, src: 'all', table: 'default' },
];
const WGQUICK: IpRuleJson[] = [
  { priority: 0, src: 'all', table: 'local' },
  { priority: 32764, src: 'all', table: 'main', suppress_prefixlength: 0 },
  { priority: 32765, not: null, src: 'all', fwmark: '0xca6c', table: '51820' },
  { priority: 32766, src: 'all', table: 'main' },
];
const DEFAULTS = defaultRoutesByTable([{ dst: 'default', gateway: '192.0.2.1', dev: 'eth0' }, { dst: 'default', dev: 'vpn0', table: '52' }, { dst: 'default', dev: 'wg0', table: '51820' }, { dst: '10.0.0.0/8', dev: 'x', table: '9' }]);
const MARK = 0x01000000;

describe('rules of other tools that capture egress traffic first', () => {
  it("finds Tailscale's 5270 lookup 52, not its rules for its own mark 0x80000", () => {
    const found = capturingRules(4, TAILSCALE, DEFAULTS, MARK, 7100);
    expect(found).toEqual([{ family: 4, priority: 5270, text: 'from all lookup 52', target: 'table 52 (default dev vpn0)', owner: 'Tailscale' }]);
    // A packet that did carry Tailscale's mark would be captured by 5210 (main) and 5250 (unreachable).
    expect(capturingRules(4, TAILSCALE, DEFAULTS, 0x80000, 7100).map((r) => r.priority)).toEqual([5210, 5250, 5270]);
    expect(capturingRules(4, TAILSCALE, DEFAULTS, MARK, 1100)).toEqual([]);
  });

  it("names wg-quick's rules by pattern; they come after 7100 unless moved", () => {
    expect(capturingRules(4, WGQUICK, DEFAULTS, MARK, 7100)).toEqual([]);
    const moved = WGQUICK.map((r) => (r.priority === 32765 ? { ...r, priority: 6000 } : r));
    expect(capturingRules(4, moved, DEFAULTS, MARK, 7100)).toEqual([{ family: 4, priority: 6000, text: 'not from all fwmark 0xca6c lookup 51820', target: 'table 51820 (default dev wg0)', owner: 'wg-quick' }]);
    // wg-quick's own marked packets are not captured by its `not fwmark` rule.
    expect(capturingRules(4, moved, DEFAULTS, 0xca6c, 7100)).toEqual([]);
    expect(ownerOf({ priority: 100, table: 'main', suppress_prefixlength: 0 })).toBe('wg-quick');
    expect(ownerOf({ priority: 100, table: '9' })).toBe('unknown');
  });

  it('skips narrower selectors, tables without a default route, and egress’s own priorities', () => {
    const rules: IpRuleJson[] = [{ priority: 100, src: '10.0.0.0', srclen: 8, table: '52' } as IpRuleJson, { priority: 101, src: 'all', table: '9' }, { priority: 102, src: 'all', uidrange: '1000-1000', table: '52' }, { priority: 103, src: 'all', table: '52' }];
    expect(capturingRules(4, rules, DEFAULTS, MARK, 7100, (p) => p === 103)).toEqual([]);
  });
});

describe('allocation picks a priority range that wins', () => {
  const usage = (rules: IpRuleJson[]): HostUsage => ({ marks: [], tables: new Set([52]), priorities: new Set(rules.map((r) => r.priority!)), interfaces: new Set(), foreign: { rules: { 4: rules, 6: [] }, defaults: { 4: DEFAULTS, 6: new Map() } } });
  it('keeps 7100 beside wg-quick and takes the early range 1100 beside Tailscale', () => {
    const empty = { version: 1, egresses: [] } as never;
    expect(allocate(empty, usage(WGQUICK)).priority).toBe(7100);
    expect(allocate(empty, usage(TAILSCALE)).priority).toBe(1100);
    // A capturing rule inside the default range: the default values before it still win.
    expect(allocate(empty, usage([{ priority: 7500, src: 'all', table: '52' }])).priority).toBe(7100);
    expect(allocate(empty, usage([{ priority: 7105, src: 'all', table: '52' }])).priority).toBe(1100);
  });
});

describe("another tool's kill switch", () => {
  const ruleset = (extra: object[] = []): unknown => ({
    nftables: [
      { chain: { family: 'inet', table: 'vpnks', name: 'output', type: 'filter', hook: 'output', policy: 'drop' } },
      { rule: { family: 'inet', table: 'vpnks', chain: 'output', expr: [{ match: { op: '==', left: { meta: { key: 'oifname' } }, right: 'lo' } }, { accept: null }] } },
      { rule: { family: 'inet', table: 'vpnks', chain: 'output', expr: [{ match: { op: '==', left: { meta: { key: 'oifname' } }, right: 'vpn0' } }, { accept: null }] } },
      ...extra,
      { chain: { family: 'inet', table: 'egress', name: 'output_filter', type: 'filter', hook: 'output', policy: 'drop' } },
    ],
  });
  const skip = (f: string, t: string): boolean => f === 'inet' && t === 'egress';
  it('drops wlan0 traffic by policy and names the narrowest accept', () => {
    expect(droppingChains(ruleset(), 'wlan0', MARK, MARK, skip)).toEqual([{ family: 'inet', table: 'vpnks', chain: 'output', hook: 'output', by: 'policy drop', fix: 'nft insert rule inet vpnks output oifname "wlan0" meta mark and 0x01000000 == 0x01000000 accept' }]);
    expect(droppingChains(ruleset(), 'vpn0', MARK, MARK, skip)).toEqual([]);
  });
  it('is satisfied by the accept doctor names, and catches an explicit drop rule', () => {
    const accept = { rule: { family: 'inet', table: 'vpnks', chain: 'output', expr: [{ match: { op: '==', left: { meta: { key: 'oifname' } }, right: 'wlan0' } }, { match: { op: '==', left: { '&': [{ meta: { key: 'mark' } }, MARK] }, right: MARK } }, { accept: null }] } };
    expect(droppingChains(ruleset([accept]), 'wlan0', MARK, MARK, skip)).toEqual([]);
    const drop = { rule: { family: 'inet', table: 'vpnks', chain: 'output', expr: [{ match: { op: '!=', left: { meta: { key: 'oifname' } }, right: 'vpn0' } }, { drop: null }] } };
    expect(droppingChains(ruleset([drop]), 'wlan0', MARK, MARK, skip)[0]?.by).toBe('rule 3: drop');
  });
});
