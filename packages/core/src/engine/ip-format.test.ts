// RuleSpec/RouteSpec <-> ip argv and the JSON iproute2 prints (samples captured from `ip -j` on this kernel).
import { describe, expect, it } from 'vitest';
import { describeRule, normalizePrefix, routeArgv, routeFromJson, routeKey, ruleArgv, ruleFromJson, ruleKey, ruleToJson } from './ip-format.js';
import type { RouteSpec, RuleSpec } from './types.js';

// Captured with iproute2 6.x in a throwaway namespace.
const REAL_RULES = [
  { priority: 100, src: 'all', fwmark: '0x100', fwmask: '0xff00', table: '51820' },
  { priority: 101, src: 'all', uid_start: 1000, uid_end: 1000, table: '51820' },
  { priority: 102, src: '10.99.0.0', srclen: 24, iif: 'd0', table: '51820', suppress_prefixlen: 0 },
  { priority: 103, src: 'all', oif: 'd0', action: 'prohibit' },
  { priority: 104, src: 'all', fwmark: '0x100', action: 'unreachable' },
  { priority: 105, src: 'all', action: 'blackhole' },
  { priority: 32766, src: 'all', table: 'main' },
];

const REAL_ROUTES = [
  { dst: 'default', dev: 'd0', scope: 'link', flags: [] },
  { type: 'blackhole', dst: '10.95.0.0/16', flags: [] },
  { dst: '10.97.0.0/16', dev: 'd0', scope: 'link', prefsrc: '10.99.0.1', flags: [] },
  { dst: '10.98.0.0/24', gateway: '10.99.0.2', dev: 'd0', metric: 5, flags: [] },
];

describe('ip rules', () => {
  it('reads the JSON iproute2 prints', () => {
    expect(REAL_RULES.map((j) => ruleKey(ruleFromJson(j, 4)))).toEqual([
      '4 pref 100 fwmark 0x100/0xff00 lookup 51820',
      '4 pref 101 uidrange 1000-1000 lookup 51820',
      '4 pref 102 from 10.99.0.0/24 iif d0 lookup 51820 suppress_prefixlength 0',
      '4 pref 103 oif d0 prohibit',
      '4 pref 104 fwmark 0x100/0xffffffff unreachable',
      '4 pref 105 blackhole',
      '4 pref 32766 lookup 254',
    ]);
  });

  it('a desired rule and the same rule read back have the same key', () => {
    const specs: RuleSpec[] = [
      { family: 4, priority: 100, fwmark: 0x100, fwmask: 0xff00, table: 51820 },
      { family: 4, priority: 104, fwmark: 0x100, action: 'unreachable' },
      { family: 4, priority: 102, from: '10.99.0.0/24', iif: 'd0', action: 'lookup', table: 51820, suppressPrefixlength: 0 },
      { family: 6, priority: 100, from: 'fd00:0:0::1', action: 'lookup', table: 254 },
    ];
    for (const s of specs) expect(ruleKey(ruleFromJson(ruleToJson(s), s.family))).toBe(ruleKey(s));
    expect(ruleKey(specs[3]!)).toBe('6 pref 100 from fd00::1/128 lookup 254');
  });

  it('builds argv that adds and deletes by full spec', () => {
    const r: RuleSpec = { family: 4, priority: 5202, from: '10.99.0.0/24', iif: 'd0', uidrange: [1001, 1002], fwmark: 0x100, fwmask: 0xff00, action: 'lookup', table: 51820, suppressPrefixlength: 0 };
    expect(ruleArgv(r, 'add')).toEqual(['ip', '-4', 'rule', 'add', 'priority', '5202', 'from', '10.99.0.0/24', 'iif', 'd0', 'fwmark', '0x100/0xff00', 'uidrange', '1001-1002', 'lookup', '51820', 'suppress_prefixlength', '0']);
    expect(ruleArgv({ family: 6, priority: 5201, action: 'prohibit' }, 'del')).toEqual(['ip', '-6', 'rule', 'del', 'priority', '5201', 'prohibit']);
    expect(describeRule({ family: 6, priority: 5201, action: 'prohibit' })).toBe('IPv6 rule 5201: prohibit');
  });

  it('marks rules with selectors egress does not manage so they never match a desired rule', () => {
    const r = ruleFromJson({ priority: 5205, src: 'all', ipproto: 'tcp', table: '51820' } as never, 4);
    expect(r.unknown).toEqual(['ipproto']);
    expect(ruleKey(r)).toBe('4 pref 5205 lookup 51820 unmanaged(ipproto)');
    expect(ruleArgv(r, 'del')).toEqual(['ip', '-4', 'rule', 'del', 'priority', '5205']);
  });
});

describe('ip routes', () => {
  it('reads the JSON iproute2 prints', () => {
    expect(REAL_ROUTES.map((j) => routeKey(routeFromJson(j, 4, 51820)))).toEqual([
      '4 table 51820 unicast default dev d0 metric 0',
      '4 table 51820 blackhole 10.95.0.0/16 metric 0',
      '4 table 51820 unicast 10.97.0.0/16 dev d0 src 10.99.0.1 metric 0',
      '4 table 51820 unicast 10.98.0.0/24 via 10.99.0.2 dev d0 metric 5',
    ]);
    // IPv6: the kernel shows metric 1024 and dev lo on unreachable routes.
    expect(routeKey(routeFromJson({ type: 'unreachable', dst: 'default', dev: 'lo', metric: 1024, flags: [], pref: 'medium' }, 6, 51821))).toBe('6 table 51821 unreachable default metric 1024');
    expect(routeKey({ family: 6, table: 51821, dst: '::/0', type: 'unreachable' })).toBe('6 table 51821 unreachable default metric 1024');
  });

  it('builds argv for replace and del', () => {
    const r: RouteSpec = { family: 4, table: 51820, dst: '198.51.100.0/24', via: '10.99.0.2', dev: 'd0', src: '10.99.0.1', metric: 5 };
    expect(routeArgv(r, 'replace')).toEqual(['ip', '-4', 'route', 'replace', '198.51.100.0/24', 'via', '10.99.0.2', 'dev', 'd0', 'src', '10.99.0.1', 'metric', '5', 'table', '51820']);
    expect(routeArgv({ family: 6, table: 7, dst: 'default', type: 'prohibit' }, 'del')).toEqual(['ip', '-6', 'route', 'del', 'prohibit', 'default', 'table', '7']);
  });

  it('normalizes prefixes', () => {
    expect(normalizePrefix('0.0.0.0/0', 4)).toBe('default');
    expect(normalizePrefix('10.0.0.1', 4)).toBe('10.0.0.1/32');
    expect(normalizePrefix('2001:0db8:0:0::1/64', 6)).toBe('2001:db8::1/64');
  });
});
