// An interface egress on an interface with a static address and no DHCP lease: enroll takes the resolver from
// /etc/resolv.conf, and the bound user's DNS goes through that interface (the lab DNS server sees wlan0's address;
// tcpdump sees none of it on eth0).
import { withLab } from '@egress/lab';
import { describe, expect, it } from 'vitest';

// The cgroup2 hierarchy is the machine's, shared by every lab: a unique egress name keeps ours apart.
const NAME = 'wlan-static';

describe('interface egress without a lease (enroll --interface, resolver from /etc/resolv.conf)', () => {
  it('enrolls with the resolver of /etc/resolv.conf and sends the bound user\'s DNS to it through the interface', async () => {
    await withLab({ name: 'iface-resolver' }, async (lab) => {
      const cli = lab.egressClientArgv;
      const leases = await lab.exec('client', ['sh', '-c', 'ls /var/lib/dhcp /var/lib/dhclient /run/systemd/netif/leases /var/lib/NetworkManager 2>/dev/null | grep -c lease || true']);
      expect(leases.stdout.trim()).toBe('0');
      expect(await lab.readFile('client', '/etc/resolv.conf')).toContain(`nameserver ${lab.addr.dnsV4}`);
      try {
        const r = await lab.exec('client', [...cli, 'enroll', '--interface', 'wlan0', '--user', 'appuser', '--name', NAME]);
        expect(r.exitCode, r.stderr).toBe(0);
        expect(r.stdout).toContain('DNS from /etc/resolv.conf');
        const st = JSON.parse((await lab.exec('client', [...cli, 'status', '--json'], { check: true })).stdout);
        expect(st.egresses[0].dns).toEqual([lab.addr.dnsV4, lab.addr.dnsV6]);

        const eth0 = await lab.capture('client', 'eth0', 'port 53');
        const wlan0 = await lab.capture('client', 'wlan0', 'port 53');
        const ask = await lab.exec('client', [...cli, 'run-as', 'appuser', '--', 'dig', '+short', '+time=3', '+tries=2', 'TXT', 'asker.egress.test']);
        expect(ask.exitCode, ask.stderr).toBe(0);
        expect(ask.stdout.trim().replace(/"/g, '')).toBe(lab.addr.clientWlanV4);
        expect(await eth0.stop()).toEqual([]);
        expect((await wlan0.stop()).join('\n')).toContain(`${lab.addr.clientWlanV4}.`);
        const root = await lab.exec('client', ['dig', '+short', '+time=3', '+tries=2', 'TXT', 'asker.egress.test']);
        expect(root.stdout.trim().replace(/"/g, '')).toBe(lab.addr.clientV4);
      } finally {
        await lab.exec('client', [...cli, 'uninstall', NAME]);
      }
    });
  }, 180_000);
});
