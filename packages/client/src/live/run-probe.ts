// Runs the probe as a user on the client through the Host (setpriv + this node binary).
import type { Host } from '@egress/core/host/host';
import { PROBE_SCRIPT, type ProbeInput, type ProbeOutput } from './probe-script.js';

/** Documentation addresses used as probe destinations: a UDP connect picks a route and a source but sends nothing. */
export const PROBE_TARGETS = { v4: '203.0.113.1', v6: '2001:db8::1' } as const;

/** Runs the probe as `uid:gid`; undefined with the reason when it could not run. */
export async function runProbe(host: Host, user: { uid: number; gid: number }, input: ProbeInput): Promise<{ result?: ProbeOutput; error?: string }> {
  const argv = ['setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--inh-caps=-all', '--', process.execPath, '-e', PROBE_SCRIPT, JSON.stringify(input)];
  const r = await host.run(argv, { timeoutMs: input.timeoutMs * 2 + 5000 });
  if (r.exitCode !== 0) return { error: `probe exited ${r.exitCode}: ${r.stderr.trim().split('\n').slice(-1)[0] ?? ''}` };
  try {
    return { result: JSON.parse(r.stdout.trim().split('\n').pop()!) as ProbeOutput };
  } catch {
    return { error: `probe printed no result: ${r.stdout.slice(0, 200)}` };
  }
}
