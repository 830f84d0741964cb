// Fail closed without nftables, for forwarded traffic and named namespaces (issue 15's selectors): a namespace behind
// a bridge selected with `select add --interface`, a "LAN host" selected with `select add --source` and a named
// namespace from `netns add` keep sending TCP, UDP and DNS while `nft flush ruleset` (in the lab client only) removes
// every table. Routing decides first (`iif IF` / `from CIDR iif IF` / the veth's `iif` look up the egress's table,
// with `prohibit`/`unreachable` beneath), so none of their packets may leave by an uplink: captures on eth0 and wlan0
// count them (must be 0) until the supervisor restores the table, after which they are seen with the VPS address
// again. Then the same with the supervisor already running (it repairs in milliseconds). DNS asked of a resolver on
// this host itself is measured (the table holds it; without the table it is a known limit, printed), and a control
// deletes the bridge's `iif` rules with the table flushed: then its packets do leave by eth0. Also: tunnel down and
// table flushed at once.
import { startLab, type Lab, type LabProcess } from '@egress/lab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, enroll, provision, tearDownClientLab, waitUntil } from './client-helpers.js';
import { bridgedNsScript, clientScript, inNs, lanNsScript, loopLines, probeLoop, startDnsForwarder } from './netns-helpers.js';

// Private networks inside namespaces this test makes (none of the lab's own ranges).
const BR = { ns: 'ffbr', bridge: 'brff', gw: '10.211.1.1', host: '10.211.1.2' };
const LAN = { ns: 'fflan', port: 'lanff', gw: '10.212.1.1', host: '10.212.1.2', net: '10.212.1.0/24' };
const NS = 'ffnamed';
let lab: Lab;
let daemon: LabProcess | undefined;
const loops: Record<string, LabProcess> = {};

beforeAll(async () => {
  lab = await startLab({ name: 'fence-flush-fwd' });
  await clientScript(lab, [...bridgedNsScript(BR), ...lanNsScript(LAN)]);
  await provision(lab, []);
  await enroll(lab);
  for (const args of [['select', 'add', '--interface', BR.bridge], ['select', 'add', '--source', LAN.net], ['netns', 'add', NS]]) {
    const r = await client(lab, args);
    expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  }
}, 240_000);

afterAll(() => tearDownClientLab(lab, { stop: [...Object.values(loops), daemon] }));

/** How a loop's lines since `from` went: through the tunnel (VPS address), directly (a client address), or failed. */
function tally(tag: string, from: number): { probes: number; throughTunnel: number; direct: number; failed: number; dnsOk: number; dnsFailed: number } {
  const lines = loopLines(loops[tag]!, tag, from);
  const probes = lines.filter((l) => !l.includes(' dns '));
  const ends = (addrs: string[]) => probes.filter((l) => addrs.some((a) => l.endsWith(` ${a}`))).length;
  const throughTunnel = ends([lab.addr.vpsV4, lab.addr.vpsV6]);
  const direct = ends([lab.addr.clientV4, lab.addr.clientV6, lab.addr.clientWlanV4, lab.addr.clientWlanV6]);
  const dns = lines.filter((l) => l.includes(' dns '));
  return { probes: probes.length, throughTunnel, direct, failed: probes.length - throughTunnel - direct, dnsOk: dns.filter((l) => l.endsWith(' exit 0')).length, dnsFailed: dns.filter((l) => !l.endsWith(' exit 0')).length };
}

/** Waits until every loop printed `rounds` DNS lines since its offset in `from` (one round: all probes, then DNS). */
async function rounds(from: Record<string, number>, n: number, what: string): Promise<void> {
  for (const tag of Object.keys(loops)) await waitUntil(`${n} rounds of ${tag} ${what}`, 60_000, () => loopLines(loops[tag]!, tag, from[tag]).filter((l) => l.includes(' dns ')).length >= n);
}

/** Waits until every loop's IPv4 TCP probe is seen with the VPS address after offset `from`. */
async function allThroughVps(from: Record<string, number>, what: string): Promise<void> {
  for (const tag of Object.keys(loops)) await waitUntil(`${tag} seen with the VPS address ${what}`, 60_000, () => loopLines(loops[tag]!, tag, from[tag]).includes(`${tag} tcp4 ${lab.addr.vpsV4}`));
}

const offsets = (): Record<string, number> => Object.fromEntries(Object.entries(loops).map(([t, p]) => [t, p.output().length]));

/** Captures on both uplinks of everything the loops send (whoami, DNS); stop() returns the packets seen. */
async function uplinkCaptures(): Promise<{ stop(): Promise<string[]> }> {
  const filter = `host ${lab.addr.whoamiV4} or host ${lab.addr.whoamiV6} or port 53`;
  const caps = [await lab.capture('client', 'eth0', filter), await lab.capture('client', 'wlan0', filter)];
  return { stop: async () => (await Promise.all(caps.map((c) => c.stop()))).flat() };
}

async function flush(): Promise<void> {
  const r = await lab.exec('client', ['nft', 'flush', 'ruleset']);
  expect(r.exitCode, r.stderr).toBe(0);
}

describe('fail closed without nftables: forwarded selectors and named namespaces (lab)', () => {
  it('nft flush ruleset, no daemon: 0 packets of the bridge, LAN and named-namespace sources on eth0/wlan0; the supervisor restores the table and they are seen via the VPS again', async () => {
    loops.bridge = probeLoop(lab, 'bridge', inNs(BR.ns), { dns: lab.addr.dnsV4 });
    loops.lan = probeLoop(lab, 'lan', inNs(LAN.ns), { dns: lab.addr.dnsV4 });
    loops.named = probeLoop(lab, 'named', ['ip', 'netns', 'exec', NS], { v6: true, dns: lab.addr.dnsV4 });
    await allThroughVps(offsets(), 'before the flush');

    const caps = await uplinkCaptures();
    // The tunnel: without the table nothing is SNAT'd, so what the rules route into it carries the namespaces' own
    // addresses (after the restore it is SNAT'd to the tunnel address, so these count only the flushed window).
    const tunnel = await lab.capture('client', 'egress0', `src net 10.211.1.0/24 or src net ${LAN.net} or src net 10.239.0.0/16`);
    const at = offsets();
    let seen: string[] = [];
    let inTunnel: string[] = [];
    try {
      await flush();
      expect((await lab.exec('client', ['nft', 'list', 'ruleset'])).stdout.trim()).toBe('');
      await rounds(at, 3, 'after the flush');
      const without = Object.fromEntries(Object.keys(loops).map((t) => [t, tally(t, at[t]!)]));
      const rules = (await lab.exec('client', ['ip', '-4', 'rule'])).stdout;
      console.log(`[fence-flush-fwd] no nft table, no daemon: ${JSON.stringify(without)}\nip rules:\n${rules}`);
      for (const [t, s] of Object.entries(without)) expect(s.direct, t).toBe(0);

      // The supervisor's first pass loads the table again; the sources are seen with the VPS address again.
      daemon = lab.spawn('client', [...lab.egressClientArgv, 'daemon', '--debounce-ms', '10']);
      await waitUntil('the daemon to restore the table', 30_000, async () => (await lab.exec('client', ['nft', 'list', 'table', 'inet', 'egress'])).exitCode === 0);
      await allThroughVps(offsets(), 'after the daemon restored the table');
    } finally {
      seen = await caps.stop();
      inTunnel = await tunnel.stop();
    }
    console.log(`[fence-flush-fwd] packets of the selected sources on eth0+wlan0 from the flush to the restore: ${seen.length}; into egress0 with their own (un-SNAT'd) addresses: ${inTunnel.length}`);
    expect(seen).toEqual([]);
    // Routed into the tunnel (the rules), not dropped before it; no answer comes back (the VPS's WireGuard accepts
    // only the client's tunnel address from this peer), so the probes above failed.
    for (const net of [BR.host, LAN.host, '10.239.']) expect(inTunnel.some((l) => l.includes(` ${net}`)), net).toBe(true);
  }, 240_000);

  it('nft flush ruleset with the daemon running: it repairs, 0 packets on the uplinks meanwhile, the sources are seen via the VPS again', async () => {
    expect(daemon, 'the daemon from the previous test').toBeDefined();
    await waitUntil('the daemon to report health', 30_000, () => /health client: /.test(daemon!.output()));
    const caps = await uplinkCaptures();
    const log = daemon!.output().length;
    let seen: string[] = [];
    try {
      await flush();
      const line = await (async () => {
        let m: string | undefined;
        await waitUntil('the daemon to repair after the flush', 30_000, () => !!(m = /repair in \d+ ms[^\n]*/.exec(daemon!.output().slice(log))?.[0]));
        return m!;
      })();
      console.log(`[fence-flush-fwd] ${line}`);
      await allThroughVps(offsets(), 'after the repair');
      for (const t of Object.keys(loops)) expect(tally(t, 0).direct, t).toBe(0);
    } finally {
      seen = await caps.stop();
    }
    expect(seen).toEqual([]);
    daemon!.kill('SIGTERM');
    await daemon!.exited;
    daemon = undefined;
  }, 120_000);

  it("DNS to a resolver on this host itself (a bridge's dnsmasq, a stub on 0.0.0.0): through the egress or refused with the table; measured without it", async () => {
    // A forwarder on this host that asks by the host's own route, as dnsmasq on virbr0 or a stub on 0.0.0.0 would.
    const forwarder = await startDnsForwarder(lab, '0.0.0.0', lab.addr.dnsV4);
    const veth = (JSON.parse((await client(lab, ['netns', 'list', '--json'])).stdout) as { namespaces: Array<{ veth: string }> }).namespaces[0]!.veth;
    const vethAddr = /inet (\S+)\//.exec((await lab.exec('client', ['ip', '-4', '-o', 'addr', 'show', 'dev', veth])).stdout)![1]!;
    const askers: Array<[string, string[], string]> = [
      ['bridge', inNs(BR.ns), BR.gw],
      ['lan', inNs(LAN.ns), LAN.gw],
      ['named', ['ip', 'netns', 'exec', NS], vethAddr],
    ];
    // The address the lab DNS server saw asking (TXT asker.egress.test), or 'no answer'.
    const ask = async (prefix: string[], server: string): Promise<string> => {
      const r = await lab.exec('client', [...prefix, 'dig', '+short', '+time=2', '+tries=1', `@${server}`, 'TXT', 'asker.egress.test'], { timeoutMs: 15_000 });
      return r.exitCode === 0 && r.stdout.trim() ? r.stdout.trim().replace(/"/g, '') : 'no answer';
    };
    try {
      const withTable = Object.fromEntries(await Promise.all(askers.map(async ([t, prefix, server]) => [t, await ask(prefix, server)] as const)));
      // The table sends a forwarded source's DNS to this host to the egress's resolver; a named namespace may not reach this host.
      expect(withTable).toEqual({ bridge: lab.addr.vpsV4, lan: lab.addr.vpsV4, named: 'no answer' });
      expect(forwarder.output()).not.toContain('asked by');

      const cap = await lab.capture('client', 'eth0', 'port 53');
      await flush();
      const flushed = Object.fromEntries(await Promise.all(askers.map(async ([t, prefix, server]) => [t, await ask(prefix, server)] as const)));
      const upstream = await cap.stop();
      // Known limit (packages/client/README.md, "Layers of safety"): local delivery is decided by the `local` table
      // before any egress rule, so without the table only the supervisor's restore holds this path. Printed, not a
      // packet of the selected sources themselves (the forwarder asks as this host).
      console.log(`[fence-flush-fwd] DNS to a resolver on this host, table flushed: ${JSON.stringify(flushed)}; forwarder queries on eth0: ${upstream.length}`);
    } finally {
      forwarder.kill('SIGTERM');
      await forwarder.exited;
    }
    const up = await client(lab, ['up']);
    expect(up.exitCode, up.stderr).toBe(0);
    await allThroughVps(offsets(), 'after up');
  }, 120_000);

  it('tunnel down and the ruleset flushed: every source is refused (the `prohibit`/`unreachable` rules), 0 packets on the uplinks; `up` brings them back via the VPS', async () => {
    const caps = await uplinkCaptures();
    let seen: string[] = [];
    try {
      const down = await client(lab, ['down']);
      expect(down.exitCode, down.stderr).toBe(0);
      await flush();
      const at = offsets();
      await rounds(at, 2, 'with the tunnel down and no table');
      const refused = Object.fromEntries(Object.keys(loops).map((t) => [t, tally(t, at[t]!)]));
      console.log(`[fence-flush-fwd] tunnel down, no table: ${JSON.stringify(refused)}`);
      for (const [t, r] of Object.entries(refused)) expect({ t, through: r.throughTunnel, direct: r.direct, dnsOk: r.dnsOk }).toEqual({ t, through: 0, direct: 0, dnsOk: 0 });
      const up = await client(lab, ['up']);
      expect(up.exitCode, up.stderr).toBe(0);
      await allThroughVps(offsets(), 'after up');
    } finally {
      seen = await caps.stop();
    }
    expect(seen).toEqual([]);
  }, 120_000);

  it('control: flushed and without its `iif` rules, the bridge source does leave by eth0 (the captures see a leak); `up` restores it', async () => {
    // The same captures as above: they do see the bridge's packets once nothing routes them into the egress.
    const cap = await uplinkCaptures();
    let leaked: string[] = [];
    try {
      const state = JSON.parse((await lab.readFile('client', '/etc/egress/client.json'))!) as { egresses: Array<{ table: number }> };
      await flush();
      for (const action of [['lookup', String(state.egresses[0]!.table)], ['prohibit']]) {
        const r = await lab.exec('client', ['ip', '-4', 'rule', 'del', 'iif', BR.bridge, ...action]);
        expect(r.exitCode, r.stderr).toBe(0);
      }
      await rounds(offsets(), 2, 'without the rules');
    } finally {
      leaked = await cap.stop();
    }
    const fromBridge = leaked.filter((l) => l.includes(` ${BR.host}.`));
    console.log(`[fence-flush-fwd] control, no table and no iif rules: ${fromBridge.length} packets from ${BR.host} on eth0+wlan0 (${leaked.length} in all)`);
    expect(fromBridge.length).toBeGreaterThan(0);
    const up = await client(lab, ['up']);
    expect(up.exitCode, up.stderr).toBe(0);
    await allThroughVps(offsets(), 'after up');
  }, 120_000);
});
