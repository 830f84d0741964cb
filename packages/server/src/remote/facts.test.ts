// Parsing what the VPS reports: resolvers behind systemd-resolved, wg dumps, firewall policies.
import { describe, expect, it } from 'vitest';
import type { Command, Host, RunResult } from '@egress/core';
import { factCommands, parseWgDump, readFacts, upstreamResolvers } from './facts.js';
import { acceptCommands, dropPolicies, neededAccepts, nftAcceptCommands, nftRemoveCommands, presentAccepts } from './firewall.js';

describe('upstreamResolvers', () => {
  it('uses resolv.conf directly, dropping loopback', () => {
    expect(upstreamResolvers('nameserver 203.0.113.53\nnameserver 127.0.0.1\nnameserver 2001:db8::53\n', undefined)).toEqual(['203.0.113.53', '2001:db8::53']);
  });

  it('asks systemd-resolved behind the 127.0.0.53 stub', () => {
    const resolvectl = 'Global:\nLink 2 (eth0): 203.0.113.53 2001:db8::53%eth0 203.0.113.54#dns.example\n';
    expect(upstreamResolvers('nameserver 127.0.0.53\noptions edns0\n', resolvectl)).toEqual(['203.0.113.53', '2001:db8::53', '203.0.113.54']);
    expect(upstreamResolvers('nameserver 127.0.0.53\n', 'nameserver 198.51.100.53\n')).toEqual(['198.51.100.53']);
  });
});

describe('parseWgDump', () => {
  it('reads the listen port and each peer', () => {
    const dump = 'priv\tpub\t51820\toff\nPEER=\t(none)\t192.0.2.2:40000\t10.77.0.2/32,fd7a:77::2/128\t1700000000\t1200\t3400\t25\n';
    expect(parseWgDump(dump)).toEqual({ listenPort: 51820, peers: [{ publicKey: 'PEER=', endpoint: '192.0.2.2:40000', allowedIps: ['10.77.0.2/32', 'fd7a:77::2/128'], latestHandshake: 1700000000, rx: 1200, tx: 3400 }] });
    expect(parseWgDump(undefined)).toEqual({ peers: [] });
  });
});

describe('firewall accepts', () => {
  const dockerish = '-P INPUT ACCEPT\n-P FORWARD DROP\n-P OUTPUT ACCEPT\n-N DOCKER\n-A FORWARD -j DOCKER-USER\n';
  const ufwish = '-P INPUT DROP\n-P FORWARD DROP\n-P OUTPUT ACCEPT\n';

  it('finds DROP policies', () => {
    expect([...dropPolicies(ufwish)]).toEqual(['INPUT', 'FORWARD']);
    expect([...dropPolicies(undefined)]).toEqual([]);
  });

  it('adds the narrowest accepts: forward in/out of the tunnel, the listen port where INPUT drops', () => {
    const wanted = neededAccepts({ v4: dockerish, v6: ufwish }, 'egress0', 51820, true);
    expect(wanted.map((a) => `${a.tool} ${a.chain} ${a.rule.join(' ')}`)).toEqual([
      'iptables FORWARD -i egress0 -m comment --comment egress -j ACCEPT',
      'iptables FORWARD -o egress0 -m comment --comment egress -j ACCEPT',
      'ip6tables FORWARD -i egress0 -m comment --comment egress -j ACCEPT',
      'ip6tables FORWARD -o egress0 -m comment --comment egress -j ACCEPT',
      'ip6tables INPUT -p udp --dport 51820 -m comment --comment egress -j ACCEPT',
    ]);
    expect(neededAccepts({ v4: dockerish, v6: dockerish }, 'egress0', 51820, false)).toHaveLength(2);
  });

  it('inserts only what is missing and deletes only egress-marked rules no longer wanted', () => {
    const present = presentAccepts({ v4: `${dockerish}-A FORWARD -i egress0 -m comment --comment egress -j ACCEPT\n-A FORWARD -i eth1 -j ACCEPT\n`, v6: '-A INPUT -p udp --dport 51999 -m comment --comment egress -j ACCEPT\n' });
    const wanted = neededAccepts({ v4: dockerish, v6: undefined }, 'egress0', 51820, false);
    expect(acceptCommands(present, wanted).map((c) => c.argv.join(' '))).toEqual([
      'iptables -I FORWARD -o egress0 -m comment --comment egress -j ACCEPT',
      'ip6tables -D INPUT -p udp --dport 51999 -m comment --comment egress -j ACCEPT',
    ]);
  });

  it('handles native nft forward chains with policy drop by comment and handle', () => {
    const json = {
      nftables: [
        { chain: { family: 'inet', table: 'filter', name: 'forward', hook: 'forward', policy: 'drop' } },
        { chain: { family: 'ip', table: 'filter', name: 'FORWARD', hook: 'forward', policy: 'drop' } },
        { chain: { family: 'inet', table: 'egress', name: 'forward', hook: 'forward', policy: 'accept' } },
      ],
    };
    expect(nftAcceptCommands(json, 'egress0').map((c) => c.argv.join(' '))).toEqual([
      'nft insert rule inet filter forward iifname egress0 accept comment egress',
      'nft insert rule inet filter forward oifname egress0 accept comment egress',
    ]);
    const withRules = { nftables: [...json.nftables, { rule: { family: 'inet', table: 'filter', chain: 'forward', handle: 7, comment: 'egress' } }] };
    expect(nftAcceptCommands(withRules, 'egress0')).toEqual([]);
    expect(nftRemoveCommands(withRules).map((c) => c.argv.join(' '))).toEqual(['nft delete rule inet filter forward handle 7']);
  });
});

describe('readFacts for a peer add/remove', () => {
  /** A host answering `cat -- /etc/egress/server.json`, `id -u` and the shell builtin `false`; records every batch. */
  function recordingHost(): Host & { batches: string[][] } {
    const answer = (c: Command): RunResult => {
      const line = c.argv.join(' ');
      if (line === 'cat -- /etc/egress/server.json') return { exitCode: 0, stdout: '{"model":1}\n', stderr: '' };
      if (line === 'id -u') return { exitCode: 0, stdout: '0\n', stderr: '' };
      if (line === 'false') return { exitCode: 1, stdout: '', stderr: '' };
      return { exitCode: 1, stdout: '', stderr: 'No such file or directory' };
    };
    const batches: string[][] = [];
    return {
      name: 'rec',
      batches,
      run: async (argv) => answer({ argv }),
      runMany: async (commands) => (batches.push(commands.map((c) => c.argv.join(' '))), commands.map(answer)),
      readFile: async () => undefined,
      writeFile: async () => undefined,
      removeFile: async () => undefined,
    } as Host & { batches: string[][] };
  }

  it('reads only what the change uses, in one batch, and server.json once', async () => {
    const host = recordingHost();
    const facts = await readFacts(host, 'egress0', true, 'peer-change');
    expect(host.batches).toHaveLength(1);
    const batch = host.batches[0]!;
    expect(facts.uid).toBe(0);
    expect(facts.stateText).toBe('{"model":1}\n');
    expect(batch.filter((l) => l.includes('/etc/egress/server.json'))).toEqual(['cat -- /etc/egress/server.json']);
    for (const kept of ['iptables -S', 'ip6tables -S', 'nft -j list ruleset', 'wg show egress0 dump', 'nft list table inet egress']) expect(batch).toContain(kept);
    expect(batch.some((l) => l.startsWith('sh -c for f in /proc/sys/net/ipv6/conf/'))).toBe(true);
    // Packages, routes, resolvers, units and the implementation probe are provision's and status's: not run.
    for (const dropped of ['cat /etc/os-release', 'ip -j addr show', 'cat /etc/resolv.conf', 'cat /etc/egress/provision.json']) expect(batch).not.toContain(dropped);
    expect(batch.filter((l) => l === 'false')).toHaveLength(factCommands().length - 7);
    // Every fact keeps its place: the full read has the same length.
    expect(factCommands('egress0', 'peer-change')).toHaveLength(factCommands().length);
  });
});
