// Group 2: TCP connect + first byte to the whoami service, N sequential connections per run, over each path.
import type { Lab } from '@egress/lab';
import { LATENCY_WARMUP, type BenchConfig } from '../config.js';
import { assetPath, firstLine, reasonOf, StepError } from '../lab-run.js';
import { along, type BenchPath } from '../paths.js';
import { measured, unavailable, type Latency, type PathFigures } from '../results.js';
import { percentile } from '../stats.js';

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

/** Measures p50/p99 per path, `runs` runs of `latencyConnections`, paths interleaved. */
export async function measureLatency(lab: Lab, cfg: BenchConfig, paths: BenchPath[], log: (l: string) => void): Promise<Latency> {
  const target = { host: lab.addr.whoamiV4, port: lab.addr.whoamiPort };
  const p50 = new Map<string, number[]>();
  const p99 = new Map<string, number[]>();
  const failed = new Map<string, string>();
  for (let run = 0; run < cfg.runs; run++) {
    for (const p of paths) {
      const id = p.info.id;
      if (p.tcpUnavailable || failed.has(id)) continue;
      try {
        const r = await along(p, () => connectLoop(lab, 'client', p.prefix, target, cfg.latencyConnections, { warmup: LATENCY_WARMUP, ...(p.user ? { user: p.user } : {}) }));
        p50.set(id, [...(p50.get(id) ?? []), percentile(r.ms, 50)]);
        p99.set(id, [...(p99.get(id) ?? []), percentile(r.ms, 99)]);
        log(`latency ${id} run ${run + 1}/${cfg.runs}: p50 ${percentile(r.ms, 50).toFixed(3)} ms, p99 ${percentile(r.ms, 99).toFixed(3)} ms`);
      } catch (e) {
        failed.set(id, reasonOf(e));
        log(`latency ${id}: ${reasonOf(e)}`);
      }
    }
  }
  const out: Latency = { connections: cfg.latencyConnections, runs: cfg.runs, target: `whoami ${target.host}:${target.port}`, p50: {}, p99: {} };
  for (const p of paths) {
    const id = p.info.id;
    const na = p.tcpUnavailable ?? failed.get(id);
    (out.p50 as PathFigures)[id] = na ? unavailable(na) : measured('ms', p50.get(id) ?? []);
    (out.p99 as PathFigures)[id] = na ? unavailable(na) : measured('ms', p99.get(id) ?? []);
  }
  return out;
}
