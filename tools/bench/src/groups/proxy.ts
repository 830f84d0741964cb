// Group 5: `egress-client proxy` against run-as through the same tunnel and against `ssh -D`, in the same run: TCP
// throughput (iperf3 through proxychains4 to each SOCKS5 server) and connect-to-first-byte p50 (connect-loop likewise).
// Two floor paths, the least a SOCKS5 relay can do bound to the same tunnel address, split the proxy's cost over run-as:
// assets/socks-floor.c (native, splice) is what any user-space SOCKS hop costs here, assets/socks-floor.mjs what a Node
// relay adds to that, and egress-client proxy over socks-floor.mjs is the proxy's own share.
import type { Lab, LabProcess } from '@egress/lab';
import { LATENCY_WARMUP, type BenchConfig } from '../config.js';
import { iperfArgv, IperfServer, parseIperf, retryBusy } from '../iperf.js';
import { assetPath, must, reasonOf, stop, waitForOutput } from '../lab-run.js';
import { connectLoop } from './latency.js';
import { proxychainsConf, type BenchPath } from '../paths.js';
import { measured, unavailable, type Figure, type ProxyBench, type ProxyPathId } from '../results.js';
import { percentile, rotate } from '../stats.js';

const IPERF_PORT = 5202;
const PROXY_PORT = 1090;
const PROXY_CONF = '/tmp/egress-bench-proxychains-egress-proxy.conf';
const FLOOR_PORT = 1091;
const FLOOR_CONF = '/tmp/egress-bench-proxychains-floor.conf';
const NATIVE_PORT = 1092;
const NATIVE_CONF = '/tmp/egress-bench-proxychains-floor-c.conf';
const NATIVE_BIN = '/tmp/egress-bench-socks-floor-c';

interface Path {
  id: ProxyPathId;
  prefix: string[];
  user?: string;
  unavailable?: string;
}

/** Starts `egress-client proxy` in the client on 127.0.0.1:PROXY_PORT and a proxychains config pointing at it. */
async function startProxy(lab: Lab): Promise<LabProcess> {
  await must(lab, 'client', ['sh', '-c', `cat > ${PROXY_CONF}`], { stdin: proxychainsConf(PROXY_PORT) });
  const proc = lab.spawn('client', [...lab.egressClientArgv, 'proxy', '--listen', `127.0.0.1:${PROXY_PORT}`]);
  try {
    await waitForOutput(proc, /proxy: SOCKS5 and HTTP on/, 20_000);
  } catch (e) {
    await stop(proc);
    throw new Error(`egress-client proxy did not start: ${reasonOf(e)}; it said: ${proc.output().trim().split('\n').pop() ?? ''}`);
  }
  return proc;
}

/** The egress's tunnel IPv4 address (from its public facts file), which the floor relays bind. */
async function tunnelAddress(lab: Lab): Promise<string> {
  const facts = await must(lab, 'client', ['sh', '-c', 'cat /etc/egress/public/*.json']);
  const bind = /"address4"\s*:\s*"([0-9.]+)"/.exec(facts)?.[1];
  if (!bind) throw new Error('no tunnel IPv4 address in /etc/egress/public');
  return bind;
}

/** Starts a floor relay (`argv` PORT BIND) on 127.0.0.1:`port` and a proxychains config pointing at it. */
async function startRelay(lab: Lab, name: string, argv: string[], port: number, conf: string): Promise<LabProcess> {
  const bind = await tunnelAddress(lab);
  await must(lab, 'client', ['sh', '-c', `cat > ${conf}`], { stdin: proxychainsConf(port) });
  const proc = lab.spawn('client', [...argv, String(port), bind]);
  try {
    await waitForOutput(proc, /READY/, 10_000);
  } catch (e) {
    await stop(proc);
    throw new Error(`${name} did not start: ${reasonOf(e)}`);
  }
  return proc;
}

/** The Node floor: assets/socks-floor.mjs. */
const startFloor = (lab: Lab) => startRelay(lab, 'socks-floor.mjs', [process.execPath, assetPath('socks-floor.mjs')], FLOOR_PORT, FLOOR_CONF);

/** The native floor: assets/socks-floor.c, compiled for this run (gcc is in tools/setup.sh for the shim). */
async function startNativeFloor(lab: Lab): Promise<LabProcess> {
  await must(lab, 'client', ['gcc', '-O2', '-o', NATIVE_BIN, assetPath('socks-floor.c'), '-lpthread']);
  return startRelay(lab, 'socks-floor.c', [NATIVE_BIN], NATIVE_PORT, NATIVE_CONF);
}

/** Measures the five paths, runs interleaved; `runAs` and `sshD` are the bench's existing paths (with their availability). */
export async function measureProxy(lab: Lab, cfg: BenchConfig, runAs: BenchPath, sshD: BenchPath, log: (l: string) => void): Promise<ProxyBench> {
  const procs: LabProcess[] = [];
  const paths: Path[] = [
    { id: 'run-as', prefix: runAs.prefix, ...(runAs.user ? { user: runAs.user } : {}), ...(runAs.tcpUnavailable ? { unavailable: runAs.tcpUnavailable } : {}) },
    { id: 'proxy', prefix: ['proxychains4', '-q', '-f', PROXY_CONF] },
    { id: 'floor', prefix: ['proxychains4', '-q', '-f', FLOOR_CONF] },
    { id: 'floor-c', prefix: ['proxychains4', '-q', '-f', NATIVE_CONF] },
    { id: 'ssh-d', prefix: sshD.prefix, ...(sshD.tcpUnavailable ? { unavailable: sshD.tcpUnavailable } : {}) },
  ];
  for (const [path, start] of [
    [paths[1]!, startProxy],
    [paths[2]!, startFloor],
    [paths[3]!, startNativeFloor],
  ] as const) {
    if (runAs.tcpUnavailable) path.unavailable = runAs.tcpUnavailable;
    else {
      try {
        procs.push(await start(lab));
        const seen = await lab.probe('client', { prefix: path.prefix });
        if (seen !== lab.addr.vpsV4) path.unavailable = `path check failed: whoami saw ${seen}, expected ${lab.addr.vpsV4}`;
      } catch (e) {
        path.unavailable = reasonOf(e);
      }
    }
    log(`${path.id} path: ${path.unavailable ?? 'ok'}`);
  }
  const tput = new Map<string, number[]>();
  const p50 = new Map<string, number[]>();
  // A failed run is logged and skipped (iperf3 through proxychains now and then loses its control connection under
  // load, through the floor relay as well as the proxy); a path is dropped after two failures, and is n/a only when
  // no run of it succeeded.
  const failed = new Map<string, string>();
  const failures = new Map<string, number>();
  const fail = (k: string, e: unknown) => {
    failed.set(k, reasonOf(e));
    failures.set(k, (failures.get(k) ?? 0) + 1);
  };
  const dropped = (k: string) => (failures.get(k) ?? 0) >= 2;
  const add = (m: Map<string, number[]>, k: string, v: number) => m.set(k, [...(m.get(k) ?? []), v]);
  const server = new IperfServer(lab, 'internet', lab.addr.whoamiV4, IPERF_PORT);
  await server.start();
  try {
    for (let run = 0; run < cfg.throughputRuns; run++) {
      for (const test of ['tcp-up', 'tcp-down'] as const) {
        for (const p of rotate(paths, run)) {
          const k = `${test}/${p.id}`;
          if (p.unavailable || dropped(k)) continue;
          const argv = [...p.prefix, ...iperfArgv({ server: lab.addr.whoamiV4, port: IPERF_PORT, seconds: cfg.iperfSeconds, reverse: test === 'tcp-down' })];
          try {
            const r = await retryBusy(async () => parseIperf(await must(lab, 'client', argv, { timeoutMs: (cfg.iperfSeconds + 20) * 1000, ...(p.user ? { user: p.user } : {}) })));
            add(tput, k, r.mbps);
            log(`proxy group ${test} ${p.id} run ${run + 1}/${cfg.throughputRuns}: ${r.mbps.toFixed(0)} Mbit/s`);
          } catch (e) {
            fail(k, e);
            log(`proxy group ${test} ${p.id} run ${run + 1}/${cfg.throughputRuns}: ${reasonOf(e)}`);
            await server.start();
          }
        }
      }
    }
  } finally {
    await server.stop();
  }
  const target = { host: lab.addr.whoamiV4, port: lab.addr.whoamiPort };
  // Three times the latency group's rounds of a third of its connections each: the paths alternate every few hundred
  // connections, so a burst of load from elsewhere on the machine falls on all of them rather than on one path's run.
  const rounds = cfg.runs * 3;
  const perRound = Math.ceil(cfg.latencyConnections / 3);
  const overRunAs = new Map<string, number[]>();
  try {
    for (let run = 0; run < rounds; run++) {
      const round = new Map<ProxyPathId, number>();
      // The sub-millisecond paths back to back (about a second each), in a rotating order; ssh -D (~44 ms per
      // connection, many seconds a round) after them, so it never sits between run-as and a path paired with it.
      const slow = paths.filter((p) => p.id === 'ssh-d');
      for (const p of [...rotate(paths.filter((q) => q.id !== 'ssh-d'), run), ...slow]) {
        const k = `p50/${p.id}`;
        if (p.unavailable || dropped(k)) continue;
        try {
          const r = await connectLoop(lab, 'client', p.prefix, target, perRound, { warmup: LATENCY_WARMUP, ...(p.user ? { user: p.user } : {}) });
          add(p50, k, percentile(r.ms, 50));
          round.set(p.id, percentile(r.ms, 50));
          log(`proxy group latency ${p.id} run ${run + 1}/${rounds}: p50 ${percentile(r.ms, 50).toFixed(3)} ms`);
        } catch (e) {
          fail(k, e);
          log(`proxy group latency ${p.id} run ${run + 1}/${rounds}: ${reasonOf(e)}`);
        }
      }
      const base = round.get('run-as');
      if (base !== undefined) for (const [id, v] of round) if (id !== 'run-as') add(overRunAs, id, v - base);
    }
  } finally {
    for (const proc of procs) await stop(proc);
  }
  const figure = (k: string, p: Path, unit: string): Figure => {
    const samples = (k.startsWith('p50') ? p50 : tput).get(k) ?? [];
    const na = p.unavailable ?? (samples.length === 0 ? (failed.get(k) ?? 'no run succeeded') : undefined);
    return na ? unavailable(na) : measured(unit, samples);
  };
  const out: ProxyBench = { seconds: cfg.iperfSeconds, runs: cfg.throughputRuns, latencyRuns: rounds, connections: perRound, tcpUp: {}, tcpDown: {}, p50: {}, p50OverRunAs: {} };
  for (const p of paths) {
    out.tcpUp[p.id] = figure(`tcp-up/${p.id}`, p, 'Mbit/s');
    out.tcpDown[p.id] = figure(`tcp-down/${p.id}`, p, 'Mbit/s');
    out.p50[p.id] = figure(`p50/${p.id}`, p, 'ms');
    const paired = overRunAs.get(p.id);
    if (paired?.length) out.p50OverRunAs![p.id] = measured('ms', paired);
  }
  return out;
}
