// What enroll and doctor say about local resolver daemons that would answer a bound user's own lookups.
import { bypassFindings, bypassFixes, type ResolverDaemons } from './daemons.js';

/** The warning enroll prints for `user`, or undefined when nothing on the host bypasses the egress. */
export function daemonWarning(d: ResolverDaemons, user: string): string | undefined {
  const findings = bypassFindings(d);
  if (findings.length === 0) return undefined;
  return [
    `name lookups of ${user}'s own processes would leave directly: ${findings.join('; ')}.`,
    `  apps started by egress-client run-as / run / run --isolate are not affected (they get a view without it).`,
    `  for ${user}'s other processes: ${bypassFixes(d).join('; ')}.`,
  ].join('\n');
}
