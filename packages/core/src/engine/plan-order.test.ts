// The order rule ("fence before opening, path before fence") on FakeHost: the order of the changes for an add and
// a remove, and a run killed after any change leaves a host where selected traffic is refused or in the tunnel,
// and which the next run (even one that allocated other priorities and tables) converges and tears down exactly.
import { describe, expect, it } from 'vitest';
import type { RunOptions, RunResult, WriteOptions } from '../host/host.js';
import { FakeHost, defaultMachine } from '../testing/index.js';
import { apply, teardown } from './apply.js';
import { orderSteps, type PlanGroups } from './plan.js';
import type { Step } from './step.js';
import { emptyHostState, type HostState, type Ownership } from './types.js';

const KEY = 'EP48duQvr+OjtmttqIGUlM67+vX88XozXFWRPO6JVHw=';
const PEER = 'iJnluhsUP6OwTey5qowWZOPItbPh3l/9gleTWtQUBnI=';
const STATE = '/etc/egress/state.json';

/** Ownership of one egress at priorities P..P+9 and table T. */
function own(p: number, t: number, link: string): Ownership {
  return {
    nftTables: [{ family: 'inet', name: 'egress' }],
    rulePriorities: [[p, p + 9]],
    routeTables: [t],
    links: [link],
    files: ['/etc/egress', `/etc/wireguard/${link}.conf`],
    journalPath: '/etc/egress/engine.json',
    units: [],
  };
}

/** A WireGuard egress selected by uid 1001 and by fwmark, at priorities P.. and table T. */
function egress(p: number, t: number, link: string): HostState {
  const conf = `[Interface]\nAddress = 10.77.0.2/24\nPostUp = wg set %i private-key /etc/egress/${link}.key\n\n[Peer]\nPublicKey = ${PEER}\nAllowedIPs = 0.0.0.0/0, ::/0\n`;
  return {
    files: [
      { path: STATE, content: `{"enrolled":"${link}"}\n`, mode: 0o600 },
      { path: `/etc/egress/${link}.key`, content: `${KEY}\n`, mode: 0o600, secret: true },
      { path: `/etc/wireguard/${link}.conf`, content: conf, mode: 0o600 },
    ],
    nft: [{ family: 'inet', name: 'egress', ruleset: `table inet egress {\n  chain out {\n    type route hook output priority mangle; policy accept;\n    meta skuid 1001 counter meta mark set mark and 0xffff00ff or 0x100\n  }\n}\n` }],
    sysctls: [{ key: 'net.ipv4.conf.all.src_valid_mark', value: '1' }],
    rules: ([4, 6] as const).flatMap((family) => [
      { family, priority: p, fwmark: 0x100, fwmask: 0xff00, action: 'lookup' as const, table: t },
      { family, priority: p + 1, uidrange: [1001, 1001] as [number, number], action: 'lookup' as const, table: t },
      { family, priority: p + 7, fwmark: 0x100, fwmask: 0xff00, action: 'prohibit' as const },
      { family, priority: p + 8, uidrange: [1001, 1001] as [number, number], action: 'prohibit' as const },
    ]),
    routes: ([4, 6] as const).map((family) => ({ family, table: t, dst: 'default', dev: link })),
    links: [{ kind: 'wireguard', name: link, configPath: `/etc/wireguard/${link}.conf`, addresses: ['10.77.0.2/24'], peers: [PEER] }],
    units: [],
  };
}

/** A FakeHost whose process "dies" after `budget` changes: every later call throws, so nothing is rolled back. */
class DyingHost extends FakeHost {
  constructor(
    machine: FakeHost['machine'],
    private budget: number,
  ) {
    super({ machine });
  }
  private spend(change: boolean): void {
    if (this.budget <= 0) throw new Error('killed');
    if (change) this.budget--;
  }
  override async run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    this.spend(!!options.change);
    return super.run(argv, options);
  }
  override async readFile(path: string): Promise<string | undefined> {
    this.spend(false);
    return super.readFile(path);
  }
  override async writeFile(path: string, content: string, options: WriteOptions): Promise<void> {
    this.spend(true);
    return super.writeFile(path, content, options);
  }
  override async removeFile(path: string): Promise<void> {
    this.spend(true);
    return super.removeFile(path);
  }
}
// Batching would send several changes in one call; a kill between two of them is what this test is about.
delete (DyingHost.prototype as Partial<FakeHost>).runMany;
Object.defineProperty(DyingHost.prototype, 'runMany', { value: undefined });

/** The host's view that matters for a leak: which rules, routes, link, table and state file exist. */
function view(h: FakeHost, p: number, t: number) {
  const d = h.dump();
  const has = (re: RegExp) => re.test(d);
  return {
    state: h.machine.files.has(STATE),
    prohibit4: has(new RegExp(`^rule 4 pref ${p + 8} uidrange 1001-1001 prohibit`, 'm')),
    prohibit6: has(new RegExp(`^rule 6 pref ${p + 8} uidrange 1001-1001 prohibit`, 'm')),
    markProhibit4: has(new RegExp(`^rule 4 pref ${p + 7} fwmark 0x100/0xff00 prohibit`, 'm')),
    route: has(new RegExp(`^route [46] table ${t} `, 'm')),
    nft: h.machine.nft.size > 0,
    link: has(/^link egress\d/m),
  };
}

/** Selected traffic is refused or in the tunnel: whenever the state says enrolled, or a path or mark exists, the fence is up. */
function fenced(v: ReturnType<typeof view>): boolean {
  const selected = v.state || v.route || v.nft || v.link;
  return !selected || (v.prohibit4 && v.prohibit6 && v.markProhibit4);
}

/** The dump without the directory a file write creates on the fake (the client records and removes its own). */
const dumpOf = (h: FakeHost): string => h.dump().replace(/^dir \/etc\/wireguard\n/m, '');

/** Changes of a run, by kind, in order. */
function kinds(changes: string[]): string[] {
  return changes.map((c) => {
    if (/^ip -[46] rule add .* prohibit/.test(c)) return 'fence+';
    if (/^ip -[46] rule add /.test(c)) return 'lookup+';
    if (/^ip -[46] rule del .* prohibit/.test(c)) return 'fence-';
    if (/^ip -[46] rule del /.test(c)) return 'lookup-';
    if (/^ip -[46] route (replace|add)/.test(c)) return 'route+';
    if (/^ip -[46] route del/.test(c)) return 'route-';
    if (/^nft -f/.test(c)) return 'nft+';
    if (/^nft delete/.test(c)) return 'nft-';
    if (/^wg-quick up/.test(c)) return 'link+';
    if (/^wg-quick down/.test(c)) return 'link-';
    if (c === `write ${STATE}`) return 'state+';
    if (c === `rm -f ${STATE}` || c === `rm ${STATE}`) return 'state-';
    return '';
  }).filter((k, i, all) => k && k !== all[i - 1]);
}

describe('the order rule: fence before opening, path before fence', () => {
  it('adds: prohibit rules, lookup rules, the nft table, the state file, the tunnel, its routes — in that order', async () => {
    const host = new FakeHost({ machine: defaultMachine() });
    await apply(host, egress(7100, 7100, 'egress0'), own(7100, 7100, 'egress0'));
    expect(kinds(host.changes())).toEqual(['fence+', 'lookup+', 'nft+', 'state+', 'link+', 'route+']);
  });

  it('removes: routes, the tunnel, the nft table, the state file, lookup rules, prohibit rules (the fence last)', async () => {
    const host = new FakeHost({ machine: defaultMachine() });
    await apply(host, egress(7100, 7100, 'egress0'), own(7100, 7100, 'egress0'));
    host.calls.length = 0;
    await teardown(host, own(7100, 7100, 'egress0'));
    expect(kinds(host.changes())).toEqual(['route-', 'link-', 'nft-', 'state-', 'lookup-', 'fence-']);
  });

  it('orderSteps keeps every add before every delete and puts terminal rules first on the way in, last on the way out', () => {
    const st = (title: string, argv: string[] = ['true']): Step => ({ resource: 'rule', title, do: [{ kind: 'run', argv }], undo: [] });
    const g: PlanGroups = {
      fenceRules: [st('lookup+', ['ip', '-4', 'rule', 'add', 'lookup', '1']), st('prohibit+', ['ip', '-4', 'rule', 'add', 'prohibit'])],
      sysctls: [st('sysctl+')],
      nft: [st('nft+')],
      files: [st('file+')],
      links: [st('link+')],
      routes: [st('route+')],
      units: [st('unit+')],
      removeRoutes: [st('route-')],
      removeLinks: [st('link-')],
      removeNft: [st('nft-')],
      restoreSysctls: [st('sysctl-')],
      removeRules: [st('unreachable-', ['ip', '-6', 'rule', 'del', 'unreachable']), st('lookup-', ['ip', '-6', 'rule', 'del', 'lookup', '1'])],
      removeFiles: [{ ...st('dir-'), resource: 'dir' }, { ...st('file-'), resource: 'file' }],
    };
    expect(orderSteps(g).map((s) => s.title)).toEqual(['prohibit+', 'lookup+', 'nft+', 'file+', 'link+', 'sysctl+', 'route+', 'unit+', 'route-', 'link-', 'nft-', 'sysctl-', 'file-', 'lookup-', 'unreachable-', 'dir-']);
  });

  it('a run killed after any change of an add leaves selected traffic fenced; the next run converges, then 0 steps', async () => {
    const full = new FakeHost({ machine: defaultMachine() });
    const initial = dumpOf(full);
    const n = (await apply(full, egress(7100, 7100, 'egress0'), own(7100, 7100, 'egress0'))).changed;
    expect(n).toBeGreaterThan(10);
    const checked: number[] = [];
    for (let k = 0; k <= n + 2; k++) {
      const dying = new DyingHost(defaultMachine(), k);
      await apply(dying, egress(7100, 7100, 'egress0'), own(7100, 7100, 'egress0')).catch(() => undefined);
      const v = view(dying, 7100, 7100);
      expect({ k, fenced: fenced(v) }, JSON.stringify(v)).toEqual({ k, fenced: true });
      // The re-run finds the state file only if the crash came after it; without it, it allocates the next range
      // (7110, table 7101, egress1) as enroll does — and must still remove what the killed run left.
      const host = new FakeHost({ machine: dying.machine });
      const [p, t, link] = v.state ? [7100, 7100, 'egress0'] : [7110, 7101, 'egress1'];
      await apply(host, egress(p, t, link), own(p, t, link));
      expect((await apply(host, egress(p, t, link), own(p, t, link))).changed, `kill after ${k}: second run`).toBe(0);
      const d = host.dump();
      if (p !== 7100) expect(d, `kill after ${k}: leftovers of the killed run`).not.toMatch(/pref 710\d|table 7100|egress0/);
      await teardown(host, own(p, t, link));
      expect(dumpOf(host), `kill after ${k}: teardown`).toBe(initial);
      checked.push(k);
    }
    expect(checked).toHaveLength(n + 3);
  });

  it('a run killed after any change of a teardown leaves selected traffic fenced until the fence goes; a re-run finishes it', async () => {
    const full = new FakeHost({ machine: defaultMachine() });
    const initial = dumpOf(full);
    await apply(full, egress(7100, 7100, 'egress0'), own(7100, 7100, 'egress0'));
    const enrolled = full.snapshot();
    const m = (await teardown(new FakeHost({ machine: full.snapshot() }), own(7100, 7100, 'egress0'))).changed;
    for (let k = 0; k <= m + 2; k++) {
      const dying = new DyingHost(structuredClone(enrolled), k);
      await teardown(dying, own(7100, 7100, 'egress0')).catch(() => undefined);
      const v = view(dying, 7100, 7100);
      // The state file, a path (route, tunnel) or a mark (nft) never exists without the fence.
      expect({ k, fenced: fenced(v) }, JSON.stringify(v)).toEqual({ k, fenced: true });
      // Once the state file is gone the re-run knows nothing of the egress (the client's uninstall then owns only
      // what no egress names): the journal's pending record is what lets it remove the rest.
      const host = new FakeHost({ machine: dying.machine });
      const known = v.state ? own(7100, 7100, 'egress0') : { ...own(7100, 7100, 'egress0'), rulePriorities: [], routeTables: [], links: [], files: ['/etc/egress'] };
      await teardown(host, known);
      expect(dumpOf(host), `kill after ${k}: re-run teardown`).toBe(initial);
    }
  });

  it('a tunnel left created but down (wg-quick killed half-way) is restarted before its routes are added', async () => {
    const host = new FakeHost({ machine: defaultMachine() });
    await apply(host, egress(7100, 7100, 'egress0'), own(7100, 7100, 'egress0'));
    await host.run(['ip', '-4', 'route', 'del', 'default', 'dev', 'egress0', 'table', '7100']);
    await host.run(['ip', '-6', 'route', 'del', 'default', 'dev', 'egress0', 'table', '7100']);
    await host.run(['ip', 'link', 'set', 'dev', 'egress0', 'down']);
    const r = await apply(host, egress(7100, 7100, 'egress0'), own(7100, 7100, 'egress0'));
    expect(r.steps.map((s) => s.title)).toEqual(['restart egress0 (it is down)', 'add route default dev egress0 table 7100', 'add IPv6 route default dev egress0 table 7100']);
    expect(host.machine.links.get('egress0')!.down).toBeUndefined();
    expect((await apply(host, egress(7100, 7100, 'egress0'), own(7100, 7100, 'egress0'))).changed).toBe(0);
  });

  it('the journal records what a run owns (pending) before its first change and drops it once converged', async () => {
    const host = new FakeHost({ machine: defaultMachine() });
    const seen: string[] = [];
    const orig = host.writeFile.bind(host);
    host.writeFile = async (path, content, options) => {
      if (path === '/etc/egress/engine.json') seen.push(content);
      return orig(path, content, options);
    };
    await apply(host, egress(7100, 7100, 'egress0'), own(7100, 7100, 'egress0'));
    expect(JSON.parse(seen[0]!).pending).toEqual({ rulePriorities: [[7100, 7109]], routeTables: [7100], links: ['egress0'], files: ['/etc/egress', '/etc/wireguard/egress0.conf'] });
    expect(JSON.parse((await host.readFile('/etc/egress/engine.json'))!).pending).toBeUndefined();
    void emptyHostState;
  });
});
