// Times program start-up: runs several argvs in turn N times each (spawnSync), prints {"runs":[[ms…] per argv]}.
// Usage: node startup-timer.mjs N 'ARGV_JSON' ['ARGV_JSON'…]   (exit 1 with the reason when a run fails)
import { spawnSync } from 'node:child_process';

const [nText, ...argvTexts] = process.argv.slice(2);
const n = Number(nText);
const argvs = argvTexts.map((t) => JSON.parse(t));
if (!Number.isInteger(n) || n < 1 || argvs.length === 0 || argvs.some((a) => !Array.isArray(a) || a.length === 0)) {
  process.stderr.write("usage: startup-timer.mjs N '[\"argv\",…]' ['[\"argv\",…]'…]\n");
  process.exit(2);
}

function time(argv) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.error || r.status !== 0) {
    process.stderr.write(`${argv.join(' ')}: ${r.error?.message ?? `exit ${r.status}`}: ${(r.stderr ?? '').trim().split('\n')[0]}\n`);
    process.exit(1);
  }
  return Math.round(ms * 1000) / 1000;
}

// One warm-up each (page cache), then take turns so drift affects all alike.
for (const a of argvs) time(a);
const runs = argvs.map(() => []);
for (let i = 0; i < n; i++) argvs.forEach((a, k) => runs[k].push(time(a)));
process.stdout.write(`${JSON.stringify({ runs })}\n`);
