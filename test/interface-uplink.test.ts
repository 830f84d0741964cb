// Issue 7, local-interface egress: one user leaves by the lab client's second uplink wlan0, root keeps eth0, and the
// kill switch holds when wlan0 goes down. Runs the built CLI inside the lab's client host.
import { withLab, type Lab } from '@egress/lab';
import { describe, expect, it } from 'vitest';

/** What a refused command must not have changed: rules, routes of every table, the nft ruleset, /etc/egress. */
async function networkSnapshot(lab: Lab): Promise<string> {
  const parts: string[] = [];
  for (const argv of [['ip', '-4', 'rule'], ['ip', '-6', 'rule'], ['ip', '-4', 'route', 'show', 'table', 'all'], ['ip', '-6', 'route', 'show', 'table', 'all'], ['nft', 'list', 'ruleset'], ['ls', '-A', '/etc/egress']]) {
    parts.push((await lab.exec('client', argv)).stdout);
  }
  return parts.join('\n---\n');
}

/** The lab's wlan0 after a reconnect: DHCP/SLAAC would give the address and default routes back. */
async function reconnectWlan(lab: Lab): Promise<void> {
  await lab.exec('client', ['ip', 'link', 'set', 'wlan0', 'up'], { check: true });
  await lab.exec('client', ['ip', '-batch', '-'], {
    stdin: [`address replace ${lab.addr.clientWlanV6}/64 dev wlan0 nodad`, 'route replace default via 192.0.2.129 dev wlan0 metric 600', 'route replace ::/0 via 2001:db8:3::1 dev wlan0 metric 600', ''].join('\n'),
    check: true,
  });
}

// The cgroup2 hierarchy is the machine's, shared by every lab: a unique egress name keeps ours apart, and uninstall removes it.
const NAME = 'wlan-uplink';

describe('egress through a local interface (enroll --interface)', () => {
  it('refuses bad input before any change, routes the bound user by wlan0, root by eth0, and fails closed when wlan0 goes down', async () => {
    await withLab({ name: 'iface-wlan' }, async (lab) => {
      const cli = lab.egressClientArgv;
      // An uplink without an address (a cable plugged in, no DHCP yet).
      await lab.exec('client', ['ip', 'link', 'add', 'noaddr0', 'type', 'veth', 'peer', 'name', 'noaddr1'], { check: true });
      await lab.exec('client', ['ip', 'link', 'set', 'noaddr0', 'up'], { check: true });
      const before = await networkSnapshot(lab);
      try {
        await uplinkStory(lab, cli, before);
      } finally {
        await lab.exec('client', [...cli, 'uninstall', NAME]);
      }
      // uninstall leaves the rules, routes and ruleset as they were before enroll.
      expect(await networkSnapshot(lab)).toBe(before);
    });
  });
});

/** The whole story after the lab is ready; `before` is the snapshot from before any egress-client command. */
async function uplinkStory(lab: Lab, cli: string[], before: string): Promise<void> {
  const refusals: Array<[string[], RegExp]> = [
    [['--interface', 'wlan9'], /^error: --interface: no interface named 'wlan9' on local; expected one of: .*eth0.*wlan0/m],
    [['--interface', 'noaddr0'], /^error: --interface: 'noaddr0' has no IPv4 address; expected an interface with an address$/m],
    [['--interface', 'wlan0', '--gateway', '192.0.2.1'], /^error: --gateway: gateway '192.0.2.1' is not on-link on 'wlan0': it is outside the interface's networks \(192\.0\.2\.128\/25\); expected an address in 192\.0\.2\.128\/25$/m],
    [['--interface', 'wlan0', '--gateway', '192.0.2.255'], /not on-link on 'wlan0': it is the broadcast address of 192\.0\.2\.128\/25/],
    [['--interface', 'wlan0', '--dns', '127.0.0.53'], /^error: --dns: '127\.0\.0\.53' is a resolver on this machine/m],
    [['--interface', 'wlan0'], /^error: --dns: no resolver found for 'wlan0' \(tried: DHCP lease, .*nmcli device show wlan0, \/etc\/resolv\.conf; /m],
  ];
  // Only a local stub in /etc/resolv.conf, no lease: no resolver (test/interface-resolver.test.ts takes the real one).
  const resolvConf = (await lab.readFile('client', '/etc/resolv.conf'))!;
  await lab.writeFile('client', '/etc/resolv.conf', 'nameserver 127.0.0.53\n', '0644');
  for (const [flags, message] of refusals) {
    const r = await lab.exec('client', [...cli, 'enroll', ...flags, '--user', 'appuser', '--name', NAME]);
    expect(r.exitCode, `${flags.join(' ')}: ${r.stderr}`).not.toBe(0);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\[#\]/); // nothing was echoed as a change
  }
  await lab.writeFile('client', '/etc/resolv.conf', resolvConf, '0644');
  expect(await networkSnapshot(lab)).toBe(before);

  const enroll = await lab.exec('client', [...cli, 'enroll', '--interface', 'wlan0', '--user', 'appuser', '--name', NAME, '--dns', lab.addr.dnsV4]);
  expect(enroll.exitCode, enroll.stderr).toBe(0);
  expect(enroll.stdout).toContain('leaves by wlan0 (192.0.2.130 in 192.0.2.128/25) via 192.0.2.129 (main table default route)');
  expect(enroll.stdout).toContain('IPv6 by wlan0 (2001:db8:3::2) via 2001:db8:3::1');
  const again = await lab.exec('client', [...cli, 'enroll', '--interface', 'wlan0', '--user', 'appuser', '--name', NAME, '--dns', lab.addr.dnsV4]);
  expect(again.stdout).toContain(`egress ${NAME} already leaves by wlan0 for appuser: nothing changed`);

  const runAs = [...cli, 'run-as', 'appuser', '--'];
  expect(await lab.probe('client', { prefix: runAs })).toBe(lab.addr.clientWlanV4);
  expect(await lab.probe('client', { prefix: runAs, udp: true })).toBe(lab.addr.clientWlanV4);
  expect(await lab.probe('client', { prefix: runAs, v6: true })).toBe(lab.addr.clientWlanV6);
  expect(await lab.probe('client')).toBe(lab.addr.clientV4);
  expect(await lab.probe('client', { v6: true })).toBe(lab.addr.clientV6);
  // exec (LD_PRELOAD shim, unprivileged) and run (cgroup) use the interface egress like a tunnel one.
  // As root (always allowed; other users need `egress-client allow` since issue 18).
  expect(await lab.probe('client', { prefix: [...cli, 'exec', '--egress', NAME, '--'] })).toBe(lab.addr.clientWlanV4);
  expect(await lab.probe('client', { prefix: [...cli, 'run', '--egress', NAME, '--'] })).toBe(lab.addr.clientWlanV4);
  // DNS of the bound user goes to the resolver through wlan0 (even when asked of the host's own resolver).
  const name = await lab.exec('client', [...runAs, ...lab.probeArgv({ host: 'v4only.egress.test' })]);
  expect(name.stdout.trim()).toBe(lab.addr.clientWlanV4);
  expect((await lab.dnsQueries()).filter((q) => q.name === 'v4only.egress.test').map((q) => q.from)).toEqual(expect.arrayContaining([lab.addr.clientWlanV4]));
  expect((await lab.dnsQueries()).filter((q) => q.name === 'v4only.egress.test' && q.from !== lab.addr.clientWlanV4)).toEqual([]);

  // Kill switch: wlan0 down -> the bound user's traffic fails, zero packets leave by eth0.
  const capture = await lab.capture('client', 'eth0', 'not arp and not icmp6 and not (src host 192.0.2.2 or src host 2001:db8:2::2 or dst host 192.0.2.2 or dst host 2001:db8:2::2)');
  const captureAll = await lab.capture('client', 'eth0', `host ${lab.addr.whoamiV4} or host ${lab.addr.whoamiV6} or port 53`);
  await lab.exec('client', ['ip', 'link', 'set', 'wlan0', 'down'], { check: true });
  for (const opts of [{}, { udp: true }, { v6: true }]) {
    const r = await lab.exec('client', [...runAs, ...lab.probeArgv(opts)], { timeoutMs: 20_000 });
    expect(r.exitCode, `probe ${JSON.stringify(opts)} with wlan0 down: ${r.stdout}`).not.toBe(0);
  }
  const dns = await lab.exec('client', [...runAs, ...lab.probeArgv({ host: 'v4only.egress.test' })], { timeoutMs: 20_000 });
  expect(dns.exitCode).not.toBe(0);
  expect(await captureAll.stop()).toEqual([]);
  expect(await capture.stop()).toEqual([]);
  expect(await lab.probe('client')).toBe(lab.addr.clientV4); // everyone else is untouched
  expect((await lab.exec('client', [...cli, 'status', NAME])).stdout).toContain(`egress ${NAME} (interface): DOWN on wlan0`);

  // Back: the interface reconnects, `up` restores the egress table.
  await reconnectWlan(lab);
  const up = await lab.exec('client', [...cli, 'up', NAME]);
  expect(up.exitCode, up.stderr).toBe(0);
  expect((await lab.exec('client', [...cli, 'status', NAME])).stdout).toContain(`egress ${NAME} (interface): up on wlan0`);
  expect(await lab.probe('client', { prefix: runAs })).toBe(lab.addr.clientWlanV4);

  // The uplink loses its IPv4 address (DHCP lease expired) while it stays up: IPv4 of the bound user fails closed too.
  const lost = await lab.capture('client', 'eth0', `host ${lab.addr.whoamiV4} or port 53`);
  await lab.exec('client', ['ip', '-4', 'address', 'flush', 'dev', 'wlan0'], { check: true });
  const noAddr = await lab.exec('client', [...runAs, ...lab.probeArgv()], { timeoutMs: 20_000 });
  expect(noAddr.exitCode, `probe without an address on wlan0: ${noAddr.stdout}`).not.toBe(0);
  expect(await lost.stop()).toEqual([]);
  await lab.exec('client', ['ip', 'address', 'add', '192.0.2.130/25', 'dev', 'wlan0'], { check: true });
  await reconnectWlan(lab);
  expect((await lab.exec('client', [...cli, 'up', NAME])).exitCode).toBe(0);
  expect(await lab.probe('client', { prefix: runAs })).toBe(lab.addr.clientWlanV4);

  // A second address on the uplink: --address picks which one the user leaves with.
  await lab.exec('client', ['ip', 'address', 'add', '192.0.2.131/25', 'dev', 'wlan0'], { check: true });
  const second = await lab.exec('client', [...cli, 'enroll', '--interface', 'wlan0', '--address', '192.0.2.131', '--user', 'appuser', '--name', NAME, '--dns', lab.addr.dnsV4]);
  expect(second.exitCode, second.stderr).toBe(0);
  expect(await lab.probe('client', { prefix: runAs })).toBe('192.0.2.131');
  expect(await lab.probe('client')).toBe(lab.addr.clientV4);
  const notMine = await lab.exec('client', [...cli, 'enroll', '--interface', 'wlan0', '--address', lab.addr.clientV4, '--user', 'appuser', '--name', NAME, '--dns', lab.addr.dnsV4]);
  expect(notMine.stderr).toContain(`--address: '${lab.addr.clientV4}' is not an IPv4 address of 'wlan0'; expected one of: 192.0.2.130, 192.0.2.131`);
  await lab.exec('client', ['ip', 'address', 'del', '192.0.2.131/25', 'dev', 'wlan0'], { check: true });

  // A reconnect without IPv6 and without a default route in the main table (the DHCP client only wrote its lease):
  // enrolling again takes gateway and resolver from the lease, and refuses IPv6 for the bound user.
  await lab.exec('client', ['ip', 'route', 'del', 'default', 'via', '192.0.2.129', 'dev', 'wlan0'], { check: true });
  await lab.exec('client', ['ip', '-6', 'address', 'flush', 'dev', 'wlan0', 'scope', 'global'], { check: true });
  await lab.exec('client', ['ip', '-6', 'route', 'del', 'default', 'via', '2001:db8:3::1', 'dev', 'wlan0']);
  const lease = ['lease {', '  interface "wlan0";', '  fixed-address 192.0.2.130;', '  option subnet-mask 255.255.255.128;', '  option routers 192.0.2.129;', `  option domain-name-servers ${lab.addr.dnsV4};`, '}', ''].join('\n');
  await lab.writeFile('client', '/var/lib/dhcp/dhclient.wlan0.leases', lease);
  const fromLease = await lab.exec('client', [...cli, 'enroll', '--interface', 'wlan0', '--user', 'appuser', '--name', NAME]);
  expect(fromLease.exitCode, fromLease.stderr).toBe(0);
  expect(fromLease.stdout).toContain('via 192.0.2.129 (/var/lib/dhcp/dhclient.wlan0.leases)');
  expect(fromLease.stdout).toContain("IPv6 refused: 'wlan0' has no global IPv6 address");
  expect(fromLease.stdout).toContain('DNS from /var/lib/dhcp/dhclient.wlan0.leases');
  expect(await lab.probe('client', { prefix: runAs })).toBe(lab.addr.clientWlanV4);
  const v6capture = await lab.capture('client', 'eth0', `host ${lab.addr.whoamiV6}`);
  const v6 = await lab.exec('client', [...runAs, ...lab.probeArgv({ v6: true })], { timeoutMs: 20_000 });
  expect(v6.exitCode, `IPv6 of the bound user must be refused: ${v6.stdout}`).not.toBe(0);
  expect(await v6capture.stop()).toEqual([]);
  expect(await lab.probe('client', { v6: true })).toBe(lab.addr.clientV6);
  await reconnectWlan(lab); // as it was, for the comparison after uninstall
}
