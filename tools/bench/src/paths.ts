// The paths measured from the lab client: how to run a program through each, and a check that it really goes there.
import type { Lab, LabProcess } from '@egress/lab';
import { NODELAY_LABEL, type PathId, type PathInfo } from './results.js';
import { must, reasonOf, stop, waitForListen } from './lab-run.js';
import type { EgressSetup } from './egress-setup.js';

/** One path: the argv prefix that sends a program's traffic along it, and what the whoami service must see. */
export interface BenchPath {
  info: PathInfo;
  prefix: string[];
  user?: string;
  /** Source address whoami sees when traffic takes this path. */
  expect: string;
  /** Set up / undo test-only state around each run (the tunnel path's route). */
  before?: () => Promise<void>;
  after?: () => Promise<void>;
  /** Why this path (TCP, UDP) cannot be measured in this run; absent when it can. */
  tcpUnavailable?: string;
  udpUnavailable?: string;
}

const SOCKS_PORT = 1080;
const PROXYCHAINS_CONF = '/tmp/egress-bench-proxychains.conf';

/** proxychains-ng configuration: one SOCKS5 proxy, the `ssh -D` on the client's loopback. */
export function proxychainsConf(port = SOCKS_PORT): string {
  return ['strict_chain', 'quiet_mode', 'tcp_read_time_out 15000', 'tcp_connect_time_out 8000', '[ProxyList]', `socks5 127.0.0.1 ${port}`, ''].join('\n');
}

/** The six paths with their methods; egress paths are unavailable (with the reason) when the client is not enrolled. */
export function definePaths(lab: Lab, egress: EgressSetup | { reason: string }, whoami: string): BenchPath[] {
  const a = lab.addr;
  const cli = lab.egressClientArgv;
  const noEgress = 'reason' in egress ? `needs an enrolled client: ${egress.reason}` : undefined;
  const ok = 'reason' in egress ? undefined : egress;
  const route = ok ? ['ip', 'route', 'replace', `${whoami}/32`, 'dev', ok.interface, 'src', ok.address4] : [];
  const paths: BenchPath[] = [
    {
      info: { id: 'limit', label: 'direct (limit)', method: 'root in the client, the normal route out of `eth0`, no tunnel.' },
      prefix: [],
      expect: a.clientV4,
    },
    {
      info: {
        id: 'tunnel',
        label: 'plain tunnel route',
        method:
          `root in the client through the same WireGuard tunnel egress set up, with no egress selection: a test-only \`ip route replace ${whoami}/32 dev ${ok?.interface ?? 'egress0'} src <tunnel address>\` ` +
          'in the main table, added just before each tunnel run and deleted right after (so the other paths are not affected). The VPS masquerades it like any tunnel traffic. ' +
          "egress's nftables table stays loaded (it sees every packet); what this path leaves out is the selection: no mark, no policy rule, no SNAT.",
      },
      prefix: [],
      expect: a.vpsV4,
      before: async () => { await must(lab, 'client', route); },
      after: async () => { await lab.exec('client', ['ip', 'route', 'del', `${whoami}/32`, 'dev', ok?.interface ?? 'egress0']); },
    },
    {
      info: { id: 'run-as', label: 'egress run-as', method: '`egress-client run-as appuser -- iperf3 …`: every process of the dedicated user `appuser` is marked by uid and routed into the tunnel.' },
      prefix: [...cli, 'run-as', 'appuser', '--'],
      expect: a.vpsV4,
    },
    {
      info: { id: 'exec', label: 'egress exec (shim)', method: '`egress-client exec -- iperf3 …` as root: the LD_PRELOAD shim binds the app\'s sockets to the egress address, which is routed into the tunnel.' },
      prefix: [...cli, 'exec', '--'],
      expect: a.vpsV4,
    },
    {
      info: { id: 'run', label: 'egress run (cgroup)', method: '`egress-client run -- iperf3 …`: the app runs in a cgroup v2 whose sockets are marked and routed into the tunnel.' },
      prefix: [...cli, 'run', '--'],
      expect: a.vpsV4,
    },
    {
      info: {
        id: 'alternative',
        label: 'ssh -D + proxychains4',
        method: `the usual alternative: \`ssh -D ${SOCKS_PORT} -N root@${a.vpsV4}\` in the client and \`proxychains4 -q -f CONF iperf3 …\` (TCP only; proxychains cannot carry UDP).`,
      },
      prefix: ['proxychains4', '-q', '-f', PROXYCHAINS_CONF],
      expect: a.vpsV4,
      udpUnavailable: 'proxychains only carries TCP',
    },
  ];
  if (noEgress) for (const p of paths) if (p.info.id !== 'limit' && p.info.id !== 'alternative') p.tcpUnavailable = p.udpUnavailable = noEgress;
  return paths;
}

/** The `ssh -D` variants: as the issue states it (-N), and with an interactive session (-tt: ssh then sets TCP_NODELAY). */
export const SOCKS = {
  plain: { port: SOCKS_PORT, conf: PROXYCHAINS_CONF, interactive: false },
  nodelay: { port: SOCKS_PORT + 1, conf: '/tmp/egress-bench-proxychains-nodelay.conf', interactive: true },
} as const;

/** Starts `ssh -D` in the client and writes its proxychains config; the returned process is stopped by `stop()`. */
export async function startSocks(lab: Lab, v: (typeof SOCKS)[keyof typeof SOCKS] = SOCKS.plain): Promise<LabProcess> {
  await must(lab, 'client', ['sh', '-c', `cat > ${v.conf}`], { stdin: proxychainsConf(v.port) });
  const s = lab.ssh;
  const proc = lab.spawn('client', [
    'ssh', ...(v.interactive ? ['-tt'] : ['-N']), '-D', `127.0.0.1:${v.port}`, '-i', s.identity, '-o', 'BatchMode=yes', '-o', 'ExitOnForwardFailure=yes',
    '-o', `UserKnownHostsFile=${s.knownHosts}`, '-o', 'StrictHostKeyChecking=yes', s.target, ...(v.interactive ? ['sleep', '86400'] : []),
  ]);
  try {
    await waitForListen(lab, 'client', v.port);
  } catch (e) {
    await stop(proc);
    throw new Error(`ssh -D did not start: ${reasonOf(e)}; ssh said: ${proc.output().trim().split('\n')[0] ?? ''}`);
  }
  return proc;
}

/** The alternative path through the interactive `ssh -D` (latency only). */
export function noDelayPath(alternative: BenchPath): BenchPath {
  return {
    ...alternative,
    info: { ...alternative.info, label: NODELAY_LABEL },
    prefix: ['proxychains4', '-q', '-f', SOCKS.nodelay.conf],
  };
}

/** Runs the lab probe through each available path (TCP and UDP) and marks a path unavailable when whoami sees the wrong source. */
export async function checkPaths(lab: Lab, paths: BenchPath[], log: (l: string) => void): Promise<void> {
  for (const p of paths) {
    for (const udp of [false, true]) {
      const key = udp ? 'udpUnavailable' : 'tcpUnavailable';
      if (p[key]) continue;
      try {
        await p.before?.();
        const seen = await lab.probe('client', { prefix: p.prefix, udp, ...(p.user ? { user: p.user } : {}) });
        if (seen !== p.expect) p[key] = `path check failed: whoami saw ${seen}, expected ${p.expect}`;
      } catch (e) {
        p[key] = `path check failed: ${reasonOf(e)}`;
      } finally {
        await p.after?.().catch(() => {});
      }
      log(`path ${p.info.label} ${udp ? 'udp' : 'tcp'}: ${p[key] ?? 'ok'}`);
    }
  }
}

/** Runs fn with the path's before/after around it. */
export async function along<T>(p: BenchPath, fn: () => Promise<T>): Promise<T> {
  await p.before?.();
  try {
    return await fn();
  } finally {
    await p.after?.();
  }
}

/** The ids of paths, for loops. */
export function byId(paths: readonly BenchPath[], id: PathId): BenchPath {
  const p = paths.find((x) => x.info.id === id);
  if (!p) throw new Error(`no path ${id}`);
  return p;
}
