// Group 5: the supervisor (`egress-client daemon`): repair latency after `nft flush ruleset` / `nft delete table
// inet egress`, and its idle CPU and RSS (from /proc/PID/stat and /proc/PID/status inside the client host).
import type { Lab } from '@egress/lab';
import type { BenchConfig } from '../config.js';
import { missingCli } from '../egress-setup.js';
import { firstLine, reasonOf, stop, StepError } from '../lab-run.js';
import { measured, unavailable, type Figure } from '../results.js';

export interface SupervisorFigures {
  repairFlush: Figure;
  repairDeleteTable: Figure;
  daemonIdleCpu: Figure;
  daemonRss: Figure;
}

// Drift, then wait (inside the client, no exec overhead in the figure) until the daemon has created the table again.
const REPAIR_SH = 't0=$(date +%s%N); eval "$1"; while ! nft list table inet egress >/dev/null 2>&1; do :; done; t1=$(date +%s%N); echo $(( (t1 - t0) / 1000 ))';
// utime+stime ticks of the daemon's node process, twice `$2` seconds apart, and its VmRSS (kB).
const IDLE_SH = 'p=$(pgrep -f -- "daemon --debounce-ms 20" | head -1); [ -n "$p" ] || exit 3; a=$(awk \'{print $14+$15}\' /proc/$p/stat); sleep "$1"; b=$(awk \'{print $14+$15}\' /proc/$p/stat); r=$(awk \'/^VmRSS/{print $2}\' /proc/$p/status); echo "$((b - a)) $(getconf CLK_TCK) $r"';

/** Starts the daemon in the client host, measures, stops it (by its pid). */
export async function measureSupervisor(lab: Lab, cfg: BenchConfig, enrolled: string | undefined, log: (l: string) => void): Promise<SupervisorFigures> {
  const why = (await missingCli(lab, 'client')) ?? enrolled;
  if (why) return { repairFlush: unavailable(why), repairDeleteTable: unavailable(why), daemonIdleCpu: unavailable(why), daemonRss: unavailable(why) };
  const daemon = lab.spawn('client', [...lab.egressClientArgv, 'daemon', '--debounce-ms', '20']);
  try {
    const deadline = Date.now() + 30_000;
    while (!/watching nftables/.test(daemon.output())) {
      if (Date.now() > deadline) throw new StepError(`daemon did not start: ${firstLine(daemon.output())}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const repairs = async (drift: string): Promise<number[]> => {
      const out: number[] = [];
      for (let i = 0; i < cfg.repairRuns; i++) {
        const r = await lab.exec('client', ['sh', '-c', REPAIR_SH, 'repair', drift], { timeoutMs: 30_000 });
        if (r.exitCode !== 0) throw new StepError(firstLine(r.stderr) || `exit ${r.exitCode}`);
        out.push(Number(r.stdout.trim()) / 1000);
        await new Promise((res) => setTimeout(res, 300)); // let the pass after the repair settle
      }
      return out;
    };
    const flush = await repairs('nft flush ruleset');
    const del = await repairs('nft delete table inet egress');
    log(`supervisor repair after flush: ${flush.map((x) => x.toFixed(0)).join(', ')} ms; after delete table: ${del.map((x) => x.toFixed(0)).join(', ')} ms`);
    const idle = await lab.exec('client', ['sh', '-c', IDLE_SH, 'idle', String(cfg.idleSeconds)], { timeoutMs: (cfg.idleSeconds + 30) * 1000 });
    if (idle.exitCode !== 0) throw new StepError(`idle CPU: ${firstLine(idle.stderr) || `exit ${idle.exitCode}`}`);
    const [ticks, hz, rssKb] = idle.stdout.trim().split(/\s+/).map(Number) as [number, number, number];
    const cpuPct = (ticks / hz / cfg.idleSeconds) * 100;
    log(`supervisor idle: ${cpuPct.toFixed(2)} % CPU over ${cfg.idleSeconds} s, RSS ${(rssKb / 1024).toFixed(1)} MiB`);
    const note = 'Time from the drift command to `table inet egress` existing again, measured inside the client host (a shell loop polls `nft list table`).';
    return {
      repairFlush: measured('ms', flush, undefined, note),
      repairDeleteTable: measured('ms', del),
      daemonIdleCpu: measured('%', [cpuPct], undefined, `CPU of the daemon's node process (utime+stime from /proc/PID/stat) over ${cfg.idleSeconds} s idle; its nft/ip monitor children are not counted.`),
      daemonRss: measured('MiB', [rssKb / 1024]),
    };
  } catch (e) {
    const na = unavailable(`supervisor: ${reasonOf(e)}`);
    return { repairFlush: na, repairDeleteTable: na, daemonIdleCpu: na, daemonRss: na };
  } finally {
    await stop(daemon);
  }
}
