// Group `egresses`: 8 egresses on one client at once, each to its own stand-in VPS (plain wg-quick servers in the lab vps,
// tools/lab's startWgServers): each egress's user must be seen with its own VPS's address; `status` with 8 against 1.
import { loadavg } from 'node:os';
import { enrollArgs, startWgServers, type Lab } from '@egress/lab';
import type { BenchConfig } from '../config.js';
import { must, reasonOf, timed } from '../lab-run.js';
import { measured, unavailable, type EgressesBench, type Figure } from '../results.js';

export const EGRESS_COUNT = 8;

/** `egress-client status --json` `runs` times, wall seconds each. */
async function statusTimes(lab: Lab, runs: number): Promise<Figure> {
  const s: number[] = [];
  try {
    for (let i = 0; i < runs; i++) s.push((await timed(() => must(lab, 'client', [...lab.egressClientArgv, 'status', '--json'], { timeoutMs: 60_000 }))).ms / 1000);
  } catch (e) {
    return unavailable(reasonOf(e));
  }
  return measured('s', s);
}

/** Enrolls one egress, times `status`, enrolls the other seven, probes all eight at once, times `status` again. Uninstalls at the end. */
export async function measureEgresses(lab: Lab, cfg: BenchConfig, log: (l: string) => void): Promise<EgressesBench> {
  const load = loadavg()[0]!;
  const runs = cfg.mode === 'smoke' ? 2 : 7;
  const servers = await startWgServers(lab, EGRESS_COUNT);
  try {
    await must(lab, 'client', [...lab.egressClientArgv, ...enrollArgs(servers[0]!)], { timeoutMs: 120_000 });
    // One status first (not counted), so both series start warm.
    await statusTimes(lab, 1);
    const statusOne = await statusTimes(lab, runs);
    log(`status with 1 egress: ${statusOne.status === 'ok' ? `${statusOne.median.toFixed(2)} s` : statusOne.reason}`);
    for (const s of servers.slice(1)) await must(lab, 'client', [...lab.egressClientArgv, ...enrollArgs(s)], { timeoutMs: 120_000 });
    await statusTimes(lab, 1);
    const statusAll = await statusTimes(lab, runs);
    log(`status with ${EGRESS_COUNT} egresses: ${statusAll.status === 'ok' ? `${statusAll.median.toFixed(2)} s` : statusAll.reason}`);
    const seen = await Promise.all(servers.map(async (s) => ({ name: s.name, user: s.user, expected: s.public, seen: await lab.probe('client', { user: s.user }).catch((e: unknown) => `failed: ${reasonOf(e)}`) })));
    log(`seen: ${seen.map((s) => `${s.user} ${s.seen}`).join(', ')}`);
    return {
      count: EGRESS_COUNT,
      method:
        `${EGRESS_COUNT} plain wg-quick servers in the lab vps, each masquerading to its own public address (198.51.100.11–${10 + EGRESS_COUNT}), stand in for ${EGRESS_COUNT} VPSes; ` +
        `the client enrolls one egress per server, each with its own user. All ${EGRESS_COUNT} users connect to the whoami service at once; the address it saw is shown next to the VPS's. ` +
        `\`egress-client status --json\` is timed ${runs} times with the first egress only, then ${runs} times with all ${EGRESS_COUNT} (one untimed call before each series).`,
      seen,
      statusOne,
      statusAll,
      load,
    };
  } finally {
    // The egress cgroups live in the machine's cgroup2 hierarchy: uninstall removes them before the lab goes.
    await lab.exec('client', [...lab.egressClientArgv, 'uninstall'], { timeoutMs: 120_000 }).catch(() => undefined);
  }
}
