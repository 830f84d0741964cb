// The speed groups' paired design (block order, ABBA pairs, block ratios) and their goal rows.
import { describe, expect, it } from 'vitest';
import { blockRatios, blockSequence, wireguardPlan } from '../groups/wireguard.js';
import { configFor } from '../config.js';
import { measured, unavailable } from '../results.js';
import { egressesFixture, pairedWireguard, peersFixture } from '../test-fixtures/speed.js';
import { egressesGoals, pairedRatio, pairsReaching, peersGoals, wireguardGoals } from './goals.js';
import { egressesMarkdown, wireguardMarkdown } from './report.js';

const ratio = (...v: number[]) => measured('ratio', v);

describe('wireguard group design', () => {
  it('switches implementation once per block, ABBA over blocks, and pairs tunnel/egress ABBA inside a block with the noise pairs among them', () => {
    expect(wireguardPlan(configFor('full')).blocks).toEqual(['offload', 'old', 'old', 'offload']);
    expect(blockSequence({ pairs: 4, noisePairs: 2 }).map((s) => `${s.kind}:${s.order.join('/')}`)).toEqual([
      'te:tunnel/egress', 'te:egress/tunnel', 'tt:tunnel/tunnel', 'te:tunnel/egress', 'te:egress/tunnel', 'tt:tunnel/tunnel',
    ]);
    expect(blockSequence({ pairs: 1, noisePairs: 1 }).map((s) => s.kind)).toEqual(['te', 'tt']);
    expect(blockSequence({ pairs: 3, noisePairs: 0 }).every((s) => s.kind === 'te')).toBe(true);
  });
  it('takes offload/old from adjacent blocks of different implementations, skipping a block with no transfer', () => {
    expect(blockRatios(['offload', 'old', 'old', 'offload'], [1800, 300, 400, 2000])).toEqual([6, 5]);
    expect(blockRatios(['old', 'offload'], [250, 2000])).toEqual([8]);
    expect(blockRatios(['offload', 'old', 'old', 'offload'], [1800, undefined, 400, 2000])).toEqual([5]);
    expect(blockRatios(['offload', 'offload'], [1, 2])).toEqual([]);
  });
});

describe('wireguard goals and section', () => {
  const w = pairedWireguard();
  const gs = wireguardGoals(w);
  const row = (subject: string) => gs.find((g) => g.subject === subject)!;
  it('offload/old per direction ≥ 2.0 from the block pairs, n/a with the reason when a direction failed', () => {
    expect(row('tunnel TCP up, wireguard-go offload/old')).toMatchObject({ met: true, value: 6.2, min: 6, max: 6.4, target: '≥ 2' });
    expect(row('tunnel TCP down, wireguard-go offload/old')).toMatchObject({ reason: 'old down: iperf3: timeout' });
  });
  it('egress/tunnel per implementation and direction from the per-pair ratios, with the pairs that reach 0.97 and the noise floor', () => {
    const ok = row('TCP up egress/tunnel, offload wireguard-go');
    expect(ok.met).toBe(true);
    expect(ok.value).toBeCloseTo(0.99, 10);
    expect(ok.text).toBe('0.990 (0.98–1.00) — 3 of 3 pairs ≥ 0.97; tunnel/tunnel pairs in the same run: 1.000 (0.97–1.03)');
    const miss = row('TCP down egress/tunnel, old wireguard-go');
    expect(miss.met).toBe(false);
    expect(miss.missBy).toBeCloseTo(0.97 - 0.945, 10);
    expect(miss.limit).toBe('2.5 points below the goal; 1 of 4 pairs ≥ 0.97; the tunnel against itself spread only 0.95–1.05 in the same run (±5.0%): a cost this run resolved');
    const noisy = { ...w, tunnelOverTunnel: { ...w.tunnelOverTunnel!, old: { ...w.tunnelOverTunnel!.old, down: ratio(0.9, 1.1) } } };
    expect(wireguardGoals(noisy).find((g) => g.subject === miss.subject)!.limit).toBe(
      "2.5 points below the goal; 1 of 4 pairs ≥ 0.97; the tunnel against itself spread 0.90–1.10 in the same run (±10.0%), more than this ratio's distance from 1: not distinguishable from noise",
    );
  });
  it('reports CPU s per GiB per implementation and egress/ssh -D, n/a when ssh -D is missing', () => {
    expect(row('CPU s per GiB through the tunnel, old wireguard-go (both ends)').text).toBe('29.00');
    expect(row('CPU s per GiB through the tunnel, offload wireguard-go (both ends)').text).toBe('4.70 (4.50–4.90, n=2)');
    expect(row('TCP up egress (offload)/`ssh -D`').text).toBe('0.72');
    expect(row('TCP down egress (offload)/`ssh -D`').reason).toBe('ssh -D did not start');
  });
  it('renders the paired section with the noise floor next to each ratio', () => {
    const md = wireguardMarkdown(w);
    expect(md).toContain('blocks in order: offload, old, old, offload');
    expect(md).toContain('| plain tunnel route up | 1900 (1800–2000, n=2) | 300 | 6.20 (6.00–6.40, n=2) (goal ≥ 2: met) |');
    expect(md).toContain('| egress/tunnel down, per pair (goal ≥ 0.97) | 1.000 (0.990–1.010, n=2) (goal ≥ 0.97: met); 2 of 2 pairs ≥ 0.97 | 0.945 (0.900–0.980, n=4) (goal ≥ 0.97: NOT met); 1 of 4 pairs ≥ 0.97 |');
    expect(md).toContain('| tunnel/tunnel down, per pair (noise floor) | 1.005 (1.000–1.010, n=2) | 1.000 (0.950–1.050, n=2) |');
    expect(md).toContain('1-minute load average when the group started: 0.40');
  });
  it('reads paired ratios and counts the pairs that reach a goal', () => {
    expect(pairedRatio(ratio(1, 0.9, 1.1))).toEqual({ value: 1, min: 0.9, max: 1.1 });
    expect(pairedRatio(unavailable('x'))).toEqual({ reason: 'x' });
    expect(pairsReaching(ratio(0.96, 0.97, 1.2), 0.97)).toBe('2 of 3 pairs ≥ 0.97');
  });
});

describe('peers and egresses goals', () => {
  it('peer add < 1 s (missed by its median), stall and status ratios, RSS reported', () => {
    const gs = peersGoals(peersFixture);
    expect(gs[0]).toMatchObject({ subject: '`peer add` at 1000 peers', met: false, unit: 's', text: '1.20 (1.00–1.40, n=3) s' });
    expect(gs[0]!.missBy).toBeCloseTo(0.2, 10);
    expect(gs[1]!.text).toBe('1.50 (30 / 20 ms)');
    expect(gs[2]!.text).toBe('1.40 (0.70 / 0.50 s)');
    expect(gs[3]!.text).toBe('33.0 (1 peer: 6.0)');
    expect(peersGoals({ ...peersFixture, peerAdd: unavailable('peer add failed') })[0]!.reason).toBe('peer add failed');
  });
  it('each egress must be seen with its own VPS address; status with all over one', () => {
    const [seen, status] = egressesGoals(egressesFixture);
    expect(seen).toMatchObject({ met: false, text: '1 of 2', missBy: 1, limit: 'vps1 seen as 192.0.2.2, expected 198.51.100.12' });
    expect(status!.text).toBe('2.00 (0.60 / 0.30 s)');
    const all = egressesGoals({ ...egressesFixture, seen: egressesFixture.seen.map((x) => ({ ...x, seen: x.expected })) })[0]!;
    expect(all).toMatchObject({ met: true, text: '2 of 2' });
    expect(egressesMarkdown(egressesFixture)).toContain('| vps1 | eg2 | 198.51.100.12 | 192.0.2.2 (WRONG) |');
  });
});
