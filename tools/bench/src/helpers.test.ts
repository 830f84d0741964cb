import { describe, expect, it } from 'vitest';
import { shimFigure } from './groups/control-plane.js';
import { forwardSet, ruleForwards, rulesTable, FORWARD_BASE } from './groups/forwards.js';
import { parseLoop } from './groups/latency.js';
import { iperfArgv, parseIperf } from './iperf.js';
import type { Lab } from '@egress/lab';
import { definePaths, noDelayPath, proxychainsConf } from './paths.js';

describe('iperf3', () => {
  it('builds the client argv for UDP reverse runs with datagrams that fit the tunnel', () => {
    expect(iperfArgv({ server: '203.0.113.10', port: 5201, seconds: 3, udp: true, reverse: true })).toEqual([
      'iperf3', '-c', '203.0.113.10', '-p', '5201', '-t', '3', '-J', '--connect-timeout', '5000', '-u', '-b', '0', '-l', '1200', '-R',
    ]);
  });
  it('reads the receiver side, the UDP loss and CPU use', () => {
    const out = JSON.stringify({
      end: {
        sum: { bits_per_second: 2.9e9, lost_percent: 2.2 },
        sum_received: { bits_per_second: 2.85e9, lost_percent: 2.2 },
        cpu_utilization_percent: { host_total: 99, remote_total: 65 },
      },
    });
    expect(parseIperf(out)).toEqual({ mbps: 2850, lossPercent: 2.2, cpuLocal: 99, cpuRemote: 65 });
  });
  it("fails with iperf3's own error", () => {
    expect(() => parseIperf('{"error":"unable to connect to server: Connection refused"}')).toThrow('iperf3: unable to connect to server: Connection refused');
    expect(() => parseIperf('proxychains: oops')).toThrow('iperf3 printed no JSON: proxychains: oops');
  });
});

describe('forwards', () => {
  it('generates N forwards with the measured services last', () => {
    const f = forwardSet(10);
    expect(f).toHaveLength(10);
    expect(f[0]).toEqual({ publicPort: FORWARD_BASE, targetPort: 9 });
    expect(f.slice(-2)).toEqual([{ publicPort: FORWARD_BASE + 8, targetPort: 7001 }, { publicPort: FORWARD_BASE + 9, targetPort: 5202 }]);
    expect(new Set(forwardSet(10_000).map((x) => x.publicPort)).size).toBe(10_000);
  });
  it('the one-rule-each set has no port twice and ends with the small set\'s measured ports', () => {
    const r = ruleForwards(10, 10_000);
    expect(r).toHaveLength(10_000);
    expect(new Set(r.map((x) => x.publicPort)).size).toBe(10_000);
    expect(r.slice(-2)).toEqual(forwardSet(10).slice(-2));
  });
  it('renders the comparison table as one dnat rule per forward, hooked before egress', () => {
    const text = rulesTable(ruleForwards(10, 4), 'eth0', '10.8.0.2');
    expect(text).toBe(
      [
        'table ip egress_bench_rules {',
        '\tchain prerouting {',
        '\t\ttype nat hook prerouting priority dstnat - 10; policy accept;',
        '\t\tiifname "eth0" tcp dport 20010 dnat to 10.8.0.2:9',
        '\t\tiifname "eth0" tcp dport 20011 dnat to 10.8.0.2:9',
        '\t\tiifname "eth0" tcp dport 20008 dnat to 10.8.0.2:7001',
        '\t\tiifname "eth0" tcp dport 20009 dnat to 10.8.0.2:5202',
        '\t}',
        '}',
        '',
      ].join('\n'),
    );
  });
});

describe('probes and configs', () => {
  it('reads the connect loop result', () => {
    expect(parseLoop('{"ms":[0.5,0.7],"totalMs":2,"errors":0,"firstError":""}\n')).toEqual({ ms: [0.5, 0.7], totalMs: 2, errors: 0, firstError: '' });
    expect(() => parseLoop('Error: boom')).toThrow('connect-loop printed no result: Error: boom');
  });
  it('points proxychains at the ssh -D port', () => {
    expect(proxychainsConf(1080)).toContain('[ProxyList]\nsocks5 127.0.0.1 1080\n');
    expect(proxychainsConf(1080)).toContain('strict_chain');
  });
  it('reads the shim benchmark in either shape', () => {
    expect(shimFigure({ addedNsSamples: [120, 100, 110] })).toMatchObject({ status: 'ok', unit: 'ns', median: 110, min: 100, max: 120 });
    expect(shimFigure({ addedNs: { median: 95, min: 90, max: 130 }, runs: 5 })).toMatchObject({ median: 95, min: 90, max: 130, n: 5 });
    expect(() => shimFigure({ nothing: 1 })).toThrow('no addedNs');
  });
});

describe('paths', () => {
  const lab = {
    addr: { clientV4: '192.0.2.2', vpsV4: '198.51.100.2' },
    egressClientArgv: ['/usr/bin/node', '/repo/packages/client/dist/bin.js'],
  } as unknown as Lab;
  it('sends each egress path through the real CLI and expects the VPS address at whoami', () => {
    const paths = definePaths(lab, { interface: 'egress0', address4: '10.77.0.2', peer: 'bench' }, '203.0.113.10');
    expect(paths.map((p) => p.info.id)).toEqual(['limit', 'tunnel', 'run-as', 'exec', 'run', 'alternative']);
    expect(paths.find((p) => p.info.id === 'run-as')!.prefix).toEqual(['/usr/bin/node', '/repo/packages/client/dist/bin.js', 'run-as', 'appuser', '--']);
    expect(paths.find((p) => p.info.id === 'limit')!.expect).toBe('192.0.2.2');
    expect(paths.filter((p) => p.expect === '198.51.100.2')).toHaveLength(5);
    expect(paths.find((p) => p.info.id === 'tunnel')!.info.method).toContain('ip route replace 203.0.113.10/32 dev egress0 src <tunnel address>');
    expect(paths.find((p) => p.info.id === 'alternative')!.udpUnavailable).toBe('proxychains only carries TCP');
    expect(paths.every((p) => p.tcpUnavailable === undefined)).toBe(true);
  });
  it('marks every tunnel path unavailable, with the reason, when the client is not enrolled', () => {
    const paths = definePaths(lab, { reason: 'egress-server is not built (packages/server/dist/bin.js missing)' }, '203.0.113.10');
    const na = paths.filter((p) => p.tcpUnavailable).map((p) => p.info.id);
    expect(na).toEqual(['tunnel', 'run-as', 'exec', 'run']);
    expect(paths[1]!.tcpUnavailable).toBe('needs an enrolled client: egress-server is not built (packages/server/dist/bin.js missing)');
  });
  it('the interactive ssh -D variant differs only in its proxychains config', () => {
    const alt = definePaths(lab, { reason: 'x' }, '203.0.113.10').find((p) => p.info.id === 'alternative')!;
    const nd = noDelayPath(alt);
    expect(nd.prefix).toEqual(['proxychains4', '-q', '-f', '/tmp/egress-bench-proxychains-nodelay.conf']);
    expect(nd.info.label).toBe('ssh -tt -D (TCP_NODELAY) + proxychains4');
    expect(nd.expect).toBe(alt.expect);
  });
});
