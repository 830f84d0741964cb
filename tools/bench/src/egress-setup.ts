// Sets egress up in the lab with the real CLIs (provision the VPS, enroll the client), timing each step.
import { existsSync } from 'node:fs';
import type { Lab } from '@egress/lab';
import { must, reasonOf, timed } from './lab-run.js';
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

/** Why a CLI cannot be used, or undefined when its bin is built. */
export function missingCli(lab: Lab, which: 'server' | 'client'): string | undefined {
  const bin = (which === 'server' ? lab.egressServerArgv : lab.egressClientArgv)[1]!;
  return existsSync(bin) ? undefined : `egress-${which} is not built (${bin.replace(/^.*\/packages\//, 'packages/')} missing)`;
}

/** Provisions the lab VPS twice (first run, no-change re-run) and enrolls the client with `--user appuser`. */
export async function setupEgress(lab: Lab, log: (l: string) => void): Promise<{ setup: EgressSetup | { reason: string }; figures: SetupFigures }> {
  const na = (reason: string) => unavailable(reason);
  const server = missingCli(lab, 'server');
  const figures: SetupFigures = {
    provisionFirst: na(server ?? 'not run'),
    provisionRerun: na(server ?? 'not run'),
    roundTripsFirst: na(server ?? 'not run'),
    roundTripsRerun: na(server ?? 'not run'),
    enroll: na(missingCli(lab, 'client') ?? server ?? 'not run'),
  };
  if (server) return { setup: { reason: server }, figures };
  try {
    const first = await timed(() => must(lab, 'client', [...lab.egressServerArgv, 'provision', lab.ssh.target, '--out', '/tmp/bench.bundle.json'], { timeoutMs: 180_000 }));
    figures.provisionFirst = measured('s', [first.ms / 1000]);
    log(`provision (first run): ${(first.ms / 1000).toFixed(2)} s`);
    const rerun = await timed(() => must(lab, 'client', [...lab.egressServerArgv, 'provision', lab.ssh.target, '--out', '/tmp/bench.bundle.json'], { timeoutMs: 180_000 }));
    figures.provisionRerun = measured('s', [rerun.ms / 1000]);
    log(`provision (re-run): ${(rerun.ms / 1000).toFixed(2)} s`);
  } catch (e) {
    const reason = `provision failed: ${reasonOf(e)}`;
    figures.provisionFirst = figures.provisionFirst.status === 'ok' ? figures.provisionFirst : na(reason);
    figures.provisionRerun = figures.provisionRerun.status === 'ok' ? figures.provisionRerun : na(reason);
    figures.enroll = na(reason);
    return { setup: { reason }, figures };
  }
  const client = missingCli(lab, 'client');
  if (client) return { setup: { reason: client }, figures };
  try {
    const enroll = await timed(() => must(lab, 'client', [...lab.egressClientArgv, 'enroll', '/tmp/bench.bundle.json', '--user', 'appuser'], { timeoutMs: 180_000 }));
    figures.enroll = measured('s', [enroll.ms / 1000]);
    log(`enroll: ${(enroll.ms / 1000).toFixed(2)} s`);
  } catch (e) {
    const reason = `enroll failed: ${reasonOf(e)}`;
    figures.enroll = na(reason);
    return { setup: { reason }, figures };
  }
  return { setup: { interface: 'egress0', address4: '10.99.0.2', peer: 'client' }, figures };
}

/** Replaces the VPS's forwards to the enrolled client with exactly `forwards` (TCP) through egress-server's bulk path. */
export async function applyForwards(lab: Lab, egress: EgressSetup, forwards: ReadonlyArray<{ publicPort: number; targetPort: number }>): Promise<void> {
  const specs = forwards.map((f) => `${f.publicPort}/tcp:${f.targetPort}`);
  await must(lab, 'client', [...lab.egressServerArgv, 'forward', 'set', lab.ssh.target, '--peer', egress.peer, ...specs.flatMap((s) => ['--forward', s])], { timeoutMs: 300_000 });
}
