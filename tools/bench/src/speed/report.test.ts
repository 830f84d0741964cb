// The speed groups' report: ratios against the same-run baseline, goals marked met / NOT met, n/a reasons kept.
import { describe, expect, it } from 'vitest';
import { cpuSecondsFromStat, type WireguardGroup } from '../groups/wireguard.js';
import { measured, unavailable } from '../results.js';
import type { PeersGroup } from '../groups/peers.js';
import { peerAddVerdict, peersMarkdown, wireguardMarkdown } from './report.js';

const mbit = (...v: number[]) => measured('Mbit/s', v);

describe('speed report', () => {
  it('reads utime+stime from /proc/PID/stat, also when the comm has spaces and parens', () => {
    const fields = Array.from({ length: 50 }, (_, i) => String(i + 3)); // field 3 (state) onwards
    fields[11] = '250'; // utime (field 14)
    fields[12] = '150'; // stime (field 15)
    expect(cpuSecondsFromStat(`1234 (wireguard-go (x)) ${fields.join(' ')}`)).toBe(4);
  });

  it('puts offload/old, egress/tunnel and egress/ssh -D side by side with their goals', () => {
    const w: WireguardGroup = {
      seconds: 2,
      runs: 3,
      impls: [
        { id: 'offload', binary: '/b/new', version: '0.0.20230223', seen: 'wireguard-go 0.0.20230223 (/b/new), offloads on' },
        { id: 'old', binary: '/b/old', version: '0.0.20220316', seen: 'wireguard-go 0.0.20220316 (/b/old), offloads off' },
      ],
      throughput: {
        offload: { tunnel: { up: mbit(1000, 1100, 900), down: mbit(800) }, egress: { up: mbit(990), down: mbit(700) } },
        old: { tunnel: { up: mbit(400), down: mbit(500) }, egress: { up: mbit(400), down: unavailable('iperf3: timeout') } },
      },
      sshD: { up: mbit(2000), down: mbit(1000) },
      cpuSecondsPerGiB: { offload: measured('CPU s/GiB', [4]), old: measured('CPU s/GiB', [28]) },
    };
    const md = wireguardMarkdown(w);
    expect(md).toContain('| plain tunnel route up | 1000 (900–1100, n=3) | 400 | 2.50 (goal ≥ 2: met) |');
    expect(md).toContain('| plain tunnel route down | 800 | 500 | 1.60 (goal ≥ 2: NOT met) |');
    expect(md).toContain('| egress/tunnel up (goal ≥ 0.97) | 0.99 (goal ≥ 0.97: met) | 1.00 (goal ≥ 0.97: met) |');
    expect(md).toContain('| egress/tunnel down (goal ≥ 0.97) | 0.88 (goal ≥ 0.97: NOT met) | n/a |');
    expect(md).toContain('| egress run-as down | 700 | n/a (iperf3: timeout) |');
    expect(md).toContain('| egress/`ssh -D` up (ssh -D: 2000 Mbit/s) | 0.49 | 0.20 |');
    expect(md).toContain('old/offload CPU per GiB: 7.00');
  });

  it('shows peer add phase by phase and as a multiple of the same-run bare SSH baselines', () => {
    const s = (...v: number[]) => measured('s', v);
    const ms = (...v: number[]) => measured('ms', v);
    const p: PeersGroup = {
      peers: 1000, method: 'm', bulkApply: s(1.5), provisionRerun: s(0.7), peerAdd: s(1.2, 1.0, 1.4), peerAddOnePeer: s(0.8), peerAddRoundTrips: measured('count', [3]),
      stallDuringAdd: ms(30), stallBaseline: ms(20), status: s(0.7), statusOnePeer: s(0.6), provisionRerunOnePeer: s(0.6), rss: measured('MiB', [33]), rssOnePeer: measured('MiB', [6]),
      phases: { startup: ms(300), facts: ms(250), changeCommands: measured('count', [40]) },
      baseline: { help: s(0.3), bareSsh: s(0.6), connect: ms(150), execTrue: ms(40), wgSetPair: ms(90), stall: unavailable('no stream') },
    };
    const md = peersMarkdown(p);
    expect(md).toContain('| Node start-up and loading the CLI (before its first line) | 300 | n/a |');
    expect(md).toContain("| facts + engine read (1 exec, or the rest of the lock's exec) | 250 | n/a |");
    expect(md).toContain('| SSH key exchange | n/a | n/a |');
    expect(md).toContain('| commands the change batch ran on the VPS (count) | 40 | n/a |');
    expect(md).toContain('judged on the shipped bundle (the program the .deb installs), every run: n/a.**');
    expect(md).toContain('| one exec round trip of `true`, ms | 40 |');
    expect(md).toContain('| longest stall of the transfer during the baselines, ms | n/a (no stream) |');
    expect(md).toContain('peer add / bare SSH script: 2.00; peer add / `--help`: 4.00; peer add = 30.00 × one bare exec round trip (repo build).');
    expect(md).toContain('| `peer add` at 1000 peers, repo build (`node packages/server/dist/bin.js`), s | 1.20 (1.00–1.40, n=3) (at 1-2 peers: 0.80; ratio 1.50) |');

    // With the shipped bundle measured: its own row, phase column, --help baseline and the verdict on it.
    const shipped: PeersGroup = {
      ...p,
      peerAddOnePeer: s(0.5, 0.5, 0.6),
      shipped: { peerAdd: s(0.7, 0.6, 0.99), peerAddOnePeer: s(0.4, 0.4, 0.5), stallDuringAdd: ms(12), help: s(0.1), phases: { startup: ms(150), changeCommands: measured('count', [20]) } },
    };
    const md2 = peersMarkdown(shipped);
    expect(md2).toContain('| `peer add` at 1000 peers, shipped bundle (what the .deb installs as /usr/bin/egress-server), s (goal < 1) | 0.70 (0.60–0.99, n=3) (at 1-7 peers: 0.40 (0.40–0.50, n=3); ratio 1.75) |');
    expect(md2).toContain('| Node start-up and loading the CLI (before its first line) | 300 | 150 |');
    expect(md2).toContain('| commands the change batch ran on the VPS (count) | 40 | 20 |');
    expect(md2).toContain('| `egress-server --help`, shipped bundle, s | 0.10 |');
    expect(md2).toContain('every run: met (median 0.70 s, slowest 0.99 s, n=3).** The repository build (more files for Node to load, same code) for comparison: NOT met (median 1.20 s, slowest 1.40 s, n=3).');
  });

  it('judges the peer add goal on the slowest run', () => {
    expect(peerAddVerdict(measured('s', [0.5, 0.6, 1.0]))).toBe('NOT met (median 0.60 s, slowest 1.00 s, n=3)');
    expect(peerAddVerdict(measured('s', [0.5]))).toBe('met (median 0.50 s, slowest 0.50 s, n=1)');
    expect(peerAddVerdict(unavailable('no lab'))).toBe('n/a (no lab)');
    expect(peerAddVerdict(undefined)).toBe('n/a');
  });
});
