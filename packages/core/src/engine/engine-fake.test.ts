// Table-driven engine tests on FakeHost (Tailscale style): desired state in, exact text dump of the host out;
// random transitions converge; the second apply changes nothing; a failure at any change restores the host exactly.
import { describe, expect, it } from 'vitest';
import { ApplyError, ValidationError } from '../errors.js';
import { FakeHost, defaultMachine } from '../testing/index.js';
import { publicKeyOf } from '../keys.js';
import { apply, formatPlan, teardown } from './apply.js';
import { emptyHostState, type HostState, type Ownership } from './types.js';

const CLIENT_KEY = 'EP48duQvr+OjtmttqIGUlM67+vX88XozXFWRPO6JVHw=';
const PEER_A = publicKeyOf('iJnluhsUP6OwTey5qowWZOPItbPh3l/9gleTWtQUBnI=');
const PEER_B = publicKeyOf('MF794Mr0m6mCyFroqg8zj9Xnv4sS1LAT4YmzSrKCXHg=');

const OWN: Ownership = {
  nftTables: [{ family: 'inet', name: 'egress' }],
  rulePriorities: [[5200, 5209]],
  routeTables: [51820],
  links: ['egress0'],
  files: ['/etc/egress', '/etc/wireguard/egress0.conf', '/etc/systemd/system/egress.service'],
  journalPath: '/etc/egress/engine.json',
  units: ['egress.service'],
};

function wgConf(address: string, peers: string[], mtu?: number): string {
  return [
    '[Interface]',
    `Address = ${address}`,
    'ListenPort = 51820',
    ...(mtu ? [`MTU = ${mtu}`] : []),
    'PostUp = wg set %i private-key /etc/egress/egress0.key',
    ...peers.flatMap((p) => ['', '[Peer]', `PublicKey = ${p}`, 'AllowedIPs = 0.0.0.0/0, ::/0']),
    '',
  ].join('\n');
}

function nft(markStatement: string): string {
  return `table inet egress {\n  chain out {\n    type route hook output priority mangle; policy accept;\n    meta skuid 1001 counter ${markStatement}\n  }\n}\n`;
}

/** A full WireGuard egress with the given knobs. */
function wgState(o: { address?: string; peers?: string[]; mtu?: number; mark?: string; sysctl?: string; metric?: number; v6?: boolean; confMode?: number }): HostState {
  const address = o.address ?? '10.77.0.2/24';
  const peers = o.peers ?? [PEER_A];
  return {
    files: [
      { path: '/etc/egress/egress0.key', content: `${CLIENT_KEY}\n`, mode: 0o600, secret: true },
      { path: '/etc/wireguard/egress0.conf', content: wgConf(address, peers, o.mtu), mode: o.confMode ?? 0o600 },
      { path: '/etc/systemd/system/egress.service', content: '[Unit]\nDescription=egress\n', mode: 0o644 },
    ],
    nft: [{ family: 'inet', name: 'egress', ruleset: nft(o.mark ?? 'meta mark set mark and 0xffff00ff or 0x100') }],
    sysctls: [
      { key: 'net.ipv4.conf.all.src_valid_mark', value: '1' },
      { key: 'net.ipv4.conf.egress0.rp_filter', value: o.sysctl ?? '2' },
    ],
    rules: [
      { family: 4, priority: 5200, fwmark: 0x100, fwmask: 0xff00, action: 'lookup', table: 51820 },
      { family: 4, priority: 5201, fwmark: 0x100, fwmask: 0xff00, action: 'prohibit' },
      ...(o.v6 === false
        ? []
        : [
            { family: 6 as const, priority: 5200, fwmark: 0x100, fwmask: 0xff00, action: 'lookup' as const, table: 51820 },
            { family: 6 as const, priority: 5201, fwmark: 0x100, fwmask: 0xff00, action: 'prohibit' as const },
          ]),
    ],
    routes: [
      { family: 4, table: 51820, dst: 'default', dev: 'egress0', ...(o.metric ? { metric: o.metric } : {}) },
      ...(o.v6 === false ? [] : [{ family: 6 as const, table: 51820, dst: 'default', dev: 'egress0' }]),
    ],
    links: [{ kind: 'wireguard', name: 'egress0', configPath: '/etc/wireguard/egress0.conf', addresses: [address], peers, listenPort: 51820, ...(o.mtu ? { mtu: o.mtu } : {}) }],
    units: [{ name: 'egress.service', enable: true }],
  };
}

/** A local-interface egress: no link, no unit; uid rule and a route via eth0. */
function ifaceState(): HostState {
  return {
    ...emptyHostState(),
    nft: [{ family: 'inet', name: 'egress', ruleset: nft('meta mark set mark and 0xffff00ff or 0x200') }],
    sysctls: [{ key: 'net.ipv4.conf.all.src_valid_mark', value: '1' }],
    rules: [{ family: 4, priority: 5205, uidrange: [1001, 1001], action: 'lookup', table: 51820 }],
    routes: [
      { family: 4, table: 51820, dst: 'default', via: '192.0.2.254', dev: 'eth0' },
      { family: 4, table: 51820, dst: '198.51.100.0/24', type: 'unreachable' },
    ],
  };
}

function freshHost(): FakeHost {
  const m = defaultMachine();
  for (const d of ['/etc/wireguard', '/etc/systemd', '/etc/systemd/system']) m.dirs.add(d);
  return new FakeHost({ machine: m });
}

/** What a state adds to and removes from the initial dump, as `+ line` / `- line`. */
function delta(initial: string, now: string): string[] {
  const a = initial.split('\n');
  const b = now.split('\n');
  return [...a.filter((l) => !b.includes(l)).map((l) => `- ${l}`), ...b.filter((l) => !a.includes(l)).map((l) => `+ ${l}`)];
}

const STATES: Record<string, HostState> = {
  empty: emptyHostState(),
  wg: wgState({}),
  wgTwoPeers: wgState({ peers: [PEER_A, PEER_B] }),
  wgNewAddress: wgState({ address: '10.77.0.3/24', mtu: 1380, v6: false }),
  wgRetuned: wgState({ mark: 'meta mark set mark and 0xffff00ff or 0x100 counter', sysctl: '1', metric: 10, confMode: 0o640 }),
  iface: ifaceState(),
};

describe('engine on FakeHost: desired state in, exact host state out', () => {
  const initial = freshHost().dump();

  it('wg: brings up a whole WireGuard egress (exact kernel/file delta)', async () => {
    const host = freshHost();
    const r = await apply(host, STATES.wg!, OWN);
    expect(r.changed).toBe(14);
    // The journal is checked below; everything else of the host, exactly:
    expect(delta(initial, withoutJournal(host.dump()))).toEqual([
      '- sysctl net.ipv4.conf.all.src_valid_mark = 0',
      '+ file /etc/egress/egress0.key 0600',
      `+   | ${CLIENT_KEY}`,
      '+ file /etc/systemd/system/egress.service 0644',
      '+   | [Unit]',
      '+   | Description=egress',
      '+ file /etc/wireguard/egress0.conf 0600',
      '+   | [Interface]',
      '+   | Address = 10.77.0.2/24',
      '+   | ListenPort = 51820',
      '+   | PostUp = wg set %i private-key /etc/egress/egress0.key',
      '+   | ',
      '+   | [Peer]',
      `+   | PublicKey = ${PEER_A}`,
      '+   | AllowedIPs = 0.0.0.0/0, ::/0',
      '+ dir /etc/egress',
      '+ nft table inet egress {',
      '+ nft   chain out {',
      '+ nft     type route hook output priority mangle; policy accept;',
      '+ nft     meta skuid 1001 counter meta mark set mark and 0xffff00ff or 0x100',
      '+ nft   }',
      '+ nft }',
      '+ rule 4 pref 5200 fwmark 0x100/0xff00 lookup 51820',
      '+ rule 4 pref 5201 fwmark 0x100/0xff00 prohibit',
      '+ rule 6 pref 5200 fwmark 0x100/0xff00 lookup 51820',
      '+ rule 6 pref 5201 fwmark 0x100/0xff00 prohibit',
      '+ route 4 table 51820 unicast default dev egress0 metric 0',
      '+ route 6 table 51820 unicast default dev egress0 metric 1024',
      '+ sysctl net.ipv4.conf.all.src_valid_mark = 1',
      '+ sysctl net.ipv4.conf.egress0.rp_filter = 2',
      `+ link egress0 wireguard mtu 1420 10.77.0.2/24 listen 51820 peers ${PEER_A}[0.0.0.0/0,::/0]`,
      '+ unit egress.service enabled inactive',
    ]);
    const d = delta(initial, host.dump());
    // Nothing else of the host changed: its main table, eth0, its other sysctls.
    expect(d.filter((l) => l.startsWith('- '))).toEqual(['- sysctl net.ipv4.conf.all.src_valid_mark = 0']);
    // Fence before opening: prohibit rules, then the lookups, then the nft table; the tunnel, then its routes, last.
    expect(host.changes()).toEqual([
      'write /etc/egress/engine.json',
      'ip -4 rule add priority 5201 fwmark 0x100/0xff00 prohibit',
      'ip -6 rule add priority 5201 fwmark 0x100/0xff00 prohibit',
      'ip -4 rule add priority 5200 fwmark 0x100/0xff00 lookup 51820',
      'ip -6 rule add priority 5200 fwmark 0x100/0xff00 lookup 51820',
      'nft -f -',
      'write /etc/egress/egress0.key',
      'write /etc/systemd/system/egress.service',
      'write /etc/wireguard/egress0.conf',
      'wg-quick up /etc/wireguard/egress0.conf',
      'sysctl -q -w net.ipv4.conf.all.src_valid_mark=1',
      'sysctl -q -w net.ipv4.conf.egress0.rp_filter=2',
      'ip -4 route replace default dev egress0 table 51820',
      'ip -6 route replace default dev egress0 table 51820',
      'systemctl daemon-reload',
      'systemctl enable egress.service',
      'write /etc/egress/engine.json',
    ]);
    const journal = JSON.parse((await host.readFile('/etc/egress/engine.json'))!);
    expect(journal.sysctls).toEqual({ 'net.ipv4.conf.all.src_valid_mark': '0', 'net.ipv4.conf.egress0.rp_filter': null });
    expect(journal.links).toEqual({ egress0: '/etc/wireguard/egress0.conf' });
    expect(journal.files).toEqual(['/etc/egress/egress0.key', '/etc/systemd/system/egress.service', '/etc/wireguard/egress0.conf']);
    expect(host.machine.files.get('/etc/egress/engine.json')!.mode).toBe(0o600);
    const nftCall = host.calls.find((c) => c.argv.join(' ') === 'nft -f -')!;
    expect(nftCall.stdin).toBe(`add table inet egress\ndelete table inet egress\n${STATES.wg!.nft[0]!.ruleset}`);
  });

  it('iface: a local-interface egress (uid rule, routes via eth0, unreachable route)', async () => {
    const host = freshHost();
    const r = await apply(host, STATES.iface!, OWN);
    expect(r.steps.map((s) => s.title)).toEqual([
      'add rule 5205: uidrange 1001-1001 lookup 51820',
      'create nft table inet egress',
      'set net.ipv4.conf.all.src_valid_mark = 1 (was 0)',
      'add route default via 192.0.2.254 dev eth0 table 51820',
      'add route unreachable 198.51.100.0/24 table 51820',
    ]);
    const d = delta(initial, host.dump()).filter((l) => l.startsWith('+ rule') || l.startsWith('+ route'));
    expect(d).toEqual(['+ rule 4 pref 5205 uidrange 1001-1001 lookup 51820', '+ route 4 table 51820 unicast default via 192.0.2.254 dev eth0 metric 0', '+ route 4 table 51820 unreachable 198.51.100.0/24 metric 0']);
  });

  it('transitions: syncconf for a new peer, restart for a new address/MTU, replace for changed routes and nft', async () => {
    const host = freshHost();
    await apply(host, STATES.wg!, OWN);
    host.calls.length = 0;
    let r = await apply(host, STATES.wgTwoPeers!, OWN);
    expect(r.steps.map((s) => s.title)).toEqual(['update /etc/wireguard/egress0.conf (0600, 297 bytes)', 'update peers of egress0 (wg syncconf)']);
    // The journal records what the run owns before its first change (pending) and drops it once converged.
    expect(host.changes()).toEqual(['write /etc/egress/engine.json', 'write /etc/wireguard/egress0.conf', 'wg syncconf egress0 /dev/stdin', 'write /etc/egress/engine.json']);
    const syncInput = host.calls.find((c) => c.argv[1] === 'syncconf')!.stdin!;
    expect(syncInput).not.toMatch(/Address|PostUp/);
    // syncconf replaces the whole device config: the key set by PostUp is carried over, never echoed.
    expect(syncInput).toContain(`PrivateKey = ${CLIENT_KEY}`);
    expect((await host.run(['wg', 'show', 'egress0', 'public-key'])).stdout).toBe(`${publicKeyOf(CLIENT_KEY)}\n`);
    expect(host.changes().join('\n')).not.toContain(CLIENT_KEY);
    expect(host.dump()).toContain(`link egress0 wireguard mtu 1420 10.77.0.2/24 listen 51820 peers ${PEER_A}[0.0.0.0/0,::/0] ${PEER_B}[0.0.0.0/0,::/0]`);

    host.calls.length = 0;
    r = await apply(host, STATES.wgNewAddress!, OWN);
    expect(r.steps.map((s) => s.title)).toEqual([
      'update /etc/wireguard/egress0.conf (0600, 214 bytes)',
      'restart egress0 (addresses or MTU changed)',
      // wg-quick down removed the interface with its sysctls and routes: they are set again.
      'set net.ipv4.conf.egress0.rp_filter = 2',
      'add route default dev egress0 table 51820',
      'delete IPv6 rule 5200: fwmark 0x100/0xff00 lookup 51820',
      'delete IPv6 rule 5201: fwmark 0x100/0xff00 prohibit',
    ]);
    expect(host.dump()).toContain(`link egress0 wireguard mtu 1380 10.77.0.3/24 listen 51820 peers ${PEER_A}[0.0.0.0/0,::/0]`);
    expect(host.dump()).not.toContain('route 6 table 51820');

    r = await apply(host, STATES.wgRetuned!, OWN);
    // Back to 10.77.0.2 without MTU: a restart, after which the interface's routes and sysctls are new.
    expect(r.steps.map((s) => s.title)).toEqual([
      'add IPv6 rule 5201: fwmark 0x100/0xff00 prohibit',
      'add IPv6 rule 5200: fwmark 0x100/0xff00 lookup 51820',
      'replace nft table inet egress',
      'update /etc/wireguard/egress0.conf (0640, 203 bytes)',
      'restart egress0 (addresses or MTU changed)',
      'set net.ipv4.conf.egress0.rp_filter = 1',
      'add route default dev egress0 metric 10 table 51820',
      'add IPv6 route default dev egress0 table 51820',
    ]);
    expect(host.dump()).toContain('route 4 table 51820 unicast default dev egress0 metric 10');
    expect(host.dump()).not.toContain('route 4 table 51820 unicast default dev egress0 metric 0');
    expect(host.machine.files.get('/etc/wireguard/egress0.conf')!.mode).toBe(0o640);
  });

  it('the second apply of every state reports zero steps (also after counters moved)', async () => {
    for (const [name, state] of Object.entries(STATES)) {
      const host = freshHost();
      await apply(host, state, OWN);
      host.bumpCounters();
      host.calls.length = 0;
      const again = await apply(host, state, OWN);
      expect({ name, changed: again.changed, steps: again.steps }).toEqual({ name, changed: 0, steps: [] });
      expect(host.changes()).toEqual([]);
    }
  });

  it('random transitions (seeded) converge to the same host as a fresh apply; teardown restores the initial host', async () => {
    const expected = new Map<string, string>();
    for (const [name, state] of Object.entries(STATES)) {
      const h = freshHost();
      await apply(h, state, OWN);
      expected.set(name, normalizeDump(h.dump()));
    }
    let seed = 0x5eed;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    const names = Object.keys(STATES);
    const host = freshHost();
    const visited: string[] = [];
    for (let i = 0; i < 40; i++) {
      const name = names[Math.floor(random() * names.length)]!;
      visited.push(name);
      await apply(host, STATES[name]!, OWN);
      expect({ step: i, name, dump: normalizeDump(host.dump()) }).toEqual({ step: i, name, dump: expected.get(name) });
      expect((await apply(host, STATES[name]!, OWN)).changed).toBe(0);
    }
    expect(new Set(visited).size).toBe(names.length);
    await teardown(host, OWN);
    expect(host.dump()).toBe(initial);
    expect((await teardown(host, OWN)).changed).toBe(0);
  });

  it('teardown removes exactly what egress owns and leaves foreign tables, rules, routes and files', async () => {
    const host = freshHost();
    await host.run(['nft', '-f', '-'], { stdin: 'table inet other {\n  chain c {\n    type filter hook input priority 0; policy accept;\n  }\n}\n' });
    await host.run(['ip', '-4', 'rule', 'add', 'priority', '5199', 'fwmark', '0x1', 'lookup', '100']);
    await host.run(['ip', '-4', 'rule', 'add', 'priority', '5210', 'lookup', '51820']);
    await host.run(['ip', '-4', 'route', 'add', 'default', 'dev', 'eth0', 'table', '100']);
    await host.writeFile('/etc/egress/operator-notes.txt', 'mine\n', { mode: 0o644 });
    const before = host.dump();
    await apply(host, STATES.wg!, OWN);
    const r = await teardown(host, OWN);
    expect(r.steps.map((s) => s.title)).toContain('take down egress0');
    expect(r.steps.map((s) => s.title)).not.toContain('remove directory /etc/egress');
    expect(host.dump()).toBe(before);
    expect(host.dump()).toContain('rule 4 pref 5199 fwmark 0x1/0xffffffff lookup 100');
    expect(host.dump()).toContain('rule 4 pref 5210 lookup 51820');
  });

  it('a rule egress owns but did not ask for (left by an older version) is deleted by full spec, after the adds', async () => {
    const host = freshHost();
    await host.run(['ip', '-4', 'rule', 'add', 'priority', '5205', 'fwmark', '0x100/0xff00', 'lookup', '51820']);
    const r = await apply(host, STATES.iface!, OWN);
    const titles = r.steps.map((s) => s.title);
    expect(titles.indexOf('delete rule 5205: fwmark 0x100/0xff00 lookup 51820')).toBeGreaterThan(titles.indexOf('add rule 5205: uidrange 1001-1001 lookup 51820'));
    expect(host.changes()).toContain('ip -4 rule del priority 5205 fwmark 0x100/0xff00 lookup 51820');
    expect(host.dump()).not.toContain('pref 5205 fwmark');
  });

  it('refuses a desired state outside the ownership before running anything', async () => {
    const host = freshHost();
    const bad: HostState = { ...emptyHostState(), rules: [{ family: 4, priority: 100, action: 'lookup', table: 51820 }], files: [{ path: '/etc/passwd', content: 'x', mode: 0o644 }] };
    await expect(apply(host, bad, OWN)).rejects.toThrow(ValidationError);
    await expect(apply(host, bad, OWN)).rejects.toThrow(/rules\[0\]\.priority: priority 100 is outside egress's ranges 5200-5209[\s\S]*files\[0\]\.path: '\/etc\/passwd' is outside egress's paths/);
    expect(host.calls).toEqual([]);
  });

  it('dry run lists the plan, changes nothing and never shows a secret', async () => {
    const host = freshHost();
    const lines: string[] = [];
    const output = { info: (l: string) => lines.push(l), step: () => undefined } as unknown as import('../output.js').Output;
    const r = await apply(host, STATES.wg!, OWN, { dryRun: true, output });
    expect(r).toMatchObject({ dryRun: true, changed: 0 });
    expect(r.steps).toHaveLength(14);
    expect(host.changes()).toEqual([]);
    const text = formatPlan(r.steps);
    expect(text).toContain('1. add rule 5201: fwmark 0x100/0xff00 prohibit');
    expect(text).toContain('6. create /etc/egress/egress0.key (0600, secret, 45 bytes)');
    expect(text).toContain('write /etc/egress/egress0.key mode 0600 (secret, 45 bytes)');
    expect(text).not.toContain(CLIENT_KEY);
    expect(lines.join('\n')).not.toContain(CLIENT_KEY);
  });

  it('without systemd the unit file is written but not enabled, with a note', async () => {
    const m = defaultMachine({ systemd: false });
    m.dirs.add('/etc/wireguard');
    const host = new FakeHost({ machine: m });
    const r = await apply(host, STATES.wg!, OWN);
    expect(r.notes).toEqual(['systemd not running: boot unit written but not enabled']);
    expect(r.steps.map((s) => s.title)).not.toContain('enable egress.service');
    expect(host.machine.files.has('/etc/systemd/system/egress.service')).toBe(true);
    expect((await apply(host, STATES.wg!, OWN)).changed).toBe(0);
  });
});

/** A dump without the engine's journal file (its content is checked elsewhere). */
function withoutJournal(text: string): string {
  return normalizeDump(text).replace(/file \/etc\/egress\/engine.json 0600\n( {2}\| .*\n)*/, '');
}

/** Dumps differ only in nft counters after traffic; the comparison ignores them. */
function normalizeDump(text: string): string {
  return text.replace(/counter packets \d+ bytes \d+/g, 'counter');
}

describe('engine rollback on FakeHost: a failure at any change restores the host exactly', () => {
  /** The change calls of a clean run of from -> to. */
  async function cleanChanges(from: HostState | undefined, to: HostState): Promise<{ changes: string[]; target: string }> {
    const h = freshHost();
    if (from) await apply(h, from, OWN);
    h.calls.length = 0;
    await apply(h, to, OWN);
    return { changes: h.calls.filter((c) => c.change).map((c) => c.argv.join(' ')), target: normalizeDump(h.dump()) };
  }

  for (const [fromName, toName] of [
    ['empty', 'wg'],
    ['wg', 'wgNewAddress'],
    ['wgNewAddress', 'wgRetuned'],
    ['wg', 'wgTwoPeers'],
    ['wg', 'empty'],
    ['iface', 'wg'],
    ['wgRetuned', 'iface'],
  ] as const) {
    it(`${fromName} -> ${toName}: failing change N of the apply leaves the host as it was`, async () => {
      const from = fromName === 'empty' ? undefined : STATES[fromName]!;
      const { changes, target } = await cleanChanges(from, STATES[toName]!);
      expect(changes.length).toBeGreaterThanOrEqual(2);
      let rolledBack = 0;
      for (let n = 1; n <= changes.length; n++) {
        const host = freshHost();
        if (from) await apply(host, from, OWN);
        const before = host.dump();
        host.calls.length = 0;
        host.failOn(/./, { nth: n, changesOnly: true, stderr: `boom at ${n}` });
        const result = await apply(host, STATES[toName]!, OWN).then(
          (r) => r,
          (e: unknown) => e,
        );
        const failing = changes[n - 1]!;
        const isFinalJournal = n === changes.length && failing === `write ${OWN.journalPath}` && changes.length > 1;
        if (isFinalJournal || failing.startsWith('wg-quick down')) {
          // The final journal write only warns (the host is converged); `wg-quick down` falls back to `ip link del`.
          expect(result, `change ${n} (${failing})`).not.toBeInstanceOf(Error);
          // Sent last in the steps' batch, a final journal that did not land is written again once verified (no note);
          // written after verification (an nft table was reloaded), its failure is a note.
          const notes = isFinalJournal ? (result as { notes: string[] }).notes : [];
          if (notes.length) expect(notes).toEqual([expect.stringMatching(/^the journal \/etc\/egress\/engine.json could not be updated: [\s\S]*boom at/)]);
          else if (isFinalJournal) expect(normalizeDump(host.dump()), `change ${n} (${failing})`).toBe(normalizeDump(target));
          expect(withoutJournal(host.dump())).toBe(withoutJournal(target));
          continue;
        }
        expect(result, `change ${n} of ${changes.length} (${failing})`).toBeInstanceOf(ApplyError);
        const e = result as ApplyError;
        expect({ n, failing, restored: e.restored, message: e.restored ? '' : e.message }).toEqual({ n, failing, restored: true, message: '' });
        expect(e.message).toContain(`boom at ${n}`);
        expect(e.message).toContain('the previous state was restored');
        expect(host.dump(), `change ${n} of ${changes.length} (${failing})`).toBe(before);
        rolledBack++;
        // And the next apply, without the failure, converges as usual.
        host.clearFailures();
        await apply(host, STATES[toName]!, OWN);
        expect(normalizeDump(host.dump())).toBe(target);
        expect((await apply(host, STATES[toName]!, OWN)).changed).toBe(0);
      }
      expect(rolledBack).toBeGreaterThanOrEqual(changes.length - 2);
    });
  }

  it('a step that fails half-way (wg-quick down done, up fails) is undone and the message names the step and stderr', async () => {
    const host = freshHost();
    await apply(host, STATES.wg!, OWN);
    const before = host.dump();
    host.failOn(/^wg-quick up/, { stderr: 'RTNETLINK answers: Operation not supported' });
    const err = (await apply(host, STATES.wgNewAddress!, OWN).catch((e: unknown) => e)) as ApplyError;
    expect(err).toBeInstanceOf(ApplyError);
    expect(err.message).toMatch(/^step "restart egress0 \(addresses or MTU changed\)" failed: command failed \(exit 1\): wg-quick up \/etc\/wireguard\/egress0.conf\nRTNETLINK answers: Operation not supported\nthe previous state was restored \(1 completed step undone\)$/);
    expect(err.restored).toBe(true);
    expect(host.dump()).toBe(before);
    expect(host.dump()).toContain('link egress0 wireguard mtu 1420 10.77.0.2/24');
  });

  it('a change the kernel silently ignores fails verification and is rolled back', async () => {
    const host = freshHost();
    const before = host.dump();
    host.on('ip', (argv) => (argv.includes('rule') && argv.includes('add') && argv.includes('prohibit') ? { exitCode: 0, stdout: '', stderr: '' } : undefined));
    const err = (await apply(host, STATES.iface!, OWN).then(() => undefined, (e: unknown) => e)) as ApplyError | undefined;
    expect(err).toBeUndefined(); // iface has no prohibit rule: nothing ignored
    await teardown(host, OWN);
    const err2 = (await apply(host, STATES.wg!, OWN).catch((e: unknown) => e)) as ApplyError;
    expect(err2).toBeInstanceOf(ApplyError);
    expect(err2.message).toMatch(/^verification failed, the host still differs: add rule 5201: fwmark 0x100\/0xff00 prohibit; add IPv6 rule 5201: fwmark 0x100\/0xff00 prohibit\nthe previous state was restored/);
    expect(host.dump()).toBe(before);
  });

  it('verifies written files by their sha256 (not read back whole), and a file that landed different fails verification', async () => {
    const host = freshHost();
    const before = host.dump();
    const r = await apply(host, STATES.wg!, OWN);
    expect(r.changed).toBeGreaterThan(0);
    const files = STATES.wg!.files.map((f) => f.path);
    expect(files.length).toBeGreaterThan(0);
    // After the first write, each desired file is hashed, never cat'ed.
    const firstWrite = host.calls.findIndex((c) => c.change);
    const after = host.calls.slice(firstWrite);
    for (const f of files) {
      expect(after.some((c) => c.argv[0] === 'sha256sum' && c.argv.includes(f))).toBe(true);
      expect(after.some((c) => c.argv[0] === 'cat' && c.argv.includes(f))).toBe(false);
    }
    await teardown(host, OWN);
    expect(host.dump()).toBe(before);
    // A write that silently stores other bytes: only the hash can tell, and it does.
    const bad = freshHost();
    const write = bad.writeFile.bind(bad);
    bad.writeFile = (path, content, options) => write(path, path === files[0] ? `${content}# altered\n` : content, options);
    const err = (await apply(bad, STATES.wg!, OWN).catch((e: unknown) => e)) as ApplyError;
    expect(err).toBeInstanceOf(ApplyError);
    expect(err.message).toMatch(new RegExp(`^verification failed, the host still differs: update ${files[0]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} `));
    expect(err.restored).toBe(true);
    expect(bad.dump()).toBe(before);
  });

  it('reports when the previous state could not be restored', async () => {
    const host = freshHost();
    await apply(host, STATES.iface!, OWN);
    // The routes come last of the adds (the path opens last): fail the boot unit after them, so their undo runs.
    host.failOn('systemctl enable', { stderr: 'first failure' });
    host.failOn('ip -4 route replace default via 192.0.2.254', { stderr: 'undo failure' });
    host.failOn('ip -4 route replace default via 192.0.2.254', { nth: 2, stderr: 'repair failure' });
    const err = (await apply(host, STATES.wg!, OWN).catch((e: unknown) => e)) as ApplyError;
    expect(err).toBeInstanceOf(ApplyError);
    expect(err.restored).toBe(false);
    expect(err.message).toContain('first failure');
    expect(err.message).toContain('the previous state was NOT fully restored');
    expect(err.message).toContain('- route 4 table 51820 unicast default via 192.0.2.254 dev eth0 metric 0');
    expect(err.message).toContain('undo failure');
    expect(err.message).toContain('repair failure');
  });
});


describe('engine round trips', () => {
  it('reads the whole state in two batches and changes nothing on a converged host', async () => {
    const host = freshHost();
    await apply(host, STATES.wg!, OWN);
    let batches = 0;
    const runMany = host.runMany.bind(host);
    host.runMany = async (commands, options) => {
      batches++;
      return runMany(commands, options);
    };
    host.calls.length = 0;
    const r = await apply(host, STATES.wg!, OWN);
    expect(r.changed).toBe(0);
    expect(batches).toBe(2);
    expect(host.calls.every((c) => !c.change)).toBe(true);
  });
});

describe('round trips: a plan goes to a batching host in one runMany', () => {
  /** A FakeHost that records, for each runMany call, the change commands in it (as an SSH host would send one script). */
  class BatchCountingHost extends FakeHost {
    readonly batches: string[][] = [];
    override async runMany(commands: Parameters<FakeHost['runMany']>[0], options?: { stopOnError?: boolean }) {
      this.batches.push(commands.filter((c) => c.options?.change).map((c) => c.argv.join(' ')));
      return super.runMany(commands, options);
    }
  }

  it('sends every batchable change of a first apply in one call, and nothing on the second apply', async () => {
    const host = new BatchCountingHost({ machine: defaultMachine() });
    const first = await apply(host, { ...emptyHostState(), nft: [{ family: 'inet', name: 'egress', ruleset: nft('meta mark set mark and 0xffff00ff or 0x100') }], sysctls: [{ key: 'net.ipv4.conf.all.src_valid_mark', value: '1' }], rules: [{ family: 4, priority: 5200, fwmark: 0x100, fwmask: 0xff00, action: 'prohibit' }] }, OWN);
    expect(first.changed).toBe(3);
    const withChanges = host.batches.filter((b) => b.length > 0);
    expect(withChanges).toHaveLength(1);
    expect(withChanges[0]!.map((c) => c.split(' ')[0])).toEqual(['ip', 'nft', 'sysctl']);
    host.batches.length = 0;
    const second = await apply(host, { ...emptyHostState(), nft: [{ family: 'inet', name: 'egress', ruleset: nft('meta mark set mark and 0xffff00ff or 0x100') }], sysctls: [{ key: 'net.ipv4.conf.all.src_valid_mark', value: '1' }], rules: [{ family: 4, priority: 5200, fwmark: 0x100, fwmask: 0xff00, action: 'prohibit' }] }, OWN);
    expect(second.changed).toBe(0);
    expect(host.batches.filter((b) => b.length > 0)).toHaveLength(0);
  });

  it("carries the verification's read after the changes of the last batch: one runMany per apply that changes", async () => {
    const host = new BatchCountingHost({ machine: defaultMachine() });
    const calls: Array<{ changes: number; reads: number; stop: unknown }> = [];
    const runMany = host.runMany.bind(host);
    host.runMany = async (commands, options) => {
      calls.push({ changes: commands.filter((c) => c.options?.change).length, reads: commands.filter((c) => !c.options?.change).length, stop: options?.stopOnError });
      return runMany(commands, options);
    };
    const desired = { ...emptyHostState(), nft: [{ family: 'inet' as const, name: 'egress', ruleset: nft('meta mark set mark and 0xffff00ff or 0x100') }], rules: [{ family: 4 as const, priority: 5200, fwmark: 0x100, fwmask: 0xff00, action: 'prohibit' as const }] };
    const r = await apply(host, desired, OWN);
    expect(r.changed).toBe(2);
    // The read before, then the changes followed by the verification's reads (a failing read does not stop it).
    expect(calls.map((c) => c.stop)).toEqual([undefined, 'changes']);
    expect(calls[1]).toMatchObject({ changes: 2 });
    expect(calls[1]!.reads).toBe(calls[0]!.reads);
    // A verification that finds the host still off fails the apply and restores the host: it used those reads.
    const off = new BatchCountingHost({ machine: defaultMachine() });
    const before = off.dump();
    off.on('nft', (argv, _stdin, machine) => (argv[1] === '-f' ? (machine.nft.clear(), { exitCode: 0, stdout: '', stderr: '' }) : undefined));
    await expect(apply(off, desired, OWN)).rejects.toThrow(/verification failed, the host still differs: create nft table inet egress/);
    expect(off.dump()).toBe(before);
  });

  it('stops the batch at the failing command and restores what the earlier commands changed', async () => {
    const host = new BatchCountingHost({ machine: defaultMachine() });
    const before = host.dump();
    host.failOn(/rule add/, { changesOnly: true });
    await expect(apply(host, { ...emptyHostState(), nft: [{ family: 'inet', name: 'egress', ruleset: nft('meta mark set mark and 0xffff00ff or 0x100') }], rules: [{ family: 4, priority: 5200, fwmark: 0x100, fwmask: 0xff00, action: 'prohibit' }] }, OWN)).rejects.toThrow(/the previous state was restored/);
    expect(host.dump()).toBe(before);
  });
});
