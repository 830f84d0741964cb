// Group 3: port forwards on the VPS to a client service, with few and many forwards, and many as one nft rule each.
import type { Lab } from '@egress/lab';
import { LATENCY_WARMUP, type BenchConfig } from '../config.js';
import { applyForwards, type EgressSetup } from '../egress-setup.js';
import { iperfArgv, IperfServer, parseIperf, retryBusy } from '../iperf.js';
import { assetPath, must, reasonOf, stop, timed, waitForOutput } from '../lab-run.js';
import { FORWARD_SETUPS, measured, unavailable, type Figure, type Forwards, type ForwardSetup } from '../results.js';
import { connectLoop } from './latency.js';

/** First public port of the generated forwards. */
export const FORWARD_BASE = 20000;
const BYTE_PORT = 7001;
const IPERF_PORT = 5202;
const RULES_TABLE = 'egress_bench_rules';

/** One forward: public port on the VPS → port on the client. */
export interface ForwardSpec {
  publicPort: number;
  targetPort: number;
}

/** `count` TCP forwards from FORWARD_BASE up; the last two reach the byte service and the iperf3 server (so every lookup goes to the end). */
export function forwardSet(count: number): ForwardSpec[] {
  const out: ForwardSpec[] = [];
  for (let i = 0; i < count; i++) out.push({ publicPort: FORWARD_BASE + i, targetPort: 9 });
  out[count - 2] = { publicPort: FORWARD_BASE + count - 2, targetPort: BYTE_PORT };
  out[count - 1] = { publicPort: FORWARD_BASE + count - 1, targetPort: IPERF_PORT };
  return out;
}

/** The forwards of the one-rule-each table: `large` in all, fillers first, the small set's two measured ports last. */
export function ruleForwards(small: number, large: number): ForwardSpec[] {
  const fillers: ForwardSpec[] = [];
  for (let i = 0; i < large - 2; i++) fillers.push({ publicPort: FORWARD_BASE + small + i, targetPort: 9 });
  const measured = forwardSet(small).slice(-2);
  return [...fillers, ...measured];
}

/** The hand-written comparison: the same forwards as one `dnat` rule each, in a test-only table hooked before egress's. */
export function rulesTable(forwards: readonly ForwardSpec[], iface: string, target: string): string {
  const lines = [
    `table ip ${RULES_TABLE} {`,
    '\tchain prerouting {',
    '\t\ttype nat hook prerouting priority dstnat - 10; policy accept;',
    ...forwards.map((f) => `\t\tiifname "${iface}" tcp dport ${f.publicPort} dnat to ${target}:${f.targetPort}`),
    '\t}',
    '}',
    '',
  ];
  return lines.join('\n');
}

/** Measures conn/s and throughput through a forward for each setup. */
export async function measureForwards(lab: Lab, cfg: BenchConfig, egress: EgressSetup | { reason: string }, log: (l: string) => void): Promise<Forwards> {
  const method =
    `A TCP service in the client (one line, then close) and an iperf3 server in the client sit behind the last two of the generated forwards ` +
    `(public ports ${FORWARD_BASE} and up on the VPS → the client's tunnel address). From the \`internet\` host: ${cfg.forwardConnections.toLocaleString('en-US')} sequential connections ` +
    `(connect + first byte, after ${LATENCY_WARMUP} uncounted) give conn/s, and iperf3 \`-t ${cfg.iperfSeconds}\` gives Mbit/s, per run. ` +
    `After one uncounted warm-up, each of ${cfg.runs} rounds measures ${cfg.forwardsSmall} forwards, then the same with the "one nft rule each" table loaded, ` +
    `then ${cfg.forwardsLarge.toLocaleString('en-US')} forwards (set by one \`provision\` with the full --forward list, egress's bulk path, timed each round), so ratios pair runs of the same round. ` +
    `"one nft rule each": egress keeps its ${cfg.forwardsSmall} forwards and a test-only table \`ip ${RULES_TABLE}\`, hooked just before egress's (priority dstnat - 10), ` +
    `holds ${cfg.forwardsLarge.toLocaleString('en-US')} forwards as one \`iifname … tcp dport N dnat to …\` rule each with the measured ports last; it is deleted after each run. ` +
    'NAT rules run for the first packet of a connection only, so the difference shows in conn/s, not in Mbit/s.';
  const base: Forwards = {
    small: cfg.forwardsSmall,
    large: cfg.forwardsLarge,
    connections: cfg.forwardConnections,
    method,
    connsPerSec: {} as Record<ForwardSetup, Figure>,
    throughput: {} as Record<ForwardSetup, Figure>,
    applyLarge: unavailable('not run'),
    applyRules: unavailable('not run'),
  };
  const all = (reason: string): Forwards => {
    const na = unavailable(reason);
    return { ...base, connsPerSec: { 'egress-small': na, 'egress-large': na, 'rules-large': na }, throughput: { 'egress-small': na, 'egress-large': na, 'rules-large': na }, applyLarge: na, applyRules: na };
  };
  if ('reason' in egress) return all(egress.reason);

  const byteServer = lab.spawn('client', [process.execPath, assetPath('byte-server.mjs'), String(BYTE_PORT)]);
  const iperf = new IperfServer(lab, 'client', undefined, IPERF_PORT);
  try {
    await waitForOutput(byteServer, /READY/);
    await iperf.start();
    const small = forwardSet(cfg.forwardsSmall);
    const large = forwardSet(cfg.forwardsLarge);
    const cps = new Map<ForwardSetup, number[]>();
    const mbps = new Map<ForwardSetup, number[]>();
    const errs = new Map<string, string>();
    const push = (m: Map<ForwardSetup, number[]>, k: ForwardSetup, v: number) => m.set(k, [...(m.get(k) ?? []), v]);
    // One run through the last two forwards of a set of n: conn/s, then Mbit/s.
    const measureOnce = async (setup: ForwardSetup, n: number, run: number) => {
      try {
        const r = await connectLoop(lab, 'internet', [], { host: lab.addr.vpsV4, port: FORWARD_BASE + n - 2 }, cfg.forwardConnections, { warmup: LATENCY_WARMUP });
        push(cps, setup, r.ms.length / (r.totalMs / 1000));
      } catch (e) {
        if (!errs.has(`cps/${setup}`)) errs.set(`cps/${setup}`, reasonOf(e));
      }
      try {
        const argv = iperfArgv({ server: lab.addr.vpsV4, port: FORWARD_BASE + n - 1, seconds: cfg.iperfSeconds });
        push(mbps, setup, (await retryBusy(async () => parseIperf(await must(lab, 'internet', argv, { timeoutMs: (cfg.iperfSeconds + 20) * 1000 })))).mbps);
      } catch (e) {
        if (!errs.has(`tput/${setup}`)) errs.set(`tput/${setup}`, reasonOf(e));
        await iperf.start();
      }
      log(`forwards ${setup} run ${run}: ${cps.get(setup)?.at(-1)?.toFixed(0) ?? errs.get(`cps/${setup}`)} conn/s, ${mbps.get(setup)?.at(-1)?.toFixed(0) ?? errs.get(`tput/${setup}`)} Mbit/s`);
    };

    // Warm-up (not counted): the forward path's first connections and first bulk transfer.
    await applyForwards(lab, small);
    await connectLoop(lab, 'internet', [], { host: lab.addr.vpsV4, port: FORWARD_BASE + cfg.forwardsSmall - 2 }, 50).catch(() => undefined);
    await lab.exec('internet', iperfArgv({ server: lab.addr.vpsV4, port: FORWARD_BASE + cfg.forwardsSmall - 1, seconds: 1 }), { timeoutMs: 30_000 });
    // Each round: the small set, the same with 10,000 one-rule-each forwards in front, then the large set; so the three are compared run by run.
    const table = rulesTable(ruleForwards(cfg.forwardsSmall, cfg.forwardsLarge), 'eth0', egress.address4);
    const loads: number[] = [];
    const applies: number[] = [];
    for (let run = 1; run <= cfg.runs; run++) {
      if (run > 1) await applyForwards(lab, small);
      await measureOnce('egress-small', cfg.forwardsSmall, run);
      const loaded = await timed(() => must(lab, 'vps', ['nft', '-f', '-'], { stdin: table, timeoutMs: 120_000 }));
      loads.push(loaded.ms / 1000);
      try {
        await measureOnce('rules-large', cfg.forwardsSmall, run);
      } finally {
        await lab.exec('vps', ['nft', 'delete', 'table', 'ip', RULES_TABLE]);
      }
      const applied = await applyForwards(lab, large);
      applies.push(applied.ms / 1000);
      log(`applied ${cfg.forwardsLarge} forwards in ${(applied.ms / 1000).toFixed(2)} s`);
      await measureOnce('egress-large', cfg.forwardsLarge, run);
    }
    base.applyLarge = measured('s', applies, undefined, `one \`egress-server provision\` run whose --forward set grows from ${cfg.forwardsSmall} to ${cfg.forwardsLarge} (SSH connect, reading the VPS, one nft -f)`);
    base.applyRules = measured('s', loads);
    for (const s of FORWARD_SETUPS) {
      const c = cps.get(s) ?? [];
      const t = mbps.get(s) ?? [];
      base.connsPerSec[s] = c.length ? measured('conn/s', c) : unavailable(errs.get(`cps/${s}`) ?? 'not measured');
      base.throughput[s] = t.length ? measured('Mbit/s', t) : unavailable(errs.get(`tput/${s}`) ?? 'not measured');
    }
  } catch (e) {
    const reason = reasonOf(e);
    log(`forwards: ${reason}`);
    for (const s of ['egress-small', 'egress-large', 'rules-large'] as const) {
      base.connsPerSec[s] ??= unavailable(reason);
      base.throughput[s] ??= unavailable(reason);
    }
    if (base.applyLarge.status !== 'ok') base.applyLarge = unavailable(reason);
    if (base.applyRules.status !== 'ok') base.applyRules = unavailable(reason);
  } finally {
    await iperf.stop();
    await stop(byteServer);
  }
  return base;
}
