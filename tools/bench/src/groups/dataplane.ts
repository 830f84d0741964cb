// Group 1: iperf3 throughput (TCP and UDP, both directions) from the client to the internet host over each path.
import type { Lab } from '@egress/lab';
import type { BenchConfig } from '../config.js';
import { iperfArgv, IperfServer, parseIperf, retryBusy, type IperfResult } from '../iperf.js';
import { must, reasonOf } from '../lab-run.js';
import { along, type BenchPath } from '../paths.js';
import { measured, unavailable, THROUGHPUT_TESTS, type Dataplane, type Figure, type PathFigures, type ThroughputTest } from '../results.js';
import { median, mirror } from '../stats.js';

const IPERF_PORT = 5201;

/**
 * Measures every path × test, `runs` times, the paths back to back in report order (tunnel right before run-as) and reversed every
 * other run, so each egress path and the tunnel run in ABBA order over two runs and a steady drift favours neither.
 */
export async function measureDataplane(lab: Lab, cfg: BenchConfig, paths: BenchPath[], log: (l: string) => void): Promise<Dataplane> {
  const server = new IperfServer(lab, 'internet', lab.addr.whoamiV4, IPERF_PORT);
  const samples = new Map<string, IperfResult[]>();
  const failures = new Map<string, string>();
  const key = (t: ThroughputTest, p: BenchPath) => `${t}/${p.info.id}`;
  await server.start();
  try {
    for (let run = 0; run < cfg.throughputRuns; run++) {
      for (const test of THROUGHPUT_TESTS) {
        const udp = test.startsWith('udp');
        for (const p of mirror(paths, run)) {
          if ((udp ? p.udpUnavailable : p.tcpUnavailable) || failures.has(key(test, p))) continue;
          const argv = [...p.prefix, ...iperfArgv({ server: lab.addr.whoamiV4, port: IPERF_PORT, seconds: cfg.iperfSeconds, udp, reverse: test.endsWith('down') })];
          try {
            const r = await retryBusy(async () =>
              parseIperf(await along(p, () => must(lab, 'client', argv, { timeoutMs: (cfg.iperfSeconds + 20) * 1000, ...(p.user ? { user: p.user } : {}) }))),
            );
            samples.set(key(test, p), [...(samples.get(key(test, p)) ?? []), r]);
            log(`${test} ${p.info.id} run ${run + 1}/${cfg.throughputRuns}: ${r.mbps.toFixed(0)} Mbit/s${r.lossPercent !== undefined ? `, ${r.lossPercent.toFixed(1)}% lost` : ''}`);
          } catch (e) {
            // iperf3's server can stay busy after a failed client: restart it, keep the reason, skip this path+test.
            failures.set(key(test, p), reasonOf(e));
            log(`${test} ${p.info.id}: ${reasonOf(e)}`);
            await server.start();
          }
        }
      }
    }
  } finally {
    await server.stop();
  }
  const throughput: Partial<Record<ThroughputTest, PathFigures>> = {};
  for (const test of THROUGHPUT_TESTS) {
    const figs: PathFigures = {};
    for (const p of paths) {
      const na = (test.startsWith('udp') ? p.udpUnavailable : p.tcpUnavailable) ?? failures.get(key(test, p));
      figs[p.info.id] = na ? unavailable(na) : figureOf(samples.get(key(test, p)) ?? []);
    }
    throughput[test] = figs;
  }
  return { paths: paths.map((p) => p.info), seconds: cfg.iperfSeconds, runs: cfg.throughputRuns, throughput };
}

function figureOf(rs: IperfResult[]): Figure {
  const extra: Record<string, number> = {};
  const pick = (f: (r: IperfResult) => number | undefined) => rs.map(f).filter((v): v is number => v !== undefined);
  const loss = pick((r) => r.lossPercent);
  const cpuL = pick((r) => r.cpuLocal);
  const cpuR = pick((r) => r.cpuRemote);
  if (loss.length) extra.lossPercent = median(loss);
  if (cpuL.length) extra.cpuLocalPercent = median(cpuL);
  if (cpuR.length) extra.cpuRemotePercent = median(cpuR);
  return measured('Mbit/s', rs.map((r) => r.mbps), extra);
}
