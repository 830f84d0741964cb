// Issue 17: egress beside a full-tunnel VPN. Three set-ups made by hand on the lab client, each over a second
// WireGuard server on the lab VPS (plain wg-quick, port 51900, 10.66.0.0/24 + fd66::/64, nft masquerade):
//   a. wg-quick full tunnel (AllowedIPs 0.0.0.0/0, ::/0, Table = auto: fwmark rules, suppress_prefixlength 0),
//   b. Tailscale's rule layout (5210-5270, `lookup 52` with a default route into the tunnel),
//   c. a Mullvad-like nftables kill switch (output policy drop unless the VPN interface, lo or the tunnel's mark).
// In each, appuser's interface egress (wlan0) is seen with wlan0's address while root follows the VPN; with wlan0
// down appuser fails with 0 packets on the VPN interface; uninstall restores the other tool's rules exactly.
import { withLab, type Lab } from '@egress/lab';
import { describe, expect, it } from 'vitest';

const NAME = 'ft-bypass';
// The VPN server leaves with its own address on the VPS, so whoami tells the VPN (…3) from the egress VPS (…2). The
// IPv6 one is added deprecated (preferred_lft 0): egress-server's masquerade then keeps picking …2 as the source.
const VPN_V4 = '198.51.100.3';
const VPN_V6 = '2001:db8:100::3';
const VPN = 'vpn0';
const WHOAMI = 'host 203.0.113.10 or host 2001:db8:113::10 or port 53';

/**
 * The other tool's state egress must give back: `ip rule` and `nft list ruleset` text exactly, and the routes of
 * every table (sorted: taking wlan0 down and up re-orders the kernel's own routes, which is not egress's doing).
 */
async function snapshot(lab: Lab): Promise<string> {
  const parts: string[] = [];
  for (const argv of [['ip', '-4', 'rule'], ['ip', '-6', 'rule'], ['nft', 'list', 'ruleset']]) parts.push((await lab.exec('client', argv)).stdout);
  for (const argv of [['ip', '-4', 'route', 'show', 'table', 'all'], ['ip', '-6', 'route', 'show', 'table', 'all']]) {
    parts.push((await lab.exec('client', argv)).stdout.split('\n').sort().join('\n'));
  }
  return parts.join('\n---\n');
}

/** A key pair made inside the host: the private key stays in a 0600 file, only the public key is printed. */
async function keyPair(lab: Lab, host: 'client' | 'vps', file: string): Promise<string> {
  const r = await lab.exec(host, ['sh', '-c', `umask 077; mkdir -p /etc/wireguard; wg genkey > ${file}; wg pubkey < ${file}`], { check: true });
  return r.stdout.trim();
}

/** The second WireGuard server on the VPS, plain wg-quick, with forwarding and a masquerade. */
async function vpnServer(lab: Lab, clientPub: string): Promise<string> {
  const pub = await keyPair(lab, 'vps', '/etc/wireguard/vpn0.key');
  const conf = ['[Interface]', 'Address = 10.66.0.1/24, fd66::1/64', 'ListenPort = 51900', `PostUp = wg set %i private-key /etc/wireguard/vpn0.key`, '', '[Peer]', `PublicKey = ${clientPub}`, 'AllowedIPs = 10.66.0.2/32, fd66::2/128', ''].join('\n');
  await lab.writeFile('vps', '/etc/wireguard/vpn0.conf', conf, '0600');
  await lab.exec('vps', ['sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1'], { check: true });
  await lab.exec('vps', ['wg-quick', 'up', VPN], { check: true });
  await lab.exec('vps', ['ip', '-batch', '-'], { stdin: `address add ${VPN_V4}/24 dev eth0\naddress add ${VPN_V6}/64 dev eth0 nodad preferred_lft 0\n`, check: true });
  const nat = `table inet vpnnat { chain post { type nat hook postrouting priority srcnat; policy accept; oifname "eth0" ip saddr 10.66.0.0/24 snat ip to ${VPN_V4}; oifname "eth0" ip6 saddr fd66::/64 snat ip6 to ${VPN_V6}; }\n}\n`;
  await lab.exec('vps', ['nft', '-f', '-'], { stdin: nat, check: true });
  return pub;
}

/** The client's full-tunnel config: Table = auto (wg-quick's own rules) or off (the test adds Tailscale's). */
async function vpnClientUp(lab: Lab, serverPub: string, table: 'auto' | 'off'): Promise<void> {
  const conf = ['[Interface]', 'Address = 10.66.0.2/32, fd66::2/128', `Table = ${table}`, `PostUp = wg set %i private-key /etc/wireguard/vpn0-client.key`, '', '[Peer]', `PublicKey = ${serverPub}`, `Endpoint = ${lab.addr.vpsV4}:51900`, 'AllowedIPs = 0.0.0.0/0, ::/0', ''].join('\n');
  await lab.writeFile('client', '/etc/wireguard/vpn0.conf', conf, '0600');
  await lab.exec('client', ['wg-quick', 'up', VPN], { check: true });
}

/** Root's probe until the tunnel's first handshake is done; then root must be seen with the VPN's address. */
async function expectRootOnVpn(lab: Lab): Promise<void> {
  for (let i = 0; i < 5; i++) {
    const r = await lab.exec('client', lab.probeArgv(), { timeoutMs: 20_000 });
    if (r.exitCode === 0) break;
  }
  expect(await lab.probe('client')).toBe(VPN_V4);
  expect(await lab.probe('client', { v6: true })).toBe(VPN_V6);
}

/** The lab's wlan0 after a reconnect (addresses and default routes back). */
async function reconnectWlan(lab: Lab): Promise<void> {
  await lab.exec('client', ['ip', 'link', 'set', 'wlan0', 'up'], { check: true });
  await lab.exec('client', ['ip', '-batch', '-'], {
    stdin: [`address replace ${lab.addr.clientWlanV6}/64 dev wlan0 nodad`, 'route replace default via 192.0.2.129 dev wlan0 metric 600', 'route replace ::/0 via 2001:db8:3::1 dev wlan0 metric 600', ''].join('\n'),
    check: true,
  });
}

/**
 * appuser's bypass by wlan0 beside the active VPN: enroll, probes, the kill switch with wlan0 down (0 packets on the
 * VPN interface), uninstall giving back `before`. `afterEnroll` may fix things the test expects doctor to report.
 */
async function bypassStory(lab: Lab, opts: { v6: boolean; expectPriority: RegExp; afterEnroll?: () => Promise<void>; beforeUninstall?: () => Promise<void> }): Promise<void> {
  const cli = lab.egressClientArgv;
  const runAs = [...cli, 'run-as', 'appuser', '--'];
  const before = await snapshot(lab);
  const enroll = await lab.exec('client', [...cli, 'enroll', '--interface', 'wlan0', '--user', 'appuser', '--name', NAME, '--dns', lab.addr.dnsV4]);
  expect(enroll.exitCode, enroll.stderr).toBe(0);
  expect(enroll.stdout).toMatch(opts.expectPriority);
  try {
    await opts.afterEnroll?.();
    expect(await lab.probe('client', { prefix: runAs })).toBe(lab.addr.clientWlanV4);
    expect(await lab.probe('client', { prefix: runAs, udp: true })).toBe(lab.addr.clientWlanV4);
    if (opts.v6) expect(await lab.probe('client', { prefix: runAs, v6: true })).toBe(lab.addr.clientWlanV6);
    expect(await lab.probe('client', { prefix: [...cli, 'run', '--egress', NAME, '--'] })).toBe(lab.addr.clientWlanV4);
    await expectRootOnVpn(lab);
    expect(await lab.probe('client', { user: 'otheruser' })).toBe(VPN_V4);

    // wlan0 down: appuser fails, nothing of it enters the VPN tunnel (nor eth0), everyone else stays on the VPN.
    const onVpn = await lab.capture('client', VPN, WHOAMI);
    const onEth = await lab.capture('client', 'eth0', `not (udp port 51900)`);
    await lab.exec('client', ['ip', 'link', 'set', 'wlan0', 'down'], { check: true });
    for (const o of [{}, { udp: true }, ...(opts.v6 ? [{ v6: true }] : [])]) {
      const r = await lab.exec('client', [...runAs, ...lab.probeArgv(o)], { timeoutMs: 20_000 });
      expect(r.exitCode, `appuser's probe ${JSON.stringify(o)} with wlan0 down: ${r.stdout}`).not.toBe(0);
    }
    expect(await onVpn.stop()).toEqual([]);
    expect((await onEth.stop()).filter((l) => !/ARP|ICMP6|IP6 fe80/.test(l))).toEqual([]);
    expect(await lab.probe('client')).toBe(VPN_V4);
    await reconnectWlan(lab);
    expect((await lab.exec('client', [...cli, 'up', NAME])).exitCode).toBe(0);
    expect(await lab.probe('client', { prefix: runAs })).toBe(lab.addr.clientWlanV4);
    await opts.beforeUninstall?.();
  } finally {
    const u = await lab.exec('client', [...cli, 'uninstall', NAME]);
    expect(u.exitCode, u.stderr).toBe(0);
  }
  expect(await snapshot(lab)).toBe(before);
  await expectRootOnVpn(lab);
}

/** `run --direct` beside the wg-quick full tunnel: by the normal route (eth0) or --interface wlan0, never the tunnel. */
async function runDirectStory(lab: Lab): Promise<void> {
  const cli = lab.egressClientArgv;
  const before = await snapshot(lab);
  try {
    const direct = await lab.exec('client', [...cli, 'run', '--direct', '--', ...lab.probeArgv()], { timeoutMs: 60_000 });
    expect(direct.exitCode, direct.stderr).toBe(0);
    expect(direct.stdout.trim()).toBe(lab.addr.clientV4); // the app's stdout is only the app's
    expect(direct.stderr).toContain('enrolling direct-eth0 (cgroup only, no user bound)');
    expect(await lab.probe('client', { prefix: [...cli, 'run', '--direct', '--'], v6: true })).toBe(lab.addr.clientV6);
    expect(await lab.probe('client', { prefix: [...cli, 'run', '--direct', '--interface', 'wlan0', '--'] })).toBe(lab.addr.clientWlanV4);
    await expectRootOnVpn(lab);
    expect(await lab.probe('client', { user: 'appuser' })).toBe(VPN_V4);
    // wlan0 goes down while a direct app runs: its connection fails, nothing of it enters the tunnel; a new run is refused.
    const waitThenProbe = ['sh', '-c', 'echo ready; while [ ! -e /tmp/ft-go ]; do sleep 0.1; done; exec "$@"', 'sh', ...lab.probeArgv()];
    const app = lab.spawn('client', [...cli, 'run', '--direct', '--interface', 'wlan0', '--', ...waitThenProbe]);
    for (let i = 0; i < 600 && !app.output().includes('ready'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(app.output()).toContain('ready');
    const onVpn = await lab.capture('client', VPN, WHOAMI);
    await lab.exec('client', ['ip', 'link', 'set', 'wlan0', 'down'], { check: true });
    await lab.exec('client', ['touch', '/tmp/ft-go'], { check: true });
    const ended = await app.exited;
    expect(ended.code, app.output()).not.toBe(0);
    expect(app.output()).not.toContain(VPN_V4);
    const down = await lab.exec('client', [...cli, 'run', '--direct', '--interface', 'wlan0', '--', ...lab.probeArgv()], { timeoutMs: 20_000 });
    expect(down.exitCode, down.stdout).not.toBe(0);
    expect(await onVpn.stop()).toEqual([]);
    await reconnectWlan(lab);
    expect((await lab.exec('client', [...cli, 'up', 'direct-wlan0'])).exitCode).toBe(0);
  } finally {
    for (const name of ['direct-eth0', 'direct-wlan0']) await lab.exec('client', [...cli, 'uninstall', name]);
  }
  expect(await snapshot(lab)).toBe(before);
}

/** A tunnel egress (egress-server on the lab VPS) beside the wg-quick full tunnel: appuser by the egress VPS, root by the VPN. */
async function tunnelEgressStory(lab: Lab): Promise<void> {
  const cli = lab.egressClientArgv;
  const runAs = [...cli, 'run-as', 'appuser', '--'];
  const before = await snapshot(lab);
  const prov = await lab.exec('client', [...lab.egressServerArgv, 'provision', lab.ssh.target, '-i', lab.ssh.identity, '--out', '/root/ft.bundle.json'], { timeoutMs: 180_000 });
  expect(prov.exitCode, prov.stderr).toBe(0);
  try {
    const enroll = await lab.exec('client', [...cli, 'enroll', '/root/ft.bundle.json', '--user', 'appuser', '--name', 'ft-tunnel'], { timeoutMs: 120_000 });
    expect(enroll.exitCode, enroll.stderr).toBe(0);
    expect(await lab.probe('client', { prefix: runAs })).toBe(lab.addr.vpsV4);
    const v6OnVpn = await lab.capture('client', VPN, WHOAMI);
    expect(await lab.probe('client', { prefix: runAs, v6: true })).toBe(lab.addr.vpsV6);
    expect(await v6OnVpn.stop()).toEqual([]);
    await expectRootOnVpn(lab);
    expect(await lab.probe('client', { user: 'otheruser' })).toBe(VPN_V4);
    // The egress's tunnel goes down: appuser fails, nothing of it enters the VPN tunnel.
    const onVpn = await lab.capture('client', VPN, WHOAMI);
    await lab.exec('client', ['ip', 'link', 'set', 'egress0', 'down'], { check: true });
    const r = await lab.exec('client', [...runAs, ...lab.probeArgv()], { timeoutMs: 20_000 });
    expect(r.exitCode, r.stdout).not.toBe(0);
    expect(await onVpn.stop()).toEqual([]);
  } finally {
    const u = await lab.exec('client', [...cli, 'uninstall', 'ft-tunnel']);
    expect(u.exitCode, u.stderr).toBe(0);
  }
  expect(await snapshot(lab)).toBe(before);
  await expectRootOnVpn(lab);
}

describe('beside a full-tunnel VPN (issue 17)', () => {
  it('wg-quick full tunnel, Tailscale rule layout, nftables kill switch: appuser by wlan0, the rest by the VPN', async () => {
    await withLab({ name: 'ft-coexist' }, async (lab) => {
      const cli = lab.egressClientArgv;
      const clientPub = await keyPair(lab, 'client', '/etc/wireguard/vpn0-client.key');
      const serverPub = await vpnServer(lab, clientPub);

      // a. wg-quick, Table = auto: its rules sit after egress's 7100 range.
      await vpnClientUp(lab, serverPub, 'auto');
      const rules = (await lab.exec('client', ['ip', '-4', 'rule'])).stdout;
      expect(rules).toMatch(/not from all fwmark 0xca6c lookup 51820/);
      expect(rules).toMatch(/from all lookup main suppress_prefixlength 0/);
      await expectRootOnVpn(lab);
      await bypassStory(lab, {
        v6: true,
        expectPriority: /rule priorities 7100-7109 \(default range 7100-7999\)/,
        afterEnroll: async () => {
          expect((await lab.exec('client', [...cli, 'doctor', NAME])).stdout).toMatch(/ok {3}foreign rules: no other tool's rule before 7100/);
          // A conflicting rule placed before egress's range (wg-quick's rule moved up): doctor names it and its owner.
          await lab.exec('client', ['ip', 'rule', 'add', 'priority', '6000', 'not', 'fwmark', '51820', 'table', '51820'], { check: true });
          const doc = await lab.exec('client', [...cli, 'doctor', NAME]);
          expect(doc.exitCode).not.toBe(0);
          expect(doc.stdout).toMatch(/FAIL foreign rules: .*IPv4 priority 6000 'not from all fwmark 0xca6c lookup 51820' -> table 51820 \(default dev vpn0\) \(likely wg-quick\)/);
          expect(doc.stdout).toMatch(/fix: egress-client uninstall ft-bypass && egress-client enroll --interface wlan0 --user appuser --name ft-bypass \(a new enroll picks the early range 1100-1999/);
          // It really captures: appuser's traffic is routed into the VPN, where egress's own kill switch refuses it.
          const captured = await lab.exec('client', [...cli, 'run-as', 'appuser', '--', ...lab.probeArgv()], { timeoutMs: 20_000 });
          expect(captured.exitCode).not.toBe(0);
          await lab.exec('client', ['ip', 'rule', 'del', 'priority', '6000'], { check: true });
        },
      });
      await runDirectStory(lab);
      await tunnelEgressStory(lab);
      await lab.exec('client', ['wg-quick', 'down', VPN], { check: true });

      // b. Tailscale's layout: its rules at 5210-5270 come before 7100, so allocation picks the early range.
      await vpnClientUp(lab, serverPub, 'off');
      await lab.exec('client', ['wg', 'set', VPN, 'fwmark', '0x80000'], { check: true });
      for (const fam of ['-4', '-6']) {
        await lab.exec('client', ['ip', fam, 'rule', 'add', 'priority', '5210', 'fwmark', '0x80000/0xff0000', 'table', 'main'], { check: true });
        await lab.exec('client', ['ip', fam, 'rule', 'add', 'priority', '5230', 'fwmark', '0x80000/0xff0000', 'table', 'default'], { check: true });
        await lab.exec('client', ['ip', fam, 'rule', 'add', 'priority', '5250', 'fwmark', '0x80000/0xff0000', 'unreachable'], { check: true });
        await lab.exec('client', ['ip', fam, 'rule', 'add', 'priority', '5270', 'table', '52'], { check: true });
        await lab.exec('client', ['ip', fam, 'route', 'add', 'default', 'dev', VPN, 'table', '52'], { check: true });
      }
      await expectRootOnVpn(lab);
      await bypassStory(lab, {
        v6: true,
        expectPriority: /rule priorities 1100-1109 \(early range 1100-1999: another tool's rule before 7100 would capture selected traffic/,
        afterEnroll: async () => {
          expect((await lab.exec('client', [...cli, 'doctor', NAME])).stdout).toMatch(/ok {3}foreign rules: no other tool's rule before 1100/);
        },
      });
      // The same layout with an egress already at 7100 (enrolled before Tailscale came up): doctor names 5270 as Tailscale's.
      for (const fam of ['-4', '-6']) await lab.exec('client', ['ip', fam, 'rule', 'del', 'priority', '5270'], { check: true });
      const late = await lab.exec('client', [...cli, 'enroll', '--interface', 'wlan0', '--user', 'appuser', '--name', NAME, '--dns', lab.addr.dnsV4]);
      expect(late.exitCode, late.stderr).toBe(0);
      expect(late.stdout).toContain('rule priorities 7100-7109');
      for (const fam of ['-4', '-6']) await lab.exec('client', ['ip', fam, 'rule', 'add', 'priority', '5270', 'table', '52'], { check: true });
      const doc = await lab.exec('client', [...cli, 'doctor', NAME]);
      expect(doc.stdout).toMatch(/FAIL foreign rules: .*IPv4 priority 5270 'from all lookup 52' -> table 52 \(default dev vpn0\) \(likely Tailscale\)/);
      const captured = await lab.exec('client', [...cli, 'run-as', 'appuser', '--', ...lab.probeArgv()], { timeoutMs: 20_000 });
      expect(captured.exitCode).not.toBe(0); // into table 52, refused by egress's kill switch: fails, never leaks
      expect((await lab.exec('client', [...cli, 'uninstall', NAME])).exitCode).toBe(0);
      for (const fam of ['-4', '-6']) for (const p of ['5210', '5230', '5250', '5270']) await lab.exec('client', ['ip', fam, 'rule', 'del', 'priority', p], { check: true });
      await lab.exec('client', ['wg-quick', 'down', VPN], { check: true });

      // c. wg-quick full tunnel plus a Mullvad-like kill switch: only lo, vpn0 and the tunnel's own (marked) packets leave.
      await vpnClientUp(lab, serverPub, 'auto');
      const ks = 'table inet vpnks { chain output { type filter hook output priority filter; policy drop; oifname "lo" accept; oifname "vpn0" accept; meta mark 0x0000ca6c accept; }\n}\n';
      await lab.exec('client', ['nft', '-f', '-'], { stdin: ks, check: true });
      await expectRootOnVpn(lab);
      let fix = '';
      await bypassStory(lab, {
        v6: false, // the kill switch drops wlan0's neighbour discovery too: IPv4 only here
        expectPriority: /rule priorities 7100-7109/,
        afterEnroll: async () => {
          // Before the fix the kill switch drops appuser's traffic; doctor says so, with the command.
          const r = await lab.exec('client', [...cli, 'run-as', 'appuser', '--', ...lab.probeArgv()], { timeoutMs: 20_000 });
          expect(r.exitCode).not.toBe(0);
          const doc = await lab.exec('client', [...cli, 'doctor', NAME]);
          expect(doc.stdout).toMatch(/FAIL foreign firewall: chain inet vpnks output \(hook output, policy drop\) drops selected traffic out of wlan0\. egress cannot let it through from its own table/);
          fix = /fix: (nft insert rule inet vpnks output oifname "wlan0" meta mark and 0x01000000 == 0x01000000 accept)/.exec(doc.stdout)?.[1] ?? '';
          expect(fix).not.toBe('');
          await lab.exec('client', ['sh', '-c', fix], { check: true });
          expect((await lab.exec('client', [...cli, 'doctor', NAME])).stdout).toMatch(/ok {3}foreign firewall/);
        },
        beforeUninstall: async () => {
          // The user's own accept goes with the egress (egress never edits the other tool's table itself).
          const listing = (await lab.exec('client', ['nft', '-a', 'list', 'chain', 'inet', 'vpnks', 'output'])).stdout;
          const handle = /oifname "wlan0" meta mark & 0x01000000 == 0x01000000 accept # handle (\d+)/.exec(listing)?.[1];
          expect(handle, listing).toBeDefined();
          await lab.exec('client', ['nft', 'delete', 'rule', 'inet', 'vpnks', 'output', 'handle', handle!], { check: true });
        },
      });
    });
  }, 600_000);
});
