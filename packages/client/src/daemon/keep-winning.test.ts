// The supervisor's decision to move an egress before another tool's capturing rule (pure: host usage in, moves out).
import { describe, expect, it } from 'vitest';
import { ClientState, type Egress } from '@egress/core/model/client';
import type { HostUsage } from '../state/allocate.js';
import { defaultRoutesByTable, type IpRuleJson } from '../coexist/foreign-rules.js';
import { keepWinning } from './keep-winning.js';

const egress = (name: string, bit: number, table: number, priority: number): Egress =>
  ClientState.parse({ version: 1, egresses: [{ name, kind: 'interface', interface: 'wlan0', mark: 2 ** bit, markMask: 2 ** bit, table, priority, selectors: {}, uplink: {} }] }).egresses[0]!;

// egress's own rules for an egress at `p` with mark bit 24: its lookup and its fence.
const own = (p: number, mark = '0x1000000'): IpRuleJson[] => [
  { priority: p, src: 'all', fwmark: mark, fwmask: mark, table: String(7100) },
  { priority: p + 9, src: 'all', fwmark: mark, fwmask: mark, action: 'prohibit' },
];
const TAILSCALE: IpRuleJson[] = [
  { priority: 5210, src: 'all', fwmark: '0x80000', fwmask: '0xff0000', table: 'main' },
  { priority: 5230, src: 'all', fwmark: '0x80000', fwmask: '0xff0000', table: 'default' },
  { priority: 5250, src: 'all', fwmark: '0x80000', fwmask: '0xff0000', action: 'unreachable' },
  { priority: 5270, src: 'all', table: '52' },
];
const BASE: IpRuleJson[] = [
  { priority: 0, src: 'all', table: 'local' },
  { priority: 32766, src: 'all', table: 'main' },
  { priority: 32767, src: 'all', table: 'default' },
];
const DEFAULTS = defaultRoutesByTable([{ dst: 'default', gateway: '192.0.2.1', dev: 'eth0' }, { dst: 'default', dev: 'vpn0', table: '52' }, { dst: 'default', dev: 'vpn1', table: '60' }]);

const usage = (rules: IpRuleJson[]): HostUsage => ({
  marks: [],
  tables: new Set(),
  priorities: new Set(rules.map((r) => r.priority!).filter((p) => p !== undefined)),
  interfaces: new Set(),
  foreign: { rules: { 4: rules, 6: [] }, defaults: { 4: DEFAULTS, 6: new Map() } },
});

describe('keepWinning', () => {
  const cases: Array<{ what: string; egresses: Egress[]; rules: IpRuleJson[]; priorities: number[]; moved: RegExp[]; stuck: RegExp[] }> = [
    {
      what: "Tailscale's 5270 appears after enroll at 7100: move to 1100",
      egresses: [egress('wlan', 24, 7100, 7100)],
      rules: [...BASE, ...own(7100), ...TAILSCALE],
      priorities: [1100],
      moved: [/^wlan: 5270: from all lookup 52 -> table 52 \(default dev vpn0\) \(IPv4, likely Tailscale\) would capture its selected traffic; rules moved 7100-7109 -> 1100-1109$/],
      stuck: [],
    },
    { what: 'nothing foreign: no move', egresses: [egress('wlan', 24, 7100, 7100)], rules: [...BASE, ...own(7100)], priorities: [7100], moved: [], stuck: [] },
    {
      what: 'already in the early range when Tailscale re-adds its rules: stays (no flapping)',
      egresses: [egress('wlan', 24, 7100, 1100)],
      rules: [...BASE, ...own(1100), ...TAILSCALE],
      priorities: [1100],
      moved: [],
      stuck: [],
    },
    {
      what: 'a foreign rule at 1050 before the early range: cannot win, said, not moved',
      egresses: [egress('wlan', 24, 7100, 7100)],
      rules: [...BASE, ...own(7100), { priority: 1050, src: 'all', table: '60' }],
      priorities: [7100],
      moved: [],
      stuck: [/^wlan: 1050: from all lookup 60 -> table 60 \(default dev vpn1\) \(IPv4, likely an unknown tool\) captures its selected traffic before 7100-7109, and no free range in 1100-1999 comes before it/],
    },
    {
      what: 'two egresses and an existing rule at 1105: the moves skip 1100 (taken by the host) and each other',
      egresses: [egress('a', 24, 7100, 7100), egress('b', 25, 7101, 7110)],
      rules: [...BASE, ...own(7100), ...own(7110, '0x2000000'), ...TAILSCALE, { priority: 1105, src: '198.51.100.0/24', table: 'main' }],
      priorities: [1110, 1120],
      moved: [/^a: .*7100-7109 -> 1110-1119$/, /^b: .*7110-7119 -> 1120-1129$/],
      stuck: [],
    },
    {
      what: 'a rule that is not for everything (a source selector) does not capture: no move',
      egresses: [egress('wlan', 24, 7100, 7100)],
      rules: [...BASE, ...own(7100), { priority: 5270, src: '198.51.100.7', table: '52' }],
      priorities: [7100],
      moved: [],
      stuck: [],
    },
  ];
  for (const c of cases) {
    it(c.what, () => {
      const r = keepWinning(c.egresses, usage(c.rules));
      expect(r.egresses.map((e) => e.priority)).toEqual(c.priorities);
      expect(r.moved).toHaveLength(c.moved.length);
      c.moved.forEach((re, i) => expect(r.moved[i]).toMatch(re));
      expect(r.stuck).toHaveLength(c.stuck.length);
      c.stuck.forEach((re, i) => expect(r.stuck[i]).toMatch(re));
      // Everything but the priority is kept (table, mark, selectors): the engine only moves rules.
      r.egresses.forEach((e, i) => expect({ ...e, priority: 0 }).toEqual({ ...c.egresses[i], priority: 0 }));
    });
  }
});
