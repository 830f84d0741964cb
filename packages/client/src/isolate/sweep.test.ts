import type { Host, RunResult } from '@egress/core';
import { describe, expect, it } from 'vitest';
import { isolateOwners, sweepIsolations } from './sweep.js';

const ok = (stdout = ''): RunResult => ({ exitCode: 0, stdout, stderr: '' });
const no = (stderr = 'not found'): RunResult => ({ exitCode: 1, stdout: '', stderr });

/** /proc/PID/stat with a start time (field 22) and a state. */
const stat = (pid: number, start: string, state = 'S') => `${pid} (node) ${state} 1 ${pid} ${pid} 0 -1 4194560 ${'0 '.repeat(12)}${start} 0 0\n`;

const record = (pid: number, startTime: string) =>
  JSON.stringify({ version: 1, pid, startTime, egress: 'wifi', egressIface: 'wlan0', table: 7100, net4: '10.239.0.0/30', shared: ['net.ipv4.conf.wlan0.forwarding'], createdAt: 'x' });

/**
 * A host holding the leftovers of several isolated runs:
 * 100 alive with its record; 200 recorded but its pid now belongs to another process (start time differs);
 * 300 dead, only its veth, ip rules and iptables accepts are left; 400 alive, only an nft table (no record yet: mid-setup); 500 a zombie.
 */
function scene(dead: number[] = [], clientState?: string): Host & { changes: string[] } {
  const files = new Map<string, string>([
    ['/run/egress/isolate/100.json', record(100, '77')],
    ['/run/egress/isolate/200.json', record(200, '5')],
    ['/proc/100/stat', stat(100, '77')],
    ['/proc/200/stat', stat(200, '6')],
    ['/proc/400/stat', stat(400, '9')],
    ['/proc/500/stat', stat(500, '9', 'Z')],
    ['/run/egress/isolate/sysctl/net.ipv4.conf.wlan0.forwarding', '0\n'],
    ['/proc/sys/net/ipv4/conf/wlan0/forwarding', '1\n'],
  ]);
  for (const pid of dead) files.delete(`/proc/${pid}/stat`);
  if (clientState) files.set('/etc/egress/client.json', clientState);
  const links = [{ ifname: 'lo' }, { ifname: 'wlan0' }, { ifname: 'egiso100h' }, { ifname: 'egiso300h' }, { ifname: 'egiso500h' }];
  const changes: string[] = [];
  return {
    name: 'scene',
    changes,
    async run(argv, options) {
      const a = argv.join(' ');
      if (options?.change) {
        changes.push(a);
        if (argv[0] === 'sysctl') files.set('/proc/sys/net/ipv4/conf/wlan0/forwarding', `${argv[3]!.split('=')[1]}\n`);
        return ok();
      }
      if (a === 'ls -1 -- /run/egress/isolate') return ok('100.json\n200.json\nsysctl\n');
      if (a === 'ls -1 -- /run/egress/isolate/sysctl') return ok('net.ipv4.conf.wlan0.forwarding\n');
      if (a === 'ls -1 -- /etc/netns') return ok('egiso-100\negiso-200\nother\n');
      if (a === 'ip -j netns list') return ok(JSON.stringify([{ name: 'egiso-100' }, { name: 'egiso-200' }, { name: 'eg-lab' }]));
      if (a === 'ip -j link show') return ok(JSON.stringify(links));
      if (a === 'ip -j -4 rule show') return ok(JSON.stringify([{ priority: 0, table: 'local' }, { priority: 4900, iif: 'egiso300h', table: '7100' }, { priority: 4901, iif: 'egiso300h', action: 'unreachable' }]));
      if (a === 'ip -j -6 rule show') return ok(JSON.stringify([{ priority: 4901, iif: 'egiso300h', action: 'unreachable' }]));
      if (a === 'nft -j list tables inet') return ok(JSON.stringify({ nftables: [{ metainfo: {} }, { table: { family: 'inet', name: 'egiso_400' } }, { table: { family: 'inet', name: 'egress' } }] }));
      if (a === 'iptables -w -S FORWARD') {
        return ok('-P FORWARD DROP\n-A FORWARD -i egiso300h -m comment --comment egiso-300 -j ACCEPT\n-A FORWARD -o egiso300h -m comment --comment egiso-300 -j ACCEPT\n-A FORWARD -j DOCKER-USER\n');
      }
      if (a === 'ip6tables -w -S FORWARD') return { exitCode: 127, stdout: '', stderr: 'not found' };
      if (a.startsWith('ip netns pids egiso-200')) return ok('4242\n');
      if (a.startsWith('ip netns pids')) return no('Cannot open network namespace');
      if (links.some((l) => l.ifname !== 'lo' && a === `ip link show dev ${l.ifname}`)) return ok('3: egiso...');
      if (a.startsWith('ip link show dev')) return no();
      if (a === 'test -e /run/netns/egiso-200' || a === 'test -e /etc/netns/egiso-200') return ok();
      if (a.startsWith('test -e')) return no();
      if (a.startsWith('nft list table inet')) return no();
      if (a.startsWith('mkdir') || a.startsWith('rm -rf') || a.startsWith('sh -c')) return ok();
      throw new Error(`unexpected command: ${a}`);
    },
    async readFile(path) {
      return files.get(path);
    },
    async writeFile(path, content) {
      files.set(path, content);
    },
    async removeFile(path) {
      changes.push(`rm -f ${path}`);
      files.delete(path);
    },
    async close() {},
  };
}

describe('sweeping isolate leftovers', () => {
  it('finds every owner stamped on a record, namespace, veth, rule, nft table, iptables accept or /etc/netns dir', async () => {
    expect(await isolateOwners(scene())).toEqual([100, 200, 300, 400, 500]);
  });

  it('removes exactly the objects of dead owners (gone, reused pid, zombie) and restores forwarding only when no live run holds it', async () => {
    const host = scene();
    expect(await sweepIsolations(host)).toEqual([200, 300, 500]);
    expect(host.changes).toEqual([
      // 200: its namespace still held a process (the orphaned app), its namespace, /etc/netns dir and record.
      'kill -KILL 4242',
      'ip netns del egiso-200',
      'rm -rf -- /etc/netns/egiso-200',
      'rm -f /run/egress/isolate/200.json',
      // 300: veth and rules, no record.
      'ip link del dev egiso300h',
      'ip -4 rule del priority 4900 iif egiso300h',
      'ip -4 rule del priority 4901 iif egiso300h',
      'ip -6 rule del priority 4901 iif egiso300h',
      // ... and the accepts it had added where Docker's FORWARD policy drops.
      'iptables -w -D FORWARD -i egiso300h -m comment --comment egiso-300 -j ACCEPT',
      'iptables -w -D FORWARD -o egiso300h -m comment --comment egiso-300 -j ACCEPT',
      // 500: a zombie owner is dead.
      'ip link del dev egiso500h',
    ]);
    // 100 is alive and holds wlan0's forwarding: the saved original stays, nothing is restored.
    expect(await host.readFile('/proc/sys/net/ipv4/conf/wlan0/forwarding')).toBe('1\n');
  });

  it('restores the forwarding original when the last run holding it is swept', async () => {
    const host = scene([100]);
    expect(await sweepIsolations(host)).toEqual([100, 200, 300, 500]);
    expect(host.changes).toContain('ip link del dev egiso100h');
    expect(host.changes).toContain('sysctl -q -w net.ipv4.conf.wlan0.forwarding=0');
    expect(host.changes).toContain('rm -f /run/egress/isolate/sysctl/net.ipv4.conf.wlan0.forwarding');
    expect(host.changes.filter((c) => c.startsWith('sysctl'))).toHaveLength(1);
    expect(await host.readFile('/proc/sys/net/ipv4/conf/wlan0/forwarding')).toBe('0\n');
  });

  it('leaves forwarding on when the saved state itself needs it (a named namespace on that egress), forgetting only the original', async () => {
    // A tunnel egress on wlan0 with a named namespace: the engine turns net.ipv4.conf.wlan0.forwarding on (replies come in there).
    const egress = {
      ...{ name: 'wifi', kind: 'wireguard', interface: 'wlan0', mark: 0x01000000, markMask: 0x01000000, table: 7100, priority: 7100 },
      ...{ address4: '10.77.0.2', dns: ['203.0.113.53'], selectors: { users: [{ name: 'appuser', uid: 1001 }], cgroups: [] } },
      wireguard: { endpoint: '198.51.100.2:51820', serverPublicKey: 'nKj0Z3mEjnij6kBZCfavXks08pg8B8p0q5thDKtcSAU=', publicKey: 'zrWgoz+XWrmY13w7SqNsDGYYWM83XZOaM9I/WgRY8xo=', mtu: 1420, persistentKeepalive: 25, subnet4: '10.77.0.0/24' },
    };
    const withNs = JSON.stringify({ version: 1, egresses: [egress], namespaces: [{ name: 'vpn', egress: 'wifi', slot: 3 }] });
    const host = scene([100], withNs);
    expect(await sweepIsolations(host)).toEqual([100, 200, 300, 500]);
    expect(host.changes.filter((c) => c.startsWith('sysctl'))).toEqual([]);
    expect(host.changes).toContain('rm -f /run/egress/isolate/sysctl/net.ipv4.conf.wlan0.forwarding');
    expect(await host.readFile('/proc/sys/net/ipv4/conf/wlan0/forwarding')).toBe('1\n');

    // The same state without the namespace: the run's original (0) comes back, as before.
    const plain = scene([100], JSON.stringify({ version: 1, egresses: [egress] }));
    await sweepIsolations(plain);
    expect(plain.changes).toContain('sysctl -q -w net.ipv4.conf.wlan0.forwarding=0');
  });
});
