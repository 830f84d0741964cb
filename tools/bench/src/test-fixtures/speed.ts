// Speed-group results for the report tests: a paired wireguard run, a peers run, an egresses run with one wrong address.
import type { WireguardGroup } from '../groups/wireguard.js';
import type { PeersGroup } from '../groups/peers.js';
import { measured, unavailable, type EgressesBench } from '../results.js';

const mbit = (...v: number[]) => measured('Mbit/s', v);
const ratio = (...v: number[]) => measured('ratio', v);

/** A paired wireguard result: offload 6× old, egress/tunnel 0.99 (offload up) and 0.95 (old down, some pairs reach 0.97). */
export function pairedWireguard(): WireguardGroup {
  const perDir = (up: ReturnType<typeof mbit>, down: ReturnType<typeof mbit>) => ({ up, down });
  return {
    seconds: 3,
    runs: 8,
    impls: [
      { id: 'offload', binary: '/b/new', version: '0.0.20230223', seen: 'offloads on' },
      { id: 'old', binary: '/b/old', version: '0.0.20220316', seen: 'offloads off' },
    ],
    throughput: {
      offload: { tunnel: perDir(mbit(1800, 2000), mbit(1900)), egress: perDir(mbit(1790), mbit(1880)) },
      old: { tunnel: perDir(mbit(300), mbit(320)), egress: perDir(mbit(298), mbit(304)) },
    },
    sshD: perDir(mbit(2500), unavailable('ssh -D did not start')),
    cpuSecondsPerGiB: { offload: measured('CPU s/GiB', [4.5, 4.9]), old: measured('CPU s/GiB', [29]) },
    blocks: ['offload', 'old', 'old', 'offload'],
    pairsPerBlock: 4,
    noisePairsPerBlock: 2,
    warmupSeconds: 2,
    egressOverTunnel: {
      offload: perDir(ratio(0.98, 1.0, 0.99), ratio(1.01, 0.99)),
      old: perDir(ratio(1.0, 1.02), ratio(0.9, 0.95, 0.98, 0.94)),
    },
    tunnelOverTunnel: { offload: perDir(ratio(0.97, 1.03), ratio(1.0, 1.01)), old: perDir(ratio(0.99, 1.02), ratio(0.95, 1.05)) },
    offloadOverOld: perDir(ratio(6.0, 6.4), unavailable('old down: iperf3: timeout')),
    load: 0.4,
  };
}

const s = (...v: number[]) => measured('s', v);
const ms = (...v: number[]) => measured('ms', v);
export const peersFixture: PeersGroup = {
  peers: 1000, method: 'm', bulkApply: s(1.5), provisionRerun: s(0.7), peerAdd: s(1.2, 1.0, 1.4), peerAddOnePeer: s(0.8), peerAddRoundTrips: measured('count', [3]),
  stallDuringAdd: ms(30), stallBaseline: ms(20), status: s(0.7), statusOnePeer: s(0.5), provisionRerunOnePeer: s(0.6), rss: measured('MiB', [33]), rssOnePeer: measured('MiB', [6]),
};
export const egressesFixture: EgressesBench = {
  count: 2,
  method: 'two stand-in VPSes',
  seen: [
    { name: 'vps0', user: 'eg1', expected: '198.51.100.11', seen: '198.51.100.11' },
    { name: 'vps1', user: 'eg2', expected: '198.51.100.12', seen: '192.0.2.2' },
  ],
  statusOne: s(0.3, 0.3),
  statusAll: s(0.6),
};
