// `npm run bench -- wireguard|peers|egresses [--smoke]`: one speed group in its own lab; writes bench/results/<group>-<time>.{json,md}.
// The full `npm run bench` runs each of them too (measureSpeedGroup), after its own lab is down.
import { writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { startLab, type Lab } from '@egress/lab';
import type { BenchConfig } from '../config.js';
import { provisionArgv, setupEgress } from '../egress-setup.js';
import { measureEgresses } from '../groups/egresses.js';
import { measurePeers, PEERS_SUBNET } from '../groups/peers.js';
import { buildShippedServer } from '../groups/shipped-bundle.js';
import { measureWireguard } from '../groups/wireguard.js';
import { must, reasonOf, stop } from '../lab-run.js';
import { gitCommit, machineInfo } from '../machine.js';
import { checkPaths, definePaths, startSocks } from '../paths.js';
import { speedMarkdown, type SpeedResults } from './report.js';

/** The groups this runner knows; main.ts hands it any of these names. */
export const SPEED_GROUPS = ['wireguard', 'peers', 'egresses'] as const;
export type SpeedGroup = (typeof SPEED_GROUPS)[number];

/** Peers on the VPS in the `peers` group (smoke: fewer, so CI stays short). */
function peerCount(cfg: BenchConfig): number {
  return cfg.mode === 'smoke' ? 50 : 1000;
}

async function inLab<T>(name: string, log: (l: string) => void, fn: (lab: Lab) => Promise<T>): Promise<T> {
  const lab = await startLab({ name, log: (l) => log(`lab: ${l}`) });
  const onSignal = () => void lab.down().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  try {
    return await fn(lab);
  } finally {
    process.removeListener('SIGINT', onSignal);
    log('tearing the lab down');
    await lab.down();
  }
}

/** Measures one speed group in its own lab (bench-<group>) and returns its results. */
export async function measureSpeedGroup(group: SpeedGroup, cfg: BenchConfig, repo: string, log: (l: string) => void): Promise<SpeedResults> {
  const startedAt = new Date().toISOString();
  const commit = await gitCommit(repo);
  const res: SpeedResults = { group, mode: cfg.mode, startedAt, finishedAt: '', commit, machine: { ...machineInfo() } };
  await inLab(`bench-${group}`, log, async (lab) => {
    if (group === 'egresses') {
      res.egresses = await measureEgresses(lab, cfg, log);
      return;
    }
    if (group === 'peers') {
      // A /22 first, so ~1,000 peers fit; setupEgress's provision runs are then re-runs on it.
      await must(lab, 'client', [...provisionArgv(lab), '--subnet', PEERS_SUBNET], { timeoutMs: 600_000 });
    }
    const { setup } = await setupEgress(lab, log);
    if ('reason' in setup) throw new Error(`egress could not be set up: ${setup.reason}`);
    if (group === 'peers') {
      // The shipped form (build-deb.mjs's bundle) is timed next to the repository build, in the same run.
      const shipped = await buildShippedServer().catch((e: unknown) => ({ reason: reasonOf(e) }));
      res.peers = await measurePeers(lab, { ...cfg, peers: peerCount(cfg) }, log, shipped);
      return;
    }
    const paths = definePaths(lab, setup, lab.addr.whoamiV4).filter((p) => ['tunnel', 'run-as', 'alternative'].includes(p.info.id));
    const socks = await startSocks(lab).catch((e: unknown) => {
      paths.find((p) => p.info.id === 'alternative')!.tcpUnavailable = String(e);
      return undefined;
    });
    try {
      await checkPaths(lab, paths, log);
      res.wireguard = await measureWireguard(lab, cfg, setup, paths, log);
    } finally {
      await stop(socks);
    }
  });
  res.finishedAt = new Date().toISOString();
  return res;
}

/** Runs one speed group alone and writes its results; returns the markdown path. */
export async function runSpeedGroup(group: SpeedGroup, cfg: BenchConfig, resultsDir: string, repo: string, log: (l: string) => void): Promise<string> {
  const res = await measureSpeedGroup(group, cfg, repo, log);
  const startedAt = res.startedAt;
  const stamp = startedAt.replace(/:/g, '-').replace(/\.\d+Z$/, 'Z');
  const base = join(resultsDir, `${cfg.mode === 'smoke' ? 'smoke-' : ''}${group}-${stamp}`);
  writeFileSync(`${base}.json`, `${JSON.stringify(res, null, 2)}\n`);
  const md = speedMarkdown(res);
  writeFileSync(`${base}.md`, md);
  process.stdout.write(md);
  log(`wrote ${relative(repo, base)}.json and .md`);
  return `${base}.md`;
}
