// plan(current, desired, ownership) is pure: built CurrentStates in, step titles and argv out.
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../errors.js';
import { emptyJournal, normalizeNftListing, sha256 } from './journal.js';
import { plan } from './plan.js';
import type { CurrentState } from './read-state.js';
import { emptyHostState, type HostState, type Ownership } from './types.js';

const OWN: Ownership = {
  nftTables: [{ family: 'inet', name: 'egress' }],
  rulePriorities: [[100, 109]],
  routeTables: [51820],
  links: ['egress0'],
  files: ['/etc/egress'],
  journalPath: '/etc/egress/journal.json',
  units: ['egress.service'],
};

function current(over: Partial<CurrentState> = {}): CurrentState {
  return {
    files: new Map(),
    nft: new Map(),
    rules: [],
    routes: [],
    sysctls: new Map(),
    links: new Map(),
    units: new Map(),
    systemd: true,
    journal: emptyJournal(),
    ...over,
  };
}

const TABLE = 'table inet egress {\n  chain c {\n    type filter hook output priority 0; policy accept;\n  }\n}\n';
const LISTING = 'table inet egress {\n\tchain c {\n\t\ttype filter hook output priority filter; policy accept;\n\t}\n}\n';

describe('plan', () => {
  it('adds every missing rule before deleting extras, and deletes extras by full spec', () => {
    const desired: HostState = { ...emptyHostState(), rules: [{ family: 4, priority: 100, fwmark: 0x100, fwmask: 0xff00, action: 'lookup', table: 51820 }] };
    const cur = current({ rules: [{ family: 4, priority: 100, fwmark: 0x200, fwmask: 0xff00, action: 'lookup', table: 51820 }] });
    const p = plan(cur, desired, OWN);
    expect(p.steps.map((s) => s.do)).toEqual([
      [{ kind: 'run', argv: ['ip', '-4', 'rule', 'add', 'priority', '100', 'fwmark', '0x100/0xff00', 'lookup', '51820'] }],
      [{ kind: 'run', argv: ['ip', '-4', 'rule', 'del', 'priority', '100', 'fwmark', '0x200/0xff00', 'lookup', '51820'] }],
    ]);
    expect(p.steps[0]!.undo).toEqual([{ kind: 'run', argv: ['ip', '-4', 'rule', 'del', 'priority', '100', 'fwmark', '0x100/0xff00', 'lookup', '51820'] }]);
  });

  it('replaces a route with the same destination and metric, deletes other extras, restores the old one on undo', () => {
    const desired: HostState = { ...emptyHostState(), routes: [{ family: 4, table: 51820, dst: 'default', dev: 'egress0' }] };
    const cur = current({ routes: [{ family: 4, table: 51820, dst: 'default', dev: 'eth0', via: '192.0.2.1' }, { family: 4, table: 51820, dst: '10.0.0.0/8', dev: 'eth0' }] });
    const p = plan(cur, desired, OWN);
    expect(p.steps.map((s) => s.title)).toEqual(['replace route default dev egress0 table 51820', 'delete route 10.0.0.0/8 dev eth0 table 51820']);
    expect(p.steps[0]!.undo).toEqual([{ kind: 'run', argv: ['ip', '-4', 'route', 'replace', 'default', 'via', '192.0.2.1', 'dev', 'eth0', 'table', '51820'] }]);
  });

  it('keeps an nft table when the journal has its text hash and listing; replaces it when someone changed it', () => {
    const desired: HostState = { ...emptyHostState(), nft: [{ family: 'inet', name: 'egress', ruleset: TABLE }] };
    const journal = { ...emptyJournal(), nft: { 'inet egress': { sha256: sha256(TABLE), listing: normalizeNftListing(LISTING) } } };
    expect(plan(current({ nft: new Map([['inet egress', LISTING]]), journal }), desired, OWN).steps).toEqual([]);
    // Counters moved: still unchanged.
    const counted = LISTING.replace('policy accept;\n', 'policy accept;\n\t\tcounter packets 12 bytes 3456\n');
    const journal2 = { ...journal, nft: { 'inet egress': { sha256: sha256(TABLE), listing: normalizeNftListing(LISTING.replace('policy accept;\n', 'policy accept;\n\t\tcounter packets 0 bytes 0\n')) } } };
    expect(plan(current({ nft: new Map([['inet egress', counted]]), journal: journal2 }), desired, OWN).steps).toEqual([]);
    // Someone added a rule by hand: replaced, with the hand-edited listing as the undo.
    const edited = LISTING.replace('policy accept;\n', 'policy accept;\n\t\tip daddr 192.0.2.1 drop\n');
    const p = plan(current({ nft: new Map([['inet egress', edited]]), journal }), desired, OWN);
    expect(p.steps.map((s) => s.title)).toEqual(['replace nft table inet egress']);
    expect(p.steps[0]!.do).toEqual([{ kind: 'run', argv: ['nft', '-f', '-'], stdin: `add table inet egress\ndelete table inet egress\n${TABLE}` }]);
    expect(p.steps[0]!.undo).toEqual([{ kind: 'run', argv: ['nft', '-f', '-'], stdin: `add table inet egress\ndelete table inet egress\n${edited}` }]);
    // Desired text changed: replaced.
    expect(plan(current({ nft: new Map([['inet egress', LISTING]]), journal }), { ...desired, nft: [{ family: 'inet', name: 'egress', ruleset: TABLE.replace('priority 0', 'priority 10') }] }, OWN).steps).toHaveLength(1);
  });

  it('compares listings without the elements the kernel adds to dynamic sets, keeping static ones', () => {
    const set = (extra: string[]) => ['table inet egress {', '\tset fwd4_main {', '\t\ttype ipv4_addr . inet_service', '\t\tsize 65535', '\t\tflags dynamic,timeout', '\t\ttimeout 3m', ...extra, '\t}', '\tset fixed {', '\t\ttype ipv4_addr', '\t\telements = { 192.0.2.1 }', '\t}', '}', ''].join('\n');
    const one = set(['\t\telements = { 198.51.100.1 . 4000 expires 2m53s268ms }']);
    const many = set(['\t\telements = { 198.51.100.1 . 4000 expires 2m53s268ms, 198.51.100.7 . 4001 expires 1m,', '\t\t\t     198.51.100.9 . 4002 expires 10s }']);
    expect(normalizeNftListing(one)).toBe(normalizeNftListing(set([])));
    expect(normalizeNftListing(many)).toBe(normalizeNftListing(set([])));
    expect(normalizeNftListing(set([]))).toContain('elements = { 192.0.2.1 }');
    expect(normalizeNftListing(set([])).replace('192.0.2.1', '192.0.2.9')).not.toBe(normalizeNftListing(set([])));
  });

  it('sets sysctls that differ and restores journaled originals that are no longer wanted', () => {
    const cur = current({
      sysctls: new Map([
        ['net.ipv4.ip_forward', '0'],
        ['net.ipv4.conf.all.src_valid_mark', '1'],
        ['net.ipv4.conf.eth0.rp_filter', '2'],
      ]),
      journal: { ...emptyJournal(), sysctls: { 'net.ipv4.conf.all.src_valid_mark': '0', 'net.ipv4.conf.eth0.rp_filter': '1', 'net.ipv4.conf.gone0.rp_filter': null } },
    });
    const desired: HostState = { ...emptyHostState(), sysctls: [{ key: 'net.ipv4.ip_forward', value: '1' }] };
    const p = plan(cur, desired, OWN);
    expect(p.steps.map((s) => [s.title, s.do, s.undo])).toEqual([
      ['set net.ipv4.ip_forward = 1 (was 0)', [{ kind: 'run', argv: ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1'] }], [{ kind: 'run', argv: ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=0'] }]],
      ['restore net.ipv4.conf.all.src_valid_mark = 0', [{ kind: 'run', argv: ['sysctl', '-q', '-w', 'net.ipv4.conf.all.src_valid_mark=0'] }], [{ kind: 'run', argv: ['sysctl', '-q', '-w', 'net.ipv4.conf.all.src_valid_mark=1'] }]],
      ['restore net.ipv4.conf.eth0.rp_filter = 1', [{ kind: 'run', argv: ['sysctl', '-q', '-w', 'net.ipv4.conf.eth0.rp_filter=1'] }], [{ kind: 'run', argv: ['sysctl', '-q', '-w', 'net.ipv4.conf.eth0.rp_filter=2'] }]],
    ]);
  });

  it('leaves the per-interface sysctls of a link it takes down to go with the link (no restore after it is gone)', () => {
    const cur = current({
      links: new Map([['egress0', { name: 'egress0', mtu: 1420, addresses: ['10.77.0.2/24'], wg: { listenPort: 51820, peers: ['P1'] } }]]),
      sysctls: new Map([['net.ipv4.conf.egress0.forwarding', '1'], ['net.ipv4.conf.br0.forwarding', '1']]),
      journal: { ...emptyJournal(), sysctls: { 'net.ipv4.conf.egress0.forwarding': '0', 'net.ipv4.conf.br0.forwarding': '0' } },
    });
    expect(plan(cur, emptyHostState(), OWN).steps.map((s) => s.title).filter((t) => t.includes('sysctl') || t.startsWith('restore'))).toEqual(['restore net.ipv4.conf.br0.forwarding = 0']);
  });

  it('restores a per-interface sysctl journaled as absent (its interface came later) to the default a new interface gets', () => {
    const cur = current({
      sysctls: new Map([['net.ipv4.conf.egress0.forwarding', '1'], ['net.ipv4.conf.default.forwarding', '0']]),
      journal: { ...emptyJournal(), sysctls: { 'net.ipv4.conf.egress0.forwarding': null } },
    });
    expect(plan(cur, emptyHostState(), { ...OWN, links: [] }).steps.map((s) => s.title).filter((t) => t.startsWith('restore'))).toEqual(['restore net.ipv4.conf.egress0.forwarding = 0']);
  });

  it('restores no per-interface sysctl of a link it takes down (the kernel drops them with the link)', () => {
    const cur = current({
      links: new Map([['egress0', { name: 'egress0', mtu: 1420, addresses: ['10.77.0.2/24'], wg: { listenPort: 51820, peers: ['P1'] } }]]),
      sysctls: new Map([['net.ipv4.conf.egress0.forwarding', '1'], ['net.ipv4.conf.eth0.rp_filter', '2']]),
      journal: { ...emptyJournal(), sysctls: { 'net.ipv4.conf.egress0.forwarding': '0', 'net.ipv4.conf.eth0.rp_filter': '1' } },
    });
    expect(plan(cur, emptyHostState(), OWN).steps.map((s) => s.title).filter((t) => /take down|restore/.test(t))).toEqual(['take down egress0', 'restore net.ipv4.conf.eth0.rp_filter = 1']);
  });

  it('syncs a link whose peers changed, restarts one whose address changed, brings up a missing one', () => {
    const link = { kind: 'wireguard' as const, name: 'egress0', configPath: '/etc/egress/egress0.conf', addresses: ['10.77.0.2/24'], peers: ['P1'], listenPort: 51820 };
    const desired: HostState = { ...emptyHostState(), links: [link] };
    const present = (addresses: string[], peers: string[]): CurrentState => current({ links: new Map([['egress0', { name: 'egress0', mtu: 1420, addresses, wg: { listenPort: 51820, peers } }]]) });
    expect(plan(present(['10.77.0.2/24'], ['P1']), desired, OWN).steps).toEqual([]);
    expect(plan(present(['10.77.0.2/24'], ['P0']), desired, OWN).steps.map((s) => s.title)).toEqual(['update peers of egress0 (wg syncconf)']);
    const restart = plan(present(['10.77.0.3/24'], ['P1']), desired, OWN).steps[0]!;
    expect([restart.title, restart.recreates]).toEqual(['restart egress0 (addresses or MTU changed)', 'egress0']);
    expect(restart.do.map((a) => (a.kind === 'run' ? a.argv.join(' ') : a.kind))).toEqual(['wg-quick down /etc/egress/egress0.conf', 'wg-quick up /etc/egress/egress0.conf']);
    expect(plan(current(), desired, OWN).steps.map((s) => s.title)).toEqual(['bring up egress0 (wg-quick up /etc/egress/egress0.conf)']);
    // A route through a link that is re-created is added again, not kept.
    const withRoute = { ...present(['10.77.0.3/24'], ['P1']), routes: [{ family: 4 as const, table: 51820, dst: 'default', dev: 'egress0' }] };
    const p = plan(withRoute, { ...desired, routes: [{ family: 4, table: 51820, dst: 'default', dev: 'egress0' }] }, OWN);
    expect(p.steps.map((s) => s.title)).toEqual(['restart egress0 (addresses or MTU changed)', 'add route default dev egress0 table 51820']);
  });

  it('writes files whose content or mode differ, masking secrets in titles', () => {
    const cur = current({ files: new Map([['/etc/egress/a', { kind: 'file', mode: 0o644, content: 'x\n' }]]) });
    const desired: HostState = { ...emptyHostState(), files: [{ path: '/etc/egress/a', content: 'x\n', mode: 0o600, secret: true }, { path: '/etc/egress/b', content: 'new\n', mode: 0o644 }] };
    expect(plan(cur, desired, OWN).steps.map((s) => s.title)).toEqual(['chmod /etc/egress/a (0600, secret, 2 bytes)', 'create /etc/egress/b (0644, 4 bytes)']);
  });

  it('without systemd there is no unit step, only a note', () => {
    const desired: HostState = { ...emptyHostState(), units: [{ name: 'egress.service', enable: true }] };
    expect(plan(current({ systemd: false }), desired, OWN)).toEqual({ steps: [], notes: ['systemd not running: boot unit written but not enabled'] });
    expect(plan(current(), desired, OWN).steps.map((s) => s.title)).toEqual(['enable egress.service']);
  });

  it('refuses a desired nft text that is not the owned table', () => {
    const desired: HostState = { ...emptyHostState(), nft: [{ family: 'inet', name: 'egress', ruleset: 'flush ruleset\n' + TABLE }] };
    expect(() => plan(current(), desired, OWN)).toThrow(ValidationError);
    expect(() => plan(current(), desired, OWN)).toThrow("nft[0].ruleset: expected the text to start with 'table inet egress {'");
  });
});
