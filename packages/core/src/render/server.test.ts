// Server renderers: exact text for v4-only, dual-stack and many-forward configs; nft -c accepts every table.
import { execFileSync, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ServerConfig, type ServerConfigInput } from '../model/server.js';
import { renderServer, serverOwnership } from './server.js';
import { renderServerGuardScript, renderServerGuardService, renderServerGuardTimer } from './server-guard.js';
import { forwardMapElements, normalizeNftText, renderServerNft, renderServerNftFile } from './server-nft.js';
import { firewallAcceptBootCommand, renderServerDropIn, renderServerSysctl } from './server-boot.js';
import { renderServerWgConfig } from './server-wg.js';

const SERVER_PUB = 'nKj0Z3mEjnij6kBZCfavXks08pg8B8p0q5thDKtcSAU=';
const LAPTOP_PUB = 'zrWgoz+XWrmY13w7SqNsDGYYWM83XZOaM9I/WgRY8xo=';
const DESKTOP_PUB = 'Zv2sdakWGkqXggw6OdOXQhBnmxlXLkG2NFj8fs+fnFo=';

const base: ServerConfigInput = {
  version: 1,
  publicInterface: 'eth0',
  endpointHost: '198.51.100.2',
  publicAddress4: '198.51.100.2',
  subnet4: '10.77.0.0/24',
  address4: '10.77.0.1',
  publicKey: SERVER_PUB,
  peers: [{ name: 'laptop', publicKey: LAPTOP_PUB, address4: '10.77.0.2' }],
};

const v4only = ServerConfig.parse(base);
const dual = ServerConfig.parse({
  ...base,
  subnet6: 'fd7a:77::/64',
  address6: 'fd7a:77::1',
  publicAddress6: '2001:db8:100::2',
  peers: [{ name: 'laptop', publicKey: LAPTOP_PUB, address4: '10.77.0.2', address6: 'fd7a:77::2' }],
  forwards: [{ proto: 'tcp', publicPort: 8080, peer: 'laptop', targetPort: 8080 }],
});
const many = ServerConfig.parse({
  ...base,
  interface: 'wg-vps',
  listenPort: 51999,
  publicInterface: 'ens3',
  subnet6: 'fd7a:77::/64',
  address6: 'fd7a:77::1',
  mtu: 1380,
  peers: [
    { name: 'laptop', publicKey: LAPTOP_PUB, address4: '10.77.0.2', address6: 'fd7a:77::2' },
    { name: 'desktop', publicKey: DESKTOP_PUB, address4: '10.77.0.3' },
  ],
  forwards: [
    { proto: 'tcp', publicPort: 8443, peer: 'desktop', targetPort: 443 },
    { proto: 'tcp', publicPort: 8080, peer: 'laptop', targetPort: 80 },
    { proto: 'udp', publicPort: 6000, publicPortEnd: 6002, peer: 'laptop', targetPort: 7000 },
  ],
});

describe('renderServerWgConfig', () => {
  it('renders a v4-only interface with the key loaded by PostUp', () => {
    expect(renderServerWgConfig(v4only)).toBe(
      `# Managed by egress-server; rewritten on every change.
[Interface]
Address = 10.77.0.1/24
ListenPort = 51820
MTU = 1420
PostUp = wg set %i private-key /etc/egress/server.key

[Peer]
# laptop
PublicKey = ${LAPTOP_PUB}
AllowedIPs = 10.77.0.2/32
`,
    );
  });

  it('renders dual-stack addresses and several peers, v6 only for peers that have it', () => {
    expect(renderServerWgConfig(many)).toBe(
      `# Managed by egress-server; rewritten on every change.
[Interface]
Address = 10.77.0.1/24, fd7a:77::1/64
ListenPort = 51999
MTU = 1380
PostUp = wg set %i private-key /etc/egress/server.key

[Peer]
# laptop
PublicKey = ${LAPTOP_PUB}
AllowedIPs = 10.77.0.2/32, fd7a:77::2/128

[Peer]
# desktop
PublicKey = ${DESKTOP_PUB}
AllowedIPs = 10.77.0.3/32
`,
    );
  });

  it('never contains a PrivateKey line', () => {
    for (const c of [v4only, dual, many]) expect(renderServerWgConfig(c)).not.toMatch(/PrivateKey/);
  });
});

describe('renderServerNft', () => {
  it('renders the v4-only table with empty maps', () => {
    expect(renderServerNft(v4only)).toBe(
      `table inet egress {
	map fwd4_tcp {
		type inet_service : ipv4_addr . inet_service
	}

	map fwd4_udp {
		type inet_service : ipv4_addr . inet_service
	}

	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		iifname "eth0" fib daddr type local dnat ip to tcp dport map @fwd4_tcp
		iifname "eth0" fib daddr type local dnat ip to udp dport map @fwd4_udp
	}

	chain forward {
		type filter hook forward priority filter; policy accept;
		iifname "egress0" tcp flags & (syn | rst) == syn tcp option maxseg size set rt mtu
		oifname "egress0" tcp flags & (syn | rst) == syn tcp option maxseg size set rt mtu
		iifname "egress0" accept
		oifname "egress0" ct state established,related accept
		oifname "egress0" ct status dnat accept
		oifname "egress0" drop
	}

	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "eth0" ip saddr 10.77.0.0/24 masquerade
	}
}
`,
    );
  });

  it('renders dual-stack maps, v6 DNAT and v6 masquerade', () => {
    expect(renderServerNft(dual)).toBe(
      `table inet egress {
	map fwd4_tcp {
		type inet_service : ipv4_addr . inet_service
		elements = {
			8080 : 10.77.0.2 . 8080
		}
	}

	map fwd4_udp {
		type inet_service : ipv4_addr . inet_service
	}

	map fwd6_tcp {
		type inet_service : ipv6_addr . inet_service
		elements = {
			8080 : fd7a:77::2 . 8080
		}
	}

	map fwd6_udp {
		type inet_service : ipv6_addr . inet_service
	}

	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		iifname "eth0" fib daddr type local dnat ip to tcp dport map @fwd4_tcp
		iifname "eth0" fib daddr type local dnat ip to udp dport map @fwd4_udp
		iifname "eth0" fib daddr type local dnat ip6 to tcp dport map @fwd6_tcp
		iifname "eth0" fib daddr type local dnat ip6 to udp dport map @fwd6_udp
	}

	chain forward {
		type filter hook forward priority filter; policy accept;
		iifname "egress0" tcp flags & (syn | rst) == syn tcp option maxseg size set rt mtu
		oifname "egress0" tcp flags & (syn | rst) == syn tcp option maxseg size set rt mtu
		iifname "egress0" accept
		oifname "egress0" ct state established,related accept
		oifname "egress0" ct status dnat accept
		oifname "egress0" drop
	}

	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "eth0" ip saddr 10.77.0.0/24 masquerade
		oifname "eth0" ip6 saddr fd7a:77::/64 masquerade
	}
}
`,
    );
  });

  it('expands ranges port by port, sorted, and maps v6 only for peers with a v6 address', () => {
    expect(forwardMapElements(many, 4, 'tcp')).toEqual(['8080 : 10.77.0.2 . 80', '8443 : 10.77.0.3 . 443']);
    expect(forwardMapElements(many, 4, 'udp')).toEqual(['6000 : 10.77.0.2 . 7000', '6001 : 10.77.0.2 . 7001', '6002 : 10.77.0.2 . 7002']);
    expect(forwardMapElements(many, 6, 'tcp')).toEqual(['8080 : fd7a:77::2 . 80']);
    expect(forwardMapElements(many, 6, 'udp')).toEqual(['6000 : fd7a:77::2 . 7000', '6001 : fd7a:77::2 . 7001', '6002 : fd7a:77::2 . 7002']);
    const text = renderServerNft(many);
    expect(text).toContain('\t\tiifname "ens3" fib daddr type local dnat ip6 to udp dport map @fwd6_udp\n');
    expect(text).toContain('\t\tiifname "wg-vps" accept\n');
    expect(text).toContain('\t\toifname "ens3" ip6 saddr fd7a:77::/64 masquerade\n');
  });

  it('wraps the table so loading the file twice replaces it', () => {
    expect(renderServerNftFile(v4only).split('\n').slice(0, 5)).toEqual([
      '#!/usr/sbin/nft -f',
      '# Managed by egress-server; loaded by wg-quick@egress0.service before the tunnel comes up.',
      'table inet egress',
      'delete table inet egress',
      'table inet egress {',
    ]);
  });

  it('normalizes a listing with wrapped elements and the other flags syntax to the rendered text', () => {
    const listed = `table inet t {
\tmap m {
\t\ttype inet_service : ipv4_addr . inet_service
\t\telements = { 6000 : 10.77.0.2 . 7000, 6001 : 10.77.0.2 . 7001,
\t\t\t     6002 : 10.77.0.2 . 7002 }
\t}
\tchain c {
\t\ttcp flags syn / syn,rst tcp option maxseg size set rt mtu
\t}
}`;
    const rendered = `table inet t {
\tmap m {
\t\ttype inet_service : ipv4_addr . inet_service
\t\telements = {
\t\t\t6000 : 10.77.0.2 . 7000,
\t\t\t6001 : 10.77.0.2 . 7001,
\t\t\t6002 : 10.77.0.2 . 7002
\t\t}
\t}
\tchain c {
\t\ttcp flags & (syn | rst) == syn tcp option maxseg size set rt mtu
\t}
}
`;
    expect(normalizeNftText(listed)).toBe(normalizeNftText(rendered));
  });
});

describe('renderServerSysctl and renderServerDropIn', () => {
  it('renders ip_forward only for v4-only', () => {
    expect(renderServerSysctl(v4only)).toBe('# Managed by egress-server: forward tunnel traffic.\nnet.ipv4.ip_forward = 1\n');
  });

  it('adds v6 forwarding and keeps router advertisements on the public interface', () => {
    expect(renderServerSysctl(dual, { acceptRa: true })).toBe(
      '# Managed by egress-server: forward tunnel traffic.\nnet.ipv4.ip_forward = 1\nnet.ipv6.conf.all.forwarding = 1\nnet.ipv6.conf.eth0.accept_ra = 2\n',
    );
    expect(renderServerSysctl({ ...dual, publicInterface: 'eth0.100' }, { acceptRa: true })).toContain('net.ipv6.conf.eth0/100.accept_ra = 2\n');
  });

  it('renders the wg-quick drop-in that loads nft and sysctls first and re-adds narrow accepts after', () => {
    expect(
      renderServerDropIn(dual, {
        firewallAccepts: [{ tool: 'iptables', chain: 'FORWARD', rule: ['-i', 'egress0', '-m', 'comment', '--comment', 'egress', '-j', 'ACCEPT'] }],
      }),
    ).toBe(`# Managed by egress-server: load the egress nftables table and sysctls before the tunnel comes up.
[Unit]
Wants=network-online.target
After=network-online.target nftables.service firewalld.service ufw.service docker.service

[Service]
ExecStartPre=nft -f /etc/egress/server.nft
ExecStartPre=sysctl -q -p /etc/sysctl.d/90-egress.conf
ExecStartPost=-/bin/sh -c 'iptables -C FORWARD -i egress0 -m comment --comment egress -j ACCEPT 2>/dev/null || iptables -I FORWARD -i egress0 -m comment --comment egress -j ACCEPT'
`);
  });

  it('re-adds accepts in a native nft forward chain at boot only when they are missing', () => {
    expect(firewallAcceptBootCommand({ tool: 'nft', family: 'inet', table: 'filter', chain: 'forward', iface: 'egress0' })).toBe(
      'nft list chain inet filter forward >/dev/null 2>&1 || exit 0; nft list chain inet filter forward | grep -qw egress || { nft insert rule inet filter forward oifname egress0 accept comment egress && nft insert rule inet filter forward iifname egress0 accept comment egress; }',
    );
  });
});

describe('renderServer and serverOwnership', () => {
  it('lists every file with its mode, the table, sysctls, link and unit', () => {
    const s = renderServer(dual);
    expect(s.files.map((f) => [f.path, f.mode.toString(8)])).toEqual([
      ['/etc/egress/server.json', '600'],
      ['/etc/wireguard/egress0.conf', '600'],
      ['/etc/egress/server.nft', '600'],
      ['/etc/sysctl.d/90-egress.conf', '644'],
      ['/etc/systemd/system/wg-quick@egress0.service.d/egress.conf', '644'],
      ['/etc/egress/server-guard.sh', '755'],
      ['/etc/systemd/system/egress-server-guard.service', '644'],
      ['/etc/systemd/system/egress-server-guard.timer', '644'],
    ]);
    expect(JSON.parse(s.files[0]!.content)).toEqual(dual);
    expect(s.nft).toEqual([{ family: 'inet', name: 'egress', ruleset: renderServerNft(dual) }]);
    expect(s.sysctls).toEqual([
      { key: 'net.ipv4.ip_forward', value: '1' },
      { key: 'net.ipv6.conf.all.forwarding', value: '1' },
    ]);
    expect(s.links).toEqual([
      { kind: 'wireguard', name: 'egress0', configPath: '/etc/wireguard/egress0.conf', addresses: ['10.77.0.1/24', 'fd7a:77::1/64'], peers: [LAPTOP_PUB], listenPort: 51820, mtu: 1420, unit: 'wg-quick@egress0.service' },
    ]);
    expect(s.units).toEqual([
      { name: 'wg-quick@egress0.service', enable: true },
      { name: 'egress-server-guard.timer', enable: true },
    ]);
    expect(s.rules).toEqual([]);
    expect(s.routes).toEqual([]);
  });

  it('owns exactly the rendered files, the table, the link and the unit (not the key)', () => {
    const own = serverOwnership(many);
    expect(own.files).toEqual(renderServer(many).files.map((f) => f.path));
    expect(own.files).not.toContain('/etc/egress/server.key');
    expect(own).toMatchObject({ nftTables: [{ family: 'inet', name: 'egress' }], links: ['wg-vps'], units: ['wg-quick@wg-vps.service', 'egress-server-guard.timer'], journalPath: '/etc/egress/server.journal.json' });
  });

  it('renders the same bytes for the same input', () => {
    expect(renderServer(many)).toEqual(renderServer(ServerConfig.parse(JSON.parse(JSON.stringify(many)))));
  });
});

const hasNft = spawnSync('sh', ['-c', 'command -v nft && command -v unshare'], { encoding: 'utf8' }).status === 0;
const isRoot = process.getuid?.() === 0;

describe('nft -c accepts every rendered file', () => {
  it.runIf(hasNft && isRoot)('checks v4-only, dual-stack and many-forward files in a throwaway netns', () => {
    const big = ServerConfig.parse({ ...many, forwards: [...many.forwards, { proto: 'tcp', publicPort: 20000, publicPortEnd: 22999, peer: 'laptop', targetPort: 30000 }] });
    for (const c of [v4only, dual, many, big]) {
      execFileSync('unshare', ['-n', 'nft', '-c', '-f', '-'], { input: renderServerNftFile(c), stdio: ['pipe', 'pipe', 'pipe'] });
    }
  });

  it.runIf(hasNft && isRoot)('loads the table and its listing normalizes to the rendered text', () => {
    const listed = execFileSync('unshare', ['-n', 'sh', '-c', 'nft -f - && nft list table inet egress'], { input: renderServerNftFile(many), encoding: 'utf8' });
    expect(normalizeNftText(listed)).toBe(normalizeNftText(renderServerNft(many)));
  });

  it.runIf(hasNft && isRoot)('the nft boot command adds the two accepts once, however often it runs', () => {
    const cmd = firewallAcceptBootCommand({ tool: 'nft', family: 'inet', table: 'filter', chain: 'forward', iface: 'egress0' });
    const script = `nft add table inet filter && nft add chain inet filter forward '{ type filter hook forward priority 0; policy drop; }' && sh -c '${cmd}' && sh -c '${cmd}' && nft list chain inet filter forward`;
    const listed = execFileSync('unshare', ['-n', 'sh', '-c', script], { encoding: 'utf8' });
    expect(listed.split('\n').filter((l) => l.includes('comment "egress"')).map((l) => l.trim())).toEqual(['iifname "egress0" accept comment "egress"', 'oifname "egress0" accept comment "egress"']);
    expect(execFileSync('unshare', ['-n', 'sh', '-c', `sh -c '${cmd}'; echo rc=$?`], { encoding: 'utf8' })).toBe('rc=0\n');
  });

  it.runIf(!(hasNft && isRoot) && !!process.env.CI)('fails loudly on CI without nft or root', () => {
    throw new Error('nft and root are required on CI to check rendered rulesets');
  });
});

describe('the VPS guard (timer + plain shell, no Node)', () => {
  it('renders the script: reload the nft file when the table is missing, reset each sysctl that is wrong', () => {
    expect(renderServerGuardScript(dual)).toBe(`#!/bin/sh
# Managed by egress-server: restore the egress nftables table and sysctls when missing (run by egress-server-guard.timer).
set -u
rc=0
if ! nft list table inet egress >/dev/null 2>&1; then
  if nft -f /etc/egress/server.nft; then echo "egress-guard: table inet egress was missing: reloaded /etc/egress/server.nft"; else echo "egress-guard: reloading /etc/egress/server.nft failed" >&2; rc=1; fi
fi
if [ "$(cat /proc/sys/net/ipv4/ip_forward 2>/dev/null)" != "1" ]; then
  if sysctl -q -w net.ipv4.ip_forward=1; then echo "egress-guard: net.ipv4.ip_forward was not 1: set"; else rc=1; fi
fi
if [ "$(cat /proc/sys/net/ipv6/conf/all/forwarding 2>/dev/null)" != "1" ]; then
  if sysctl -q -w net.ipv6.conf.all.forwarding=1; then echo "egress-guard: net.ipv6.conf.all.forwarding was not 1: set"; else rc=1; fi
fi
exit $rc
`);
  });
  it('renders the oneshot service and the timer exactly', () => {
    expect(renderServerGuardService()).toBe(`# Managed by egress-server: restore the egress nftables table and sysctls when missing.
[Unit]
Description=egress server: restore the egress nftables table and sysctls when missing
After=nftables.service

[Service]
Type=oneshot
ExecStart=/bin/sh /etc/egress/server-guard.sh
`);
    expect(renderServerGuardTimer()).toBe(`# Managed by egress-server: check the egress nftables table and sysctls periodically.
[Unit]
Description=egress server: periodic check of the egress nftables table and sysctls

[Timer]
OnBootSec=30s
OnUnitActiveSec=15s
AccuracySec=1s

[Install]
WantedBy=timers.target
`);
  });
});
