// Group 2: TCP connect + first byte to the whoami service, N sequential connections per run, over each path.
import type { Lab } from '@egress/lab';
import { LATENCY_WARMUP, type BenchConfig } from '../config.js';
import { assetPath, firstLine, reasonOf, StepError } from '../lab-run.js';
import { along, type BenchPath } from '../paths.js';
import { measured, unavailable, type Latency, type PathFigures } from '../results.js';
import { percentile, rotate } from '../stats.js';

/** One connect-loop run as printed by assets/connect-loop.mjs. */
export interface LoopResult {
  ms: number[];
  totalMs: number;
  errors: number;
  firstError: string;
}

/** Reads connect-loop.mjs's JSON line. */
export function parseLoop(stdout: string): LoopResult {
  const line = stdout.trim().split('\n').pop() ?? '';
  try {
    const r = JSON.parse(line) as LoopResult;
    if (!Array.isArray(r.ms)) throw new Error('no ms');
    return r;
  } catch {
    throw new StepError(`connect-loop printed no result: ${firstLine(stdout) || 'empty output'}`);
  }
}

/** Runs assets/connect-loop.mjs in a lab host with a prefix; fails when any connection failed. */
export async function connectLoop(
  lab: Lab,
  host: 'client' | 'internet',
  prefix: string[],
  target: { host: string; port: number },
  count: number,
  opts: { user?: string; warmup?: number } = {},
): Promise<LoopResult> {
  const argv = [...prefix, process.execPath, assetPath('connect-loop.mjs'), target.host, String(target.port), String(count), '5000', String(opts.warmup ?? 0)];
  const user = opts.user;
  const r = await lab.exec(host, argv, { timeoutMs: 30_000 + count * 50, ...(user ? { user } : {}) });
  const res = r.stdout.trim() ? parseLoop(r.stdout) : undefined;
  if (!res) throw new StepError(`connect-loop exit ${r.exitCode}: ${firstLine(r.stderr)}`);
  if (res.errors > 0) throw new StepError(`${res.errors} of ${count} connections failed (${res.firstError})`);
  return res;
}

/** Measures p50/p99 per path, `runs` runs of `latencyConnections`, paths interleaved; `nodelay` is the alternative with an interactive ssh. */
export async function measureLatency(lab: Lab, cfg: BenchConfig, paths: BenchPath[], log: (l: string) => void, nodelay?: BenchPath): Promise<Latency> {
  const target = { host: lab.addr.whoamiV4, port: lab.addr.whoamiPort };
  const entries = paths.map((p) => ({ key: p.info.id as string, p }));
  if (nodelay) entries.push({ key: 'alternative-nodelay', p: nodelay });
  const p50 = new Map<string, number[]>();
  const p99 = new Map<string, number[]>();
  const failed = new Map<string, string>();
  for (let run = 0; run < cfg.runs; run++) {
    for (const { key, p } of rotate(entries, run)) {
      if (p.tcpUnavailable || failed.has(key)) continue;
      try {
        const r = await along(p, () => connectLoop(lab, 'client', p.prefix, target, cfg.latencyConnections, { warmup: LATENCY_WARMUP, ...(p.user ? { user: p.user } : {}) }));
        p50.set(key, [...(p50.get(key) ?? []), percentile(r.ms, 50)]);
        p99.set(key, [...(p99.get(key) ?? []), percentile(r.ms, 99)]);
        log(`latency ${key} run ${run + 1}/${cfg.runs}: p50 ${percentile(r.ms, 50).toFixed(3)} ms, p99 ${percentile(r.ms, 99).toFixed(3)} ms`);
      } catch (e) {
        failed.set(key, reasonOf(e));
        log(`latency ${key}: ${reasonOf(e)}`);
      }
    }
  }
  const fig = (key: string, p: BenchPath, m: Map<string, number[]>) => {
    const na = p.tcpUnavailable ?? failed.get(key);
    return na ? unavailable(na) : measured('ms', m.get(key) ?? []);
  };
  const out: Latency = { connections: cfg.latencyConnections, runs: cfg.runs, target: `whoami ${target.host}:${target.port}`, p50: {}, p99: {} };
  for (const { key, p } of entries) {
    if (key === 'alternative-nodelay') out.alternativeNoDelay = { p50: fig(key, p, p50), p99: fig(key, p, p99) };
    else {
      (out.p50 as PathFigures)[p.info.id] = fig(key, p, p50);
      (out.p99 as PathFigures)[p.info.id] = fig(key, p, p99);
    }
  }
  return out;
}
