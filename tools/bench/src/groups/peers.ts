// Group `peers`: one VPS with ~1,000 peers (a /22): `peer add` time and whether it restarts the interface, the longest
// stall of a transfer over another peer meanwhile (against the same transfer without it), `status` time, wireguard-go RSS.
import { readFileSync, readlinkSync } from 'node:fs';
import { loadavg } from 'node:os';
import type { Lab } from '@egress/lab';
import { allocatePeer, generateKeyPair } from '@egress/core';
import type { BenchConfig } from '../config.js';
import { jsonDocument, runProvision } from '../egress-setup.js';
import { assetPath, firstLine, must, reasonOf, StepError, stop, timed, waitForListen } from '../lab-run.js';
import { measured, unavailable, type Figure } from '../results.js';
import { phasesOf, type PhaseId, type TimingDoc } from './peers-phases.js';

export interface PeersGroup {
  peers: number;
  method: string;
  bulkApply: Figure;
  provisionRerun: Figure;
  peerAdd: Figure;
  /** `peer add` to the VPS while it has only the bench peer (same run): the baseline of peerAdd. */
  peerAddOnePeer: Figure;
  /** SSH round trips `peer add` reported (independent of the machine's load). */
  peerAddRoundTrips: Figure;
  stallDuringAdd: Figure;
  stallBaseline: Figure;
  status: Figure;
  /** The same `status` and no-change provision re-run with the one bench peer (the baseline of the two above). */
  statusOnePeer: Figure;
  provisionRerunOnePeer: Figure;
  rss: Figure;
  rssOnePeer: Figure;
  /** 1-minute load average when the group started. */
  load?: number;
  /** Whether the VPS's tunnel interface got a new ifindex during `peer add` (a restart). */
  restarted?: boolean;
  /** Where `peer add`'s time went (EGRESS_TIMING=1), ms per phase, and the commands its change batch ran on the VPS. */
  phases?: Partial<Record<PhaseId | 'changeCommands', Figure>>;
  /**
   * The same `peer add`s through the shipped program (the esbuild bundle build-deb.mjs makes, what the .deb installs),
   * in the same run, alternating with the repository build's: the goal's verdict is taken on these.
   */
  shipped?: ShippedFigures;
  /** Same-run baselines, each while the same transfer runs (a stream window of their own). */
  baseline?: {
    /** `egress-server --help`, wall s: Node start-up and the CLI's first module loads. */
    help: Figure;
    /** The bare SSH script (tools/bench/assets/ssh-baseline.mjs), wall s: Node, egress-server's connect, 3 execs, close. */
    bareSsh: Figure;
    /** Its parts, ms: connect (prepare + TCP + kex + auth), one exec of `true`, `wg set` add + `wg set` remove. */
    connect: Figure;
    execTrue: Figure;
    wgSetPair: Figure;
    /** The transfer's longest stall while the baselines ran, ms. */
    stall: Figure;
  };
}

/** `peer add` through the shipped bundle (see PeersGroup.shipped). */
export interface ShippedFigures {
  peerAdd: Figure;
  peerAddOnePeer: Figure;
  stallDuringAdd: Figure;
  phases?: Partial<Record<PhaseId | 'changeCommands', Figure>>;
  /** `egress-server --help` through the bundle (Node start-up + loading the one file), s. */
  help: Figure;
}

/** One program `peer add` runs through: the repository's dist tree, or the shipped bundle. */
interface Form {
  id: 'repo' | 'shipped';
  argv: string[];
}

interface PeerAddRun {
  s: number;
  trips: number;
  phases: ReturnType<typeof phasesOf>;
}

/** One `peer add NAME` with EGRESS_TIMING=1 inside the client host: wall s, round trips and phases. */
async function timedPeerAdd(lab: Lab, form: Form, name: string): Promise<PeerAddRun> {
  const argv = [...form.argv, 'peer', 'add', lab.ssh.target, name, '--out', `/tmp/egress-bench-${name}.json`, '--json'];
  const r = await timed(() => lab.exec('client', argv, { timeoutMs: 120_000, env: { EGRESS_TIMING: '1' } }));
  if (r.value.exitCode !== 0) throw new StepError(`peer add (${form.id}): exit ${r.value.exitCode}: ${firstLine(r.value.stderr) || firstLine(r.value.stdout)}`);
  const line = r.value.stderr.split('\n').find((l) => l.startsWith('egress-timing {'));
  if (!line) throw new StepError(`peer add (${form.id}) printed no egress-timing line with EGRESS_TIMING=1`);
  return { s: r.ms / 1000, trips: jsonDocument<{ roundTrips: number }>(r.value.stdout, 'peer add').roundTrips, phases: phasesOf(JSON.parse(line.slice('egress-timing '.length)) as TimingDoc, r.ms) };
}

/** Per-phase figures (ms; the change batch's command count) of several runs. */
function phaseFigures(runs: readonly PeerAddRun[]): Partial<Record<PhaseId | 'changeCommands', Figure>> {
  return Object.fromEntries((Object.keys(runs[0]?.phases ?? {}) as Array<PhaseId | 'changeCommands'>).map((k) => [k, measured(k === 'changeCommands' ? 'count' : 'ms', runs.map((p) => p.phases[k]))]));
}

function shippedUnavailable(reason: string): ShippedFigures {
  return { peerAdd: unavailable(reason), peerAddOnePeer: unavailable(reason), stallDuringAdd: unavailable(reason), help: unavailable(reason) };
}

const STREAM_PORT = 9100;
/** The subnet the group provisions with: room for 1,022 peers. */
export const PEERS_SUBNET = '10.77.0.0/22';

// A server on the internet host that writes as fast as the reader takes, and a reader that reports its longest gap.
const STREAM_SERVER = `require('net').createServer((s) => { const b = Buffer.alloc(65536); const w = () => { while (s.write(b)); }; s.on('drain', w); s.on('error', () => {}); w(); }).listen(${STREAM_PORT}, process.argv[1], () => console.log('listening'))`;
const STREAM_READER = `const [host, port, ms] = process.argv.slice(1); const s = require('net').connect(+port, host); let last = 0, gap = 0, bytes = 0; const t0 = Date.now();
s.on('data', (d) => { const now = performance.now(); if (last) gap = Math.max(gap, now - last); last = now; bytes += d.length; if (bytes > 0 && Date.now() - t0 > +ms) { s.destroy(); console.log(JSON.stringify({ gap, bytes })); } });
s.on('connect', () => console.error('connected')); s.on('error', (e) => { console.error(e.message); process.exit(1); });`;

/** Resident memory of the VPS's wireguard-go processes, MiB (VmRSS from /proc/PID/status; PID matched by network namespace). */
async function vpsWgRss(lab: Lab): Promise<number> {
  const r = await lab.exec('vps', ['pgrep', '-x', 'wireguard-go']);
  const pids = r.stdout.split('\n').map(Number).filter((p) => p > 0 && netOf(p) === lab.hosts.vps.net);
  if (!pids.length) throw new StepError('no wireguard-go runs in the vps');
  return pids.reduce((sum, pid) => sum + Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024, 0);
}

function netOf(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return undefined;
  }
}

async function ifindex(lab: Lab): Promise<number> {
  return jsonDocument<Array<{ ifindex: number }>>(await must(lab, 'vps', ['ip', '-j', 'link', 'show', 'dev', 'egress0']), 'ip -j link')[0]!.ifindex;
}

/**
 * An address of PEERS_SUBNET no peer holds, for the bare `wg set` baseline: the last host of the /22 (peers are
 * allocated from the bottom up, so it stays free); a baseline peer given a held address would take it from that peer.
 */
export function spareAddress(used: readonly string[]): string {
  const spare = '10.77.3.254';
  if (used.includes(spare)) throw new StepError(`${spare} (the bare wg set baseline's address) is held by a peer`);
  return spare;
}

/** Times `egress-server status --json` `runs` times, checking it listed at least `peers` peers. */
async function timeStatus(lab: Lab, runs: number, peers: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const r = await timed(() => must(lab, 'client', [...lab.egressServerArgv, 'status', lab.ssh.target, '--json'], { timeoutMs: 120_000 }));
    let doc: { peers?: unknown[] };
    try {
      doc = JSON.parse(r.value) as { peers?: unknown[] };
    } catch {
      throw new StepError(`status --json printed no JSON document (${r.value.length} bytes, starting ${JSON.stringify(r.value.slice(0, 60))}, ending ${JSON.stringify(r.value.slice(-60))})`);
    }
    if ((doc.peers?.length ?? 0) < peers) throw new StepError(`status listed ${doc.peers?.length ?? 0} peers, expected ${peers}+`);
    out.push(r.ms / 1000);
  }
  return out;
}

/** Streams for `ms` over the bench egress (run-as appuser); `during` runs meanwhile after `delayMs`. Returns the longest gap, ms. */
async function streamGap(lab: Lab, ms: number, during?: { delayMs: number; fn: () => Promise<void> }): Promise<number> {
  const reader = lab.spawn('client', [...lab.egressClientArgv, 'run-as', 'appuser', '--', process.execPath, '-e', STREAM_READER, lab.addr.whoamiV4, String(STREAM_PORT), String(ms)]);
  const started = Date.now();
  while (!reader.output().includes('connected')) {
    if (Date.now() - started > 20_000) throw new StepError(`the stream reader did not connect: ${reader.output().trim()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  if (during) {
    await new Promise((r) => setTimeout(r, during.delayMs));
    await during.fn();
  }
  const exit = await reader.exited;
  const line = reader.output().split('\n').find((l) => l.startsWith('{'));
  if (exit.code !== 0 || !line) throw new StepError(`the stream reader failed (exit ${exit.code}): ${reader.output().trim()}`);
  return (JSON.parse(line) as { gap: number }).gap;
}

/** Measures the VPS at `cfg`'s peer count (the bench peer is enrolled already; the rest are written into server.json). */
export async function measurePeers(lab: Lab, cfg: BenchConfig & { peers: number }, log: (l: string) => void, shippedArgv?: string[] | { reason: string }): Promise<PeersGroup> {
  const na = (why: string) => unavailable(why);
  const out: PeersGroup = {
    peers: cfg.peers,
    load: Math.round(loadavg()[0]! * 10) / 10,
    method:
      `provision --subnet ${PEERS_SUBNET} with the bench client, then ${cfg.peers - 2} more peers (fresh keys, next free addresses) written into /etc/egress/server.json and ` +
      'converged by a provision re-run; then `peer add` of one more while the client streams over its own tunnel (a Node reader records the longest gap between data events). ' +
      'Each `peer add` (also the 1-peer baseline before the bulk) runs in a 3 s window of that transfer, once through the repository build (`node packages/server/dist/bin.js`) and once through ' +
      'the shipped program (the single-file esbuild bundle tools/package/build-deb.mjs makes and the .deb installs as /usr/bin/egress-server, built here with the same options), alternating. ' +
      'wireguard-go is the lab default (offload-capable).',
    bulkApply: na('not run'), provisionRerun: na('not run'), peerAdd: na('not run'), peerAddOnePeer: na('not run'), peerAddRoundTrips: na('not run'), stallDuringAdd: na('not run'), stallBaseline: na('not run'),
    status: na('not run'), statusOnePeer: na('not run'), provisionRerunOnePeer: na('not run'), rss: na('not run'), rssOnePeer: na('not run'),
  };
  if (shippedArgv && !Array.isArray(shippedArgv)) out.shipped = shippedUnavailable(`the shipped bundle could not be built: ${shippedArgv.reason}`);
  const server = lab.spawn('internet', [process.execPath, '-e', STREAM_SERVER, lab.addr.whoamiV4]);
  try {
    await waitForListen(lab, 'internet', STREAM_PORT);
    out.statusOnePeer = measured('s', await timeStatus(lab, cfg.runs, 1));
    const rerunsOne: number[] = [];
    for (let i = 0; i < cfg.runs; i++) rerunsOne.push((await runProvision(lab)).ms / 1000);
    out.provisionRerunOnePeer = measured('s', rerunsOne);
    const forms: Form[] = [{ id: 'repo', argv: lab.egressServerArgv }, ...(Array.isArray(shippedArgv) ? [{ id: 'shipped' as const, argv: shippedArgv }] : [])];
    // The 1-peer baseline under the same conditions as the 1,000-peer figure: the same transfer runs meanwhile.
    const addsOne: Record<Form['id'], number[]> = { repo: [], shipped: [] };
    for (let i = 0; i < cfg.runs; i++) {
      for (const form of forms) {
        await streamGap(lab, 3000, { delayMs: 500, fn: async () => void addsOne[form.id].push((await timedPeerAdd(lab, form, `small-${form.id}${i}`)).s) });
      }
    }
    out.peerAddOnePeer = measured('s', addsOne.repo);
    // After those transfer windows, as the 1,000-peer figure comes after them too: taken before any transfer, the
    // 1-peer figure read ~7 MiB while the 1,000-peer one read ~200 MiB after six transfer windows (33 MiB when no
    // transfer had run before it), so the two were not taken under the same conditions.
    out.rssOnePeer = measured('MiB', [await vpsWgRss(lab)]);
    // Bulk: the rest of the peers straight into the server's state, converged by provision (its bulk path).
    const state = jsonDocument<{ subnet4: string; peers: Array<{ name: string; publicKey: string; address4: string }> }>(await must(lab, 'vps', ['cat', '/etc/egress/server.json']), 'server.json');
    const used = state.peers.map((p) => p.address4);
    for (let i = state.peers.length; i < cfg.peers - 1; i++) {
      const address4 = allocatePeer(state.subnet4, used);
      used.push(address4);
      state.peers.push({ name: `p${String(i).padStart(4, '0')}`, publicKey: generateKeyPair().publicKey, address4 });
    }
    await lab.writeFile('vps', '/etc/egress/server.json', `${JSON.stringify(state, null, 2)}\n`, '0600');
    const bulk = await runProvision(lab);
    out.bulkApply = measured('s', [bulk.ms / 1000]);
    log(`bulk converge of ${state.peers.length} peers: ${(bulk.ms / 1000).toFixed(2)} s, ${bulk.changed} changes`);
    const reruns: number[] = [];
    for (let i = 0; i < cfg.runs; i++) reruns.push((await runProvision(lab)).ms / 1000);
    out.provisionRerun = measured('s', reruns);
    out.rss = measured('MiB', [await vpsWgRss(lab)]);
    const baseline: number[] = [];
    const during: Record<Form['id'], number[]> = { repo: [], shipped: [] };
    const adds: Record<Form['id'], PeerAddRun[]> = { repo: [], shipped: [] };
    const bare = { help: [] as number[], shippedHelp: [] as number[], bareSsh: [] as number[], connect: [] as number[], execTrue: [] as number[], wgSetPair: [] as number[], stall: [] as number[] };
    const spare = spareAddress(state.peers.map((p) => p.address4));
    let restarted = false;
    for (let i = 0; i < cfg.runs; i++) {
      baseline.push(await streamGap(lab, 3000));
      const before = await ifindex(lab);
      for (const form of forms) {
        during[form.id].push(await streamGap(lab, 3000, { delayMs: 500, fn: async () => void adds[form.id].push(await timedPeerAdd(lab, form, `extra-${form.id}${i}`)) }));
        const last = adds[form.id][adds[form.id].length - 1]!;
        log(`peer add (${form.id}) at ~${cfg.peers + i * forms.length} peers: ${last.s.toFixed(2)} s; longest stall ${during[form.id][during[form.id].length - 1]!.toFixed(0)} ms (baseline ${baseline[baseline.length - 1]!.toFixed(0)} ms)`);
        log(`  phases, ms: ${Object.entries(last.phases).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ')}`);
      }
      if ((await ifindex(lab)) !== before) restarted = true;
      bare.stall.push(
        await streamGap(lab, 3000, {
          delayMs: 500,
          fn: async () => {
            bare.help.push((await timed(() => must(lab, 'client', [...lab.egressServerArgv, '--help']))).ms / 1000);
            if (Array.isArray(shippedArgv)) bare.shippedHelp.push((await timed(() => must(lab, 'client', [...shippedArgv, '--help']))).ms / 1000);
            const key = generateKeyPair().publicKey;
            const r = await timed(() => must(lab, 'client', [process.execPath, assetPath('ssh-baseline.mjs'), lab.ssh.target, 'egress0', key, `${spare}/32`]));
            const doc = jsonDocument<{ connect: number; true: number; wgSet: number; wgRemove: number }>(r.value, 'ssh-baseline');
            bare.bareSsh.push(r.ms / 1000);
            bare.connect.push(doc.connect);
            bare.execTrue.push(doc.true);
            bare.wgSetPair.push(doc.wgSet + doc.wgRemove);
          },
        }),
      );
      log(`  baselines: --help ${bare.help[i]!.toFixed(2)} s; bare ssh ${bare.bareSsh[i]!.toFixed(2)} s (connect ${bare.connect[i]!.toFixed(0)} ms, true ${bare.execTrue[i]!.toFixed(0)} ms, wg set+remove ${bare.wgSetPair[i]!.toFixed(0)} ms)`);
    }
    out.phases = phaseFigures(adds.repo);
    if (Array.isArray(shippedArgv)) {
      out.shipped = {
        peerAdd: measured('s', adds.shipped.map((a) => a.s)),
        peerAddOnePeer: measured('s', addsOne.shipped),
        stallDuringAdd: measured('ms', during.shipped),
        phases: phaseFigures(adds.shipped),
        help: measured('s', bare.shippedHelp),
      };
    }
    out.baseline = {
      help: measured('s', bare.help),
      bareSsh: measured('s', bare.bareSsh),
      connect: measured('ms', bare.connect),
      execTrue: measured('ms', bare.execTrue),
      wgSetPair: measured('ms', bare.wgSetPair),
      stall: measured('ms', bare.stall),
    };
    out.peerAdd = measured('s', adds.repo.map((a) => a.s));
    out.peerAddRoundTrips = measured('count', [...adds.repo, ...adds.shipped].map((a) => a.trips));
    out.stallDuringAdd = measured('ms', [...during.repo, ...during.shipped]);
    out.stallBaseline = measured('ms', baseline);
    out.restarted = restarted;
    out.status = measured('s', await timeStatus(lab, cfg.runs, cfg.peers));
  } catch (e) {
    const reason = reasonOf(e);
    log(`peers: ${reason}`);
    for (const k of ['bulkApply', 'provisionRerun', 'provisionRerunOnePeer', 'peerAdd', 'peerAddOnePeer', 'peerAddRoundTrips', 'stallDuringAdd', 'stallBaseline', 'status', 'statusOnePeer', 'rss', 'rssOnePeer'] as const) {
      if (out[k].status !== 'ok') out[k] = unavailable(reason);
    }
    if (Array.isArray(shippedArgv) && !out.shipped) out.shipped = shippedUnavailable(reason);
  } finally {
    await stop(server);
  }
  return out;
}
