// Ratios and goal verdicts computed from a results file (pure: the report and the JSON both use these).
import type { BenchResults, Figure, PathFigures, PathId } from './results.js';
import { EGRESS_PATHS, THROUGHPUT_TESTS, med } from './results.js';
import { median, ratio, spread } from './stats.js';

/** A ratio of two figures: the median of per-run ratios (run i of each path ran back to back), with their min–max; of the medians when runs do not pair up. */
export interface Ratio {
  value?: number;
  min?: number;
  max?: number;
  /** Why there is no value. */
  reason?: string;
}

/** Ratio a/b of two figures (median of per-run pairs when both have the same count, else median over median). */
export function ratioOf(a: Figure | undefined, b: Figure | undefined): Ratio {
  if (!a || a.status !== 'ok') return { reason: a?.status === 'n/a' ? a.reason : 'not measured' };
  if (!b || b.status !== 'ok') return { reason: b?.status === 'n/a' ? b.reason : 'not measured' };
  const whole = ratio(a.median, b.median);
  if (whole === undefined) return { reason: 'divisor is zero' };
  if (a.samples.length !== b.samples.length || a.samples.length < 2) return { value: whole };
  const pairs = a.samples.map((x, i) => x / b.samples[i]!).filter((r) => Number.isFinite(r));
  if (pairs.length !== a.samples.length) return { value: whole };
  return { value: median(pairs), min: Math.min(...pairs), max: Math.max(...pairs) };
}

export type GoalId = 'throughput' | 'forwards' | 'run-as-startup' | 'wireguard' | 'peers' | 'egresses';

/** One goal from the issue checked against one figure. */
export interface GoalVerdict {
  goal: GoalId;
  /** What is compared, e.g. "tcp-up run-as/tunnel". */
  subject: string;
  /** "≥ 0.97", "≤ 60 ms". */
  target: string;
  value?: number;
  /** Range of the per-run ratios, when the runs pair up. */
  min?: number;
  max?: number;
  met?: boolean;
  /** How far from the target, in the unit of the target (ratio points or ms); positive when missed. */
  missBy?: number;
  /** What limits the figure (when missed), from the measured evidence. */
  limit?: string;
  reason?: string;
  /** The value as shown, when it is not a plain ratio (a reported figure, "8 of 8"); with met undefined and no reason: reported, no goal. */
  text?: string;
  /** Unit of value and missBy when not a ratio (e.g. "s"). */
  unit?: string;
}

const THROUGHPUT_GOAL = 0.97;
const FORWARDS_GOAL = 0.95;
const RUN_AS_GOAL_MS = 60;

/** Relative spread of a figure as a percentage, for "within noise" statements. */
function spreadPct(f: Figure | undefined): number | undefined {
  return f && f.status === 'ok' && f.n > 1 ? spread(f) * 100 : undefined;
}

function minGoal(goal: GoalId, subject: string, r: Ratio, target: number, limit: (miss: number) => string): GoalVerdict {
  const base: GoalVerdict = { goal, subject, target: `≥ ${target}` };
  if (r.value === undefined) return { ...base, reason: r.reason ?? 'not measured' };
  const met = r.value >= target;
  const range = r.min !== undefined && r.max !== undefined ? { min: r.min, max: r.max } : {};
  return { ...base, value: r.value, ...range, met, ...(met ? {} : { missBy: target - r.value, limit: limit(target - r.value) }) };
}

/** Every egress/tunnel throughput ratio checked against the ≥ 0.97 goal. */
export function throughputGoals(res: BenchResults): GoalVerdict[] {
  const out: GoalVerdict[] = [];
  for (const test of THROUGHPUT_TESTS) {
    const figs: PathFigures = res.dataplane.throughput[test] ?? {};
    for (const p of EGRESS_PATHS) {
      const r = ratioOf(figs[p], figs.tunnel);
      out.push(
        minGoal('throughput', `${test} ${p}/tunnel`, r, THROUGHPUT_GOAL, (miss) => {
          const noise = spreadPct(figs.tunnel);
          const own = spreadPct(figs[p]);
          const parts = [`${(miss * 100).toFixed(1)} points below the goal`];
          if (noise !== undefined) {
            parts.push(
              miss * 100 <= noise
                ? `within the tunnel baseline's own run-to-run spread (${noise.toFixed(1)}%), so not distinguishable from noise at ${res.dataplane.runs} runs`
                : `larger than the tunnel baseline's run-to-run spread (${noise.toFixed(1)}%${own !== undefined ? `; this path's: ${own.toFixed(1)}%` : ''})`,
            );
          }
          parts.push(limitText(p, test));
          return parts.join('; ');
        }),
      );
    }
  }
  return out;
}

function limitText(p: PathId, test: string): string {
  const what: Partial<Record<PathId, string>> = {
    'run-as': "what run-as adds per packet: a 'meta skuid' mark, one policy-rule lookup and SNAT",
    exec: 'what exec adds: a bind() per socket (LD_PRELOAD) and a source-address rule lookup per packet',
    run: "what run adds per packet: a 'socket cgroupv2' match, the mark, one policy-rule lookup and SNAT",
  };
  return `${what[p] ?? ''}${test.startsWith('udp') ? '; at full-rate UDP the loss in wireguard-go dominates the figure' : ''}`;
}

/** The forwards goal: conn/s and throughput with the large count over the small one, ≥ 0.95. */
export function forwardGoals(res: BenchResults): GoalVerdict[] {
  const f = res.forwards;
  const out: GoalVerdict[] = [];
  for (const [what, figs] of [['conn/s', f.connsPerSec], ['throughput', f.throughput]] as const) {
    const r = ratioOf(figs['egress-large'], figs['egress-small']);
    out.push(
      minGoal('forwards', `${what} egress ${f.large}/${f.small}`, r, FORWARDS_GOAL, (miss) => {
        const noise = spreadPct(figs['egress-small']);
        const rules = ratioOf(figs['rules-large'], figs['egress-small']).value;
        const parts = [`${(miss * 100).toFixed(1)} points below the goal`];
        if (noise !== undefined) parts.push(`the ${f.small}-forward baseline itself spreads ${noise.toFixed(1)}% run to run`);
        if (what === 'throughput') {
          parts.push("NAT rules run on a connection's first packet only, so the number of forwards cannot slow a transfer already under way: a miss within the baseline's spread is noise");
        } else {
          if (rules !== undefined) parts.push(`one rule per forward reaches ${rules.toFixed(2)} of the baseline`);
          parts.push('each connection also crosses wireguard-go twice and three network namespaces, which is most of its cost');
        }
        return parts.join('; ');
      }),
    );
  }
  return out;
}

/** The run-as start-up goal: added latency over setpriv alone ≤ 60 ms. */
export function runAsGoal(res: BenchResults): GoalVerdict {
  const f = res.controlPlane.runAsAdded;
  const base: GoalVerdict = { goal: 'run-as-startup', subject: 'run-as over setpriv', target: `≤ ${RUN_AS_GOAL_MS} ms` };
  if (f.status !== 'ok') return { ...base, reason: f.reason };
  const met = f.median <= RUN_AS_GOAL_MS;
  if (met) return { ...base, value: f.median, met };
  const all = med(res.controlPlane.runAsStartup);
  const node = med(res.controlPlane.nodeStartup);
  const parts = [`${(f.median - RUN_AS_GOAL_MS).toFixed(1)} ms over the goal`];
  if (node !== undefined && all !== undefined) {
    parts.push(
      `run-as is a Node.js program: a bare \`node -e 0\` takes ${node.toFixed(1)} ms here, so the runtime's own start is ${((node / f.median) * 100).toFixed(0)}% of the added time ` +
        `and loading egress's modules and checking the egress is the other ${(f.median - node).toFixed(1)} ms`,
    );
  } else {
    parts.push('run-as is a Node.js program; starting the runtime and loading its modules is most of the added time');
  }
  return { ...base, value: f.median, met, missBy: f.median - RUN_AS_GOAL_MS, limit: parts.join('; ') };
}

/** All goal verdicts of a run, in report order. */
export function goals(res: BenchResults): GoalVerdict[] {
  return [...throughputGoals(res), ...forwardGoals(res), runAsGoal(res)];
}

/** The median of several ratios' values, for one-line summaries. */
export function medianRatio(rs: readonly Ratio[]): number | undefined {
  const vs = rs.map((r) => r.value).filter((v): v is number => v !== undefined);
  return vs.length ? median(vs) : undefined;
}
