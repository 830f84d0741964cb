// Client renderers: exact text for v4-only, dual-stack and several egresses; nft loads every table and lists it back.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ClientState, type EgressInput } from '../model/client.js';
import { clientOwnership, renderClient } from './client.js';
import { renderClientNft } from './client-nft.js';
import { renderClientRoutes, renderClientRules } from './client-routing.js';
import { renderClientWgConfig } from './client-wg.js';

const SERVER_PUB = 'nKj0Z3mEjnij6kBZCfavXks08pg8B8p0q5thDKtcSAU=';
const CLIENT_PUB = 'zrWgoz+XWrmY13w7SqNsDGYYWM83XZOaM9I/WgRY8xo=';

const wg = (o: Record<string, unknown> = {}) => ({
  endpoint: '198.51.100.2:51820',
  serverPublicKey: SERVER_PUB,
  publicKey: CLIENT_PUB,
  mtu: 1420,
  persistentKeepalive: 25,
  serverAddress4: '10.77.0.1',
  subnet4: '10.77.0.0/24',
  ...o,
});

const mainV4: EgressInput = {
  name: 'main',
  kind: 'wireguard',
  interface: 'egress0',
  mark: 0x01000000,
  markMask: 0x01000000,
  table: 7100,
  priority: 7100,
  address4: '10.77.0.2',
  dns: ['203.0.113.53'],
  selectors: { users: [{ name: 'appuser', uid: 1001 }], cgroups: ['egress/main'] },
  wireguard: wg(),
};
const mainDual: EgressInput = {
  ...mainV4,
  address6: 'fd7a:77::2',
  dns: ['203.0.113.53', '2001:db8:3::53'],
  wireguard: wg({ serverAddress6: 'fd7a:77::1', subnet6: 'fd7a:77::/64', persistentKeepalive: 0, mtu: 1380 }),
};
const work: EgressInput = {
  name: 'work',
  kind: 'wireguard',
  interface: 'egress1',
  mark: 0x00000200,
  markMask: 0x00000f00,
  table: 7101,
  priority: 7110,
  address4: '10.88.0.5',
  dns: [],
  selectors: { users: [{ name: 'worker', uid: 1002 }, { name: 'builder', uid: 1003 }], shimSource: false },
  wireguard: wg({ endpoint: 'vpn.example.org:51999', subnet4: '10.88.0.0/16', serverAddress4: '10.88.0.1' }),
};
const wifi: EgressInput = {
  name: 'wifi',
  kind: 'interface',
  interface: 'wlan0',
  mark: 0x04000000,
  markMask: 0x04000000,
  table: 7102,
  priority: 7120,
  address4: '192.0.2.130',
  dns: ['192.0.2.129'],
  selectors: { users: [{ name: 'otheruser', uid: 1004 }] },
  uplink: { gateway4: '192.0.2.129' },
};

const v4only = ClientState.parse({ version: 1, egresses: [mainV4] });
const dual = ClientState.parse({ version: 1, egresses: [mainDual] });
const several = ClientState.parse({ version: 1, egresses: [mainDual, work, wifi] });
const lanFwd = ClientState.parse({
  version: 1,
  egresses: [{ ...mainV4, wireguard: wg({ forwards: [
    { proto: 'tcp', publicPort: 8443, peer: 'main', targetPort: 443, targetHost: '203.0.113.200', via: 'lan0' },
    { proto: 'udp', publicPort: 7000, publicPortEnd: 7002, peer: 'main', targetPort: 7100, targetHost: '203.0.113.201', via: 'lan0' },
    { proto: 'tcp', publicPort: 8080, peer: 'main', targetPort: 8080 },
  ] }) }],
});
const wgOf = (s: ClientState, i = 0) => {
  const e = s.egresses[i]!;
  if (e.kind !== 'wireguard') throw new Error('not wireguard');
  return e;
};

describe('renderClientWgConfig', () => {
  it('renders a v4-only tunnel: Table = off, key from its file, no secret inline', () => {
    expect(renderClientWgConfig(wgOf(v4only))).toBe(`# egress 'main': wg-quick config written by egress-client; do not edit (egress-client enroll rewrites it).
[Interface]
Address = 10.77.0.2/24
MTU = 1420
Table = off
PostUp = wg set %i private-key /etc/egress/main.key
PostUp = sysctl -q -w net.ipv4.conf.%i.rp_filter=2 net.ipv4.conf.%i.route_localnet=1

[Peer]
PublicKey = nKj0Z3mEjnij6kBZCfavXks08pg8B8p0q5thDKtcSAU=
Endpoint = 198.51.100.2:51820
AllowedIPs = 0.0.0.0/0, ::/0
PersistentKeepalive = 25
`);
  });

  it('renders a dual-stack tunnel with its MTU and without keepalive when it is 0', () => {
    expect(renderClientWgConfig(wgOf(dual))).toBe(`# egress 'main': wg-quick config written by egress-client; do not edit (egress-client enroll rewrites it).
[Interface]
Address = 10.77.0.2/24, fd7a:77::2/64
MTU = 1380
Table = off
PostUp = wg set %i private-key /etc/egress/main.key
PostUp = sysctl -q -w net.ipv4.conf.%i.rp_filter=2 net.ipv4.conf.%i.route_localnet=1

[Peer]
PublicKey = nKj0Z3mEjnij6kBZCfavXks08pg8B8p0q5thDKtcSAU=
Endpoint = 198.51.100.2:51820
AllowedIPs = 0.0.0.0/0, ::/0
`);
  });

  it('names the second egress key and uses its subnet prefix and endpoint', () => {
    const text = renderClientWgConfig(wgOf(several, 1));
    expect(text).toContain('Address = 10.88.0.5/16\n');
    expect(text).toContain('PostUp = wg set %i private-key /etc/egress/work.key\n');
    expect(text).toContain('Endpoint = vpn.example.org:51999\n');
  });
});

const V4_NFT = `table inet egress {
	set fwd4_main {
		type ipv4_addr . inet_proto . inet_service . inet_service
		size 65535
		flags dynamic,timeout
		timeout 3m
	}

	chain prerouting {
		type filter hook prerouting priority mangle; policy accept;
		iifname "egress0" ip daddr 127.0.0.0/8 drop comment "main: no loopback destinations from the egress"
		iifname "egress0" ct state new ct mark set ct mark | 0x01000000 comment "main: connections arriving from the tunnel"
		iifname "egress0" ct direction original meta l4proto { tcp, udp } update @fwd4_main { ip saddr . meta l4proto . th sport . th dport } comment "main: flows from the tunnel (IPv4)"
	}

	chain output_reply {
		type route hook output priority raw; policy accept;
		meta l4proto { tcp, udp } ip daddr . meta l4proto . th dport . th sport @fwd4_main ip saddr set 10.77.0.2 meta mark set meta mark | 0x01000000 comment "main: replies to flows from the tunnel leave by it (IPv4)"
	}

	chain output_mark {
		type route hook output priority mangle; policy accept;
		ct mark & 0x01000000 == 0x01000000 meta mark set meta mark | 0x01000000 comment "main: replies to connections from the tunnel"
		meta skuid 1001 meta mark set meta mark | 0x01000000 comment "main: user appuser"
		socket cgroupv2 level 2 "egress/main" meta mark set meta mark | 0x01000000 comment "main: cgroup egress/main"
		ip saddr 10.77.0.2 meta mark set meta mark | 0x01000000 comment "main: source 10.77.0.2"
		meta mark & 0x01000000 == 0x01000000 meta nfproto ipv6 oifname != "lo" reject with icmpx admin-prohibited comment "main: no IPv6 on this egress"
	}

	chain output_dns {
		type nat hook output priority -100; policy accept;
		meta mark & 0x01000000 == 0x01000000 meta nfproto ipv4 udp dport 53 dnat ip to 203.0.113.53 comment "main: DNS to 203.0.113.53 through the egress"
		meta mark & 0x01000000 == 0x01000000 meta nfproto ipv4 tcp dport 53 dnat ip to 203.0.113.53 comment "main: DNS to 203.0.113.53 through the egress"
	}

	chain output_filter {
		type filter hook output priority filter; policy accept;
		meta mark & 0x01000000 == 0x01000000 fib daddr type local udp dport 53 reject comment "main: no DNS to local resolvers"
		meta mark & 0x01000000 == 0x01000000 fib daddr type local tcp dport 53 reject comment "main: no DNS to local resolvers"
		meta skuid 1001 oifname != "lo" oifname != "egress0" meta l4proto tcp reject with tcp reset comment "main: kill switch for appuser"
		meta skuid 1001 oifname != "lo" oifname != "egress0" reject with icmpx admin-prohibited comment "main: kill switch for appuser"
		ip saddr 10.77.0.2 ct direction original meta skuid != { 0, 1001 } jump allow_main comment "main: only allowed users send from 10.77.0.2"
		ct mark & 0x01000000 == 0x01000000 ct direction reply meta skuid != { 0, 1001 } jump allow_main comment "main: only allowed users answer connections from the tunnel"
	}

	chain allow_main {
		socket cgroupv2 level 2 "egress/main" return comment "main: apps placed in cgroup egress/main (by root or the supervisor)"
		meta l4proto tcp reject with tcp reset comment "main: not allowed to use this egress"
		reject with icmpx admin-prohibited comment "main: not allowed to use this egress"
	}

	chain postrouting_filter {
		type filter hook postrouting priority filter; policy accept;
		meta mark & 0x01000000 == 0x01000000 oifname != "lo" oifname != "egress0" drop comment "main: kill switch"
	}

	chain postrouting_nat {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "egress0" ip saddr != 10.77.0.2 snat ip to 10.77.0.2 comment "main: source safety net"
	}
}
`;

describe('renderClientNft', () => {
  it('renders forwards to LAN hosts: DNAT on to the host, replies from the LAN marked back into the tunnel', () => {
    const text = renderClientNft(lanFwd)!;
    expect(text).toContain('\tchain prerouting_nat {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n'
      + '\t\tiifname "egress0" meta nfproto ipv4 tcp dport 443 dnat ip to 203.0.113.200 comment "main: forward 443/tcp to 203.0.113.200"\n'
      + '\t\tiifname "egress0" meta nfproto ipv4 udp dport 7100-7102 dnat ip to 203.0.113.201 comment "main: forward 7100-7102/udp to 203.0.113.201"\n\t}\n');
    expect(text).toContain('\t\tiifname != "egress0" ct direction reply ct mark & 0x01000000 == 0x01000000 meta mark set meta mark | 0x01000000 comment "main: replies from LAN hosts leave by the tunnel"\n');
    expect(text).not.toContain('8080 dnat');
    expect(renderClientNft(v4only)).not.toContain('prerouting_nat');
    const hs = renderClient(lanFwd);
    expect(hs.sysctls).toEqual(expect.arrayContaining([{ key: 'net.ipv4.conf.lan0.forwarding', value: '1' }, { key: 'net.ipv4.conf.lan0.rp_filter', value: '2' }]));
    expect(renderClientWgConfig(wgOf(lanFwd))).toContain('PostUp = sysctl -q -w net.ipv4.conf.%i.rp_filter=2 net.ipv4.conf.%i.route_localnet=1 net.ipv4.conf.%i.forwarding=1\n');
    expect(renderClient(v4only).sysctls.map((x) => x.key)).not.toContain('net.ipv4.conf.lan0.forwarding');
  });

  it('renders the v4-only table: marks, connmark, DNS, IPv6 refusal, kill switch (uid reject, final-interface drop), SNAT safety net', () => {
    expect(renderClientNft(v4only)).toBe(V4_NFT);
  });

  it('renders the dual-stack table: v6 source mark, v6 DNS, v6 SNAT, no IPv6 refusal', () => {
    const text = renderClientNft(dual)!;
    expect(text).toContain('\t\tip6 saddr fd7a:77::2 meta mark set meta mark | 0x01000000 comment "main: source fd7a:77::2"\n');
    expect(text).toContain(
      '\t\tmeta mark & 0x01000000 == 0x01000000 meta nfproto ipv6 udp dport 53 dnat ip6 to 2001:db8:3::53 comment "main: DNS to 2001:db8:3::53 through the egress"\n',
    );
    expect(text).toContain('\t\toifname "egress0" ip6 saddr != fd7a:77::2 snat ip6 to fd7a:77::2 comment "main: source safety net"\n');
    expect(text).not.toContain('no IPv6 on this egress');
    expect(text).toContain('\tset fwd6_main {\n\t\ttype ipv6_addr . inet_proto . inet_service . inet_service\n');
    expect(text).toContain(
      '\t\tmeta l4proto { tcp, udp } ip6 daddr . meta l4proto . th dport . th sport @fwd6_main ip6 saddr set fd7a:77::2 meta mark set meta mark | 0x01000000 comment "main: replies to flows from the tunnel leave by it (IPv6)"\n',
    );
    expect(text.split('\n')).toHaveLength(V4_NFT.split('\n').length + 4 - 1 + 9 + 1);
  });

  it('renders several egresses in one table, each with its own masked mark, keeping other bits', () => {
    const text = renderClientNft(several)!;
    expect(text.match(/^table /gm)).toHaveLength(1);
    expect(text).toContain('\t\tmeta skuid 1002 meta mark set meta mark & 0xfffff2ff | 0x00000200 comment "work: user worker"\n');
    expect(text).toContain('\t\tmeta skuid 1003 meta mark set meta mark & 0xfffff2ff | 0x00000200 comment "work: user builder"\n');
    expect(text).toContain('\t\tiifname "egress1" ct state new ct mark set ct mark & 0xfffff2ff | 0x00000200 comment "work: connections arriving from the tunnel"\n');
    expect(text).toContain('@fwd4_work ip saddr set 10.88.0.5 meta mark set meta mark & 0xfffff2ff | 0x00000200 comment "work: replies to flows from the tunnel leave by it (IPv4)"\n');
    expect(text).not.toContain('fwd4_wifi');
    expect(text).toContain('\t\tmeta mark & 0x00000f00 == 0x00000200 oifname != "lo" oifname != "egress1" drop comment "work: kill switch"\n');
    expect(text).toContain('\t\tmeta skuid 1003 oifname != "lo" oifname != "egress1" reject with icmpx admin-prohibited comment "work: kill switch for builder"\n');
    // work has no shim source and no DNS server: no source mark, no DNAT, but local stubs are still refused
    expect(text).not.toContain('ip saddr 10.88.0.5 meta mark');
    expect(text).not.toMatch(/0x00000200 meta nfproto ipv4 udp dport 53 dnat/);
    expect(text).toContain('\t\tmeta mark & 0x00000f00 == 0x00000200 fib daddr type local udp dport 53 reject comment "work: no DNS to local resolvers"\n');
    // the interface egress: no connmark, SNAT only for its own marked traffic
    expect(text).not.toContain('iifname "wlan0" ct state new');
    expect(text).toContain('\t\tmeta mark & 0x04000000 == 0x04000000 oifname "wlan0" ip saddr != 192.0.2.130 snat ip to 192.0.2.130 comment "wifi: source safety net"\n');
  });

  it('renders nothing for a client without egresses', () => {
    expect(renderClientNft(ClientState.parse({ version: 1 }))).toBeUndefined();
  });
});

describe('renderClientRules', () => {
  it('renders lookups then prohibit fallbacks for v4, and unreachable for v6 without a tunnel address', () => {
    expect(renderClientRules(v4only.egresses[0]!)).toEqual([
      { family: 4, priority: 7100, fwmark: 0x01000000, fwmask: 0x01000000, table: 7100, action: 'lookup' },
      { family: 4, priority: 7101, uidrange: [1001, 1001], table: 7100, action: 'lookup' },
      { family: 4, priority: 7102, from: '10.77.0.2', table: 7100, action: 'lookup' },
      { family: 4, priority: 7107, fwmark: 0x01000000, fwmask: 0x01000000, action: 'prohibit' },
      { family: 4, priority: 7108, uidrange: [1001, 1001], action: 'prohibit' },
      { family: 4, priority: 7109, from: '10.77.0.2', action: 'prohibit' },
      { family: 6, priority: 7107, fwmark: 0x01000000, fwmask: 0x01000000, action: 'unreachable' },
      { family: 6, priority: 7108, uidrange: [1001, 1001], action: 'unreachable' },
    ]);
  });

  it('routes v6 through the tunnel when it has a v6 address', () => {
    const v6 = renderClientRules(dual.egresses[0]!).filter((r) => r.family === 6);
    expect(v6).toEqual([
      { family: 6, priority: 7100, fwmark: 0x01000000, fwmask: 0x01000000, table: 7100, action: 'lookup' },
      { family: 6, priority: 7101, uidrange: [1001, 1001], table: 7100, action: 'lookup' },
      { family: 6, priority: 7102, from: 'fd7a:77::2', table: 7100, action: 'lookup' },
      { family: 6, priority: 7107, fwmark: 0x01000000, fwmask: 0x01000000, action: 'prohibit' },
      { family: 6, priority: 7108, uidrange: [1001, 1001], action: 'prohibit' },
      { family: 6, priority: 7109, from: 'fd7a:77::2', action: 'prohibit' },
    ]);
  });

  it('keeps every rule of an egress inside its own 10-wide range', () => {
    const st = renderClient(several);
    for (const e of several.egresses) {
      const mine = st.rules.filter((r) => r.table === e.table || (r.fwmark === e.mark && r.fwmask === e.markMask));
      expect(mine.length).toBeGreaterThan(0);
      for (const r of mine) expect(r.priority - e.priority).toBeOneOf([0, 1, 2, 7, 8, 9]);
    }
    expect(st.rules.filter((r) => r.priority === 7111 && r.action === 'lookup').map((r) => r.uidrange)).toEqual([[1002, 1002], [1003, 1003]]);
  });
});

describe('renderClient', () => {
  it('renders files, link, routes, sysctl and the boot unit of a v4-only client', () => {
    const st = renderClient(v4only, { bootCommand: ['/usr/bin/node', '/opt/egress/client/dist/bin.js'] });
    expect(st.files.map((f) => [f.path, f.mode.toString(8)])).toEqual([
      ['/etc/egress/client.json', '600'],
      ['/etc/egress/public/main.json', '644'],
      ['/etc/wireguard/egress0.conf', '600'],
      ['/etc/systemd/system/egress-client.service', '644'],
      ['/etc/systemd/system/egress-client-fence.service', '644'],
    ]);
    expect(JSON.parse(st.files[0]!.content)).toEqual(v4only);
    expect(JSON.parse(st.files[1]!.content)).toEqual({ version: 1, name: 'main', kind: 'wireguard', interface: 'egress0', address4: '10.77.0.2', dns: ['203.0.113.53'], cgroup: 'egress/main', allowedUids: [0, 1001] });
    expect(st.files[3]!.content).toBe(`# Written by egress-client enroll; removed by egress-client uninstall.
[Unit]
Description=egress client supervisor: hold enrolled egresses up and repair drift
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
ExecStart=/usr/bin/node /opt/egress/client/dist/bin.js daemon
KillMode=process
Restart=on-failure
RestartSec=2s

[Install]
WantedBy=multi-user.target
`);
    expect(st.files[4]!.content).toBe(`# Written by egress-client enroll; removed by egress-client uninstall.
[Unit]
Description=egress client: kill switch and selection rules before the network
DefaultDependencies=no
After=local-fs.target
Before=network-pre.target egress-client.service
Wants=network-pre.target
Conflicts=shutdown.target
Before=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/bin/node /opt/egress/client/dist/bin.js up --fence-only

[Install]
WantedBy=sysinit.target
`);
    expect(st.units).toEqual([{ name: 'egress-client.service', enable: true }, { name: 'egress-client-fence.service', enable: true }]);
    expect(st.links).toEqual([{ kind: 'wireguard', name: 'egress0', configPath: '/etc/wireguard/egress0.conf', addresses: ['10.77.0.2/24'], peers: [SERVER_PUB] }]);
    expect(st.routes).toEqual([{ family: 4, table: 7100, dst: 'default', dev: 'egress0' }]);
    expect(st.sysctls).toEqual([{ key: 'net.ipv4.conf.all.src_valid_mark', value: '1' }]);
    expect(st.nft).toEqual([{ family: 'inet', name: 'egress', ruleset: V4_NFT }]);
  });

  it('keeps rules, table and files of a down egress but drops its link and routes (kill switch stays armed)', () => {
    const up = renderClient(several);
    const down = renderClient(several, { down: ['main'] });
    expect(down.links.map((l) => l.name)).toEqual(['egress1']);
    expect(down.routes.map((r) => r.table)).toEqual([7101, 7102]);
    expect(down.rules).toEqual(up.rules);
    expect(down.nft).toEqual(up.nft);
    expect(down.files).toEqual(up.files);
  });

  it('renders the interface egress with a gateway route and its uplink sysctls', () => {
    const st = renderClient(several);
    expect(st.routes).toContainEqual({ family: 4, table: 7102, dst: 'default', dev: 'wlan0', via: '192.0.2.129' });
    expect(st.sysctls).toEqual([
      { key: 'net.ipv4.conf.all.src_valid_mark', value: '1' },
      { key: 'net.ipv4.conf.wlan0.rp_filter', value: '2' },
      { key: 'net.ipv4.conf.wlan0.route_localnet', value: '1' },
    ]);
  });

  it('renders nothing for no egress and is byte-for-byte deterministic', () => {
    expect(renderClient(ClientState.parse({ version: 1 }))).toEqual({ files: [], nft: [], sysctls: [], rules: [], routes: [], links: [], units: [] });
    expect(JSON.stringify(renderClient(several))).toBe(JSON.stringify(renderClient(ClientState.parse(JSON.parse(JSON.stringify(several))))));
  });

  it('owns the union of the egresses it is given, so removing one egress removes exactly its parts', () => {
    const own = clientOwnership(ClientState.parse({ version: 1, egresses: [mainDual] }), several);
    expect(own).toEqual({
      nftTables: [{ family: 'inet', name: 'egress' }],
      rulePriorities: [[7100, 7109], [7110, 7119], [7120, 7129]],
      routeTables: [7100, 7101, 7102],
      links: ['egress0', 'egress1'],
      files: ['/etc/egress/client.json', '/etc/systemd/system/egress-client.service', '/etc/systemd/system/egress-client-fence.service', '/etc/egress/public/main.json', '/etc/wireguard/egress0.conf', '/etc/egress/public/work.json', '/etc/wireguard/egress1.conf', '/etc/egress/public/wifi.json'],
      journalPath: '/etc/egress/client-journal.json',
      units: ['egress-client.service', 'egress-client-fence.service'],
    });
  });
});

const canRunNft = process.getuid?.() === 0 && spawnSync('sh', ['-c', 'command -v nft && command -v unshare'], { encoding: 'utf8' }).status === 0;

/** The cgroup2 mount point of this machine (nft resolves `socket cgroupv2` paths when it parses a table). */
function cgroup2Root(): string | undefined {
  const line = readFileSync('/proc/self/mounts', 'utf8').split('\n').find((l) => l.split(' ')[2] === 'cgroup2');
  return line?.split(' ')[1];
}

/**
 * Loads a table in a throwaway netns and lists it back. `socket cgroupv2` needs its paths to exist: the shell moves
 * itself into a scratch cgroup, enters a new cgroup namespace rooted there, mounts cgroup2 at /sys/fs/cgroup in a
 * private mount namespace and creates the paths inside the scratch cgroup only (removed afterwards).
 */
function loadAndList(ruleset: string, cgroups: string[]): string {
  const root = cgroup2Root();
  if (!root) throw new Error('no cgroup2 mount: cannot check socket cgroupv2 rules');
  const scratch = `${root}/egress-render-test-${process.pid}`;
  mkdirSync(scratch);
  try {
    const mk = cgroups.map((c) => `mkdir -p '/sys/fs/cgroup/${c}'`).join(' && ') || 'true';
    const inner = `mount -t cgroup2 none /sys/fs/cgroup && ${mk} && nft -c -f - <<'EOF'\n${ruleset}EOF\nnft -f - <<'EOF'\n${ruleset}EOF\nnft list table inet egress`;
    return execFileSync('sh', ['-c', `echo $$ > '${scratch}/cgroup.procs' && exec unshare -C -m -n sh -c "$0"`, inner], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } finally {
    for (const c of cgroups) {
      const parts = c.split('/');
      for (let i = parts.length; i > 0; i--) rmdirSync(`${scratch}/${parts.slice(0, i).join('/')}`);
    }
    rmdirSync(scratch);
  }
}

describe('nft accepts every rendered table and lists it back unchanged', () => {
  it.runIf(canRunNft)('checks, loads and lists v4-only, dual-stack and several-egress tables in a throwaway netns', () => {
    for (const s of [v4only, dual, several, lanFwd]) {
      const text = renderClientNft(s)!;
      expect(loadAndList(text, ['egress/main'])).toBe(text);
    }
  });

  it.runIf(!canRunNft && !!process.env.CI)('fails loudly on CI without nft or root', () => {
    throw new Error('nft, unshare and root are required on CI to check rendered client tables');
  });
});

describe('an egress enrolled from a wg-quick file (narrow AllowedIPs, PresharedKey, no server tunnel address)', () => {
  const fromConf = ClientState.parse({
    version: 1,
    egresses: [
      {
        ...mainV4,
        name: 'corp',
        address4: '10.66.0.2',
        wireguard: { endpoint: 'vpn.example.net:51820', serverPublicKey: SERVER_PUB, publicKey: CLIENT_PUB, mtu: 1380, persistentKeepalive: 0, subnet4: '10.66.0.2/32', allowedIps: ['10.0.0.0/8', '192.0.2.7/32', 'fd00::/8'], presharedKey: true },
      },
    ],
  }).egresses[0] as Extract<ReturnType<typeof ClientState.parse>['egresses'][number], { kind: 'wireguard' }>;

  it('renders AllowedIPs as given and loads the PresharedKey from its 0600 file', () => {
    expect(renderClientWgConfig(fromConf)).toBe(`# egress 'corp': wg-quick config written by egress-client; do not edit (egress-client enroll rewrites it).
[Interface]
Address = 10.66.0.2/32
MTU = 1380
Table = off
PostUp = wg set %i private-key /etc/egress/corp.key
PostUp = wg set %i peer ${SERVER_PUB} preshared-key /etc/egress/corp.psk
PostUp = sysctl -q -w net.ipv4.conf.%i.rp_filter=2 net.ipv4.conf.%i.route_localnet=1

[Peer]
PublicKey = ${SERVER_PUB}
Endpoint = vpn.example.net:51820
AllowedIPs = 10.0.0.0/8, 192.0.2.7/32, fd00::/8
`);
  });

  it('routes only the allowed IPv4 networks in its table (no default: other destinations fall to prohibit); no IPv6 route without an IPv6 address', () => {
    expect(renderClientRoutes(fromConf)).toEqual([
      { family: 4, table: 7100, dst: '10.0.0.0/8', dev: 'egress0' },
      { family: 4, table: 7100, dst: '192.0.2.7', dev: 'egress0' },
    ]);
    expect(renderClientRules(fromConf).filter((r) => r.action === 'prohibit' && r.family === 4).length).toBeGreaterThan(0);
    expect(renderClientRules(fromConf).filter((r) => r.family === 6).every((r) => r.action === 'unreachable')).toBe(true);
  });
});

describe('--outside-allowed direct (narrow AllowedIPs, other destinations take the normal route)', () => {
  const state = ClientState.parse({
    version: 1,
    egresses: [
      {
        ...mainV4,
        name: 'corp',
        address4: '10.66.0.2',
        wireguard: { endpoint: '198.51.100.2:51820', serverPublicKey: SERVER_PUB, publicKey: CLIENT_PUB, mtu: 1420, persistentKeepalive: 25, subnet4: '10.66.0.2/32', allowedIps: ['10.0.0.0/8', '192.0.2.7/32'], outsideAllowed: 'direct' },
      },
    ],
  });
  const e = state.egresses[0]!;

  it('puts a prohibit route under each allowed network (it outlives the tunnel) and no IPv4 prohibit fallback rule; IPv6 stays unreachable', () => {
    expect(renderClientRoutes(e)).toEqual([
      { family: 4, table: 7100, dst: '10.0.0.0/8', dev: 'egress0' },
      { family: 4, table: 7100, dst: '10.0.0.0/8', type: 'prohibit', metric: 4096 },
      { family: 4, table: 7100, dst: '192.0.2.7', dev: 'egress0' },
      { family: 4, table: 7100, dst: '192.0.2.7', type: 'prohibit', metric: 4096 },
    ]);
    const rules = renderClientRules(e);
    expect(rules.filter((r) => r.family === 4 && r.action !== 'lookup')).toEqual([]);
    expect(rules.filter((r) => r.family === 6).length).toBeGreaterThan(0);
    expect(rules.filter((r) => r.family === 6).every((r) => r.action === 'unreachable')).toBe(true);
  });

  it('keeps the prohibit routes of a down egress (selected traffic to AllowedIPs is refused, never direct)', () => {
    expect(renderClient(state, { down: ['corp'] }).routes).toEqual([
      { family: 4, table: 7100, dst: '10.0.0.0/8', type: 'prohibit', metric: 4096 },
      { family: 4, table: 7100, dst: '192.0.2.7', type: 'prohibit', metric: 4096 },
    ]);
  });

  it('scopes the kill switch to the allowed networks; IPv6 (which the egress lacks) stays refused for marked traffic', () => {
    const text = renderClientNft(state)!;
    expect(text).toContain('meta skuid 1001 ip daddr 10.0.0.0/8 oifname != "lo" oifname != "egress0" meta l4proto tcp reject with tcp reset comment "corp: kill switch for appuser"');
    expect(text).toContain('meta skuid 1001 ip daddr 192.0.2.7 oifname != "lo" oifname != "egress0" reject with icmpx admin-prohibited comment "corp: kill switch for appuser"');
    expect(text).toContain('meta mark & 0x01000000 == 0x01000000 meta nfproto ipv6 oifname != "lo" reject with icmpx admin-prohibited comment "corp: no IPv6 on this egress"');
    expect(text).toContain('meta mark & 0x01000000 == 0x01000000 ip daddr 10.0.0.0/8 oifname != "lo" oifname != "egress0" drop comment "corp: kill switch"');
    expect(text).not.toMatch(/meta skuid 1001 oifname != "lo"/);
  });

  it.runIf(canRunNft)('nft accepts the scoped table and lists it back unchanged', () => {
    const text = renderClientNft(state)!;
    expect(loadAndList(text, ['egress/main'])).toBe(text);
  });
});
