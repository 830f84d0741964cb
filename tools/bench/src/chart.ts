// Charts of a results file: Vega-Lite specs built from the data (pure), rendered to SVG headlessly with vega.
import { ratioOf } from './derive.js';
import type { BenchResults, Figure, PathId } from './results.js';
import { PATH_IDS, THROUGHPUT_TESTS } from './results.js';

/** One bar of a chart: a median with its min/max whiskers. */
export interface BarRow {
  panel: string;
  path: string;
  group: string;
  median: number;
  min: number;
  max: number;
}

const GROUPS = ['no tunnel (limit)', 'plain tunnel route', 'egress', 'ssh -D + proxychains'] as const;
const GROUP: Record<PathId, (typeof GROUPS)[number]> = {
  limit: 'no tunnel (limit)',
  tunnel: 'plain tunnel route',
  'run-as': 'egress',
  exec: 'egress',
  run: 'egress',
  alternative: 'ssh -D + proxychains',
};

function labelOf(res: BenchResults, p: PathId): string {
  return res.dataplane.paths.find((x) => x.id === p)?.label ?? p;
}

function rowsFor(res: BenchResults, panel: string, figs: Partial<Record<PathId, Figure>>, skip: readonly PathId[] = []): BarRow[] {
  const rows: BarRow[] = [];
  for (const p of PATH_IDS) {
    const f = figs[p];
    if (f?.status === 'ok' && !skip.includes(p)) rows.push({ panel, path: labelOf(res, p), group: GROUP[p], median: f.median, min: f.min, max: f.max });
  }
  return rows;
}

/** Throughput bars (Mbit/s) per test and path; the direct path is left out (it is an order of magnitude off the tunnel's scale). */
export function throughputRows(res: BenchResults): BarRow[] {
  return THROUGHPUT_TESTS.flatMap((t) => rowsFor(res, t, res.dataplane.throughput[t] ?? {}, ['limit']));
}

/** Bars of each egress path and the alternative relative to the plain tunnel (1.0 = same throughput). */
export function relativeRows(res: BenchResults): BarRow[] {
  const rows: BarRow[] = [];
  for (const t of THROUGHPUT_TESTS) {
    const figs = res.dataplane.throughput[t] ?? {};
    for (const p of ['run-as', 'exec', 'run', 'alternative'] as const) {
      const r = ratioOf(figs[p], figs.tunnel);
      if (r.value !== undefined) rows.push({ panel: t, path: labelOf(res, p), group: GROUP[p], median: r.value, min: r.min ?? r.value, max: r.max ?? r.value });
    }
  }
  return rows;
}

/** Latency bars (ms) for p50 and p99 per path. */
export function latencyRows(res: BenchResults): BarRow[] {
  return [...rowsFor(res, 'p50', res.latency.p50), ...rowsFor(res, 'p99', res.latency.p99)];
}

/** Options of a bar chart. */
export interface BarChart {
  title: string;
  subtitle: string;
  unit: string;
  panels: readonly string[];
  /** A vertical reference line (e.g. the 0.97 goal), labelled in the subtitle. */
  goal?: number;
}

/** A Vega-Lite spec: one panel per `panel` value, a horizontal bar per path with a min–max rule. */
export function barSpec(chart: BarChart, rows: readonly BarRow[]): Record<string, unknown> {
  const order = [...new Set(rows.map((r) => r.path))];
  const y = { field: 'path', type: 'nominal', sort: order, title: null, axis: { labelLimit: 200 } };
  const layer: Record<string, unknown>[] = [
    {
      mark: { type: 'bar' },
      encoding: {
        y,
        x: { field: 'median', type: 'quantitative', title: chart.unit },
        color: { field: 'group', type: 'nominal', title: null, scale: { domain: [...GROUPS], range: ['#9e9e9e', '#4c78a8', '#f58518', '#b279a2'] } },
        tooltip: [{ field: 'path' }, { field: 'median' }, { field: 'min' }, { field: 'max' }],
      },
    },
    { mark: { type: 'rule', color: 'black' }, encoding: { y, x: { field: 'min', type: 'quantitative' }, x2: { field: 'max' } } },
  ];
  if (chart.goal !== undefined) layer.push({ mark: { type: 'rule', color: '#d62728', strokeDash: [4, 3] }, encoding: { x: { datum: chart.goal } } });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: chart.title, subtitle: chart.subtitle, anchor: 'start' },
    data: { values: rows },
    facet: { column: { field: 'panel', type: 'nominal', sort: [...chart.panels], title: null } },
    resolve: { scale: { x: chart.goal === undefined ? 'independent' : 'shared' } },
    spec: { width: 160, height: { step: 20 }, layer },
    config: { font: 'sans-serif', legend: { orient: 'bottom', labelLimit: 300 } },
  };
}

/** Renders a Vega-Lite spec to an SVG string (no browser, no canvas). */
export async function renderSvg(spec: Record<string, unknown>): Promise<string> {
  const [vega, vl] = await Promise.all([import('vega'), import('vega-lite')]);
  const compiled = vl.compile(spec as unknown as Parameters<typeof vl.compile>[0]).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** The charts of a run as file name → SVG text (a chart with no data is left out). */
export async function renderCharts(res: BenchResults): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const rel = relativeRows(res);
  if (rel.length) {
    out['relative.svg'] = await renderSvg(
      barSpec(
        {
          title: 'Throughput relative to the same tunnel with a plain route (1.0 = no cost)',
          subtitle: 'bar = ratio of medians, black line = min–max of per-run ratios, dashed red = the 0.97 goal',
          unit: '× plain tunnel',
          panels: THROUGHPUT_TESTS,
          goal: 0.97,
        },
        rel,
      ),
    );
  }
  const t = throughputRows(res);
  if (t.length) {
    const limit = THROUGHPUT_TESTS.map((x) => res.dataplane.throughput[x]?.limit).filter((f) => f?.status === 'ok') as Array<Extract<Figure, { status: 'ok' }>>;
    const note = limit.length ? `; the direct path without tunnel (${Math.round(Math.min(...limit.map((f) => f.median)))}–${Math.round(Math.max(...limit.map((f) => f.median)))} Mbit/s) is off this scale, see the tables` : '';
    out['throughput.svg'] = await renderSvg(
      barSpec({ title: 'Throughput, lab client → internet host (iperf3)', subtitle: `bar = median, line = min–max over runs${note}`, unit: 'Mbit/s', panels: THROUGHPUT_TESTS }, t),
    );
  }
  const l = latencyRows(res);
  if (l.length) {
    out['latency.svg'] = await renderSvg(
      barSpec({ title: 'TCP connect + first byte to the whoami service', subtitle: 'bar = median over runs, line = min–max over runs', unit: 'ms', panels: ['p50', 'p99'] }, l),
    );
  }
  return out;
}
