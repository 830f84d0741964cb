// The engine on the real kernel: a throwaway network namespace, a LocalHost pointed into it, apply twice, fail, tear down.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApplyError } from '../errors.js';
import { LocalHost } from '../host/local-host.js';
import { apply, teardown } from './apply.js';
import { generateKeyPair } from '../keys.js';
import { emptyHostState, type HostState, type Ownership } from './types.js';

const NS = `eg-core-${randomBytes(4).toString('hex')}`;
let dir = '';

async function inNs(...argv: string[]): Promise<string> {
  const r = await execa('ip', ['netns', 'exec', NS, ...argv], { reject: false });
  if (r.exitCode !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** Everything egress could touch in the namespace, as text. */
async function snapshot(): Promise<string> {
  return [
    await inNs('nft', 'list', 'ruleset'),
    await inNs('ip', 'rule'),
    await inNs('ip', '-6', 'rule'),
    await inNs('ip', 'route', 'show', 'table', 'all'),
    await inNs('ip', '-6', 'route', 'show', 'table', 'all'),
    await inNs('sysctl', '-n', 'net.ipv4.ip_forward', 'net.ipv4.conf.all.src_valid_mark', 'net.ipv4.conf.d0.rp_filter'),
  ].join('\n--\n');
}

function ownership(): Ownership {
  return {
    nftTables: [{ family: 'inet', name: 'egress' }],
    rulePriorities: [[5200, 5209]],
    routeTables: [51820],
    links: [],
    files: [join(dir, 'egress')],
    journalPath: join(dir, 'egress', 'journal.json'),
    units: [],
  };
}

function desired(variant: 'a' | 'b'): HostState {
  return {
    files: [{ path: join(dir, 'egress', 'state.json'), content: `{"variant":"${variant}"}\n`, mode: 0o600, secret: true }],
    nft: [
      {
        family: 'inet',
        name: 'egress',
        ruleset: [
          'table inet egress {',
          '  chain out {',
          '    type route hook output priority mangle; policy accept;',
          `    meta skuid 1001 counter meta mark set mark and 0xffff00ff or ${variant === 'a' ? '0x100' : '0x200'}`,
          '  }',
          '  chain post {',
          '    type nat hook postrouting priority srcnat; policy accept;',
          '    oifname "d0" meta mark & 0x0000ff00 == 0x00000100 counter snat ip to 10.99.0.1',
          '  }',
          '}',
          '',
        ].join('\n'),
      },
    ],
    sysctls: [
      { key: 'net.ipv4.ip_forward', value: '1' },
      { key: 'net.ipv4.conf.all.src_valid_mark', value: '1' },
      { key: 'net.ipv4.conf.d0.rp_filter', value: variant === 'a' ? '2' : '1' },
    ],
    rules: [
      { family: 4, priority: 5200, fwmark: 0x100, fwmask: 0xff00, action: 'lookup', table: 51820 },
      { family: 4, priority: 5201, fwmark: 0x100, fwmask: 0xff00, action: 'prohibit' },
      { family: 4, priority: 5202, uidrange: [1001, 1001], action: 'lookup', table: 51820 },
      { family: 4, priority: 5203, from: '10.99.0.0/24', iif: 'd0', action: 'lookup', table: 51820, suppressPrefixlength: 0 },
      { family: 6, priority: 5200, fwmark: 0x100, fwmask: 0xff00, action: 'lookup', table: 51820 },
      ...(variant === 'a' ? [{ family: 6 as const, priority: 5201, fwmark: 0x100, fwmask: 0xff00, action: 'unreachable' as const }] : []),
    ],
    routes: [
      { family: 4, table: 51820, dst: 'default', dev: 'd0' },
      { family: 4, table: 51820, dst: '198.51.100.0/24', via: '10.99.0.2', dev: 'd0', metric: variant === 'a' ? 5 : 7 },
      { family: 4, table: 51820, dst: '203.0.113.0/24', type: 'unreachable' },
      { family: 6, table: 51820, dst: 'default', dev: 'd0' },
      { family: 6, table: 51820, dst: '2001:db8:1::/64', via: 'fd00:99::2', dev: 'd0' },
      ...(variant === 'b' ? [{ family: 6 as const, table: 51820, dst: '2001:db8:2::/64', type: 'prohibit' as const }] : []),
    ],
    links: [],
    units: [],
  };
}

describe('engine on the real kernel (network namespace)', () => {
  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('engine-netns.test.ts needs root (network namespaces): run the tests as root');
    dir = await mkdtemp(join(tmpdir(), 'eg-core-'));
    await execa('ip', ['netns', 'add', NS]);
    await inNs('ip', 'link', 'set', 'lo', 'up');
    await inNs('ip', 'link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'd1');
    // No link-local addresses: they would appear asynchronously and make the before/after text differ.
    await inNs('ip', 'link', 'set', 'd0', 'addrgenmode', 'none');
    await inNs('ip', 'link', 'set', 'd1', 'addrgenmode', 'none');
    await inNs('ip', 'link', 'set', 'd0', 'up');
    await inNs('ip', 'link', 'set', 'd1', 'up');
    await inNs('ip', 'addr', 'add', '10.99.0.1/24', 'dev', 'd0');
    await inNs('ip', '-6', 'addr', 'add', 'fd00:99::1/64', 'dev', 'd0', 'nodad');
  });
  afterAll(async () => {
    await execa('ip', ['netns', 'del', NS], { reject: false });
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('applies, applies again with zero steps, moves to another state, rolls back a failure, tears down to the initial text', async () => {
    const echoed: string[] = [];
    const host = new LocalHost({ prefix: ['ip', 'netns', 'exec', NS], onEcho: (l) => echoed.push(l) });
    const initial = await snapshot();
    const own = ownership();

    const first = await apply(host, desired('a'), own);
    expect(first.changed).toBe(1 + 3 + 1 + 5 + 6);
    expect(await inNs('ip', 'rule', 'show', 'priority', '5200')).toBe('5200:\tfrom all fwmark 0x100/0xff00 lookup 51820');
    expect(await inNs('ip', 'rule', 'show', 'priority', '5203')).toBe('5203:\tfrom 10.99.0.0/24 iif d0 lookup 51820 suppress_prefixlength 0');
    expect(await inNs('ip', 'route', 'show', 'table', '51820')).toBe(
      ['default dev d0 scope link ', '198.51.100.0/24 via 10.99.0.2 dev d0 metric 5 ', 'unreachable 203.0.113.0/24 '].join('\n'),
    );
    expect(await inNs('sysctl', '-n', 'net.ipv4.conf.d0.rp_filter')).toBe('2');
    expect(await inNs('nft', 'list', 'table', 'inet', 'egress')).toContain('meta skuid 1001 counter packets 0 bytes 0 meta mark set meta mark & 0xffff01ff | 0x00000100');
    const fileStat = await stat(join(dir, 'egress', 'state.json'));
    expect(fileStat.mode & 0o777).toBe(0o600);
    expect((await stat(own.journalPath)).mode & 0o777).toBe(0o600);
    expect(echoed).toContain('ip -4 rule add priority 5203 from 10.99.0.0/24 iif d0 lookup 51820 suppress_prefixlength 0');
    expect(echoed.join('\n')).not.toContain('"variant"');

    // Traffic moves counters; the second apply still changes nothing.
    await execa('ip', ['netns', 'exec', NS, 'ping', '-c', '1', '-W', '1', '10.99.0.2'], { reject: false });
    echoed.length = 0;
    const second = await apply(host, desired('a'), own);
    expect(second.changed).toBe(0);
    expect(echoed).toEqual([]);

    const moved = await apply(host, desired('b'), own);
    expect(moved.steps.map((s) => s.title)).toEqual([
      'replace nft table inet egress',
      `update ${join(dir, 'egress', 'state.json')} (0600, secret, 16 bytes)`,
      'set net.ipv4.conf.d0.rp_filter = 1 (was 2)',
      'add route 198.51.100.0/24 via 10.99.0.2 dev d0 metric 7 table 51820',
      'add IPv6 route prohibit 2001:db8:2::/64 table 51820',
      // The path closes before the fence opens: routes go first, the unreachable rule last.
      'delete route 198.51.100.0/24 via 10.99.0.2 dev d0 metric 5 table 51820',
      'delete IPv6 rule 5201: fwmark 0x100/0xff00 unreachable',
    ]);
    expect((await apply(host, desired('b'), own)).changed).toBe(0);

    // A route on a device that does not exist fails on the real kernel: everything done before it is undone.
    const beforeFailure = await snapshot();
    const broken = desired('a');
    broken.routes.push({ family: 4, table: 51820, dst: '192.0.2.0/24', dev: 'nosuchdev0' });
    const err = (await apply(host, broken, own).catch((e: unknown) => e)) as ApplyError;
    expect(err).toBeInstanceOf(ApplyError);
    expect(err.message).toMatch(/^step "add route 192.0.2.0\/24 dev nosuchdev0 table 51820" failed: command failed \(exit 1\): ip -4 route replace 192.0.2.0\/24 dev nosuchdev0 table 51820\nCannot find device "nosuchdev0"\nthe previous state was restored/);
    expect(err.restored).toBe(true);
    expect(await snapshot()).toBe(beforeFailure);

    const down = await teardown(host, own);
    expect(down.changed).toBeGreaterThan(10);
    expect(await snapshot()).toBe(initial);
    await expect(stat(join(dir, 'egress'))).rejects.toThrow(/ENOENT/);
    expect((await teardown(host, own)).changed).toBe(0);
  });

  it('brings a WireGuard link up with wg-quick (wireguard-go), syncs peers, restarts on a new address, takes it down', async () => {
    const echoed: string[] = [];
    const host = new LocalHost({ prefix: ['ip', 'netns', 'exec', NS], onEcho: (l) => echoed.push(l) });
    // A unique name: wireguard-go's control socket lives in /run/wireguard, shared by every namespace here.
    const name = `egc${randomBytes(3).toString('hex')}`;
    const wgDir = join(dir, 'wg');
    const configPath = join(wgDir, `${name}.conf`);
    const keyPath = join(wgDir, `${name}.key`);
    const own: Ownership = { ...ownership(), nftTables: [], rulePriorities: [], routeTables: [], links: [name], files: [wgDir], journalPath: join(wgDir, 'journal.json') };
    const priv = generateKeyPair();
    const peers = [generateKeyPair().publicKey, generateKeyPair().publicKey];
    const state = (address: string, peerKeys: string[]): HostState => ({
      ...emptyHostState(),
      files: [
        { path: keyPath, content: `${priv.privateKey}\n`, mode: 0o600, secret: true },
        {
          path: configPath,
          content: [
            '[Interface]',
            `Address = ${address}`,
            'ListenPort = 51999',
            'Table = off',
            `PostUp = wg set %i private-key ${keyPath}`,
            ...peerKeys.flatMap((k, i) => ['', '[Peer]', `PublicKey = ${k}`, `AllowedIPs = 10.88.0.${10 + i}/32`]),
            '',
          ].join('\n'),
          mode: 0o600,
        },
      ],
      sysctls: [{ key: `net.ipv4.conf.${name}.rp_filter`, value: '2' }],
      links: [{ kind: 'wireguard', name, configPath, addresses: [address], peers: peerKeys, listenPort: 51999 }],
    });
    const initial = await snapshot();
    try {
      const up = await apply(host, state('10.88.0.1/24', [peers[0]!]), own);
      expect(up.steps.map((s) => s.title)).toEqual([
        `create ${configPath} (0600, ${Buffer.byteLength(state('10.88.0.1/24', [peers[0]!]).files[1]!.content)} bytes)`,
        `create ${keyPath} (0600, secret, 45 bytes)`,
        `bring up ${name} (wg-quick up ${configPath})`,
        `set net.ipv4.conf.${name}.rp_filter = 2`,
      ]);
      expect(await inNs('wg', 'show', name)).toContain(`public key: ${priv.publicKey}`);
      expect(await inNs('wg', 'show', name, 'peers')).toBe(peers[0]);
      expect(await inNs('sysctl', '-n', `net.ipv4.conf.${name}.rp_filter`)).toBe('2');
      expect((await apply(host, state('10.88.0.1/24', [peers[0]!]), own)).changed).toBe(0);

      const synced = await apply(host, state('10.88.0.1/24', peers), own);
      // Only the new peer is set (`wg set`): the interface and the peers it had are not touched.
      expect(synced.steps.map((s) => s.title)).toEqual([expect.stringMatching(new RegExp(`^update ${configPath}`)), `update peers of ${name} (wg set: +${peers.length - 1} peer${peers.length === 2 ? '' : 's'})`]);
      expect(echoed).toContain(`wg set ${name} peer ${peers[1]} allowed-ips 10.88.0.11/32`);
      expect(echoed.join('\n')).not.toContain('syncconf');
      expect((await inNs('wg', 'show', name, 'peers')).split('\n').sort()).toEqual([...peers].sort());
      expect(await inNs('wg', 'show', name)).toContain(`public key: ${priv.publicKey}`);
      expect((await apply(host, state('10.88.0.1/24', peers), own)).changed).toBe(0);

      const moved = await apply(host, state('10.88.1.1/24', peers), own);
      expect(moved.steps.map((s) => s.title)).toEqual([
        expect.stringMatching(new RegExp(`^update ${configPath}`)),
        `restart ${name} (addresses or MTU changed)`,
        `set net.ipv4.conf.${name}.rp_filter = 2`,
      ]);
      expect(await inNs('ip', '-o', '-4', 'addr', 'show', 'dev', name)).toContain('inet 10.88.1.1/24');
      expect((await apply(host, state('10.88.1.1/24', peers), own)).changed).toBe(0);
      expect(echoed.join('\n')).not.toContain(priv.privateKey);

      const down = await teardown(host, own);
      expect(down.steps.map((s) => s.title)).toEqual([`take down ${name}`, `remove ${configPath}`, `remove ${keyPath}`, `remove directory ${wgDir}`]);
      await expect(inNs('ip', 'link', 'show', name)).rejects.toThrow(/does not exist/);
      expect(await snapshot()).toBe(initial);
    } finally {
      await execa('ip', ['netns', 'exec', NS, 'ip', 'link', 'del', name], { reject: false });
    }
  });
});

