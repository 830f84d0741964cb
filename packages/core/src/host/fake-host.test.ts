// FakeHost answers like the real tools: the same commands on the fake and in a real network namespace print the same JSON.
import { randomBytes } from 'node:crypto';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandError } from '../errors.js';
import { FakeHost } from './fake-host.js';
import { LocalHost } from './local-host.js';

const NS = `eg-core-${randomBytes(4).toString('hex')}`;

/** Commands that build the same state on both hosts (eth0 exists on the fake; the netns gets a veth named eth0). */
const SETUP: string[][] = [
  ['ip', '-4', 'rule', 'add', 'priority', '5200', 'fwmark', '0x100/0xff00', 'lookup', '51820'],
  ['ip', '-4', 'rule', 'add', 'priority', '5201', 'uidrange', '1001-1002', 'lookup', '51820'],
  ['ip', '-4', 'rule', 'add', 'priority', '5202', 'from', '10.99.0.0/24', 'iif', 'eth0', 'lookup', 'main', 'suppress_prefixlength', '0'],
  ['ip', '-4', 'rule', 'add', 'priority', '5203', 'oif', 'eth0', 'prohibit'],
  ['ip', '-4', 'rule', 'add', 'priority', '5204', 'fwmark', '0x1', 'blackhole'],
  ['ip', '-4', 'rule', 'add', 'priority', '5205', 'fwmark', '0x1/0xffffffff', 'unreachable'],
  ['ip', '-6', 'rule', 'add', 'priority', '5200', 'fwmark', '0x100/0xff00', 'lookup', '51820'],
  ['ip', '-4', 'route', 'replace', 'default', 'dev', 'eth0', 'table', '51820'],
  ['ip', '-4', 'route', 'replace', '198.51.100.0/24', 'via', '192.0.2.1', 'dev', 'eth0', 'metric', '5', 'table', '51820'],
  ['ip', '-4', 'route', 'replace', 'unreachable', '203.0.113.0/24', 'table', '51820'],
  ['ip', '-4', 'route', 'replace', 'throw', '203.0.113.128/25', 'table', '51820'],
  ['ip', '-4', 'route', 'replace', '192.0.2.99', 'dev', 'eth0', 'src', '192.0.2.10', 'table', '51820'],
  ['ip', '-6', 'route', 'replace', 'default', 'dev', 'eth0', 'table', '51820'],
  ['ip', '-6', 'route', 'replace', 'prohibit', '2001:db8:2::/64', 'table', '51820'],
];

const QUERIES: string[][] = [
  ['ip', '-j', '-4', 'rule', 'show'],
  ['ip', '-j', '-6', 'rule', 'show'],
  ['ip', '-j', '-4', 'route', 'show', 'table', '51820'],
  ['ip', '-j', '-6', 'route', 'show', 'table', '51820'],
];

describe('FakeHost against the real tools', () => {
  let real: LocalHost;
  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('fake-host.test.ts compares with a real namespace and needs root');
    await execa('ip', ['netns', 'add', NS]);
    real = new LocalHost({ prefix: ['ip', 'netns', 'exec', NS] });
    for (const argv of [
      ['ip', 'link', 'set', 'lo', 'up'],
      ['ip', 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1'],
      ['ip', 'link', 'set', 'eth0', 'addrgenmode', 'none'],
      ['ip', 'link', 'set', 'eth0', 'up'],
      ['ip', 'link', 'set', 'eth1', 'up'],
      ['ip', 'addr', 'add', '192.0.2.10/24', 'dev', 'eth0'],
    ]) {
      await real.run(argv, { check: true });
    }
  });
  afterAll(async () => {
    await execa('ip', ['netns', 'del', NS], { reject: false });
  });

  it('prints the same `ip -j` rule and route JSON as iproute2 for the same commands', async () => {
    const fake = new FakeHost();
    for (const argv of SETUP) {
      await real.run(argv, { check: true });
      await fake.run(argv, { check: true });
    }
    for (const q of QUERIES) {
      const a = JSON.parse((await real.run(q, { check: true })).stdout) as Array<Record<string, unknown>>;
      const b = JSON.parse((await fake.run(q, { check: true })).stdout) as Array<Record<string, unknown>>;
      // The namespace's own rules (main table routes of eth0) are not in the fake's table 51820; compare egress's part.
      expect({ q: q.join(' '), out: b }).toEqual({ q: q.join(' '), out: a });
    }
  });

  it('fails like iproute2 and nft do (exit codes and messages)', async () => {
    const fake = new FakeHost();
    const cases: string[][] = [
      ['ip', '-j', '-4', 'route', 'show', 'table', '4242'],
      ['ip', '-4', 'rule', 'del', 'priority', '4000', 'lookup', '4000'],
      ['ip', '-4', 'route', 'del', '10.1.2.0/24', 'dev', 'eth0', 'table', '51820'],
      ['ip', '-4', 'route', 'add', '10.1.2.0/24', 'dev', 'nosuchdev0', 'table', '51820'],
      ['nft', 'list', 'table', 'inet', 'egress'],
      ['sysctl', '-n', 'net.ipv4.conf.nosuchdev0.rp_filter'],
    ];
    for (const argv of cases) {
      const a = await real.run(argv);
      const b = await fake.run(argv);
      expect({ argv: argv.join(' '), exitCode: b.exitCode !== 0, stdout: b.stdout, firstLine: b.stderr.split('\n')[0] }).toEqual({
        argv: argv.join(' '),
        exitCode: a.exitCode !== 0,
        stdout: a.stdout,
        firstLine: a.stderr.split('\n')[0],
      });
    }
    // A duplicate rule is refused by the kernel.
    await real.run(['ip', '-4', 'rule', 'add', 'priority', '4100', 'lookup', '4100'], { check: true });
    await fake.run(['ip', '-4', 'rule', 'add', 'priority', '4100', 'lookup', '4100'], { check: true });
    const dupA = await real.run(['ip', '-4', 'rule', 'add', 'priority', '4100', 'lookup', '4100']);
    const dupB = await fake.run(['ip', '-4', 'rule', 'add', 'priority', '4100', 'lookup', '4100']);
    expect(dupB.stderr).toBe(dupA.stderr);
  });

  it('replaces an nft table atomically and lists it with counters like nft', async () => {
    const fake = new FakeHost();
    const table = 'table inet egress {\n\tchain out {\n\t\ttype filter hook output priority filter; policy accept;\n\t\tmeta mark 0x00000001 counter accept\n\t}\n}\n';
    const script = `add table inet egress\ndelete table inet egress\n${table}`;
    for (const h of [real, fake]) {
      await h.run(['nft', '-f', '-'], { stdin: script, check: true });
      await h.run(['nft', '-f', '-'], { stdin: script, check: true });
    }
    const a = (await real.run(['nft', 'list', 'table', 'inet', 'egress'], { check: true })).stdout;
    const b = (await fake.run(['nft', 'list', 'table', 'inet', 'egress'], { check: true })).stdout;
    expect(b).toBe(a);
    const ja = JSON.parse((await real.run(['nft', '-j', 'list', 'table', 'inet', 'egress'], { check: true })).stdout) as { nftables: Array<Record<string, unknown>> };
    const jb = JSON.parse((await fake.run(['nft', '-j', 'list', 'table', 'inet', 'egress'], { check: true })).stdout) as { nftables: Array<Record<string, unknown>> };
    expect(jb.nftables.map((o) => Object.keys(o)[0])).toEqual(ja.nftables.map((o) => Object.keys(o)[0]).filter((k) => k !== 'rule'));
    expect((jb.nftables[1] as { table: { name: string } }).table.name).toBe('egress');
    await real.run(['nft', 'delete', 'table', 'inet', 'egress'], { check: true });
    await fake.run(['nft', 'delete', 'table', 'inet', 'egress'], { check: true });
    expect((await fake.run(['nft', 'list', 'ruleset'])).stdout).toBe((await real.run(['nft', 'list', 'ruleset'])).stdout);
  });
});

describe('FakeHost bookkeeping', () => {
  it('records calls, echoes changes, and fails the Nth matching command once', async () => {
    const lines: string[] = [];
    const fake = new FakeHost({ onEcho: (l) => lines.push(l) });
    fake.failOn('sysctl -w', { nth: 2, stderr: 'sysctl: permission denied' });
    await fake.run(['sysctl', '-w', 'net.ipv4.ip_forward=1'], { change: true, check: true });
    const err = await fake.run(['sysctl', '-w', 'net.ipv4.ip_forward=0'], { change: true, check: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandError);
    expect((err as CommandError).stderr).toBe('sysctl: permission denied\n');
    expect((await fake.run(['sysctl', '-n', 'net.ipv4.ip_forward'])).stdout).toBe('1\n');
    await fake.run(['sysctl', '-w', 'net.ipv4.ip_forward=0'], { change: true, check: true });
    expect(lines).toEqual(['sysctl -w net.ipv4.ip_forward=1', 'sysctl -w net.ipv4.ip_forward=0', 'sysctl -w net.ipv4.ip_forward=0']);
    expect(fake.calls.map((c) => c.exitCode)).toEqual([0, 1, 0, 0]);
  });

  it('models wg-quick up/strip/down and wg syncconf/show dump', async () => {
    const fake = new FakeHost();
    const conf = '[Interface]\nAddress = 10.77.0.2/24\nListenPort = 51820\nPostUp = wg set %i private-key /etc/egress/k\n\n[Peer]\nPublicKey = qf7zLUFwxbfE9+eYcOTVQaW28hpi+Yt0Or4H63e6cQ0=\nAllowedIPs = 0.0.0.0/0\n';
    await fake.writeFile('/etc/egress/k', 'EP48duQvr+OjtmttqIGUlM67+vX88XozXFWRPO6JVHw=\n', { mode: 0o600, secret: true });
    await fake.writeFile('/etc/wireguard/eg0.conf', conf, { mode: 0o600 });
    await fake.run(['wg-quick', 'up', '/etc/wireguard/eg0.conf'], { check: true });
    const stripped = (await fake.run(['wg-quick', 'strip', 'eg0'], { check: true })).stdout;
    expect(stripped).toBe('[Interface]\nListenPort = 51820\n[Peer]\nPublicKey = qf7zLUFwxbfE9+eYcOTVQaW28hpi+Yt0Or4H63e6cQ0=\nAllowedIPs = 0.0.0.0/0\n');
    const dump = (await fake.run(['wg', 'show', 'eg0', 'dump'], { check: true })).stdout.split('\n');
    expect(dump[0]!.split('\t').slice(2)).toEqual(['51820', 'off']);
    expect(dump[1]!.split('\t')[0]).toBe('qf7zLUFwxbfE9+eYcOTVQaW28hpi+Yt0Or4H63e6cQ0=');
    await fake.run(['wg', 'syncconf', 'eg0', '/dev/stdin'], { stdin: stripped.replace(/\[Peer\][\s\S]*/, ''), check: true });
    expect((await fake.run(['wg', 'show', 'eg0', 'peers'])).stdout).toBe('');
    await fake.run(['wg-quick', 'down', 'eg0'], { check: true });
    expect((await fake.run(['ip', 'link', 'show', 'eg0'])).stderr).toBe('Device "eg0" does not exist.\n');
  });
});
