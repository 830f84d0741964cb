// Fence before opening, so a crash fails closed: `enroll`, `up` and `uninstall` are SIGKILLed after each of their
// `[#]` lines (and at a few moments by time). After every kill, whenever appuser is selected (the state naming it,
// or the nft table, the tunnel or a route in egress's tables being there), appuser's probes (TCP and UDP,
// IPv4 and IPv6) must be refused or go through the tunnel; tcpdump on both uplinks runs for the whole sequence and
// must see 0 packets to whoami (only appuser's probes go there). A re-run converges (its second run changes
// nothing) and `uninstall` leaves the host exactly as before enroll.
import { randomBytes } from 'node:crypto';
import { labCgroupParent, startLab, type Lab } from '@egress/lab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLE, client, clientSnapshot, provision, tearDownClientLab } from './client-helpers.js';

const NAME = `fk-${randomBytes(3).toString('hex')}`;
let lab: Lab;
let clean: Record<string, string>;
let caps: Array<{ stop(): Promise<string[]> }> = [];
const probes: Array<{ at: string; what: string; seen: string }> = [];
const killed: string[] = [];

const ENROLL = () => ['enroll', BUNDLE, '--user', 'appuser', '--name', NAME];

beforeAll(async () => {
  lab = await startLab({ name: 'fence-kill' });
  await provision(lab, []);
  clean = await snapshot();
  const filter = `host ${lab.addr.whoamiV4} or host ${lab.addr.whoamiV6}`;
  caps = [await lab.capture('client', 'eth0', filter), await lab.capture('client', 'wlan0', filter)];
}, 240_000);

afterAll(() => tearDownClientLab(lab));

/** Where a run is killed: after that many `[#]` lines, or after that many milliseconds. */
type KillPoint = { after: number; ms?: undefined } | { ms: number; after?: undefined };

/** Runs egress-client and SIGKILLs it once `after` `[#]` lines were printed (or after `ms`); returns whether it was killed. */
async function runKilled(args: string[], kill: KillPoint): Promise<{ killed: boolean; output: string }> {
  const p = lab.spawn('client', [...lab.egressClientArgv, ...args]);
  const start = Date.now();
  let exited = false;
  void p.exited.then(() => (exited = true));
  for (;;) {
    if (exited) return { killed: false, output: p.output() };
    const lines = (p.output().match(/^\[#\] /gm) ?? []).length;
    if ((kill.after !== undefined && lines >= kill.after) || (kill.ms !== undefined && Date.now() - start >= kill.ms)) break;
    await new Promise((r) => setTimeout(r, 2));
  }
  p.kill('SIGKILL');
  const end = await p.exited;
  return { killed: end.signal === 'SIGKILL', output: p.output() };
}

/**
 * Whether appuser is selected: the state names it, or something that opens a path or marks traffic is there (the
 * nft table, the tunnel, a route in egress's tables). Rules alone are only the fence (before the state names the
 * user on the way in, after it stopped naming it on the way out): appuser is then refused or not (yet/any more)
 * selected.
 */
async function selected(): Promise<boolean> {
  const script = [
    's=0',
    'grep -q \'"appuser"\' /etc/egress/client.json 2>/dev/null && s=1',
    'nft list table inet egress >/dev/null 2>&1 && s=1',
    '{ ip -4 route show table all; ip -6 route show table all; } | grep -qE "table 71[0-9][0-9]( |$)" && s=1',
    'ip -o link | grep -qE "^[0-9]+: egress[0-9]+" && s=1',
    'echo $s',
  ].join('; ');
  return (await lab.exec('client', ['sh', '-c', script])).stdout.trim() === '1';
}

/** appuser's probes after a kill: each is refused or seen with a VPS address, never with a client address. */
async function probeAppuser(at: string): Promise<void> {
  if (!(await selected())) return;
  for (const [what, o] of [['tcp4', {}], ['udp4', { udp: true }], ['tcp6', { v6: true }]] as const) {
    const r = await lab.exec('client', [...lab.probeArgv(o), '1500'], { user: 'appuser', timeoutMs: 15_000 });
    const seen = r.exitCode === 0 ? r.stdout.trim().split('\n').pop()! : (r.stderr.trim().split(': ').pop() ?? 'failed');
    probes.push({ at, what, seen });
    expect([lab.addr.clientV4, lab.addr.clientV6, lab.addr.clientWlanV4, lab.addr.clientWlanV6], `${at}: appuser ${what} left directly`).not.toContain(seen);
  }
}

/** Kill points after the [#] lines first, first+2, … (and always after the last one). */
function everyOther(n: number, first: number): KillPoint[] {
  const at = new Set<number>();
  for (let i = first; i <= n; i += 2) at.add(i);
  at.add(n);
  return [...at].sort((a, b) => a - b).map((after) => ({ after }));
}

/** The `[#]` lines of one full run of `args` (the kill points). */
async function changeLines(args: string[]): Promise<number> {
  const r = await client(lab, args);
  expect(r.exitCode, r.stderr).toBe(0);
  return (r.stderr.match(/^\[#\] /gm) ?? []).length;
}

/**
 * The client snapshot, with /etc narrowed to what egress writes: the lab's /etc is the machine's, which other
 * work on the machine may change meanwhile (e.g. an apt install adding a systemd link) — not egress's residue.
 */
async function snapshot(): Promise<Record<string, string>> {
  const s = await clientSnapshot(lab);
  return { ...s, etc: s.etc!.split('\n').filter((l) => /^\/etc\/(egress|wireguard|netns|systemd\/system\/egress)/.test(l)).join('\n') };
}

async function expectClean(at: string): Promise<void> {
  expect(await snapshot(), `${at}: uninstall left the host as before enroll`).toEqual(clean);
  expect((await lab.exec('client', ['test', '-e', `/sys/fs/cgroup/${labCgroupParent(lab.name)}/${NAME}`])).exitCode, `${at}: cgroup removed`).not.toBe(0);
}

/** Runs `args` until it converges: the run after a kill, then a second run that must change nothing (--json). */
async function converge(args: string[], at: string): Promise<void> {
  const first = await client(lab, args);
  expect(first.exitCode, `${at}: re-run ${args[0]}: ${first.stderr}`).toBe(0);
  const second = await client(lab, [...args, '--json']);
  expect(second.exitCode, `${at}: second ${args[0]}: ${second.stderr}`).toBe(0);
  const doc = JSON.parse(second.stdout) as { changed: boolean; steps: string[] };
  expect({ at, changed: doc.changed, steps: doc.steps }).toEqual({ at, changed: false, steps: [] });
}

/** Uninstall after a kill (or a clean state): exit 0, or "no egress is enrolled" when nothing was left. */
async function uninstallAll(at: string): Promise<void> {
  const r = await client(lab, ['uninstall']);
  if (r.exitCode !== 0) expect(r.stderr, `${at}: uninstall`).toContain('no egress is enrolled');
  await expectClean(at);
}

describe('SIGKILL at many points fails closed (no daemon)', () => {
  it('enroll killed after each [#] line and by time: appuser never leaves directly; the re-run converges; uninstall leaves the host as before', async () => {
    const n = await changeLines(ENROLL());
    await uninstallAll('after the discovery enroll');
    // Every other [#] line (odd ones here, even ones for uninstall) keeps the run time reasonable; the engine's
    // order is checked after every single change on FakeHost (packages/core/src/engine/plan-order.test.ts).
    const points: KillPoint[] = [...everyOther(n, 1), { ms: 300 }, { ms: 700 }];
    for (const k of points) {
      const at = `enroll killed ${k.after !== undefined ? `after [#] ${k.after}/${n}` : `at ${k.ms} ms`}`;
      const r = await runKilled(ENROLL(), k);
      if (r.killed) killed.push(at);
      await probeAppuser(at);
      await converge(ENROLL(), at);
      await probeAppuser(`${at}, converged`);
      await uninstallAll(at);
    }
    console.log(`enroll: ${n} [#] lines; killed at ${killed.filter((k) => k.startsWith('enroll')).length} of ${points.length} points`);
    expect(killed.filter((k) => k.startsWith('enroll')).length).toBeGreaterThanOrEqual(points.length - 1);
  }, 600_000);

  it('up killed after each [#] line (from down): appuser is refused or tunnelled; the re-run converges', async () => {
    expect((await client(lab, ENROLL())).exitCode).toBe(0);
    expect((await client(lab, ['down'])).exitCode).toBe(0);
    const n = await changeLines(['up']);
    const points: KillPoint[] = [...Array.from({ length: n }, (_, i) => ({ after: i + 1 })), { ms: 200 }];
    for (const k of points) {
      expect((await client(lab, ['down'])).exitCode).toBe(0);
      const at = `up killed ${k.after !== undefined ? `after [#] ${k.after}/${n}` : `at ${k.ms} ms`}`;
      const r = await runKilled(['up'], k);
      if (r.killed) killed.push(at);
      await probeAppuser(at);
      await converge(['up'], at);
    }
    console.log(`up: ${n} [#] lines; killed at ${killed.filter((k) => k.startsWith('up')).length} of ${points.length} points`);
    expect(killed.filter((k) => k.startsWith('up')).length).toBeGreaterThanOrEqual(n - 1);
  }, 600_000);

  it('uninstall killed after each [#] line: appuser never leaves directly while anything of the egress is left; a re-run leaves the host as before', async () => {
    expect((await client(lab, ENROLL())).exitCode).toBe(0);
    const n = await changeLines(['uninstall']);
    await expectClean('after the discovery uninstall');
    const points: KillPoint[] = [...everyOther(n, 2), { ms: 300 }];
    for (const k of points) {
      expect((await client(lab, ENROLL())).exitCode).toBe(0);
      const at = `uninstall killed ${k.after !== undefined ? `after [#] ${k.after}/${n}` : `at ${k.ms} ms`}`;
      const r = await runKilled(['uninstall'], k);
      if (r.killed) killed.push(at);
      await probeAppuser(at);
      await uninstallAll(at);
    }
    console.log(`uninstall: ${n} [#] lines; killed at ${killed.filter((k) => k.startsWith('uninstall')).length} of ${points.length} points`);
    expect(killed.filter((k) => k.startsWith('uninstall')).length).toBeGreaterThanOrEqual(points.length - 1);
  }, 600_000);

  it('the captures on eth0 and wlan0 saw 0 packets to whoami during the whole sequence', async () => {
    const seen = (await Promise.all(caps.map((c) => c.stop()))).flat();
    const tally = probes.reduce<Record<string, number>>((t, p) => ((t[p.seen] = (t[p.seen] ?? 0) + 1), t), {});
    console.log(`${killed.length} kills; ${probes.length} probes of appuser after kills: ${JSON.stringify(tally)}; packets to whoami on the uplinks: ${seen.length}`);
    expect(probes.length).toBeGreaterThan(0);
    expect(seen).toEqual([]);
  });
});
