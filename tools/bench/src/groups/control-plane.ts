// Group 4 (the parts not timed during set-up): run-as start-up over setpriv, and the shim's cost per connect().
import { existsSync, readFileSync } from 'node:fs';
import type { Lab } from '@egress/lab';
import type { BenchConfig } from '../config.js';
import { missingCli } from '../egress-setup.js';
import { assetPath, firstLine, reasonOf, StepError } from '../lab-run.js';
import { measured, unavailable, type Figure } from '../results.js';

/** Start-up figures: run-as, setpriv, and their per-run difference. */
export interface StartupFigures {
  runAsStartup: Figure;
  setprivStartup: Figure;
  runAsAdded: Figure;
}

/** Times `egress-client run-as appuser -- /bin/true` against `setpriv … /bin/true` inside the client host. */
export async function measureStartup(lab: Lab, cfg: BenchConfig, enrolled: string | undefined, log: (l: string) => void): Promise<StartupFigures> {
  const why = missingCli(lab, 'client') ?? enrolled;
  if (why) return { runAsStartup: unavailable(why), setprivStartup: unavailable(why), runAsAdded: unavailable(why) };
  const runAs = [...lab.egressClientArgv, 'run-as', 'appuser', '--', '/bin/true'];
  const setpriv = ['setpriv', '--reuid', 'appuser', '--regid', 'appuser', '--init-groups', '/bin/true'];
  try {
    const r = await lab.exec('client', [process.execPath, assetPath('startup-timer.mjs'), String(cfg.startupRuns), JSON.stringify(runAs), JSON.stringify(setpriv)], {
      timeoutMs: 60_000 + cfg.startupRuns * 5000,
    });
    if (r.exitCode !== 0) throw new StepError(firstLine(r.stderr) || `exit ${r.exitCode}`);
    const { a, b } = JSON.parse(r.stdout) as { a: number[]; b: number[] };
    const added = a.map((x, i) => x - b[i]!);
    log(`run-as start-up: ${a.join(', ')} ms; setpriv: ${b.join(', ')} ms`);
    return {
      runAsStartup: measured('ms', a),
      setprivStartup: measured('ms', b),
      runAsAdded: measured('ms', added, undefined, 'run-as added start-up = run-as time minus setpriv time, per run pair (the two alternate), both timed with spawnSync inside the client host.'),
    };
  } catch (e) {
    const reason = `run-as start-up: ${reasonOf(e)}`;
    return { runAsStartup: unavailable(reason), setprivStartup: unavailable(reason), runAsAdded: unavailable(reason) };
  }
}

/** The shim's added ns per connect(), from the shim's own micro-benchmark (bench/results/shim-connect.json). */
export function readShimConnect(file: string): Figure {
  if (!existsSync(file)) return unavailable(`${file.replace(/^.*\/bench\//, 'bench/')} not found (the shim's micro-benchmark writes it)`);
  try {
    return shimFigure(JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>);
  } catch (e) {
    return unavailable(`bench/results/shim-connect.json unreadable: ${reasonOf(e)}`);
  }
}

/** Picks the added-ns figure out of the shim benchmark's JSON (field names as the shim writes them). */
export function shimFigure(j: Record<string, unknown>): Figure {
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  const added = j.addedNs as Record<string, unknown> | number | undefined;
  const samples = Array.isArray(j.addedNsSamples) ? (j.addedNsSamples as unknown[]).map(num).filter((v): v is number => v !== undefined) : [];
  const note = `From the shim's own micro-benchmark (bench/results/shim-connect.json${typeof j.method === 'string' ? `: ${j.method}` : ''}).`;
  if (samples.length) return measured('ns', samples, undefined, note);
  const m = typeof added === 'object' && added ? num(added.median) : num(added);
  if (m === undefined) throw new Error('no addedNs in the file');
  const min = typeof added === 'object' && added ? (num(added.min) ?? m) : m;
  const max = typeof added === 'object' && added ? (num(added.max) ?? m) : m;
  return { status: 'ok', unit: 'ns', samples: [m], n: num(j.runs) ?? 1, median: m, min, max, note };
}
