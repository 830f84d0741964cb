// Helpers for tests of traffic this client forwards: namespaces behind it (a network behind a bridge — the netns +
// bridge recipe, a container network — and a "LAN host" on a plain veth), the client their gateway, and probe loops
// that keep sending from inside one while the host changes under them.
import type { Lab, LabProcess } from '@egress/lab';
import { expect } from 'vitest';

/** A namespace behind a bridge on the client: `host` in `ns`, the bridge holds the gateway `gw` (a /24). */
export interface BridgedNs { ns: string; bridge: string; gw: string; host: string }
/** A "LAN host" namespace on a plain veth: the client's end `port` holds `gw`; `net` is the /24 both are in. */
export interface LanNs { ns: string; port: string; gw: string; host: string; net: string }

/** argv prefix that enters a namespace's network only (cgroup v2 and the lab's mounts stay visible). */
export const inNs = (ns: string): string[] => ['nsenter', `--net=/run/netns/${ns}`];

/** Shell lines that make a namespace behind a new bridge on the client. */
export function bridgedNsScript(b: BridgedNs): string[] {
  return [
    `ip netns add ${b.ns}`,
    `ip link add ${b.bridge} type bridge`,
    `ip addr add ${b.gw}/24 dev ${b.bridge}`,
    `ip link set ${b.bridge} up`,
    `ip link add v${b.ns} type veth peer name eth0 netns ${b.ns}`,
    `ip link set v${b.ns} master ${b.bridge} up`,
    ...hostSide(b),
  ];
}

/** Shell lines that make a "LAN host" namespace on a veth of the client. */
export function lanNsScript(l: LanNs): string[] {
  return [
    `ip netns add ${l.ns}`,
    `ip link add ${l.port} type veth peer name eth0 netns ${l.ns}`,
    `ip addr add ${l.gw}/24 dev ${l.port}`,
    `ip link set ${l.port} up`,
    ...hostSide(l),
  ];
}

/** The namespace's own side: its address on eth0, lo up, the client as default gateway. */
function hostSide(n: { ns: string; host: string; gw: string }): string[] {
  return [`ip -n ${n.ns} addr add ${n.host}/24 dev eth0`, `ip -n ${n.ns} link set eth0 up`, `ip -n ${n.ns} link set lo up`, `ip -n ${n.ns} route add default via ${n.gw}`];
}

/** Runs shell lines (`set -e`) in the client and expects success. */
export async function clientScript(lab: Lab, lines: string[]): Promise<void> {
  const r = await lab.exec('client', ['sh', '-c', ['set -e', ...lines].join('\n')]);
  expect(r.exitCode, r.stderr).toBe(0);
}

/**
 * Starts a loop behind `prefix` (e.g. `inNs(ns)`): TCP and UDP to whoami (IPv6 too with `v6`), then DNS to `dns`;
 * one line `TAG what result` each, the result being the address whoami saw or the failure.
 */
export function probeLoop(lab: Lab, tag: string, prefix: string[], opts: { v6?: boolean; dns: string; user?: string; env?: Record<string, string> }): LabProcess {
  const probe = (host: string, proto: string) => `r=$(${lab.probeArgv({ host, udp: proto === 'udp' }).join(' ')} 1500 2>&1 | tail -n 1); echo "${tag} ${proto}${host.includes(':') ? '6' : '4'} $r"`;
  const script = [
    'while :; do',
    probe(lab.addr.whoamiV4, 'tcp'),
    probe(lab.addr.whoamiV4, 'udp'),
    ...(opts.v6 ? [probe(lab.addr.whoamiV6, 'tcp'), probe(lab.addr.whoamiV6, 'udp')] : []),
    `dig +time=1 +tries=1 @${opts.dns} A ${tag}.loop.egress.test >/dev/null 2>&1; echo "${tag} dns exit $?"`,
    'sleep 0.2; done',
  ].join('\n');
  return lab.spawn('client', [...prefix, 'sh', '-c', script], { ...(opts.user ? { user: opts.user } : {}), ...(opts.env ? { env: opts.env } : {}) });
}

/** The lines of `tag` a probe loop printed since output offset `from`. */
export function loopLines(p: LabProcess, tag: string, from = 0): string[] {
  return p.output().slice(from).split('\n').filter((l) => l.startsWith(`${tag} `));
}

/** `node -e DNS_FORWARDER BIND UPSTREAM`: a plain UDP DNS forwarder on BIND:53 asking UPSTREAM by this host's own route (like a resolver stub or a bridge's dnsmasq). */
const DNS_FORWARDER = `
const dgram = require('node:dgram');
const [bind, upstream] = process.argv.slice(1);
const s = dgram.createSocket('udp4');
s.on('message', (msg, from) => {
  console.log('asked by ' + from.address);
  const up = dgram.createSocket('udp4');
  up.on('message', (answer) => { s.send(answer, from.port, from.address); up.close(); });
  up.send(msg, 53, upstream);
  setTimeout(() => { try { up.close(); } catch {} }, 3000);
});
s.bind(53, bind, () => console.log('forwarder listening'));`;

/** Starts a DNS forwarder on `bind`:53 in the client that asks `upstream` by the client's own route; waits until it listens. */
export async function startDnsForwarder(lab: Lab, bind: string, upstream: string): Promise<LabProcess> {
  const p = lab.spawn('client', [process.execPath, '-e', DNS_FORWARDER, bind, upstream]);
  for (let i = 0; i < 400 && !p.output().includes('forwarder listening'); i++) await new Promise((r) => setTimeout(r, 25));
  expect(p.output(), `the DNS forwarder on ${bind}`).toContain('forwarder listening');
  return p;
}
