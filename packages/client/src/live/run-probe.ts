// Runs the probe as a user on the client through the Host (setpriv + this node binary).
import ipaddr from 'ipaddr.js';
import type { Host } from '@egress/core/host/host';
import type { Egress } from '@egress/core/model/client';
import { PROBE_SCRIPT, type ProbeInput, type ProbeOutput } from './probe-script.js';

/** Documentation addresses used as probe destinations: a UDP connect picks a route and a source but sends nothing. */
export const PROBE_TARGETS = { v4: '203.0.113.1', v6: '2001:db8::1' } as const;

/** A host inside `cidr` (its first address after the network's, or the address of a /32 or /128). */
function hostIn(cidr: string): string {
  const [net, len] = ipaddr.parseCIDR(cidr);
  const max = net.kind() === 'ipv4' ? 32 : 128;
  if (len >= max - 1) return net.toString();
  const bytes = (net.kind() === 'ipv4' ? ipaddr.IPv4.networkAddressFromCIDR(cidr) : ipaddr.IPv6.networkAddressFromCIDR(cidr)).toByteArray();
  bytes[bytes.length - 1]! += 1;
  return ipaddr.fromByteArray(bytes).toString();
}

/** Where to probe an egress's source address: a documentation address, or one inside its AllowedIPs when narrower. */
export function probeTargets(e: Egress): { v4: string; v6: string } {
  const allowed = e.kind === 'wireguard' ? e.wireguard.allowedIps : undefined;
  const v4 = allowed?.find((c) => !c.includes(':'));
  const v6 = allowed?.find((c) => c.includes(':'));
  return { v4: v4 ? hostIn(v4) : PROBE_TARGETS.v4, v6: v6 ? hostIn(v6) : PROBE_TARGETS.v6 };
}

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
