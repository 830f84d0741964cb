// How much each measurement does: the full run (`npm run bench`, ~10 min on 2 cores) and the smoke run (CI).

/** Connections made and not counted before each latency run (JIT, ARP, conntrack warm-up). */
export const LATENCY_WARMUP = 10;

export interface BenchConfig {
  mode: 'full' | 'smoke';
  /** iperf3 -t per run. */
  iperfSeconds: number;
  /** iperf3 runs per path and test (shorter runs, more of them: pairs taken back to back resist the machine's other load). */
  throughputRuns: number;
  /** Runs per path of the latency and forward measurements. */
  runs: number;
  /** Sequential connections per latency run. */
  latencyConnections: number;
  /** Forward counts compared ("egress/10 vs egress/10,000"). */
  forwardsSmall: number;
  forwardsLarge: number;
  /** Sequential connections per conn/s run through a forward. */
  forwardConnections: number;
  /** Runs of `run-as … /bin/true` and `setpriv … /bin/true`. */
  startupRuns: number;
  /** Drifts repaired per kind (flush, delete table) with the supervisor running; seconds it is watched idle. */
  repairRuns: number;
  idleSeconds: number;
}

/** The configuration for a mode. */
export function configFor(mode: 'full' | 'smoke'): BenchConfig {
  if (mode === 'smoke') {
    return { mode, iperfSeconds: 1, throughputRuns: 1, runs: 1, latencyConnections: 50, forwardsSmall: 10, forwardsLarge: 10_000, forwardConnections: 50, startupRuns: 3, repairRuns: 3, idleSeconds: 3 };
  }
  return { mode, iperfSeconds: 2, throughputRuns: 5, runs: 3, latencyConnections: 1000, forwardsSmall: 10, forwardsLarge: 10_000, forwardConnections: 1000, startupRuns: 15, repairRuns: 25, idleSeconds: 20 };
}
