// Markdown for the speed groups (`npm run bench -- wireguard|peers`): each figure with the ratio against its same-run baseline.
import { med, type EgressesBench, type Figure } from '../results.js';
import { EGRESS_TUNNEL_GOAL, pairsReaching } from './goals.js';
import { ratio } from '../stats.js';
import type { WireguardGroup } from '../groups/wireguard.js';
import type { PeersGroup } from '../groups/peers.js';
import { PHASES } from '../groups/peers-phases.js';

/** What one speed-group run wrote (bench/results/<group>-<time>.json). */
export interface SpeedResults {
  group: SpeedGroupName;
  mode: 'full' | 'smoke';
  startedAt: string;
  finishedAt: string;
  commit: string;
  machine: Record<string, unknown>;
  wireguard?: WireguardGroup;
  peers?: PeersGroup;
  egresses?: EgressesBench;
}

export type SpeedGroupName = 'wireguard' | 'peers' | 'egresses';

function num(f: Figure | undefined, digits = 0): string {
  if (!f) return 'n/a';
  if (f.status !== 'ok') return `n/a (${f.reason})`;
  return f.n > 1 ? `${f.median.toFixed(digits)} (${f.min.toFixed(digits)}–${f.max.toFixed(digits)}, n=${f.n})` : f.median.toFixed(digits);
}

function r(a: Figure | undefined, b: Figure | undefined, goal?: { min: number }): string {
  const x = ratio(med(a), med(b));
  if (x === undefined) return 'n/a';
  return `${x.toFixed(2)}${goal ? (x >= goal.min ? ` (goal ≥ ${goal.min}: met)` : ` (goal ≥ ${goal.min}: NOT met)`) : ''}`;
}

/** The `wireguard` group as markdown (paired design when the results have it; ratios of medians for older results). */
export function wireguardMarkdown(w: WireguardGroup): string {
  const paired = w.egressOverTunnel !== undefined && w.blocks !== undefined;
  const how = paired
    ? `Both ends (lab vps and client) run the same implementation, switched once per block (blocks in order: ${w.blocks!.join(', ')}), each switch followed by a ` +
      `${w.warmupSeconds ?? '?'} s warm-up transfer per direction that is not counted. Inside a block, per direction, ${w.pairsPerBlock} tunnel/egress pair(s) ` +
      `back to back in ABBA order (tunnel, egress, egress, tunnel, …) and ${w.noisePairsPerBlock} tunnel/tunnel pair(s) among them; iperf3 TCP ${w.seconds} s each, ` +
      'from the client to the internet host. egress/tunnel is the median of the per-pair ratios (min–max, n); tunnel/tunnel (second over first of two ' +
      "back-to-back tunnel transfers) is the same ratio with no difference between the paths: its spread is this run's noise floor. " +
      'offload/old is tunnel Mbit/s, one block median over the adjacent block of the other implementation.'
    : `Both ends (lab vps and client) run the same implementation; the two alternate run by run (${w.runs} runs × ${w.seconds} s iperf3 TCP each, from the client to the internet host).`;
  const lines = [
    '## wireguard-go with offloads vs 0.0.20220316',
    '',
    how,
    ...(w.load !== undefined ? ['', `1-minute load average when the group started: ${w.load.toFixed(2)} (2 cores shared by both iperf3 ends and both wireguard-go).`] : []),
    '',
    ...w.impls.map((i) => `- **${i.id}**: \`${i.binary}\` — status says: ${i.seen}`),
    '',
    '| Mbit/s | offload | old | offload/old (goal ≥ 2.0) |',
    '|---|---|---|---|',
  ];
  for (const path of ['tunnel', 'egress'] as const) {
    for (const dir of ['up', 'down'] as const) {
      const a = w.throughput.offload[path][dir];
      const b = w.throughput.old[path][dir];
      const ratioCell = path === 'tunnel' && w.offloadOverOld ? goalCell(w.offloadOverOld[dir], 2, 2) : r(a, b, path === 'tunnel' ? { min: 2 } : undefined);
      lines.push(`| ${path === 'tunnel' ? 'plain tunnel route' : 'egress run-as'} ${dir} | ${num(a)} | ${num(b)} | ${ratioCell} |`);
    }
  }
  if (paired) {
    lines.push('', '| ratio | offload | old |', '|---|---|---|');
    for (const dir of ['up', 'down'] as const) {
      const cell = (id: 'offload' | 'old') => {
        const f = w.egressOverTunnel![id][dir];
        const reach = pairsReaching(f, EGRESS_TUNNEL_GOAL);
        return `${goalCell(f, EGRESS_TUNNEL_GOAL, 3)}${reach ? `; ${reach}` : ''}`;
      };
      lines.push(`| egress/tunnel ${dir}, per pair (goal ≥ 0.97) | ${cell('offload')} | ${cell('old')} |`);
      lines.push(`| tunnel/tunnel ${dir}, per pair (noise floor) | ${num(w.tunnelOverTunnel?.offload[dir], 3)} | ${num(w.tunnelOverTunnel?.old[dir], 3)} |`);
    }
  } else {
    lines.push('', '| ratio | offload | old |', '|---|---|---|');
    for (const dir of ['up', 'down'] as const) {
      lines.push(`| egress/tunnel ${dir} (goal ≥ 0.97) | ${r(w.throughput.offload.egress[dir], w.throughput.offload.tunnel[dir], { min: 0.97 })} | ${r(w.throughput.old.egress[dir], w.throughput.old.tunnel[dir], { min: 0.97 })} |`);
    }
  }
  for (const dir of ['up', 'down'] as const) {
    lines.push(`| egress/\`ssh -D\` ${dir} (ssh -D: ${num(w.sshD[dir])} Mbit/s) | ${r(w.throughput.offload.egress[dir], w.sshD[dir])} | ${r(w.throughput.old.egress[dir], w.sshD[dir])} |`);
  }
  lines.push(
    `| CPU s per GiB (both ends' wireguard-go, /proc/PID/stat) | ${num(w.cpuSecondsPerGiB.offload, 2)} | ${num(w.cpuSecondsPerGiB.old, 2)} |`,
    '',
    `old/offload CPU per GiB: ${r(w.cpuSecondsPerGiB.old, w.cpuSecondsPerGiB.offload)}`,
    '',
  );
  return lines.join('\n');
}

/** A ratio figure (per-pair samples) with its goal verdict. */
function goalCell(f: Figure | undefined, goal: number, digits: number): string {
  if (!f || f.status !== 'ok') return num(f, digits);
  return `${num(f, digits)} (goal ≥ ${goal}: ${f.median >= goal ? 'met' : 'NOT met'})`;
}

/** The `egresses` group as markdown. */
export function egressesMarkdown(e: EgressesBench): string {
  return [
    `## ${e.count} egresses on one client`,
    '',
    e.method,
    ...(e.load !== undefined ? ['', `1-minute load average when the group started: ${e.load.toFixed(2)}.`] : []),
    '',
    '| egress | user | its VPS\'s address | address whoami saw |',
    '|---|---|---|---|',
    ...e.seen.map((s) => `| ${s.name} | ${s.user} | ${s.expected} | ${s.seen}${s.seen === s.expected ? '' : ' (WRONG)'} |`),
    '',
    `\`egress-client status --json\`, s: with 1 egress ${num(e.statusOne, 2)}; with ${e.count} ${num(e.statusAll, 2)}; ratio ${r(e.statusAll, e.statusOne)}.`,
    '',
  ].join('\n');
}

/** The `peers` group as markdown. */
export function peersMarkdown(p: PeersGroup): string {
  return [
    `## ${p.peers} peers on one VPS`,
    '',
    `${p.method}`,
    '',
    `1-minute load average at the start: ${p.load ?? 'n/a'} (the machine is shared; wall times grow with it, round trips do not).`,
    '',
    '| figure | value |',
    '|---|---|',
    `| bulk converge of ${p.peers - 1} peers (provision re-run), s | ${num(p.bulkApply, 2)} |`,
    `| provision re-run, no change, s | ${num(p.provisionRerun, 2)} (1 peer: ${num(p.provisionRerunOnePeer, 2)}; ratio ${r(p.provisionRerun, p.provisionRerunOnePeer)}) |`,
    `| \`peer add\` at ${p.peers} peers, repo build (\`node packages/server/dist/bin.js\`), s | ${num(p.peerAdd, 2)} (at 1-${onePeerCount(p)} peers: ${num(p.peerAddOnePeer, 2)}; ratio ${r(p.peerAdd, p.peerAddOnePeer)}) |`,
    ...(p.shipped
      ? [`| \`peer add\` at ${p.peers} peers, shipped bundle (what the .deb installs as /usr/bin/egress-server), s (goal < 1) | ${num(p.shipped.peerAdd, 2)} (at 1-${onePeerCount(p)} peers: ${num(p.shipped.peerAddOnePeer, 2)}; ratio ${r(p.shipped.peerAdd, p.shipped.peerAddOnePeer)}) |`]
      : []),
    `| SSH round trips of \`peer add\` | ${num(p.peerAddRoundTrips, 0)} |`,
    `| longest stall of a transfer over another peer during \`peer add\`, ms | ${num(p.stallDuringAdd, 0)} |`,
    `| longest stall of the same transfer without \`peer add\` (baseline), ms | ${num(p.stallBaseline, 0)} (during/baseline ${r(p.stallDuringAdd, p.stallBaseline)}) |`,
    `| \`status\` at ${p.peers} peers, s | ${num(p.status, 2)} (1 peer: ${num(p.statusOnePeer, 2)}; ratio ${r(p.status, p.statusOnePeer)}) |`,
    `| VPS wireguard-go RSS at ${p.peers} peers, MiB | ${num(p.rss, 1)} |`,
    `| VPS wireguard-go RSS with 1 peer (baseline), MiB | ${num(p.rssOnePeer, 1)} (ratio ${r(p.rss, p.rssOnePeer)}) |`,
    '',
    `interface restarted by \`peer add\`: ${p.restarted === undefined ? 'n/a' : p.restarted ? 'YES' : 'no (same ifindex)'}`,
    '',
    `**Goal \`peer add\` at ${p.peers} peers < 1 s, judged on the shipped bundle (the program the .deb installs), every run: ${peerAddVerdict(p.shipped?.peerAdd)}.** ` +
      `The repository build (more files for Node to load, same code) for comparison: ${peerAddVerdict(p.peerAdd)}.`,
    '',
    ...peerAddBreakdown(p),
  ].join('\n');
}

/** How many 1-peer baseline adds ran before the bulk (the peer count then rose from 1 to 1 + that). */
function onePeerCount(p: PeersGroup): number {
  return 1 + (p.peerAddOnePeer.status === 'ok' ? p.peerAddOnePeer.n : 0) * (p.shipped?.peerAddOnePeer.status === 'ok' ? 2 : 1);
}

/** The < 1 s goal of `peer add`, on every run (the slowest decides): "met (median …, slowest …)" or "NOT met (…)". */
export function peerAddVerdict(f: Figure | undefined, goalS = 1): string {
  if (!f) return 'n/a';
  if (f.status !== 'ok') return `n/a (${f.reason})`;
  return `${f.max < goalS ? 'met' : 'NOT met'} (median ${f.median.toFixed(2)} s, slowest ${f.max.toFixed(2)} s, n=${f.n})`;
}

/** Where `peer add`'s time went, and the same-run baselines it is a multiple of. */
function peerAddBreakdown(p: PeersGroup): string[] {
  const lines: string[] = [];
  if (p.phases) {
    lines.push(
      `### Where \`peer add\` at ${p.peers} peers spends its time (EGRESS_TIMING=1, transfer running)`,
      '',
      '| phase | repo build, ms | shipped bundle, ms |',
      '|---|---|---|',
      ...(Object.keys(PHASES) as Array<keyof typeof PHASES>).map((k) => `| ${PHASES[k]} | ${num(p.phases![k], 0)} | ${num(p.shipped?.phases?.[k], 0)} |`),
      `| commands the change batch ran on the VPS (count) | ${num(p.phases.changeCommands, 0)} | ${num(p.shipped?.phases?.changeCommands, 0)} |`,
      '',
    );
  }
  const b = p.baseline;
  if (b) {
    lines.push(
      '### Same-run baselines (each while the same transfer runs)',
      '',
      '| baseline | value |',
      '|---|---|',
      `| \`egress-server --help\` (Node start-up + CLI load), repo build, s | ${num(b.help, 2)} |`,
      ...(p.shipped ? [`| \`egress-server --help\`, shipped bundle, s | ${num(p.shipped.help, 2)} |`] : []),
      `| bare SSH script (Node, egress-server's connect, \`true\`, \`wg set\` add and remove, close), s | ${num(b.bareSsh, 2)} |`,
      `| its SSH connect (known_hosts, keys, TCP, kex, auth), ms | ${num(b.connect, 0)} |`,
      `| one exec round trip of \`true\`, ms | ${num(b.execTrue, 0)} |`,
      `| bare \`wg set\` add + \`wg set\` remove of one peer (2 execs), ms | ${num(b.wgSetPair, 0)} |`,
      `| longest stall of the transfer during the baselines, ms | ${num(b.stall, 0)} |`,
      '',
      `peer add / bare SSH script: ${r(p.peerAdd, b.bareSsh)}; peer add / \`--help\`: ${r(p.peerAdd, b.help)}; ` +
        `peer add = ${r(secondsToMs(p.peerAdd), b.execTrue)} × one bare exec round trip (repo build).` +
        (p.shipped ? ` Shipped bundle: peer add / bare SSH script: ${r(p.shipped.peerAdd, b.bareSsh)}; peer add / its \`--help\`: ${r(p.shipped.peerAdd, p.shipped.help)}.` : ''),
      '',
    );
  }
  return lines;
}

function secondsToMs(f: Figure): Figure {
  return f.status === 'ok' ? { ...f, median: f.median * 1000, min: f.min * 1000, max: f.max * 1000, samples: f.samples.map((x) => x * 1000), unit: 'ms' } : f;
}

/** The whole report of one run. */
export function speedMarkdown(res: SpeedResults): string {
  return [
    `# Benchmark group \`${res.group}\` (${res.mode})`,
    '',
    `Run ${res.startedAt} – ${res.finishedAt}, commit ${res.commit}; machine ${JSON.stringify(res.machine)}.`,
    '',
    ...(res.wireguard ? [wireguardMarkdown(res.wireguard)] : []),
    ...(res.peers ? [peersMarkdown(res.peers)] : []),
    ...(res.egresses ? [egressesMarkdown(res.egresses)] : []),
  ].join('\n');
}
