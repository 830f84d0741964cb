// Group `wireguard`: the offload-capable wireguard-go against Debian 12's 0.0.20220316 in the same run, interleaved:
// one implementation per block, tunnel and egress TCP in back-to-back ABBA pairs both directions (plus tunnel/tunnel pairs: the noise
// floor), egress vs ssh -D, CPU seconds per GiB of the wireguard-go processes.
import { readFileSync, readlinkSync } from 'node:fs';
import { loadavg } from 'node:os';
import { BACKPORTS_WIREGUARD_GO, HOST_SYSTEM_WIREGUARD_GO, useWireguardGo, type Lab, type LabHostName } from '@egress/lab';
import { describeImplementation, implementationArgv, parseImplementation } from '@egress/core/wireguard-impl';
import type { BenchConfig } from '../config.js';
import type { EgressSetup } from '../egress-setup.js';
import { iperfArgv, IperfServer, parseIperf, retryBusy, type IperfResult } from '../iperf.js';
import { must, reasonOf, StepError } from '../lab-run.js';
import { along, byId, type BenchPath } from '../paths.js';
import { IMPL_IDS, measured, unavailable, type Figure, type WireguardBench } from '../results.js';
import { abbaOrder, median } from '../stats.js';

const IPERF_PORT = 5202;
const CLK_TCK = 100; // getconf CLK_TCK on Linux x86_64/arm64

export type ImplId = (typeof IMPL_IDS)[number];

/** One implementation as measured: where its binary is, what version it printed, what status/doctor said about it. */
export type ImplInfo = WireguardBench['impls'][number];

export type Direction = 'up' | 'down';
type PathKey = 'tunnel' | 'egress' | 'sshD';

/** The group's results (the schema is results.ts's WireguardBench, so the full run's results file checks it). */
export type WireguardGroup = WireguardBench;

/** How much the group measures: implementation blocks (ABBA: offload, old, old, offload), pairs per block and direction. */
export interface WireguardPlan {
  blocks: ImplId[];
  seconds: number;
  warmupSeconds: number;
  /** tunnel/egress pairs per block and direction (ABBA order). */
  pairs: number;
  /** tunnel/tunnel pairs per block and direction (the noise floor). */
  noisePairs: number;
  /** ssh -D transfers per block and direction. */
  sshD: number;
}

export function wireguardPlan(cfg: BenchConfig): WireguardPlan {
  return cfg.mode === 'smoke'
    ? { blocks: ['offload', 'old'], seconds: 1, warmupSeconds: 1, pairs: 1, noisePairs: 1, sshD: 1 }
    : { blocks: ['offload', 'old', 'old', 'offload'], seconds: 3, warmupSeconds: 2, pairs: 4, noisePairs: 2, sshD: 1 };
}

/** The transfers of one block and direction, in order: tunnel/egress pairs in ABBA order with the tunnel/tunnel pairs between them. */
export function blockSequence(plan: Pick<WireguardPlan, 'pairs' | 'noisePairs'>): Array<{ kind: 'te' | 'tt'; order: Array<'tunnel' | 'egress'> }> {
  const te = abbaOrder<'tunnel', 'egress'>('tunnel', 'egress', plan.pairs).map((order) => ({ kind: 'te' as const, order }));
  const tt = Array.from({ length: plan.noisePairs }, () => ({ kind: 'tt' as const, order: ['tunnel', 'tunnel'] as Array<'tunnel' | 'egress'> }));
  // The noise pairs go after every other te pair, so they sample the same stretch of the block.
  const out: Array<{ kind: 'te' | 'tt'; order: Array<'tunnel' | 'egress'> }> = [];
  const every = Math.max(1, Math.ceil(te.length / (tt.length + 1)));
  te.forEach((p, i) => {
    out.push(p);
    if ((i + 1) % every === 0 && tt.length && i + 1 < te.length) out.push(tt.shift()!);
  });
  out.push(...tt);
  return out;
}

/** The wireguard-go processes in a lab host (hosts share the machine's PID space: matched by network namespace). */
async function wgGoPids(lab: Lab, host: LabHostName): Promise<number[]> {
  const r = await lab.exec(host, ['pgrep', '-x', 'wireguard-go']);
  const net = lab.hosts[host].net;
  return r.stdout.split('\n').map(Number).filter((pid) => pid > 0 && netOf(pid) === net);
}

function netOf(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return undefined;
  }
}

/** utime+stime of a process in seconds, from /proc/PID/stat (fields 14 and 15, counted after the comm's closing paren). */
export function cpuSecondsFromStat(stat: string): number {
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / CLK_TCK;
}

function cpuOf(pids: readonly number[]): number {
  let sum = 0;
  for (const pid of pids) {
    try {
      sum += cpuSecondsFromStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      throw new StepError(`wireguard-go ${pid} exited during the run`);
    }
  }
  return sum;
}

/** Makes both ends run `binary`: relinks /usr/bin/wireguard-go, restarts the VPS's wg-quick and the client's egress, checks what runs. */
async function useImplementation(lab: Lab, setup: EgressSetup, binary: string): Promise<{ version: string; seen: string }> {
  await useWireguardGo(lab, ['vps', 'client'], binary);
  await must(lab, 'vps', ['sh', '-c', 'wg-quick down egress0 && wg-quick up egress0']);
  await must(lab, 'client', [...lab.egressClientArgv, 'down'], { timeoutMs: 60_000 });
  await must(lab, 'client', [...lab.egressClientArgv, 'up'], { timeoutMs: 60_000 });
  let seen = '';
  let version = '';
  for (const [h, iface] of [['vps', 'egress0'], ['client', setup.interface]] as const) {
    const t = parseImplementation(await must(lab, h, implementationArgv(iface)), iface);
    if (t.binary !== binary) throw new StepError(`${h} ${iface} runs ${t.binary ?? t.how}, expected ${binary}`);
    if (h === 'client') {
      seen = describeImplementation(t);
      version = t.version ?? 'unknown';
    }
  }
  return { version, seen };
}

/** Tunnel offload/old per pair of adjacent blocks of different implementations (block medians), e.g. blocks offload, old, old, offload → 2 ratios. */
export function blockRatios(blocks: readonly ImplId[], medians: ReadonlyArray<number | undefined>): number[] {
  const out: number[] = [];
  for (let i = 0; i + 1 < blocks.length; i += 2) {
    const [a, b] = [medians[i], medians[i + 1]];
    if (a === undefined || b === undefined || blocks[i] === blocks[i + 1]) continue;
    const [off, old] = blocks[i] === 'offload' ? [a, b] : [b, a];
    if (old > 0) out.push(off / old);
  }
  return out;
}

/**
 * Measures both implementations, one block at a time (both ends switched once per block, then a discarded warm-up transfer):
 * inside a block, per direction, tunnel and egress (run-as) back to back in ABBA order, plus tunnel/tunnel pairs for the noise floor.
 */
export async function measureWireguard(lab: Lab, cfg: BenchConfig, setup: EgressSetup, paths: BenchPath[], log: (l: string) => void): Promise<WireguardGroup> {
  const plan = wireguardPlan(cfg);
  const load = loadavg()[0]!;
  const binaries: Record<ImplId, string> = { offload: BACKPORTS_WIREGUARD_GO, old: HOST_SYSTEM_WIREGUARD_GO };
  const byPath: Record<PathKey, BenchPath> = { tunnel: byId(paths, 'tunnel'), egress: byId(paths, 'run-as'), sshD: byId(paths, 'alternative') };
  const samples = new Map<string, number[]>();
  const cpu = new Map<ImplId, number[]>();
  const failures = new Map<string, string>();
  const info = new Map<ImplId, ImplInfo>();
  const blockTunnel: Array<Record<Direction, number[]>> = [];
  const add = (k: string, v: number) => samples.set(k, [...(samples.get(k) ?? []), v]);
  const server = new IperfServer(lab, 'internet', lab.addr.whoamiV4, IPERF_PORT);
  await server.start();
  const once = async (p: BenchPath, dir: Direction, seconds = plan.seconds): Promise<IperfResult> => {
    const argv = [...p.prefix, ...iperfArgv({ server: lab.addr.whoamiV4, port: IPERF_PORT, seconds, reverse: dir === 'down' })];
    return retryBusy(async () => parseIperf(await along(p, () => must(lab, 'client', argv, { timeoutMs: (seconds + 20) * 1000, ...(p.user ? { user: p.user } : {}) }))));
  };
  try {
    for (const [b, id] of plan.blocks.entries()) {
      const tunnelHere: Record<Direction, number[]> = { up: [], down: [] };
      blockTunnel.push(tunnelHere);
      if (failures.has(id)) continue;
      const binary = binaries[id];
      try {
        const v = await useImplementation(lab, setup, binary);
        info.set(id, { id, binary, ...v });
      } catch (e) {
        failures.set(id, `switching to ${binary} failed: ${reasonOf(e)}`);
        log(failures.get(id)!);
        continue;
      }
      const ends = [await wgGoPids(lab, 'vps'), await wgGoPids(lab, 'client')];
      if (ends.some((p) => p.length === 0)) {
        failures.set(id, `no wireguard-go process found in ${ends[0]!.length ? 'the client' : 'the vps'} (CPU cannot be counted)`);
        continue;
      }
      const pids = ends.flat();
      // Warm-up after the switch (handshake, TCP, caches): not counted.
      for (const dir of ['up', 'down'] as const) {
        await once(byPath.tunnel, dir, plan.warmupSeconds).catch(async (e: unknown) => {
          log(`${id} warm-up ${dir}: ${reasonOf(e)}`);
          await server.start();
        });
      }
      const transfer = async (key: 'tunnel' | 'egress', dir: Direction): Promise<number> => {
        const c0 = cpuOf(pids);
        const r = await once(byPath[key], dir);
        const used = cpuOf(pids) - c0;
        add(`${id}/${key}/${dir}`, r.mbps);
        if (key === 'tunnel') tunnelHere[dir].push(r.mbps);
        if (r.bytes) cpu.set(id, [...(cpu.get(id) ?? []), used / (r.bytes / 2 ** 30)]);
        return r.mbps;
      };
      let pair = 0;
      for (const step of blockSequence(plan)) {
        if (step.kind === 'te') pair++;
        for (const dir of ['up', 'down'] as const) {
          const k = `${id}/${dir}`;
          if (failures.has(k)) continue;
          try {
            const [x, y] = [await transfer(step.order[0]!, dir), await transfer(step.order[1]!, dir)];
            if (step.kind === 'tt') {
              add(`${id}/tt/${dir}`, y / x);
              log(`block ${b + 1}/${plan.blocks.length} ${id} ${dir} tunnel/tunnel: ${x.toFixed(0)} then ${y.toFixed(0)} Mbit/s (${(y / x).toFixed(3)})`);
            } else {
              const [t, e] = step.order[0] === 'tunnel' ? [x, y] : [y, x];
              add(`${id}/te/${dir}`, e / t);
              log(`block ${b + 1}/${plan.blocks.length} ${id} ${dir} pair ${pair}/${plan.pairs} (${step.order.join(', ')}): tunnel ${t.toFixed(0)}, egress ${e.toFixed(0)} Mbit/s (${(e / t).toFixed(3)})`);
            }
          } catch (e) {
            failures.set(k, reasonOf(e));
            log(`${k}: ${reasonOf(e)}`);
            await server.start();
          }
        }
      }
      for (let i = 0; i < plan.sshD; i++) {
        for (const dir of ['up', 'down'] as const) {
          const k = `sshD/${dir}`;
          if (byPath.sshD.tcpUnavailable || failures.has(k)) continue;
          try {
            const r = await once(byPath.sshD, dir);
            add(k, r.mbps);
            log(`ssh -D ${dir} (block ${b + 1}): ${r.mbps.toFixed(0)} Mbit/s`);
          } catch (e) {
            failures.set(k, reasonOf(e));
            await server.start();
          }
        }
      }
    }
  } finally {
    await server.stop();
    // Leave the lab on the default (offload-capable) implementation for whatever runs next.
    await useImplementation(lab, setup, BACKPORTS_WIREGUARD_GO).catch(() => {});
  }
  const fig = (k: string, unit: string, ...why: string[]): Figure => {
    const reason = why.map((w) => failures.get(w)).find((r) => r !== undefined) ?? (k.startsWith('sshD') ? byPath.sshD.tcpUnavailable : undefined);
    return reason ? unavailable(reason) : measured(unit, samples.get(k) ?? []);
  };
  const dirs = <T>(f: (dir: Direction) => T): Record<Direction, T> => ({ up: f('up'), down: f('down') });
  const perImpl = (id: ImplId) => ({
    tunnel: dirs((d) => fig(`${id}/tunnel/${d}`, 'Mbit/s', id, `${id}/${d}`)),
    egress: dirs((d) => fig(`${id}/egress/${d}`, 'Mbit/s', id, `${id}/${d}`)),
  });
  const ratios = (kind: 'te' | 'tt') => ({
    offload: dirs((d) => fig(`offload/${kind}/${d}`, 'ratio', 'offload', `offload/${d}`)),
    old: dirs((d) => fig(`old/${kind}/${d}`, 'ratio', 'old', `old/${d}`)),
  });
  const cpuFig = (id: ImplId): Figure => (failures.has(id) ? unavailable(failures.get(id)!) : measured('CPU s/GiB', cpu.get(id) ?? []));
  const offloadOverOld = dirs((d) => {
    const why = failures.get('offload') ?? failures.get('old') ?? failures.get(`offload/${d}`) ?? failures.get(`old/${d}`);
    if (why) return unavailable(why);
    const meds = blockTunnel.map((t) => (t[d].length ? median(t[d]) : undefined));
    return measured('ratio', blockRatios(plan.blocks, meds));
  });
  return {
    seconds: plan.seconds,
    runs: (plan.pairs * plan.blocks.length) / IMPL_IDS.length,
    impls: IMPL_IDS.map((id) => info.get(id) ?? { id, binary: binaries[id], version: 'unknown', seen: failures.get(id) ?? 'not run' }),
    throughput: { offload: perImpl('offload'), old: perImpl('old') },
    sshD: dirs((d) => fig(`sshD/${d}`, 'Mbit/s')),
    cpuSecondsPerGiB: { offload: cpuFig('offload'), old: cpuFig('old') },
    blocks: plan.blocks,
    pairsPerBlock: plan.pairs,
    noisePairsPerBlock: plan.noisePairs,
    warmupSeconds: plan.warmupSeconds,
    egressOverTunnel: ratios('te'),
    tunnelOverTunnel: ratios('tt'),
    offloadOverOld,
    load,
  };
}
