// Charts of a results file: Vega-Lite specs built from the data (pure), rendered to SVG headlessly with vega.
import { ratioOf } from './derive.js';
import type { BenchResults, Figure, PathId } from './results.js';
import { EGRESS_PATHS, NODELAY_LABEL, PATH_IDS, THROUGHPUT_TESTS } from './results.js';

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

/** Bars of each egress path relative to the plain tunnel (1.0 = same throughput); the alternative is off this scale and in the tables. */
export function relativeRows(res: BenchResults): BarRow[] {
  const rows: BarRow[] = [];
  for (const t of THROUGHPUT_TESTS) {
    const figs = res.dataplane.throughput[t] ?? {};
    for (const p of EGRESS_PATHS) {
      const r = ratioOf(figs[p], figs.tunnel);
      if (r.value !== undefined) rows.push({ panel: t, path: labelOf(res, p), group: GROUP[p], median: r.value, min: r.min ?? r.value, max: r.max ?? r.value });
    }
  }
  return rows;
}

/** Latency points (ms) for p50 and p99 per path, and the alternative with an interactive ssh when measured. */
export function latencyRows(res: BenchResults): BarRow[] {
  const rows: BarRow[] = [];
  const nd = res.latency.alternativeNoDelay;
  for (const q of ['p50', 'p99'] as const) {
    rows.push(...rowsFor(res, q, res.latency[q]));
    const f = nd?.[q];
    if (f?.status === 'ok') rows.push({ panel: q, path: NODELAY_LABEL, group: GROUP.alternative, median: f.median, min: f.min, max: f.max });
  }
  return rows;
}


/** Options of a bar chart. */
export interface BarChart {
  title: string;
  subtitle: string;
  unit: string;
  panels: readonly string[];
  /** A vertical reference line (e.g. the 0.97 goal), labelled in the subtitle. */
  goal?: number;
  /** Points on a log scale instead of bars (values that span orders of magnitude). */
  log?: boolean;
  /** Leave the color legend out (every bar is of one kind). */
  noLegend?: boolean;
}

/** A Vega-Lite spec: one panel per `panel` value, a horizontal bar per path with a min–max rule. */
export function barSpec(chart: BarChart, rows: readonly BarRow[]): Record<string, unknown> {
  const order = [...new Set(rows.map((r) => r.path))];
  const y = { field: 'path', type: 'nominal', sort: order, title: null, axis: { labelLimit: 320 } };
  const color = {
    field: 'group',
    type: 'nominal',
    title: null,
    scale: { domain: [...GROUPS], range: ['#9e9e9e', '#4c78a8', '#f58518', '#b279a2'] },
    ...(chart.noLegend ? { legend: null } : {}),
  };
  const x = { field: 'median', type: 'quantitative', title: chart.unit, ...(chart.log ? { scale: { type: 'log' } } : {}) };
  const layer: Record<string, unknown>[] = [
    { mark: { type: 'rule', color: 'black' }, encoding: { y, x: { field: 'min', type: 'quantitative' }, x2: { field: 'max' } } },
    {
      mark: chart.log ? { type: 'point', filled: true, size: 80, opacity: 1 } : { type: 'bar' },
      encoding: { y, x, color, tooltip: [{ field: 'path' }, { field: 'median' }, { field: 'min' }, { field: 'max' }] },
    },
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
          subtitle: 'bar = median of per-run ratios (runs taken back to back), black line = their min–max, dashed red = the 0.97 goal',
          unit: '× plain tunnel',
          panels: THROUGHPUT_TESTS,
          goal: 0.97,
          noLegend: true,
        },
        rel,
      ),
    );
  }
  const t = throughputRows(res);
  if (t.length) {
    const limit = (['tcp-up', 'tcp-down'] as const).map((x) => res.dataplane.throughput[x]?.limit).filter((f) => f?.status === 'ok') as Array<Extract<Figure, { status: 'ok' }>>;
    const note = limit.length ? `; the direct path without tunnel (TCP ${limit.map((f) => Math.round(f.median).toLocaleString('en-US')).join(' / ')} Mbit/s) is off this scale, see the tables` : '';
    out['throughput.svg'] = await renderSvg(
      barSpec({ title: 'Throughput, lab client → internet host (iperf3)', subtitle: `bar = median, line = min–max over runs${note}`, unit: 'Mbit/s', panels: THROUGHPUT_TESTS }, t),
    );
  }
  const l = latencyRows(res);
  if (l.length) {
    out['latency.svg'] = await renderSvg(
      barSpec({ title: 'TCP connect + first byte to the whoami service', subtitle: 'dot = median over runs, line = min–max over runs; log scale', unit: 'ms (log scale)', panels: ['p50', 'p99'], log: true }, l),
    );
  }
  return out;
}
