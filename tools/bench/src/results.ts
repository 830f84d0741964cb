// The results file of one bench run (bench/results/*.json): its schema, and helpers to build its figures.
import { z } from 'zod';
import { summarize } from './stats.js';
import type { PeersGroup } from './groups/peers.js';

/** A measured figure: every sample kept, with median/min/max over them. */
export const Measured = z
  .object({
    status: z.literal('ok'),
    unit: z.string(),
    samples: z.array(z.number()),
    n: z.number().int().positive(),
    median: z.number(),
    min: z.number(),
    max: z.number(),
    /** Side facts of the measurement (CPU use, loss), each a median over runs. */
    extra: z.record(z.string(), z.number()).optional(),
    note: z.string().optional(),
  })
  .strict();
export type Measured = z.infer<typeof Measured>;

/** A figure that could not be measured in this run, and why. Never a number. */
export const Unavailable = z.object({ status: z.literal('n/a'), reason: z.string().min(1) }).strict();
export type Unavailable = z.infer<typeof Unavailable>;

export const Figure = z.discriminatedUnion('status', [Measured, Unavailable]);
export type Figure = z.infer<typeof Figure>;

/** The paths traffic can take from the lab client, in report order. */
export const PATH_IDS = ['limit', 'tunnel', 'run-as', 'exec', 'run', 'alternative'] as const;
export const PathId = z.enum(PATH_IDS);
export type PathId = z.infer<typeof PathId>;
/** Label of the alternative through an interactive `ssh -tt -D` (ssh then sets TCP_NODELAY), measured for latency only. */
export const NODELAY_LABEL = 'ssh -tt -D (TCP_NODELAY) + proxychains4';
/** The egress paths compared against the tunnel and the alternative. */
export const EGRESS_PATHS: readonly PathId[] = ['run-as', 'exec', 'run'];

export const THROUGHPUT_TESTS = ['tcp-up', 'tcp-down', 'udp-up', 'udp-down'] as const;
export const ThroughputTest = z.enum(THROUGHPUT_TESTS);
export type ThroughputTest = z.infer<typeof ThroughputTest>;

const PathFigures = z.partialRecord(PathId, Figure);
export type PathFigures = Partial<Record<PathId, Figure>>;

export const PathInfo = z.object({ id: PathId, label: z.string(), method: z.string() }).strict();
export type PathInfo = z.infer<typeof PathInfo>;

export const Dataplane = z
  .object({
    paths: z.array(PathInfo),
    seconds: z.number(),
    runs: z.number().int(),
    throughput: z.partialRecord(ThroughputTest, PathFigures),
  })
  .strict();
export type Dataplane = z.infer<typeof Dataplane>;

export const Latency = z
  .object({
    connections: z.number().int(),
    runs: z.number().int(),
    target: z.string(),
    p50: PathFigures,
    p99: PathFigures,
    /** The alternative again with an interactive ssh (-tt), which sets TCP_NODELAY on its connection. */
    alternativeNoDelay: z.object({ p50: Figure, p99: Figure }).strict().optional(),
  })
  .strict();
export type Latency = z.infer<typeof Latency>;

export const FORWARD_SETUPS = ['egress-small', 'egress-large', 'rules-large'] as const;
export const ForwardSetup = z.enum(FORWARD_SETUPS);
export type ForwardSetup = z.infer<typeof ForwardSetup>;

export const Forwards = z
  .object({
    small: z.number().int(),
    large: z.number().int(),
    connections: z.number().int(),
    method: z.string(),
    connsPerSec: z.record(ForwardSetup, Figure),
    throughput: z.record(ForwardSetup, Figure),
    applyLarge: Figure,
    applyRules: Figure,
  })
  .strict();
export type Forwards = z.infer<typeof Forwards>;

/** The paths of the proxy group: run-as through the same tunnel, `egress-client proxy`, `ssh -D` (both via proxychains4). */
export const PROXY_PATH_IDS = ['run-as', 'proxy', 'floor', 'floor-c', 'ssh-d'] as const;
export const ProxyPathId = z.enum(PROXY_PATH_IDS);
export type ProxyPathId = z.infer<typeof ProxyPathId>;
const ProxyFigures = z.partialRecord(ProxyPathId, Figure);

export const ProxyBench = z
  .object({
    seconds: z.number(),
    runs: z.number().int(),
    latencyRuns: z.number().int(),
    connections: z.number().int(),
    tcpUp: ProxyFigures,
    tcpDown: ProxyFigures,
    p50: ProxyFigures,
    /** Per round, a path's p50 minus run-as's p50 in the same round (paired: a load burst that slows a round is taken out). */
    p50OverRunAs: ProxyFigures.optional(),
  })
  .strict();
export type ProxyBench = {
  seconds: number;
  runs: number;
  latencyRuns: number;
  connections: number;
  tcpUp: Partial<Record<ProxyPathId, Figure>>;
  tcpDown: Partial<Record<ProxyPathId, Figure>>;
  p50: Partial<Record<ProxyPathId, Figure>>;
  p50OverRunAs?: Partial<Record<ProxyPathId, Figure>>;
};

export const ControlPlane = z
  .object({
    provisionFirst: Figure,
    provisionRerun: Figure,
    roundTripsFirst: Figure,
    roundTripsRerun: Figure,
    enroll: Figure,
    runAsStartup: Figure,
    setprivStartup: Figure,
    runAsAdded: Figure,
    /** `node -e 0` alone, timed with the two above: what the runtime itself costs. */
    nodeStartup: Figure.optional(),
    shimConnect: Figure,
    /** The supervisor: repair latency after a flush / table deletion, idle CPU (%) and RSS (MiB). */
    repairFlush: Figure.optional(),
    repairDeleteTable: Figure.optional(),
    daemonIdleCpu: Figure.optional(),
    daemonRss: Figure.optional(),
  })
  .strict();
export type ControlPlane = z.infer<typeof ControlPlane>;

export const Machine = z
  .object({
    cpu: z.string(),
    cores: z.number().int(),
    memoryGiB: z.number(),
    kernel: z.string(),
    os: z.string(),
    /** 1-minute load average when the run started and ended (other work on the machine adds noise). */
    loadStart: z.number().optional(),
    loadEnd: z.number().optional(),
  })
  .strict();
export type Machine = z.infer<typeof Machine>;

/** The implementations the wireguard group compares: the offload-capable wireguard-go and Debian 12's 0.0.20220316. */
export const IMPL_IDS = ['offload', 'old'] as const;
const PerDir = z.object({ up: Figure, down: Figure }).strict();
const PerImplDir = z.object({ offload: PerDir, old: PerDir }).strict();

export const WireguardBench = z
  .object({
    seconds: z.number(),
    /** Pairs per implementation and direction (results before the paired design: runs per path). */
    runs: z.number().int(),
    impls: z.array(z.object({ id: z.enum(IMPL_IDS), binary: z.string(), version: z.string(), seen: z.string() }).strict()),
    /** Mbit/s of every counted transfer per implementation, path and direction. */
    throughput: z.object({ offload: z.object({ tunnel: PerDir, egress: PerDir }).strict(), old: z.object({ tunnel: PerDir, egress: PerDir }).strict() }).strict(),
    sshD: PerDir,
    cpuSecondsPerGiB: z.object({ offload: Figure, old: Figure }).strict(),
    /** The paired design (absent in older results): implementation per block, in order; tunnel/egress pairs per block and direction. */
    blocks: z.array(z.enum(IMPL_IDS)).optional(),
    pairsPerBlock: z.number().int().optional(),
    noisePairsPerBlock: z.number().int().optional(),
    warmupSeconds: z.number().optional(),
    /** Per-pair egress/tunnel ratios (each pair back to back, ABBA order). */
    egressOverTunnel: PerImplDir.optional(),
    /** Per-pair tunnel/tunnel ratios (second over first, back to back): the noise floor of the ratio above. */
    tunnelOverTunnel: PerImplDir.optional(),
    /** Tunnel offload/old per pair of adjacent blocks (offload block median over the old block's next to it). */
    offloadOverOld: PerDir.optional(),
    /** 1-minute load average when the group started. */
    load: z.number().optional(),
  })
  .strict();
export type WireguardBench = z.infer<typeof WireguardBench>;

/** The peers group as written by groups/peers.ts (its shape is owned there; checked here for the figures the report reads). */
const PeersShape = z.looseObject({ peers: z.number().int(), method: z.string(), peerAdd: Figure, status: Figure, statusOnePeer: Figure, rss: Figure, stallDuringAdd: Figure, stallBaseline: Figure });
export const PeersBench = z.custom<PeersGroup>((v) => PeersShape.safeParse(v).success, { message: 'peers: not a peers group (peers, method, peerAdd, status, rss, stall figures)' });

/** Several egresses on one client, each to its own stand-in VPS (groups/egresses.ts). */
export const EgressesBench = z
  .object({
    count: z.number().int(),
    method: z.string(),
    /** Per egress: the address its user was seen with and the VPS's own. */
    seen: z.array(z.object({ name: z.string(), user: z.string(), expected: z.string(), seen: z.string() }).strict()),
    /** `egress-client status --json` wall time with the first egress only, then with all of them, s. */
    statusOne: Figure,
    statusAll: Figure,
    load: z.number().optional(),
  })
  .strict();
export type EgressesBench = z.infer<typeof EgressesBench>;

export const BenchResults = z
  .object({
    schema: z.literal(1),
    mode: z.enum(['full', 'smoke']),
    startedAt: z.string(),
    finishedAt: z.string(),
    commit: z.string(),
    machine: Machine,
    versions: z.record(z.string(), z.string()),
    dataplane: Dataplane,
    latency: Latency,
    forwards: Forwards,
    controlPlane: ControlPlane,
    /** Absent in results written before the proxy existed. */
    proxy: ProxyBench.optional(),
    /** The speed groups, each measured in its own lab after the others (absent in older results and in single-group runs). */
    wireguard: WireguardBench.optional(),
    peers: PeersBench.optional(),
    egresses: EgressesBench.optional(),
    /** Why a speed group has no results in this run. */
    groupErrors: z.record(z.string(), z.string()).optional(),
  })
  .strict();
export type BenchResults = z.infer<typeof BenchResults>;

/** A figure from samples (undefined-free), or n/a when no sample was taken. */
export function measured(unit: string, samples: readonly number[], extra?: Record<string, number>, note?: string): Figure {
  if (samples.length === 0) return unavailable('no successful run');
  const s = summarize(samples);
  return {
    status: 'ok',
    unit,
    samples: [...samples],
    n: s.n,
    median: s.median,
    min: s.min,
    max: s.max,
    ...(extra && Object.keys(extra).length > 0 ? { extra } : {}),
    ...(note ? { note } : {}),
  };
}

/** A figure that was not measured, with the reason shown in the JSON and the report. */
export function unavailable(reason: string): Unavailable {
  return { status: 'n/a', reason };
}

/** The median of a figure, or undefined when it is n/a. */
export function med(f: Figure | undefined): number | undefined {
  return f && f.status === 'ok' ? f.median : undefined;
}
