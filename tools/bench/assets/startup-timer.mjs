// Times program start-up: runs two argvs alternately N times each (spawnSync), prints {"a":[ms…],"b":[ms…]}.
// Usage: node startup-timer.mjs N 'ARGV_A_JSON' 'ARGV_B_JSON'   (exit 1 with the reason when a run fails)
import { spawnSync } from 'node:child_process';

const [nText, aText, bText] = process.argv.slice(2);
const n = Number(nText);
const a = JSON.parse(aText ?? '[]');
const b = JSON.parse(bText ?? '[]');
if (!Number.isInteger(n) || n < 1 || !a.length || !b.length) {
  process.stderr.write("usage: startup-timer.mjs N '[\"argv\",…]' '[\"argv\",…]'\n");
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

// One warm-up each (page cache), then alternate so drift affects both alike.
time(a);
time(b);
const out = { a: [], b: [] };
for (let i = 0; i < n; i++) {
  out.a.push(time(a));
  out.b.push(time(b));
}
process.stdout.write(`${JSON.stringify(out)}\n`);
