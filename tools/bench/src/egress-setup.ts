// Sets egress up in the lab with the real CLIs (provision the VPS, enroll the client), timing each step.
import type { Lab } from '@egress/lab';
import { must, reasonOf, StepError, timed } from './lab-run.js';
import { measured, unavailable, type Figure } from './results.js';

/** What the data-plane paths need to know about the enrolled client. */
export interface EgressSetup {
  /** Tunnel interface in the client, e.g. `egress0`. */
  interface: string;
  /** The client's tunnel address. */
  address4: string;
  /** The client's peer name on the server (forwards target it). */
  peer: string;
}

/** Control-plane figures taken while setting up. */
export interface SetupFigures {
  provisionFirst: Figure;
  provisionRerun: Figure;
  roundTripsFirst: Figure;
  roundTripsRerun: Figure;
  enroll: Figure;
}

const BUNDLE = '/tmp/egress-bench.bundle.json';
// Its own peer (and so egress and cgroup) name, so the bench's lab never shares a cgroup path with a test lab's 'client'.
const PEER = 'bench';

/** Why a CLI cannot be used, or undefined when its bin is built (checked as the client host sees the repository). */
export async function missingCli(lab: Lab, which: 'server' | 'client'): Promise<string | undefined> {
  const bin = (which === 'server' ? lab.egressServerArgv : lab.egressClientArgv)[1]!;
  const r = await lab.exec('client', ['test', '-f', bin]);
  return r.exitCode === 0 ? undefined : `egress-${which} is not built (${bin.replace(/^.*\/packages\//, 'packages/')} missing)`;
}

/** Parses the one JSON document a CLI prints with --json. */
export function jsonDocument<T>(stdout: string, what: string): T {
  try {
    return JSON.parse(stdout) as T;
  } catch {
    throw new StepError(`${what} --json printed no JSON document`);
  }
}

/** argv of `egress-server provision` for the lab VPS with the given forwards (the full set for the client). */
export function provisionArgv(lab: Lab, forwards: readonly string[] = []): string[] {
  return [...lab.egressServerArgv, 'provision', lab.ssh.target, '--name', PEER, '--out', BUNDLE, '--json', ...forwards.flatMap((f) => ['--forward', f])];
}

/** Runs provision in the client host (the operator's machine here); returns wall time and the SSH round trips it reports. */
export async function runProvision(lab: Lab, forwards: readonly string[] = []): Promise<{ ms: number; roundTrips: number | undefined; changed: number }> {
  const r = await timed(() => must(lab, 'client', provisionArgv(lab, forwards), { timeoutMs: 600_000 }));
  const doc = jsonDocument<{ roundTrips?: number; changed?: number }>(r.value, 'egress-server provision');
  return { ms: r.ms, roundTrips: typeof doc.roundTrips === 'number' ? doc.roundTrips : undefined, changed: doc.changed ?? -1 };
}

/** Provisions the lab VPS twice (first run, no-change re-run) and enrolls the client with `--user appuser`. */
export async function setupEgress(lab: Lab, log: (l: string) => void): Promise<{ setup: EgressSetup | { reason: string }; figures: SetupFigures }> {
  const server = await missingCli(lab, 'server');
  const client = await missingCli(lab, 'client');
  const na = unavailable(server ?? 'not run');
  const figures: SetupFigures = { provisionFirst: na, provisionRerun: na, roundTripsFirst: na, roundTripsRerun: na, enroll: unavailable(client ?? server ?? 'not run') };
  if (server) return { setup: { reason: server }, figures };
  const rt = (n: number | undefined) => (n === undefined ? unavailable('provision --json reported no roundTrips') : measured('count', [n]));
  try {
    const first = await runProvision(lab);
    figures.provisionFirst = measured('s', [first.ms / 1000]);
    figures.roundTripsFirst = rt(first.roundTrips);
    log(`provision (first run): ${(first.ms / 1000).toFixed(2)} s, ${first.roundTrips} SSH round trips, ${first.changed} changes`);
    const rerun = await runProvision(lab);
    figures.provisionRerun = measured('s', [rerun.ms / 1000], undefined, rerun.changed === 0 ? undefined : `the re-run changed ${rerun.changed} thing(s)`);
    figures.roundTripsRerun = rt(rerun.roundTrips);
    log(`provision (re-run): ${(rerun.ms / 1000).toFixed(2)} s, ${rerun.roundTrips} SSH round trips, ${rerun.changed} changes`);
  } catch (e) {
    const reason = `provision failed: ${reasonOf(e)}`;
    for (const k of ['provisionFirst', 'provisionRerun', 'roundTripsFirst', 'roundTripsRerun'] as const) if (figures[k].status !== 'ok') figures[k] = unavailable(reason);
    figures.enroll = unavailable(reason);
    return { setup: { reason }, figures };
  }
  if (client) return { setup: { reason: client }, figures };
  try {
    const enroll = await timed(() => must(lab, 'client', [...lab.egressClientArgv, 'enroll', BUNDLE, '--user', 'appuser'], { timeoutMs: 180_000 }));
    figures.enroll = measured('s', [enroll.ms / 1000]);
    log(`enroll: ${(enroll.ms / 1000).toFixed(2)} s`);
    const state = jsonDocument<{ egresses?: Array<{ interface: string; address4?: string }> }>(await must(lab, 'client', ['cat', '/etc/egress/client.json']), '/etc/egress/client.json');
    const eg = state.egresses?.[0];
    if (!eg?.address4) throw new StepError('/etc/egress/client.json has no egress with an IPv4 tunnel address');
    return { setup: { interface: eg.interface, address4: eg.address4, peer: PEER }, figures };
  } catch (e) {
    const reason = `enroll failed: ${reasonOf(e)}`;
    if (figures.enroll.status !== 'ok') figures.enroll = unavailable(reason);
    return { setup: { reason }, figures };
  }
}

/** Replaces the VPS's forwards to the client with exactly `forwards` (TCP): provision takes the full set (its bulk path). */
export async function applyForwards(lab: Lab, forwards: ReadonlyArray<{ publicPort: number; targetPort: number }>): Promise<{ ms: number; changed: number }> {
  const r = await runProvision(lab, forwards.map((f) => `${f.publicPort}/tcp:${f.targetPort}`));
  return { ms: r.ms, changed: r.changed };
}
