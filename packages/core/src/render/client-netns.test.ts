// Named namespaces in the client render: their rules, sysctls and chains; nft loads the table and lists it back unchanged.
import { execFileSync, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ClientState } from '../model/client.js';
import { clientOwnership, renderClient } from './client.js';
import { renderNetnsChains } from './client-netns.js';
import { renderClientNft } from './client-nft.js';

// A dual-stack tunnel egress (one line of identity, one of addresses, one of its tunnel).
const egress = {
  ...{ name: 'main', kind: 'wireguard', interface: 'egress0', mark: 0x01000000, markMask: 0x01000000, table: 7100, priority: 7100 },
  ...{ address4: '10.77.0.2', address6: 'fd7a:77::2', dns: ['203.0.113.53'], selectors: { users: [{ name: 'appuser', uid: 1001 }], cgroups: [] } },
  wireguard: { endpoint: '198.51.100.2:51820', serverPublicKey: 'nKj0Z3mEjnij6kBZCfavXks08pg8B8p0q5thDKtcSAU=', publicKey: 'zrWgoz+XWrmY13w7SqNsDGYYWM83XZOaM9I/WgRY8xo=', mtu: 1420, persistentKeepalive: 25, subnet4: '10.77.0.0/24', subnet6: 'fd7a:77::/64' },
};
const state = ClientState.parse({ version: 1, egresses: [egress], namespaces: [{ name: 'vpn', egress: 'main', slot: 3 }, { name: 'six', egress: 'main', slot: 300, ipv6: true }] });
const plain = ClientState.parse({ version: 1, egresses: [egress] });

describe('named namespaces in the client state', () => {
  it('keeps older state files valid and unchanged (no namespaces field)', () => {
    expect(plain).not.toHaveProperty('namespaces');
    expect(renderNetnsChains(plain)).toEqual([]);
    expect(renderClient(plain).rules.some((r) => r.iif)).toBe(false);
  });

  it('refuses a namespace of an unknown egress, a name or slot used twice, and a bad name, naming the field', () => {
    const bad = (namespaces: unknown[]) => ClientState.safeParse({ version: 1, egresses: [egress], namespaces });
    expect(bad([{ name: 'a', egress: 'nope', slot: 1 }]).error?.issues[0]).toMatchObject({ path: ['namespaces', 0, 'egress'], message: "expected an enrolled egress, got 'nope'" });
    expect(bad([{ name: 'a', egress: 'main', slot: 1 }, { name: 'a', egress: 'main', slot: 2 }]).error?.issues[0]?.path).toEqual(['namespaces', 1, 'name']);
    expect(bad([{ name: 'a', egress: 'main', slot: 1 }, { name: 'b', egress: 'main', slot: 1 }]).error?.issues[0]?.path).toEqual(['namespaces', 1, 'slot']);
    expect(bad([{ name: 'Bad/Name', egress: 'main', slot: 1 }]).error?.issues[0]?.path).toEqual(['namespaces', 0, 'name']);
    expect(bad([{ name: 'egiso-12', egress: 'main', slot: 1 }]).error?.issues[0]?.message).toMatch(/egiso/);
  });

  it('routes each veth into the egress table with an unreachable fallback (IPv6 lookup only with IPv6), owning 4910-4911', () => {
    const hs = renderClient(state);
    expect(hs.rules.filter((r) => r.iif)).toEqual([
      { family: 4, priority: 4910, iif: 'egns3h', table: 7100, action: 'lookup' },
      { family: 4, priority: 4911, iif: 'egns3h', action: 'unreachable' },
      { family: 6, priority: 4911, iif: 'egns3h', action: 'unreachable' },
      { family: 4, priority: 4910, iif: 'egns300h', table: 7100, action: 'lookup' },
      { family: 4, priority: 4911, iif: 'egns300h', action: 'unreachable' },
      { family: 6, priority: 4910, iif: 'egns300h', table: 7100, action: 'lookup' },
      { family: 6, priority: 4911, iif: 'egns300h', action: 'unreachable' },
    ]);
    expect(clientOwnership(plain, state).rulePriorities).toContainEqual([4910, 4911]);
    expect(clientOwnership(plain).rulePriorities).not.toContainEqual([4910, 4911]);
  });

  it('turns forwarding on for the egress interface only while it is up (the rules and chains stay while down)', () => {
    expect(renderClient(state).sysctls).toEqual(expect.arrayContaining([{ key: 'net.ipv4.conf.egress0.forwarding', value: '1' }, { key: 'net.ipv6.conf.egress0.force_forwarding', value: '1' }]));
    const down = renderClient(state, { down: ['main'] });
    expect(down.sysctls.some((s) => s.key.includes('forwarding'))).toBe(false);
    expect(down.rules.filter((r) => r.iif).length).toBe(7);
    expect(down.nft[0]!.ruleset).toContain('chain netns_forward');
  });

  it('renders the kill switch and input guard of each veth', () => {
    expect(renderNetnsChains(state)).toEqual([
      `\tchain netns_forward {
\t\ttype filter hook forward priority filter; policy accept;
\t\tiifname "egns3h" oifname != "egress0" drop comment "netns vpn: kill switch: only out by the egress"
\t\tiifname "egns3h" tcp flags syn tcp option maxseg size set rt mtu comment "netns vpn: fit the egress MTU"
\t\tiifname "egns3h" ip saddr != 10.239.0.14 drop comment "netns vpn: only the namespace address"
\t\tiifname "egns3h" meta nfproto ipv6 drop comment "netns vpn: no IPv6 in this namespace"
\t\toifname "egns3h" iifname != "egress0" drop comment "netns vpn: only the egress reaches the namespace"
\t\toifname "egns3h" ct state != { established, related } drop comment "netns vpn: no connections into the namespace"
\t\tiifname "egns300h" oifname != "egress0" drop comment "netns six: kill switch: only out by the egress"
\t\tiifname "egns300h" tcp flags syn tcp option maxseg size set rt mtu comment "netns six: fit the egress MTU"
\t\tiifname "egns300h" ip saddr != 10.239.4.178 drop comment "netns six: only the namespace address"
\t\tiifname "egns300h" ip6 saddr != fd65:6769:7300:12c::2 drop comment "netns six: only the namespace address"
\t\toifname "egns300h" iifname != "egress0" drop comment "netns six: only the egress reaches the namespace"
\t\toifname "egns300h" ct state != { established, related } drop comment "netns six: no connections into the namespace"
\t}`,
      `\tchain netns_input {
\t\ttype filter hook input priority filter; policy accept;
\t\tiifname "egns3h" icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert } accept comment "netns vpn: neighbour discovery"
\t\tiifname "egns3h" drop comment "netns vpn: the namespace cannot reach this host"
\t\tiifname "egns300h" icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert } accept comment "netns six: neighbour discovery"
\t\tiifname "egns300h" drop comment "netns six: the namespace cannot reach this host"
\t}`,
    ]);
  });

  const canRunNft = process.getuid?.() === 0 && spawnSync('sh', ['-c', 'command -v nft && command -v unshare'], { encoding: 'utf8' }).status === 0;
  it.runIf(canRunNft)('nft loads the table with namespaces in a throwaway netns and lists it back unchanged', () => {
    const text = renderClientNft(state)!;
    const listed = execFileSync('unshare', ['-n', 'sh', '-c', 'nft -f - && nft list table inet egress'], { input: text, encoding: 'utf8' });
    expect(listed).toBe(text);
  });
  it.runIf(!canRunNft && !!process.env.CI)('fails loudly on CI without nft or root', () => {
    throw new Error('nft, unshare and root are required on CI to check rendered client tables');
  });
});
