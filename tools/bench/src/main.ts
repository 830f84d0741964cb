#!/usr/bin/env node
// `npm run bench`: measures egress in one lab, then each speed group (wireguard, peers, egresses) in its own lab, and writes
// bench/results/<time>.json, its charts and docs/BENCHMARKS.md.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startLab, type Lab, type LabProcess } from '@egress/lab';
import { renderCharts } from './chart.js';
import { configFor, type BenchConfig } from './config.js';
import { setupEgress } from './egress-setup.js';
import { measureDataplane } from './groups/dataplane.js';
import { measureForwards } from './groups/forwards.js';
import { measureLatency } from './groups/latency.js';
import { measureProxy } from './groups/proxy.js';
import { measureStartup, readShimConnect } from './groups/control-plane.js';
import { measureSupervisor } from './groups/supervisor.js';
import { reasonOf, stop } from './lab-run.js';
import { gitCommit, machineInfo, toolVersions } from './machine.js';
import { checkPaths, definePaths, noDelayPath, SOCKS, startSocks } from './paths.js';
import { Notes, proxySection, renderReport } from './report.js';
import { BenchResults } from './results.js';

const REPO = fileURLToPath(new URL('../../..', import.meta.url));
const RESULTS = join(REPO, 'bench/results');
const DOC = join(REPO, 'docs/BENCHMARKS.md');
const LAB_NAME = 'bench';

const USAGE = `usage: npm run bench [-- [GROUP] --smoke] | node tools/bench/dist/main.js [GROUP] [--smoke] [--report FILE.json]
  GROUP          only one speed group in its own lab: wireguard (offload vs old wireguard-go), peers (1,000 peers),
                 egresses (8 egresses on one client); writes bench/results/GROUP-<time>.{json,md} (a full run runs all three)
  --smoke        one short pass of everything, the speed groups too (CI); writes bench/results/smoke-*.{json,md,svg}, not docs/
  --report FILE  only re-render docs/BENCHMARKS.md and the charts from an existing results file
  --only proxy   only the proxy group (with --smoke: its short pass); prints its section and JSON, writes nothing`;

const t0 = Date.now();
function log(line: string): void {
  process.stderr.write(`[bench ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${line}\n`);
}

/** Runs every measurement group inside one lab; the lab is torn down at the end, also on failure and Ctrl-C. */
async function measure(cfg: BenchConfig): Promise<BenchResults> {
  const startedAt = new Date().toISOString();
  const loadStart = loadavg()[0]!;
  const [versions, commit] = await Promise.all([toolVersions(), gitCommit(REPO)]);
  let lab: Lab | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    log(`${sig}: tearing the lab down`);
    void (lab ? lab.down() : Promise.resolve()).finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    log(`starting lab '${LAB_NAME}' (${cfg.mode} run)`);
    lab = await startLab({ name: LAB_NAME, log: (l) => log(`lab: ${l}`) });
    const { setup, figures } = await setupEgress(lab, log);
    const paths = definePaths(lab, setup, lab.addr.whoamiV4);
    const alt = paths.find((p) => p.info.id === 'alternative')!;
    const nodelay = noDelayPath(alt);
    const socks: LabProcess[] = [];
    for (const [v, path] of [[SOCKS.plain, alt], [SOCKS.nodelay, nodelay]] as const) {
      try {
        socks.push(await startSocks(lab, v));
      } catch (e) {
        path.tcpUnavailable = path.udpUnavailable = reasonOf(e);
      }
    }
    try {
      await checkPaths(lab, [...paths, nodelay], log);
      const dataplane = await measureDataplane(lab, cfg, paths, log);
      const latency = await measureLatency(lab, cfg, paths, log, nodelay);
      const forwards = await measureForwards(lab, cfg, setup, log);
      const proxy = await measureProxy(lab, cfg, paths.find((p) => p.info.id === 'run-as')!, alt, log);
      const startup = await measureStartup(lab, cfg, 'reason' in setup ? setup.reason : undefined, log);
      const supervisor = await measureSupervisor(lab, cfg, 'reason' in setup ? setup.reason : undefined, log);
      return BenchResults.parse({
        schema: 1,
        mode: cfg.mode,
        startedAt,
        finishedAt: new Date().toISOString(),
        commit,
        machine: { ...machineInfo(), loadStart, loadEnd: loadavg()[0]! },
        versions,
        dataplane,
        latency,
        forwards,
        controlPlane: { ...figures, ...startup, ...supervisor, shimConnect: readShimConnect(join(RESULTS, 'shim-connect.json')) },
        proxy,
      });
    } finally {
      for (const p of socks) await stop(p);
    }
  } finally {
    log('tearing the lab down');
    await lab?.down();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

/** Runs every speed group after the main lab is down, each in its own lab; a group that fails leaves its reason in groupErrors. */
async function measureSpeedGroups(res: BenchResults, cfg: BenchConfig): Promise<void> {
  const { measureSpeedGroup, SPEED_GROUPS } = await import('./speed/run.js');
  const errors: Record<string, string> = {};
  for (const group of SPEED_GROUPS) {
    log(`speed group '${group}' (its own lab)`);
    try {
      const r = await measureSpeedGroup(group, cfg, REPO, log);
      // Checked one group at a time, so a group whose results no longer fit the schema costs only its own section.
      const checked = BenchResults.safeParse({ ...res, [group]: r[group] });
      if (!r[group]) errors[group] = 'the group returned no results';
      else if (!checked.success) errors[group] = `its results do not fit the results schema: ${checked.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ').slice(0, 300)}`;
      else Object.assign(res, { [group]: r[group] });
    } catch (e) {
      errors[group] = reasonOf(e);
      log(`speed group '${group}' failed: ${errors[group]}`);
    }
  }
  Object.assign(res, BenchResults.parse({ ...res, finishedAt: new Date().toISOString(), ...(Object.keys(errors).length ? { groupErrors: errors } : {}) }));
}

/** `--only proxy`: the lab, the egress and the `ssh -D`, then only the proxy group (for working on the proxy's data path). */
async function measureProxyOnly(cfg: BenchConfig): Promise<void> {
  let lab: Lab | undefined;
  let socks: LabProcess | undefined;
  try {
    // Its own lab name, so it can run while a whole bench runs on the same machine.
    log(`starting lab 'bench-proxy' (proxy group only, ${cfg.mode})`);
    lab = await startLab({ name: 'bench-proxy', log: (l) => log(`lab: ${l}`) });
    const { setup } = await setupEgress(lab, log);
    const paths = definePaths(lab, setup, lab.addr.whoamiV4);
    const alt = paths.find((p) => p.info.id === 'alternative')!;
    try {
      socks = await startSocks(lab, SOCKS.plain);
    } catch (e) {
      alt.tcpUnavailable = alt.udpUnavailable = reasonOf(e);
    }
    const runAs = paths.find((p) => p.info.id === 'run-as')!;
    await checkPaths(lab, [runAs, alt], log);
    const proxy = await measureProxy(lab, cfg, runAs, alt, log);
    process.stdout.write(`${JSON.stringify(proxy)}\n\n${proxySection({ proxy } as BenchResults, new Notes())}`);
  } finally {
    await stop(socks);
    log('tearing the lab down');
    await lab?.down();
  }
}

/** Writes the charts next to the results and the markdown report; returns the report path. */
async function publish(res: BenchResults, jsonPath: string, mdPath: string, chartPrefix: string): Promise<void> {
  const charts = await renderCharts(res);
  const links: Record<string, string> = {};
  for (const [name, svg] of Object.entries(charts)) {
    const file = join(RESULTS, `${chartPrefix}${name}`);
    writeFileSync(file, svg);
    links[name] = relative(dirname(mdPath), file);
  }
  writeFileSync(mdPath, renderReport(res, { json: relative(dirname(mdPath), jsonPath), charts: links }));
  log(`wrote ${relative(REPO, mdPath)} and ${Object.keys(charts).length} chart(s)`);
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { smoke: { type: 'boolean' }, report: { type: 'string' }, only: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  mkdirSync(RESULTS, { recursive: true });
  if (values.report) {
    const res = BenchResults.parse(JSON.parse(readFileSync(values.report, 'utf8')));
    await publish(res, values.report, DOC, '');
    return 0;
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write('bench: run as root (the lab builds network namespaces)\n');
    return 1;
  }
  const cfg = configFor(values.smoke ? 'smoke' : 'full');
  if (values.only !== undefined) {
    if (values.only !== 'proxy') throw new Error(`--only: '${values.only}' is not a group that runs alone; only 'proxy' does`);
    await measureProxyOnly(cfg);
    return 0;
  }
  if (positionals.length) {
    const { runSpeedGroup, SPEED_GROUPS } = await import('./speed/run.js');
    const group = SPEED_GROUPS.find((g) => g === positionals[0]);
    if (!group || positionals.length > 1) {
      process.stderr.write(`bench: unknown group '${positionals.join(' ')}' (groups: ${SPEED_GROUPS.join(', ')})\n${USAGE}\n`);
      return 2;
    }
    await runSpeedGroup(group, cfg, RESULTS, REPO, log);
    return 0;
  }
  const res = await measure(cfg);
  await measureSpeedGroups(res, cfg);
  const stamp = res.startedAt.replace(/:/g, '-').replace(/\.\d+Z$/, 'Z');
  const prefix = cfg.mode === 'smoke' ? 'smoke-' : '';
  const jsonPath = join(RESULTS, `${prefix}${stamp}.json`);
  writeFileSync(jsonPath, `${JSON.stringify(res, null, 2)}\n`);
  log(`wrote ${relative(REPO, jsonPath)}`);
  await publish(res, jsonPath, cfg.mode === 'smoke' ? join(RESULTS, 'smoke-BENCHMARKS.md') : DOC, prefix);
  log(`done in ${((Date.now() - t0) / 60_000).toFixed(1)} min`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
