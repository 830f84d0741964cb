// iperf3: a server in a lab host (started and killed by PID), a client run through a path, and its JSON read.
import type { Lab, LabHostName, LabProcess } from '@egress/lab';
import { firstLine, sleep, StepError, stop, waitForListen } from './lab-run.js';

/** What one iperf3 client run measured, from the receiver's side. */
export interface IperfResult {
  mbps: number;
  /** Bytes the receiver counted (absent in old iperf3 JSON). */
  bytes?: number;
  /** UDP only: datagrams lost, percent. */
  lossPercent?: number;
  cpuLocal?: number;
  cpuRemote?: number;
}

/** Options of one iperf3 client run. */
export interface IperfRun {
  server: string;
  port: number;
  seconds: number;
  udp?: boolean;
  reverse?: boolean;
}

/** UDP datagram size: fits the tunnel's MTU (1420 − 28) so no path fragments. */
export const UDP_LENGTH = 1200;

/** The iperf3 client argv for a run (JSON output). */
export function iperfArgv(run: IperfRun): string[] {
  return [
    'iperf3', '-c', run.server, '-p', String(run.port), '-t', String(run.seconds), '-J', '--connect-timeout', '5000',
    ...(run.udp ? ['-u', '-b', '0', '-l', String(UDP_LENGTH)] : []),
    ...(run.reverse ? ['-R'] : []),
  ];
}

interface IperfSum { bits_per_second?: number; bytes?: number; lost_percent?: number }
interface IperfJson {
  error?: string;
  end?: { sum_received?: IperfSum; sum?: IperfSum; cpu_utilization_percent?: { host_total?: number; remote_total?: number } };
}

/** Reads iperf3 -J output: receiver-side Mbit/s (and UDP loss). Throws with iperf3's own error text. */
export function parseIperf(stdout: string): IperfResult {
  let j: IperfJson;
  try {
    j = JSON.parse(stdout) as IperfJson;
  } catch {
    throw new StepError(`iperf3 printed no JSON: ${firstLine(stdout) || 'empty output'}`);
  }
  if (j.error) throw new StepError(`iperf3: ${j.error}`);
  const sum = j.end?.sum_received ?? j.end?.sum;
  if (!sum || typeof sum.bits_per_second !== 'number') throw new StepError('iperf3 JSON has no end.sum_received');
  const cpu = j.end?.cpu_utilization_percent;
  return {
    mbps: sum.bits_per_second / 1e6,
    ...(typeof sum.bytes === 'number' ? { bytes: sum.bytes } : {}),
    ...(typeof sum.lost_percent === 'number' ? { lossPercent: sum.lost_percent } : {}),
    ...(typeof cpu?.host_total === 'number' ? { cpuLocal: cpu.host_total } : {}),
    ...(typeof cpu?.remote_total === 'number' ? { cpuRemote: cpu.remote_total } : {}),
  };
}

/** An iperf3 server in a lab host; restarted when a client run leaves it unusable. */
export class IperfServer {
  private proc: LabProcess | undefined;
  constructor(
    private readonly lab: Lab,
    readonly host: LabHostName,
    readonly bind: string | undefined,
    readonly port: number,
  ) {}

  /** Starts the server and waits until it listens. */
  async start(): Promise<void> {
    await this.stop();
    const argv = ['iperf3', '-s', '-p', String(this.port), ...(this.bind ? ['-B', this.bind] : [])];
    this.proc = this.lab.spawn(this.host, argv);
    await waitForListen(this.lab, this.host, this.port);
  }

  /** Kills the server by its PID. */
  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    await stop(p);
  }
}

/** Runs an iperf3 client attempt again (up to 4 tries, 1 s apart) while the server still reports the previous test as running. */
export async function retryBusy<T>(attempt: () => Promise<T>): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (e) {
      if (i >= 4 || !/server is busy/.test(e instanceof Error ? e.message : String(e))) throw e;
      await sleep(1000);
    }
  }
}
