// Renders docs/BENCHMARKS.md from a results file (pure: same results in, same text out).
import type { BenchResults, Figure, PathFigures, PathId, ProxyPathId } from './results.js';
import { EGRESS_PATHS, FORWARD_SETUPS, NODELAY_LABEL, PATH_IDS, PROXY_PATH_IDS, THROUGHPUT_TESTS } from './results.js';
import { goals, ratioOf, throughputGoals, type GoalVerdict, type Ratio } from './derive.js';
import { LATENCY_WARMUP } from './config.js';
import { egressesGoals, peersGoals, wireguardGoals } from './speed/goals.js';
import { egressesMarkdown, peersMarkdown, wireguardMarkdown } from './speed/report.js';

/** Where the report finds the run's other files, relative to the markdown file. */
export interface ReportLinks {
  /** The results JSON, e.g. `../bench/results/2026-11-21T06-40-00Z.json`. */
  json: string;
  /** Chart file name → link, e.g. `throughput.svg` → `../bench/results/throughput.svg`. */
  charts: Record<string, string>;
}

/** Formats a number with a precision suited to its size. */
export function num(v: number): string {
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toLocaleString('en-US');
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toPrecision(2);
}

/** A figure as `median (min–max)`, or `n/a: reason`. */
export function fig(f: Figure | undefined): string {
  if (!f) return 'n/a: not measured';
  if (f.status === 'n/a') return `n/a: ${f.reason}`;
  const fmt = f.unit === 'count' ? (v: number) => Math.round(v).toLocaleString('en-US') : num;
  if (f.n === 1) return fmt(f.median);
  return `${fmt(f.median)} (${fmt(f.min)}–${fmt(f.max)})`;
}

/** A ratio as `0.98 (0.95–1.01)`, or `n/a`. */
export function rat(r: Ratio): string {
  if (r.value === undefined) return 'n/a';
  return r.min !== undefined && r.max !== undefined ? `${r.value.toFixed(2)} (${r.min.toFixed(2)}–${r.max.toFixed(2)})` : r.value.toFixed(2);
}

/** Numbers the reasons of n/a figures so tables stay short: `n/a [2]`, listed once under "Not measured". */
export class Notes {
  private readonly reasons: string[] = [];

  /** The short reference for a reason. */
  ref(reason: string): string {
    let i = this.reasons.indexOf(reason);
    if (i < 0) i = this.reasons.push(reason) - 1;
    return `n/a [${i + 1}]`;
  }

  /** A figure as `median (min–max)`, or a numbered n/a. */
  fig(f: Figure | undefined): string {
    if (!f) return this.ref('not measured');
    return f.status === 'n/a' ? this.ref(f.reason) : fig(f);
  }

  /** The list of reasons, or nothing when every figure was measured. */
  render(): string {
    if (!this.reasons.length) return '';
    return ['## Not measured in this run', '', ...this.reasons.map((r, i) => `${i + 1}. ${r}`), ''].join('\n');
  }
}

function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const esc = (c: string) => c.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`)].join('\n');
}

function verdict(g: GoalVerdict, n: Notes): string {
  if (g.met === undefined) return g.reason === undefined && g.text !== undefined ? 'reported' : n.ref(g.reason ?? 'not measured');
  if (g.met) return 'met';
  const by = g.goal === 'run-as-startup' ? `${num(g.missBy ?? 0)} ms` : g.unit ? `${num(g.missBy ?? 0)} ${g.unit}` : g.goal === 'egresses' ? String(g.missBy ?? 0) : (g.missBy ?? 0).toFixed(3);
  const reaches = g.goal !== 'run-as-startup' && g.max !== undefined && g.value !== undefined && g.max >= g.value + (g.missBy ?? 0);
  return `**missed** by ${by}${reaches ? ' (some runs reach the goal)' : ''}`;
}

function goalValue(g: GoalVerdict): string {
  if (g.value === undefined) return 'n/a';
  if (g.text !== undefined) return g.text;
  if (g.goal === 'run-as-startup') return `${num(g.value)} ms`;
  return g.min !== undefined && g.max !== undefined ? `${g.value.toFixed(3)} (${g.min.toFixed(2)}–${g.max.toFixed(2)})` : g.value.toFixed(3);
}

function label(res: BenchResults, p: PathId): string {
  return res.dataplane.paths.find((x) => x.id === p)?.label ?? p;
}

/** Goal rows of the speed groups (issue 19), or one n/a row per group that has no results in this run. */
export function speedGoals(res: BenchResults): GoalVerdict[] {
  const missing = (goal: GoalVerdict['goal'], subject: string, group: string): GoalVerdict[] =>
    res.groupErrors?.[group] !== undefined ? [{ goal, subject, target: 'see section', reason: `group '${group}': ${res.groupErrors[group]}` }] : [];
  return [
    ...(res.wireguard ? wireguardGoals(res.wireguard) : missing('wireguard', 'wireguard-go offload vs old', 'wireguard')),
    ...(res.peers ? peersGoals(res.peers) : missing('peers', '1,000 peers on one VPS', 'peers')),
    ...(res.egresses ? egressesGoals(res.egresses) : missing('egresses', '8 egresses on one client', 'egresses')),
  ];
}

function goalsSection(res: BenchResults, n: Notes): string {
  const gs = [...goals(res), ...speedGoals(res)];
  const rows = gs.map((g) => [g.subject, g.target, goalValue(g), verdict(g, n)]);
  const missed = gs.filter((g) => g.met === false);
  const lines = [
    '## Goals',
    '',
    'Ratios as the median of per-run ratios, with their min–max in brackets (each run of the two paths taken back to back). ' +
      'The wireguard rows pair transfers back to back within one implementation block (section 6); "reported" rows have no goal.',
    '',
    table(['figure', 'goal', 'this run', 'verdict'], rows),
    '',
  ];
  if (missed.length) {
    lines.push('Where a goal is missed, by how much and what limits it:', '');
    for (const g of missed) lines.push(`- **${g.subject}** (${g.goal === 'run-as-startup' || g.goal === 'peers' || g.goal === 'egresses' ? goalValue(g) : g.value!.toFixed(3)}, goal ${g.target}): ${g.limit}.`);
    lines.push('');
  }
  return lines.join('\n');
}

/** Plain-language reading of the run: what bounds the absolute figures, from the measured ratios. */
export function readingSection(res: BenchResults): string {
  const tp = res.dataplane.throughput;
  const lines: string[] = [];
  const tg = throughputGoals(res).filter((g) => g.value !== undefined);
  if (tg.length) {
    const missed = tg.filter((g) => g.met === false);
    const reach = missed.filter((g) => g.max !== undefined && g.max >= 0.97);
    const spreadOf = (t: string) => {
      const f = tp[t as keyof typeof tp]?.tunnel;
      return f?.status === 'ok' && f.n > 1 ? ((f.max - f.min) / f.median) * 100 : undefined;
    };
    const beyond = missed.filter((g) => {
      const sp = spreadOf(g.subject.split(' ')[0]!);
      return sp === undefined || (g.missBy ?? 0) * 100 > sp;
    });
    const spreads = THROUGHPUT_TESTS.map(spreadOf).filter((v): v is number => v !== undefined);
    let text = `- **Throughput against the 0.97 goal:** ${tg.length - missed.length} of ${tg.length} egress/tunnel ratios meet it at the median`;
    if (missed.length === 1) text += `; 1 misses it${reach.length ? ', though some of its runs reach it' : ''}`;
    else if (missed.length) text += `; ${missed.length} miss it, ${reach.length} of them with runs that reach it`;
    text += '.';
    if (spreads.length) {
      text += ` The tunnel baseline alone varies ${Math.min(...spreads).toFixed(0)}–${Math.max(...spreads).toFixed(0)}% between its own runs`;
      text += beyond.length
        ? `; ${beyond.map((g) => g.subject).join(', ')} ${beyond.length === 1 ? 'misses' : 'miss'} by more than that, so ${beyond.length === 1 ? 'that is a cost' : 'those are costs'} this run did resolve.`
        : `, more than any miss, so at ${res.dataplane.runs} runs on this machine a 3% throughput cost can be neither shown nor ruled out.`;
    }
    const lat = EGRESS_PATHS.map((p) => ratioOf(res.latency.p50[p], res.latency.p50.tunnel).value).filter((v): v is number => v !== undefined);
    if (lat.length) {
      text += ` Latency is steadier: egress p50 over the tunnel's is ${Math.min(...lat).toFixed(2)}–${Math.max(...lat).toFixed(2)} across ${EGRESS_PATHS.join(', ')} (section 2).`;
    }
    lines.push(text);
  }
  const tcp = (['tcp-up', 'tcp-down'] as const).map((t) => ({ t, tunnel: ratioOf(tp[t]?.tunnel, tp[t]?.limit).value, alt: ratioOf(tp[t]?.alternative, tp[t]?.tunnel).value }));
  const pct = tcp.map((x) => x.tunnel).filter((v): v is number => v !== undefined);
  if (pct.length) {
    lines.push(
      `- **The tunnel is the bottleneck, not egress.** The plain tunnel route reaches ${pct.map((v) => `${(v * 100).toFixed(0)}%`).join(' / ')} of the direct path (TCP up / down). ` +
        'WireGuard here is wireguard-go in user space (this kernel has no WireGuard module), on 2 cores that also run both iperf3 ends; every tunnel figure is bounded by it. ' +
        'The egress/tunnel ratios isolate what egress itself adds (marking, one policy-rule lookup, SNAT, or the shim\'s bind()).',
    );
  }
  const alt = tcp.map((x) => x.alt).filter((v): v is number => v !== undefined);
  if (alt.length && alt.some((v) => v > 1)) {
    lines.push(
      `- **ssh -D + proxychains moves TCP at ${alt.map((v) => `${v.toFixed(1)}×`).join(' / ')} the tunnel here** (up / down). ` +
        'OpenSSH carries one TCP stream in one process with large reads and writes, while wireguard-go handles every 1420-byte packet through a TUN device in user space. ' +
        'So egress/alternative below 1 in this lab compares wireguard-go with OpenSSH, not egress with proxychains; the comparison was not made with kernel WireGuard, which this machine lacks. ' +
        'What the alternative cannot do is measured too: it carries no UDP, and like the exec shim it only reaches programs that call libc\'s connect() through the dynamic linker (not static binaries), which `run-as` and `run` do.',
    );
  }
  const udpLoss = (['udp-up', 'udp-down'] as const).map((t) => tp[t]?.tunnel).filter((f): f is Extract<Figure, { status: 'ok' }> => f?.status === 'ok' && f.extra?.lossPercent !== undefined);
  if (udpLoss.length) {
    lines.push(
      `- **UDP at full rate overloads the tunnel:** the plain tunnel route loses ${udpLoss.map((f) => `${f.extra!.lossPercent!.toFixed(0)}%`).join(' / ')} of the datagrams (up / down). ` +
        'The UDP figures are what got through; their ratios are noisier than TCP\'s because the loss depends on how the two cores are shared in each run.',
    );
  }
  const m = res.machine;
  // Only the load before the run counts as other work: the lab itself keeps both cores busy while it measures.
  const load = m.loadStart ?? 0;
  if (load > m.cores) {
    lines.push(
      `- **The machine was busy with other work:** a load average of ${load.toFixed(1)} on ${m.cores} cores when this run started. ` +
        'Absolute figures are lower and run-to-run spreads wider than on an idle machine; the ratios pair runs taken back to back to cancel most of it, ' +
        'and a ratio whose min–max range straddles the goal is not a clear miss.',
    );
  }
  return lines.length ? ['## What limits the figures', '', ...lines, ''].join('\n') : '';
}

function throughputSection(res: BenchResults, n: Notes): string {
  const d = res.dataplane;
  const lines = [
    '## 1. Data plane: throughput (iperf3)',
    '',
    `From the lab client to the \`internet\` host: iperf3 \`-t ${d.seconds}\`, ${d.runs} run(s) per path and test, the paths back to back in the order of the table ` +
      '(the tunnel right before run-as), reversed every other run, so each egress path and the tunnel run in ABBA order over two runs and drift hits them alike. ' +
      'TCP is one stream; UDP is sent at full rate (`-b 0`, 1,200-byte datagrams so nothing fragments in the tunnel) and the figure is what the receiver got. ' +
      '"up" = client sends, "down" = `-R`, the internet host sends. Figures in Mbit/s, median (min–max). ' +
      'A ratio is the median of the per-run ratios (run i of every path ran back to back) with their min–max.',
    '',
    '### The paths',
    '',
    table(['path', 'what carries the traffic'], d.paths.map((p) => [`\`${p.id}\` ${p.label}`, p.method])),
    '',
  ];
  for (const t of THROUGHPUT_TESTS) {
    const figs: PathFigures = d.throughput[t] ?? {};
    const rows = PATH_IDS.map((p) => {
      const f = figs[p];
      const isEgress = EGRESS_PATHS.includes(p);
      const loss = f?.status === 'ok' && f.extra?.lossPercent !== undefined ? `${f.extra.lossPercent.toFixed(1)}%` : '';
      return [
        label(res, p),
        n.fig(f),
        isEgress ? rat(ratioOf(f, figs.tunnel)) : '',
        isEgress ? rat(ratioOf(f, figs.alternative)) : '',
        ...(t.startsWith('udp') ? [loss] : []),
      ];
    });
    lines.push(`### ${t}`, '', table(['path', 'Mbit/s', 'egress/tunnel', 'egress/alternative', ...(t.startsWith('udp') ? ['loss'] : [])], rows), '');
  }
  return lines.join('\n');
}

function latencySection(res: BenchResults, n: Notes): string {
  const l = res.latency;
  const rows: string[][] = PATH_IDS.map((p) => {
    const isEgress = EGRESS_PATHS.includes(p);
    return [
      label(res, p),
      n.fig(l.p50[p]),
      n.fig(l.p99[p]),
      isEgress ? `${rat(ratioOf(l.p50[p], l.p50.tunnel))} / ${rat(ratioOf(l.p99[p], l.p99.tunnel))}` : '',
      isEgress ? `${rat(ratioOf(l.p50[p], l.p50.alternative))} / ${rat(ratioOf(l.p99[p], l.p99.alternative))}` : '',
    ];
  });
  const nd = l.alternativeNoDelay;
  const extra: string[] = [];
  if (nd) {
    rows.push([NODELAY_LABEL, n.fig(nd.p50), n.fig(nd.p99), '', EGRESS_PATHS.map((p) => `${p} ${rat(ratioOf(l.p50[p], nd.p50))}`).join(', ') + ' (p50)']);
    const a = l.p50.alternative;
    if (a?.status === 'ok' && nd.p50.status === 'ok' && nd.p50.median < a.median / 2) {
      extra.push(
        `The alternative as usually run (\`ssh -D … -N\`) has a floor of about ${num(a.median)} ms per connection: with no session ssh leaves Nagle's algorithm on ` +
          `(OpenSSH sets TCP_NODELAY only for interactive sessions), so the small SOCKS reply waits for a delayed ACK. ` +
          `The last row is the same path with \`ssh -tt -D … sleep\` (an interactive session, so TCP_NODELAY), measured in this run: ${num(nd.p50.median)} ms p50. ` +
          'That is the fair latency comparison with a tuned alternative; the ratio column of that row is egress p50 over it.',
        '',
      );
    }
  }
  return [
    '## 2. Latency: TCP connect + first byte',
    '',
    `${l.connections.toLocaleString('en-US')} sequential connections per run to ${l.target}, ${l.runs} run(s) per path (interleaved); ` +
      `each time is from \`connect()\` to the first byte the service sends, after ${LATENCY_WARMUP} warm-up connections that are not counted. ` +
      'p50 and p99 are taken within a run, then shown as median (min–max) over runs, in ms. ' +
      'Ratios are egress over the baseline (lower is better, 1.00 = same).',
    '',
    table(['path', 'p50 ms', 'p99 ms', 'egress/tunnel p50 / p99', 'egress/alternative p50 / p99'], rows),
    '',
    ...extra,
  ].join('\n');
}

function forwardsSection(res: BenchResults, n: Notes): string {
  const f = res.forwards;
  const name: Record<(typeof FORWARD_SETUPS)[number], string> = {
    'egress-small': `egress, ${f.small.toLocaleString('en-US')} forwards`,
    'egress-large': `egress, ${f.large.toLocaleString('en-US')} forwards`,
    'rules-large': `${f.large.toLocaleString('en-US')} forwards as one nft rule each`,
  };
  const rows = FORWARD_SETUPS.map((s) => [
    name[s],
    n.fig(f.connsPerSec[s]),
    n.fig(f.throughput[s]),
    s === 'egress-small' ? '1.00' : rat(ratioOf(f.connsPerSec[s], f.connsPerSec['egress-small'])),
    s === 'egress-small' ? '1.00' : rat(ratioOf(f.throughput[s], f.throughput['egress-small'])),
  ]);
  return [
    '## 3. Port forwards',
    '',
    f.method,
    '',
    table(['setup', 'conn/s', 'Mbit/s', `conn/s vs ${f.small}`, `Mbit/s vs ${f.small}`], rows),
    '',
    table(
      ['apply', 'seconds'],
      [
        [`egress: one \`egress-server provision\` growing the set from ${f.small} to ${f.large.toLocaleString('en-US')} forwards (SSH, read, one \`nft -f\`)`, n.fig(f.applyLarge)],
        [`one rule each: load ${f.large.toLocaleString('en-US')} rules with \`nft -f\``, n.fig(f.applyRules)],
      ],
    ),
    '',
  ].join('\n');
}

function controlSection(res: BenchResults, n: Notes): string {
  const c = res.controlPlane;
  const rows: string[][] = [
    ['`egress-server provision`, first run (VPS with packages present)', 's', n.fig(c.provisionFirst)],
    ['SSH round trips, first run', 'count', n.fig(c.roundTripsFirst)],
    ['`egress-server provision`, no-change re-run', 's', n.fig(c.provisionRerun)],
    ['SSH round trips, re-run', 'count', n.fig(c.roundTripsRerun)],
    ['`egress-client enroll`', 's', n.fig(c.enroll)],
    ['`egress-client run-as appuser -- /bin/true`', 'ms', n.fig(c.runAsStartup)],
    ['`setpriv --reuid appuser … /bin/true`', 'ms', n.fig(c.setprivStartup)],
    ['run-as added start-up latency over setpriv', 'ms', n.fig(c.runAsAdded)],
    ...(c.nodeStartup ? [['`node -e 0` (the runtime alone, for comparison)', 'ms', n.fig(c.nodeStartup)]] : []),
    ['shim: added time per `connect()`', 'ns', n.fig(c.shimConnect)],
    ...(c.repairFlush ? [['supervisor: repair after `nft flush ruleset`', 'ms', n.fig(c.repairFlush)]] : []),
    ...(c.repairDeleteTable ? [['supervisor: repair after `nft delete table inet egress`', 'ms', n.fig(c.repairDeleteTable)]] : []),
    ...(c.daemonIdleCpu ? [['supervisor: idle CPU', '%', n.fig(c.daemonIdleCpu)]] : []),
    ...(c.daemonRss ? [['supervisor: RSS', 'MiB', n.fig(c.daemonRss)]] : []),
  ];
  const notes = (['shimConnect', 'roundTripsFirst', 'runAsAdded', 'repairFlush', 'daemonIdleCpu'] as const)
    .map((k) => c[k])
    .filter((f): f is Extract<Figure, { status: 'ok' }> => !!f && f.status === 'ok' && !!f.note)
    .map((f) => `- ${f.note}`);
  const method =
    'Wall time of the real CLIs run in the lab client (the operator\'s machine here) against the lab VPS over SSH. The lab has no network delay, ' +
    'so on a real VPS add one RTT per SSH round trip. The VPS already has every package (it sees this machine\'s /usr), so provision installs nothing. ' +
    'SSH round trips are the SSH execs egress-server counts on its one connection (`--json` → `roundTrips`). Provision and enroll run once per bench run.';
  return ['## 4. Control plane', '', method, '', table(['what', 'unit', 'median (min–max)'], rows), '', ...notes, ...(notes.length ? [''] : [])].join('\n');
}

function glance(res: BenchResults, links: ReportLinks): string {
  const lines = ['## At a glance', ''];
  const charts = [
    ['relative.svg', 'Throughput of each egress path relative to the plain tunnel route, with the 0.97 goal'],
    ['throughput.svg', 'Throughput per path and test'],
    ['latency.svg', 'Latency p50 and p99 per path'],
  ] as const;
  for (const [file, alt] of charts) {
    const href = links.charts[file];
    if (href) lines.push(`![${alt}](${href})`, '');
  }
  return lines.join('\n');
}

function machineSection(res: BenchResults): string {
  const m = res.machine;
  return [
    '## Machine and versions',
    '',
    table(
      ['', ''],
      [
        ['CPU', `${m.cpu}, ${m.cores} cores`],
        ['memory', `${num(m.memoryGiB)} GiB`],
        ['kernel', m.kernel],
        ...(m.loadStart !== undefined && m.loadEnd !== undefined ? [['load average (1 min), start → end', `${m.loadStart.toFixed(1)} → ${m.loadEnd.toFixed(1)}`]] : []),
        ['OS', m.os],
        ['egress commit', res.commit],
        ...Object.entries(res.versions).map(([k, v]) => [k, v]),
      ],
    ),
    '',
    'All hosts are network namespaces of one machine (the lab, `tools/lab`): client, VPS and internet host share these cores, ' +
      'so absolute numbers are lower than between real machines; the ratios, taken in one run with the paths interleaved, are the point.',
    '',
  ].join('\n');
}

const PROXY_LABELS = { 'run-as': 'egress run-as (same tunnel)', proxy: 'egress-client proxy + proxychains4', floor: 'floor: minimal Node SOCKS5 relay + proxychains4', 'floor-c': 'native floor: minimal C SOCKS5 relay + proxychains4', 'ssh-d': 'ssh -D + proxychains4' } as const;

/** The proxy group: `egress-client proxy` against run-as through the same tunnel and against `ssh -D`. */
export function proxySection(res: BenchResults, n: Notes): string {
  const x = res.proxy;
  if (!x) return '';
  const rows = PROXY_PATH_IDS.map((p) => [
    PROXY_LABELS[p],
    n.fig(x.tcpUp[p]),
    n.fig(x.tcpDown[p]),
    n.fig(x.p50[p]),
    p === 'run-as' ? '' : `${rat(ratioOf(x.tcpUp[p], x.tcpUp['run-as']))} / ${rat(ratioOf(x.tcpDown[p], x.tcpDown['run-as']))}`,
    p === 'run-as' ? '' : rat(ratioOf(x.p50[p], x.p50['run-as'])),
    p === 'run-as' || !x.p50OverRunAs ? '' : n.fig(x.p50OverRunAs[p]),
  ]);
  // The paired differences (per round, path − run-as) when the run has them, else the difference of the medians.
  const paired = x.p50OverRunAs;
  const ok = (f: Figure | undefined): f is Extract<Figure, { status: 'ok' }> => f?.status === 'ok';
  const over = (id: ProxyPathId): number | undefined => {
    if (paired) return ok(paired[id]) ? paired[id].median : undefined;
    const f = x.p50[id];
    const ra = x.p50['run-as'];
    return ok(f) && ok(ra) ? f.median - ra.median : undefined;
  };
  const [pr, fl, fc] = [over('proxy'), over('floor'), over('floor-c')];
  const ms = (v: number) => `${v.toFixed(3)} ms`;
  const parts: string[] = [];
  if (pr !== undefined && fc !== undefined) parts.push(`native floor − run-as ${ms(fc)} (any user-space SOCKS hop: proxychains' handshake round trips and one relay)`);
  if (pr !== undefined && fl !== undefined && fc !== undefined) parts.push(`Node floor − native floor ${ms(fl - fc)} (a Node relay's own cost)`);
  else if (pr !== undefined && fl !== undefined) parts.push(`floor − run-as ${ms(fl)} (any user-space SOCKS hop)`);
  if (pr !== undefined && fl !== undefined) parts.push(`proxy − Node floor ${ms(pr - fl)} (egress-client proxy's own)`);
  const how = paired ? `median of ${x.latencyRuns} paired rounds, each path's p50 minus run-as's in the same round` : 'difference of the medians';
  const delta = pr !== undefined ? `p50 proxy − run-as: ${ms(pr)} (${how}; goal ≤ +0.2 ms)${parts.length ? `, of which ${parts.join(', ')}` : ''}.` : '';
  return [
    '## 5. The local proxy (`egress-client proxy`)',
    '',
    `iperf3 TCP (${x.seconds} s × ${x.runs} run(s)) and ${x.connections.toLocaleString('en-US')} sequential connect-to-first-byte connections (${x.latencyRuns} run(s)) ` +
      'through the same tunnel: as the run-as user, and as root through `proxychains4` to a SOCKS5 server in the client — `egress-client proxy` ' +
      '(its sockets bound to the tunnel address) or `ssh -D` to the VPS. `ssh -D` does not use the WireGuard tunnel (it reaches the VPS by SSH over the uplink), ' +
      'so its throughput is not bounded by the tunnel; the proxy and run-as share the tunnel, and every proxied connection adds the SOCKS5 handshake ' +
      '(client → proxychains → proxy on loopback) to its first byte. Every path connects to the same IP address (no name lookup on any of them; ' +
      'proxychains sends it as an IPv4 SOCKS5 request) with the same client (`connect-loop.mjs`). The floors are the least a SOCKS5 relay can do, ' +
      'CONNECT only, no checks, bound to the same tunnel address: `tools/bench/assets/socks-floor.mjs` in Node and `socks-floor.c` natively ' +
      '(a thread per connection, splice). Ratios are over run-as (throughput goal ≥ 0.9). ' + delta,
    '',
    table(['path', 'TCP up Mbit/s', 'TCP down Mbit/s', 'p50 ms', 'over run-as: up / down', 'over run-as: p50', 'p50 − run-as, paired ms'], rows),
    '',
  ].join('\n');
}

/** The speed groups' sections (each measured in its own lab), numbered after the main ones. */
export function speedSections(res: BenchResults, n: Notes): string {
  const parts: string[] = [];
  let i = 6;
  const add = (md: string) => parts.push(md.replace(/^## /, `## ${i++}. `));
  if (res.wireguard) add(wireguardMarkdown(res.wireguard));
  if (res.peers) add(peersMarkdown(res.peers));
  if (res.egresses) add(egressesMarkdown(res.egresses));
  for (const [group, why] of Object.entries(res.groupErrors ?? {})) parts.push(`## Group \`${group}\`\n\n${n.ref(`group '${group}': ${why}`)}\n`);
  return parts.join('\n');
}

/** The whole of docs/BENCHMARKS.md for a run. */
export function renderReport(res: BenchResults, links: ReportLinks): string {
  const started = res.startedAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  const minutes = (Date.parse(res.finishedAt) - Date.parse(res.startedAt)) / 60_000;
  const notes = new Notes();
  const sections = [goalsSection, throughputSection, latencySection, forwardsSection, controlSection, proxySection, speedSections].map((f) => f(res, notes));
  return [
    '# Benchmarks',
    '',
    `<!-- Generated by \`npm run bench\` (tools/bench). Do not edit by hand: re-run the bench. -->`,
    '',
    `Measured by \`npm run bench\` (${res.mode} run) on ${started}, in ${Number.isFinite(minutes) ? num(minutes) : '?'} min, ` +
      `inside one lab. Raw results: [${links.json.split('/').pop()}](${links.json}). ` +
      'Every figure is the median over repeated runs with the min–max range; every ratio compares paths measured in the same run, run by run. ' +
      'A figure shown as "n/a" was not measured in this run, with the reason.',
    '',
    glance(res, links),
    ...sections.slice(0, 1),
    readingSection(res),
    notes.render(),
    ...sections.slice(1),
    machineSection(res),
    '## Reproduce',
    '',
    'After the README\'s set-up, as root: `npm run bench` (about 10 minutes on 2 cores for the main lab, then the wireguard, peers and egresses groups, each in its own lab). It starts a lab, measures, tears the lab down, ' +
      'writes `bench/results/<time>.json` and regenerates this file and its charts. `npm run bench:smoke` does one short pass of everything ' +
      '(CI runs it; its results are not committed and CI never asserts on timings).',
    '',
  ].join('\n');
}
