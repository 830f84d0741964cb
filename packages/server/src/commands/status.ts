// egress-server status: interface, listen port, peers with handshake and transfer, forwards, nft table match, forwarding, boot unit.
import { forwardMapElements, formatForwardSpec, normalizeNftText, renderServerNft, type Output } from '@egress/core';
import { describeImplementation, parseImplementation, type TunnelImplementation } from '@egress/core/wireguard-impl';
import type { CliOptions } from '../cli/parse-cli.js';
import { parseWgDump, type VpsFacts } from '../remote/facts.js';
import { presentAccepts } from '../remote/firewall.js';
import { requireState, withVps } from '../server-ops.js';
import type { SessionOpener } from '../session.js';

export interface StatusReport {
  host: string;
  interface: string;
  up: boolean;
  listenPort: { configured: number; live: number | null };
  endpoint: string;
  peers: Array<{ name: string; address4: string; address6?: string; publicKey: string; latestHandshake: number | null; handshakeAgoSeconds: number | null; rxBytes: number; txBytes: number; endpoint: string | null }>;
  forwards: Array<{ spec: string; peer: string }>;
  nft: { present: boolean; matchesRendered: boolean };
  ipForward: boolean;
  ipv6Forwarding: boolean | null;
  bootUnit: { name: string; enabled: string | null; systemd: boolean };
  firewallAccepts: string[];
  /** What differs from what egress put there (one line each), empty when nothing drifted. */
  drift: string[];
  healthy: boolean;
  /** Kernel module or userspace program (version, offloads) carrying the tunnel. */
  implementation: TunnelImplementation;
  roundTrips: number;
}

function ago(seconds: number | null): string {
  if (seconds === null) return 'never';
  if (seconds < 120) return `${seconds}s ago`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m ago`;
  return `${Math.round(seconds / 3600)}h ago`;
}

/** The drift of the VPS against its rendered state: table missing or different, sysctls wrong, forwards missing. */
export function serverDrift(config: ReturnType<typeof requireState>, facts: VpsFacts, present: boolean, matches: boolean): string[] {
  const out: string[] = [];
  if (!present) out.push('table inet egress is missing (MASQUERADE and every forward are gone)');
  else if (!matches) out.push('table inet egress differs from the rendered one');
  for (const [key, want] of [['net.ipv4.ip_forward', '1'], ...(config.subnet6 ? [['net.ipv6.conf.all.forwarding', '1']] : [])] as const) {
    const got = facts.sysctls[key];
    if (got !== want) out.push(`${key} is ${got ?? 'unknown'}, expected ${want}`);
  }
  const live = present ? normalizeNftText(facts.nftTableText!) : '';
  const missing = config.forwards.filter((f) => {
    const families: Array<4 | 6> = config.subnet6 ? [4, 6] : [4];
    const wanted = families.flatMap((fam) => forwardMapElements({ ...config, forwards: [f] }, fam, f.proto));
    return wanted.some((el) => !live.includes(normalizeNftText(el)));
  });
  if (missing.length) out.push(`forwards missing: ${missing.map((f) => formatForwardSpec(f)).join(', ')}`);
  return out;
}

/** Builds the status document from facts (pure; `now` in seconds). */
export function buildStatus(hostName: string, facts: VpsFacts, nowSeconds: number): Omit<StatusReport, 'roundTrips'> {
  const config = requireState(facts, hostName);
  const dump = parseWgDump(facts.wgDump);
  const live = new Map(dump.peers.map((p) => [p.publicKey, p]));
  const present = facts.nftTableText !== undefined;
  const matches = present && normalizeNftText(facts.nftTableText!) === normalizeNftText(renderServerNft(config));
  const ipForward = facts.sysctls['net.ipv4.ip_forward'] === '1';
  const v6 = config.subnet6 ? facts.sysctls['net.ipv6.conf.all.forwarding'] === '1' : null;
  const up = facts.linkUp === true && facts.wgDump !== undefined;
  const unitName = `wg-quick@${config.interface}.service`;
  const report = {
    host: hostName,
    interface: config.interface,
    up,
    listenPort: { configured: config.listenPort, live: dump.listenPort ?? null },
    endpoint: `${config.endpointHost}:${config.listenPort}`,
    peers: config.peers.map((p) => {
      const l = live.get(p.publicKey);
      const hs = l && l.latestHandshake > 0 ? l.latestHandshake : null;
      return {
        name: p.name,
        address4: p.address4,
        ...(p.address6 ? { address6: p.address6 } : {}),
        publicKey: p.publicKey,
        latestHandshake: hs,
        handshakeAgoSeconds: hs === null ? null : Math.max(0, nowSeconds - hs),
        rxBytes: l?.rx ?? 0,
        txBytes: l?.tx ?? 0,
        endpoint: l?.endpoint ?? null,
      };
    }),
    forwards: config.forwards.map((f) => ({ spec: formatForwardSpec(f), peer: f.peer })),
    nft: { present, matchesRendered: matches },
    ipForward,
    ipv6Forwarding: v6,
    bootUnit: { name: unitName, enabled: facts.unitEnabled ?? null, systemd: facts.systemd },
    firewallAccepts: presentAccepts(facts.iptables).map((a) => `${a.tool} ${a.chain} ${a.rule.join(' ')}`),
    implementation: parseImplementation(facts.implementationText, config.interface),
  };
  const drift = serverDrift(config, facts, present, matches);
  const healthy = up && matches && ipForward && v6 !== false && dump.listenPort === config.listenPort && (!facts.systemd || facts.unitEnabled === 'enabled');
  return { ...report, drift, healthy };
}

/** Formats the status for people. */
export function formatStatus(s: Omit<StatusReport, 'roundTrips'>): string {
  const mark = (ok: boolean) => (ok ? 'ok' : 'NO');
  const lines = [
    `${s.host}: ${s.healthy ? 'healthy' : 'NOT healthy'}`,
    `  interface ${s.interface}: ${s.up ? 'up' : 'DOWN'}, listen port ${s.listenPort.live ?? '-'} (configured ${s.listenPort.configured}), endpoint ${s.endpoint}`,
    `  tunnel ${describeImplementation(s.implementation)}`,
    `  nft table inet egress: ${s.nft.present ? (s.nft.matchesRendered ? 'present, matches' : 'present, DIFFERS from rendered') : 'MISSING'}`,
    `  ip_forward: ${mark(s.ipForward)}${s.ipv6Forwarding === null ? '' : `, ipv6 forwarding: ${mark(s.ipv6Forwarding)}`}`,
    ...(s.drift.length ? ['  drift:', ...s.drift.map((d) => `    ${d}`)] : ['  drift: none']),
    `  boot unit ${s.bootUnit.name}: ${s.bootUnit.systemd ? (s.bootUnit.enabled ?? 'unknown') : 'systemd not running'}`,
    `  peers (${s.peers.length}):`,
    ...s.peers.map((p) => `    ${p.name.padEnd(16)} ${[p.address4, p.address6].filter(Boolean).join(', ').padEnd(30)} handshake ${ago(p.handshakeAgoSeconds)}, rx ${p.rxBytes} B, tx ${p.txBytes} B`),
    `  forwards (${s.forwards.length}):`,
    ...s.forwards.map((f) => `    ${f.spec.padEnd(24)} -> ${f.peer}`),
  ];
  if (s.firewallAccepts.length) lines.push(`  accepts in other firewalls:`, ...s.firewallAccepts.map((a) => `    ${a}`));
  return lines.join('\n');
}

/** Runs `status`: one round trip of reads. */
export async function statusCommand(targetText: string, options: CliOptions, output: Output, open: SessionOpener): Promise<StatusReport> {
  return withVps(targetText, options, output, open, async ({ host, facts }) => {
    const s = buildStatus(host.name, facts, Math.floor(Date.now() / 1000));
    output.result(formatStatus(s));
    return { ...s, roundTrips: host.roundTrips ?? 0 };
  }, 'facts');
}
