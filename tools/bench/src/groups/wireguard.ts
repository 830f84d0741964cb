// Group `wireguard`: the offload-capable wireguard-go against Debian 12's 0.0.20220316 in the same run, interleaved:
// tunnel and egress TCP throughput both directions, egress vs ssh -D, CPU seconds per GiB of the wireguard-go processes.
import { readFileSync, readlinkSync } from 'node:fs';
import { BACKPORTS_WIREGUARD_GO, HOST_SYSTEM_WIREGUARD_GO, useWireguardGo, type Lab, type LabHostName } from '@egress/lab';
import { describeImplementation, implementationArgv, parseImplementation } from '@egress/core/wireguard-impl';
import type { BenchConfig } from '../config.js';
import type { EgressSetup } from '../egress-setup.js';
import { iperfArgv, IperfServer, parseIperf, retryBusy, type IperfResult } from '../iperf.js';
import { must, reasonOf, StepError } from '../lab-run.js';
import { along, byId, type BenchPath } from '../paths.js';
import { measured, unavailable, type Figure } from '../results.js';
import { rotate } from '../stats.js';

const IPERF_PORT = 5202;
const CLK_TCK = 100; // getconf CLK_TCK on Linux x86_64/arm64

export type ImplId = 'offload' | 'old';

/** One implementation as measured: where its binary is, what version it printed, what status/doctor said about it. */
export interface ImplInfo {
  id: ImplId;
  binary: string;
  version: string;
  /** describeImplementation() of the client's tunnel while this implementation ran. */
  seen: string;
}

export type Direction = 'up' | 'down';
type PathKey = 'tunnel' | 'egress' | 'sshD';

export interface WireguardGroup {
  seconds: number;
  runs: number;
  impls: ImplInfo[];
  /** Mbit/s per implementation, path (tunnel = plain route into the tunnel; egress = run-as) and direction. */
  throughput: Record<ImplId, Record<'tunnel' | 'egress', Record<Direction, Figure>>>;
  /** ssh -D + proxychains4 (no WireGuard on the path), the same runs. */
  sshD: Record<Direction, Figure>;
  /** CPU seconds (utime+stime of both ends' wireguard-go) per GiB received, over every tunnel and egress run. */
  cpuSecondsPerGiB: Record<ImplId, Figure>;
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

/** Measures both implementations, interleaved run by run (paths: the bench's tunnel, run-as and alternative). */
export async function measureWireguard(lab: Lab, cfg: BenchConfig, setup: EgressSetup, paths: BenchPath[], log: (l: string) => void): Promise<WireguardGroup> {
  const impls: Array<{ id: ImplId; binary: string }> = [
    { id: 'offload', binary: BACKPORTS_WIREGUARD_GO },
    { id: 'old', binary: HOST_SYSTEM_WIREGUARD_GO },
  ];
  const byPath: Record<PathKey, BenchPath> = { tunnel: byId(paths, 'tunnel'), egress: byId(paths, 'run-as'), sshD: byId(paths, 'alternative') };
  const samples = new Map<string, number[]>();
  const cpu = new Map<ImplId, { seconds: number; bytes: number; perGiB: number[] }>();
  const failures = new Map<string, string>();
  const info = new Map<ImplId, ImplInfo>();
  const add = (k: string, v: number) => samples.set(k, [...(samples.get(k) ?? []), v]);
  const server = new IperfServer(lab, 'internet', lab.addr.whoamiV4, IPERF_PORT);
  await server.start();
  const once = async (p: BenchPath, dir: Direction): Promise<IperfResult> => {
    const argv = [...p.prefix, ...iperfArgv({ server: lab.addr.whoamiV4, port: IPERF_PORT, seconds: cfg.iperfSeconds, reverse: dir === 'down' })];
    return retryBusy(async () => parseIperf(await along(p, () => must(lab, 'client', argv, { timeoutMs: (cfg.iperfSeconds + 20) * 1000, ...(p.user ? { user: p.user } : {}) }))));
  };
  try {
    for (let run = 0; run < cfg.throughputRuns; run++) {
      for (const impl of rotate(impls, run)) {
        if (failures.has(impl.id)) continue;
        try {
          const v = await useImplementation(lab, setup, impl.binary);
          info.set(impl.id, { id: impl.id, binary: impl.binary, ...v });
        } catch (e) {
          failures.set(impl.id, `switching to ${impl.binary} failed: ${reasonOf(e)}`);
          log(failures.get(impl.id)!);
          continue;
        }
        const ends = [await wgGoPids(lab, 'vps'), await wgGoPids(lab, 'client')];
        if (ends.some((p) => p.length === 0)) {
          failures.set(impl.id, `no wireguard-go process found in ${ends[0]!.length ? 'the client' : 'the vps'} (CPU cannot be counted)`);
          continue;
        }
        const pids = ends.flat();
        for (const key of ['tunnel', 'egress'] as const) {
          for (const dir of ['up', 'down'] as const) {
            const k = `${impl.id}/${key}/${dir}`;
            if (failures.has(k)) continue;
            try {
              const c0 = cpuOf(pids);
              const r = await once(byPath[key], dir);
              const used = cpuOf(pids) - c0;
              add(k, r.mbps);
              const c = cpu.get(impl.id) ?? { seconds: 0, bytes: 0, perGiB: [] };
              if (r.bytes) c.perGiB.push(used / (r.bytes / 2 ** 30));
              cpu.set(impl.id, c);
              log(`${impl.id} ${key} ${dir} run ${run + 1}/${cfg.throughputRuns}: ${r.mbps.toFixed(0)} Mbit/s, ${used.toFixed(2)} CPU s${r.bytes ? ` for ${(r.bytes / 2 ** 20).toFixed(0)} MiB` : ''}`);
            } catch (e) {
              failures.set(k, reasonOf(e));
              log(`${k}: ${reasonOf(e)}`);
              await server.start();
            }
          }
        }
      }
      for (const dir of ['up', 'down'] as const) {
        const k = `sshD/${dir}`;
        if (byPath.sshD.tcpUnavailable || failures.has(k)) continue;
        try {
          const r = await once(byPath.sshD, dir);
          add(k, r.mbps);
          log(`ssh -D ${dir} run ${run + 1}/${cfg.throughputRuns}: ${r.mbps.toFixed(0)} Mbit/s`);
        } catch (e) {
          failures.set(k, reasonOf(e));
          await server.start();
        }
      }
    }
  } finally {
    await server.stop();
    // Leave the lab on the default (offload-capable) implementation for whatever runs next.
    await useImplementation(lab, setup, BACKPORTS_WIREGUARD_GO).catch(() => {});
  }
  const fig = (k: string, implId?: ImplId): Figure => {
    const reason = failures.get(k) ?? (implId ? failures.get(implId) : undefined) ?? (k.startsWith('sshD') ? byPath.sshD.tcpUnavailable : undefined);
    return reason ? unavailable(reason) : measured('Mbit/s', samples.get(k) ?? []);
  };
  const perImpl = (id: ImplId) => ({
    tunnel: { up: fig(`${id}/tunnel/up`, id), down: fig(`${id}/tunnel/down`, id) },
    egress: { up: fig(`${id}/egress/up`, id), down: fig(`${id}/egress/down`, id) },
  });
  const cpuFig = (id: ImplId): Figure => (failures.has(id) ? unavailable(failures.get(id)!) : measured('CPU s/GiB', cpu.get(id)?.perGiB ?? []));
  return {
    seconds: cfg.iperfSeconds,
    runs: cfg.throughputRuns,
    impls: impls.map((i) => info.get(i.id) ?? { id: i.id, binary: i.binary, version: 'unknown', seen: failures.get(i.id) ?? 'not run' }),
    throughput: { offload: perImpl('offload'), old: perImpl('old') },
    sshD: { up: fig('sshD/up'), down: fig('sshD/down') },
    cpuSecondsPerGiB: { offload: cpuFig('offload'), old: cpuFig('old') },
  };
}
