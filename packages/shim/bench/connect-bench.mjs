#!/usr/bin/env node
// Benchmark: the shim's added cost per connect(), in ns (median of many), against the same loop without the shim.
// Runs in a throwaway network namespace (unshare -n, needs root) so the shim takes its real path (bind to the
// egress address + SO_BINDTODEVICE) to a non-loopback listener; also measures the loopback pass-through.
// Writes bench/results/shim-connect.json at the repo root.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const pkg = join(here, '..');
const repo = join(pkg, '..', '..');
const shim = join(pkg, 'build', 'libegress-shim.so');
const ITER = Number(process.env.BENCH_ITERATIONS ?? 10000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9);

if (process.getuid?.() !== 0) {
  console.error('shim bench: needs root (it builds a throwaway network namespace with unshare -n)');
  process.exit(1);
}
if (!existsSync(shim)) {
  console.error(`shim bench: ${shim} is missing; run npm run build -w @egress/shim first`);
  process.exit(1);
}

const work = mkdtempSync(join(tmpdir(), 'egress-shim-bench-'));
const bin = join(work, 'connect-bench');
execFileSync('cc', ['-O2', '-pthread', '-o', bin, join(here, 'connect-bench.c')]);

const SETUP = [
  'set -e',
  'ip link set lo up',
  'ip link add eg0 type veth peer name eg0p',
  'ip link set eg0p up',
  'ip link set eg0 up',
  'ip addr add 10.99.0.1/24 dev eg0',
  'ip addr add 10.99.0.2/24 dev eg0',
  'exec "$@"',
].join('\n');

/** One run of the C loop in a fresh namespace; returns its JSON line. */
function runOnce(dest, port, withShim, proto) {
  const env = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' };
  if (withShim) Object.assign(env, { LD_PRELOAD: shim, EGRESS_BIND_V4: '10.99.0.2', EGRESS_BIND_IFACE: 'eg0' });
  const r = spawnSync('unshare', ['-n', 'sh', '-c', SETUP, 'bench', bin, dest, String(port), String(ITER), proto], { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`bench run failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim());
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const cases = {
  baseline: { dest: '10.99.0.1', shim: false, proto: 'tcp' },
  shim: { dest: '10.99.0.1', shim: true, proto: 'tcp' },
  udpBaseline: { dest: '10.99.0.1', shim: false, proto: 'udp' },
  udpShim: { dest: '10.99.0.1', shim: true, proto: 'udp' },
  loopbackBaseline: { dest: '127.0.0.1', shim: false, proto: 'tcp' },
  loopbackShim: { dest: '127.0.0.1', shim: true, proto: 'tcp' },
};
const runs = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
try {
  // Interleave the cases round by round so drift (CPU frequency, other load) hits them alike.
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, c] of Object.entries(cases)) runs[name].push(runOnce(c.dest, 7400 + round, c.shim, c.proto));
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

const summary = Object.fromEntries(Object.entries(runs).map(([k, rs]) => [k, { medianNs: median(rs.map((r) => r.medianNs)), runs: rs.map((r) => r.medianNs), source: rs[0].source }]));
// Paired per-round differences (same round, same conditions): their median is the added cost, their spread the noise.
const addedNsSamples = runs.shim.map((r, i) => r.medianNs - runs.baseline[i].medianNs);
const udpAddedNsSamples = runs.udpShim.map((r, i) => r.medianNs - runs.udpBaseline[i].medianNs);
const loopbackAddedNsSamples = runs.loopbackShim.map((r, i) => r.medianNs - runs.loopbackBaseline[i].medianNs);
const sourcesOk = summary.shim.source === '10.99.0.2' && summary.udpShim.source === '10.99.0.2' && summary.baseline.source === '10.99.0.1';
const result = {
  benchmark: 'shim-connect',
  description: 'ns per blocking TCP connect() to a listener in the same network namespace; median over runs of the per-run median',
  date: new Date().toISOString(),
  host: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', kernel: execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim(), node: process.version },
  iterationsPerRun: ITER,
  runsPerCase: ROUNDS,
  unit: 'ns',
  method: `median ns of ${ITER} blocking TCP connect() calls per run to a non-loopback listener in a throwaway netns, ${ROUNDS} interleaved runs with and without the shim; added = per-round paired difference (udp: connect() of a UDP socket, no packet sent, isolates the shim's own work)`,
  baselineNs: summary.baseline.medianNs,
  shimNs: summary.shim.medianNs,
  addedNs: median(addedNsSamples),
  addedNsSamples,
  ratio: Number((summary.shim.medianNs / summary.baseline.medianNs).toFixed(3)),
  udp: {
    baselineNs: summary.udpBaseline.medianNs,
    shimNs: summary.udpShim.medianNs,
    addedNs: median(udpAddedNsSamples),
    addedNsSamples: udpAddedNsSamples,
    ratio: Number((summary.udpShim.medianNs / summary.udpBaseline.medianNs).toFixed(3)),
  },
  loopback: {
    baselineNs: summary.loopbackBaseline.medianNs,
    shimNs: summary.loopbackShim.medianNs,
    addedNs: median(loopbackAddedNsSamples),
    addedNsSamples: loopbackAddedNsSamples,
    ratio: Number((summary.loopbackShim.medianNs / summary.loopbackBaseline.medianNs).toFixed(3)),
  },
  check: { shimSource: summary.shim.source, baselineSource: summary.baseline.source, ok: sourcesOk },
  cases: summary,
};
const out = join(repo, 'bench', 'results', 'shim-connect.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
console.log(`connect(): ${result.baselineNs} ns without the shim, ${result.shimNs} ns with it (bind to the egress address + SO_BINDTODEVICE): +${result.addedNs} ns median of paired rounds (${Math.min(...addedNsSamples)}..${Math.max(...addedNsSamples)}), x${result.ratio}`);
console.log(`udp connect(): ${result.udp.baselineNs} ns -> ${result.udp.shimNs} ns: +${result.udp.addedNs} ns (${Math.min(...udpAddedNsSamples)}..${Math.max(...udpAddedNsSamples)}), x${result.udp.ratio}`);
console.log(`loopback (passed through): ${result.loopback.baselineNs} ns -> ${result.loopback.shimNs} ns (+${result.loopback.addedNs} ns)`);
console.log(`wrote ${out}`);
if (!sourcesOk) {
  console.error(`shim bench: unexpected source addresses (shim ${summary.shim.source}, baseline ${summary.baseline.source})`);
  process.exit(1);
}
