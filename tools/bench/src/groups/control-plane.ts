// Group 4 (the parts not timed during set-up): run-as start-up over setpriv, and the shim's cost per connect().
import { existsSync, readFileSync } from 'node:fs';
import type { Lab } from '@egress/lab';
import type { BenchConfig } from '../config.js';
import { missingCli } from '../egress-setup.js';
import { assetPath, firstLine, reasonOf, StepError } from '../lab-run.js';
import { measured, unavailable, type Figure } from '../results.js';

/** Start-up figures: run-as, setpriv, their per-run difference, and a bare Node.js start for comparison. */
export interface StartupFigures {
  runAsStartup: Figure;
  setprivStartup: Figure;
  runAsAdded: Figure;
  nodeStartup: Figure;
}

/** Times `egress-client run-as appuser -- /bin/true` against `setpriv … /bin/true` (and `node -e 0`) inside the client host. */
export async function measureStartup(lab: Lab, cfg: BenchConfig, enrolled: string | undefined, log: (l: string) => void): Promise<StartupFigures> {
  const why = (await missingCli(lab, 'client')) ?? enrolled;
  if (why) return { runAsStartup: unavailable(why), setprivStartup: unavailable(why), runAsAdded: unavailable(why), nodeStartup: unavailable(why) };
  const runAs = [...lab.egressClientArgv, 'run-as', 'appuser', '--', '/bin/true'];
  const setpriv = ['setpriv', '--reuid', 'appuser', '--regid', 'appuser', '--init-groups', '/bin/true'];
  const node = [process.execPath, '-e', '0'];
  try {
    const argv = [process.execPath, assetPath('startup-timer.mjs'), String(cfg.startupRuns), ...[runAs, setpriv, node].map((a) => JSON.stringify(a))];
    const r = await lab.exec('client', argv, { timeoutMs: 60_000 + cfg.startupRuns * 5000 });
    if (r.exitCode !== 0) throw new StepError(firstLine(r.stderr) || `exit ${r.exitCode}`);
    const [a, b, c] = (JSON.parse(r.stdout) as { runs: number[][] }).runs as [number[], number[], number[]];
    const added = a.map((x, i) => x - b[i]!);
    log(`run-as start-up: ${a.join(', ')} ms; setpriv: ${b.join(', ')} ms; node -e 0: ${c.join(', ')} ms`);
    return {
      runAsStartup: measured('ms', a),
      setprivStartup: measured('ms', b),
      runAsAdded: measured('ms', added, undefined, 'run-as added start-up = run-as time minus setpriv time, per run (the programs take turns), all timed with spawnSync inside the client host.'),
      nodeStartup: measured('ms', c),
    };
  } catch (e) {
    const na = unavailable(`run-as start-up: ${reasonOf(e)}`);
    return { runAsStartup: na, setprivStartup: na, runAsAdded: na, nodeStartup: na };
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
