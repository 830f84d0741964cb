// Goal rows of the speed groups (wireguard, peers, egresses) for the "Goals" table: pure, from their results.
import { ratioOf, type GoalVerdict, type Ratio } from '../derive.js';
import type { PeersGroup } from '../groups/peers.js';
import type { EgressesBench, Figure, WireguardBench } from '../results.js';
import { ratio } from '../stats.js';

export const OFFLOAD_GOAL = 2.0;
export const EGRESS_TUNNEL_GOAL = 0.97;
export const PEER_ADD_GOAL_S = 1;
const DIRS = ['up', 'down'] as const;

/** A ratio figure whose samples are per-pair ratios: its median with min–max, or the reason it is missing. */
export function pairedRatio(f: Figure | undefined): Ratio {
  if (!f) return { reason: 'not measured' };
  if (f.status !== 'ok') return { reason: f.reason };
  return f.n > 1 ? { value: f.median, min: f.min, max: f.max } : { value: f.median };
}

/** How many per-pair ratios reach `goal`, as "k of n pairs ≥ goal". */
export function pairsReaching(f: Figure | undefined, goal: number): string | undefined {
  if (!f || f.status !== 'ok') return undefined;
  return `${f.samples.filter((x) => x >= goal).length} of ${f.n} pairs ≥ ${goal}`;
}

function atLeast(goal: GoalVerdict['goal'], subject: string, r: Ratio, target: number, note?: string): GoalVerdict {
  const base: GoalVerdict = { goal, subject, target: `≥ ${target}` };
  if (r.value === undefined) return { ...base, reason: r.reason ?? 'not measured' };
  const met = r.value >= target;
  return {
    ...base,
    value: r.value,
    ...(r.min !== undefined && r.max !== undefined ? { min: r.min, max: r.max } : {}),
    met,
    ...(met ? {} : { missBy: target - r.value, limit: note ?? `${((target - r.value) * 100).toFixed(1)} points below the goal` }),
  };
}

function reported(goal: GoalVerdict['goal'], subject: string, f: Figure | undefined, text: (f: Extract<Figure, { status: 'ok' }>) => string): GoalVerdict {
  const base: GoalVerdict = { goal, subject, target: 'reported' };
  if (!f) return { ...base, reason: 'not measured' };
  if (f.status !== 'ok') return { ...base, reason: f.reason };
  return { ...base, value: f.median, text: text(f) };
}

const range = (f: Extract<Figure, { status: 'ok' }>, digits: number) => (f.n > 1 ? `${f.median.toFixed(digits)} (${f.min.toFixed(digits)}–${f.max.toFixed(digits)}, n=${f.n})` : f.median.toFixed(digits));

/** Offload/old per direction, egress/tunnel per implementation and direction, CPU s/GiB per implementation, egress/ssh -D. */
export function wireguardGoals(w: WireguardBench): GoalVerdict[] {
  const out: GoalVerdict[] = [];
  for (const d of DIRS) {
    const r = w.offloadOverOld ? pairedRatio(w.offloadOverOld[d]) : ratioOf(w.throughput.offload.tunnel[d], w.throughput.old.tunnel[d]);
    out.push(atLeast('wireguard', `tunnel TCP ${d}, wireguard-go offload/old`, r, OFFLOAD_GOAL));
  }
  for (const id of ['offload', 'old'] as const) {
    for (const d of DIRS) {
      const paired = w.egressOverTunnel?.[id][d];
      const r = paired ? pairedRatio(paired) : ratioOf(w.throughput[id].egress[d], w.throughput[id].tunnel[d]);
      const noise = pairedRatio(w.tunnelOverTunnel?.[id][d]);
      const reach = pairsReaching(paired, EGRESS_TUNNEL_GOAL);
      const floor = noise.value !== undefined ? `tunnel/tunnel pairs in the same run: ${noise.value.toFixed(3)}${noise.min !== undefined ? ` (${noise.min.toFixed(2)}–${noise.max!.toFixed(2)})` : ''}` : undefined;
      const note = [reach, floor].filter(Boolean).join('; ');
      const g = atLeast('wireguard', `TCP ${d} egress/tunnel, ${id} wireguard-go`, r, EGRESS_TUNNEL_GOAL, missText(r, noise, reach));
      out.push(note ? { ...g, text: `${fmtRatio(r)} — ${note}` } : g);
    }
  }
  for (const id of ['offload', 'old'] as const) {
    out.push(reported('wireguard', `CPU s per GiB through the tunnel, ${id} wireguard-go (both ends)`, w.cpuSecondsPerGiB[id], (f) => range(f, 2)));
  }
  for (const d of DIRS) {
    const x = ratio(medOf(w.throughput.offload.egress[d]), medOf(w.sshD[d]));
    const base: GoalVerdict = { goal: 'wireguard', subject: `TCP ${d} egress (offload)/\`ssh -D\``, target: 'reported' };
    out.push(x === undefined ? { ...base, reason: w.sshD[d].status === 'n/a' ? w.sshD[d].reason : 'not measured' } : { ...base, value: x, text: x.toFixed(2) });
  }
  return out;
}

/** Why an egress/tunnel ratio missed 0.97, measured against the same run's tunnel/tunnel noise floor. */
function missText(r: Ratio, noise: Ratio, reach: string | undefined): string | undefined {
  if (r.value === undefined || r.value >= EGRESS_TUNNEL_GOAL) return undefined;
  const parts = [`${((EGRESS_TUNNEL_GOAL - r.value) * 100).toFixed(1)} points below the goal`];
  if (reach) parts.push(reach);
  if (noise.min !== undefined && noise.max !== undefined) {
    const half = ((noise.max - noise.min) / 2) * 100;
    parts.push(
      (1 - r.value) * 100 <= half
        ? `the tunnel against itself spread ${noise.min.toFixed(2)}–${noise.max.toFixed(2)} in the same run (±${half.toFixed(1)}%), more than this ratio's distance from 1: not distinguishable from noise`
        : `the tunnel against itself spread only ${noise.min.toFixed(2)}–${noise.max.toFixed(2)} in the same run (±${half.toFixed(1)}%): a cost this run resolved`,
    );
  }
  return parts.join('; ');
}

function medOf(f: Figure | undefined): number | undefined {
  return f?.status === 'ok' ? f.median : undefined;
}

function fmtRatio(r: Ratio): string {
  if (r.value === undefined) return 'n/a';
  return r.min !== undefined && r.max !== undefined ? `${r.value.toFixed(3)} (${r.min.toFixed(2)}–${r.max.toFixed(2)})` : r.value.toFixed(3);
}

/** `peer add` < 1 s at N peers, the stall during/baseline, status at N vs 1 peer, the VPS's RSS. */
export function peersGoals(p: PeersGroup): GoalVerdict[] {
  const out: GoalVerdict[] = [];
  const add = p.peerAdd;
  const base: GoalVerdict = { goal: 'peers', subject: `\`peer add\` at ${p.peers} peers`, target: `< ${PEER_ADD_GOAL_S} s`, unit: 's' };
  if (add.status !== 'ok') out.push({ ...base, reason: add.reason });
  else {
    const met = add.median < PEER_ADD_GOAL_S;
    out.push({ ...base, value: add.median, text: `${range(add, 2)} s`, met, ...(met ? {} : { missBy: add.median - PEER_ADD_GOAL_S, limit: `${(add.median - PEER_ADD_GOAL_S).toFixed(2)} s over the goal` }) });
  }
  const ratioRow = (subject: string, a: Figure, b: Figure, show: (x: number) => string): GoalVerdict => {
    const x = ratio(medOf(a), medOf(b));
    const g: GoalVerdict = { goal: 'peers', subject, target: 'reported' };
    if (x === undefined) return { ...g, reason: a.status === 'n/a' ? a.reason : b.status === 'n/a' ? b.reason : 'divisor is zero' };
    return { ...g, value: x, text: show(x) };
  };
  out.push(ratioRow(`longest transfer stall during \`peer add\` / without (ms)`, p.stallDuringAdd, p.stallBaseline, (x) => `${x.toFixed(2)} (${medOf(p.stallDuringAdd)!.toFixed(0)} / ${medOf(p.stallBaseline)!.toFixed(0)} ms)`));
  out.push(ratioRow(`\`status\` at ${p.peers} peers / 1 peer`, p.status, p.statusOnePeer, (x) => `${x.toFixed(2)} (${medOf(p.status)!.toFixed(2)} / ${medOf(p.statusOnePeer)!.toFixed(2)} s)`));
  out.push(reported('peers', `VPS wireguard-go RSS at ${p.peers} peers, MiB`, p.rss, (f) => `${range(f, 1)}${medOf(p.rssOnePeer) ? ` (1 peer: ${medOf(p.rssOnePeer)!.toFixed(1)})` : ''}`));
  return out;
}

/** Every egress seen with its own VPS's address; status with all of them over status with one. */
export function egressesGoals(e: EgressesBench): GoalVerdict[] {
  const own = e.seen.filter((s) => s.seen === s.expected).length;
  const met = own === e.count && e.seen.length === e.count;
  const seen: GoalVerdict = { goal: 'egresses', subject: `${e.count} egresses on one client, each seen with its own VPS's address`, target: `${e.count} of ${e.count}`, value: own, text: `${own} of ${e.count}`, met };
  const x = ratio(medOf(e.statusAll), medOf(e.statusOne));
  const st: GoalVerdict = { goal: 'egresses', subject: `\`status\` with ${e.count} egresses / 1`, target: 'reported' };
  return [met ? seen : { ...seen, missBy: e.count - own, limit: e.seen.filter((s) => s.seen !== s.expected).map((s) => `${s.name} seen as ${s.seen}, expected ${s.expected}`).join('; ') }, x === undefined ? { ...st, reason: e.statusAll.status === 'n/a' ? e.statusAll.reason : e.statusOne.status === 'n/a' ? e.statusOne.reason : 'not measured' } : { ...st, value: x, text: `${x.toFixed(2)} (${medOf(e.statusAll)!.toFixed(2)} / ${medOf(e.statusOne)!.toFixed(2)} s)` }];
}
