// The supervisor follows an interface egress's uplink with no command: wlan0 down/up (a reconnect), a new address
// and a new gateway (a new network). The bound user's traffic keeps leaving by wlan0 with its current address.
import { withLab, type Lab, type LabProcess } from '@egress/lab';
import { describe, expect, it } from 'vitest';
import { appuserSees, waitUntil } from './client-helpers.js';

// The cgroup2 hierarchy is the machine's, shared by every lab: a unique egress name keeps ours apart.
const NAME = 'sup-wlan';

async function table(lab: Lab): Promise<string> {
  const st = JSON.parse((await lab.readFile('client', '/etc/egress/client.json'))!);
  const t = st.egresses[0].table;
  return (await lab.exec('client', ['ip', '-4', 'route', 'show', 'table', String(t)])).stdout;
}

describe('daemon: an interface egress follows its uplink (lab)', () => {
  it('follows wlan0 down/up, a new address and a new gateway with no command', async () => {
    await withLab({ name: 'daemon-uplink' }, async (lab) => {
      const cli = lab.egressClientArgv;
      const enroll = await lab.exec('client', [...cli, 'enroll', '--interface', 'wlan0', '--user', 'appuser', '--name', NAME, '--dns', lab.addr.dnsV4]);
      expect(enroll.exitCode, enroll.stderr).toBe(0);
      let daemon: LabProcess | undefined;
      try {
        daemon = lab.spawn('client', [...cli, 'daemon', '--debounce-ms', '10']);
        const d = daemon;
        await waitUntil('the daemon to start', 30_000, () => /watching nftables/.test(d.output()));
        expect(await appuserSees(lab)).toBe(lab.addr.clientWlanV4);

        // Down: appuser fails (never leaves by eth0); up again as DHCP would (address kept, default route back).
        await lab.exec('client', ['ip', 'link', 'set', 'wlan0', 'down'], { check: true });
        await waitUntil('health down', 20_000, async () => /"health": "down"/.test((await lab.readFile('client', '/run/egress/health.json')) ?? ''));
        expect(await appuserSees(lab)).toMatch(/^failed/);
        let mark = d.output().length;
        await lab.exec('client', ['ip', 'link', 'set', 'wlan0', 'up'], { check: true });
        // What DHCP/SLAAC would give back on a reconnect.
        await lab.exec('client', ['ip', '-batch', '-'], {
          stdin: [`address replace ${lab.addr.clientWlanV6}/64 dev wlan0 nodad`, `route replace default via ${lab.addr.clientWlanGwV4} dev wlan0 metric 600`, `route replace ::/0 via ${lab.addr.clientWlanGwV6} dev wlan0 metric 600`, ''].join('\n'),
          check: true,
        });
        await waitUntil('appuser back through wlan0', 20_000, async () => (await appuserSees(lab)) === lab.addr.clientWlanV4);
        console.log(`[daemon-uplink] down/up: ${d.output().slice(mark).split('\n').filter((l) => /repair|uplink|health/.test(l)).join(' | ').slice(0, 600)}`);

        // A new address on wlan0 (the old one gone): appuser leaves with the new one, the state follows.
        mark = d.output().length;
        await lab.exec('client', ['sh', '-c', `sysctl -q -w net.ipv4.conf.wlan0.promote_secondaries=1 && ip addr add 192.0.2.150/25 dev wlan0 && ip addr del ${lab.addr.clientWlanV4}/25 dev wlan0 && ip route replace default via ${lab.addr.clientWlanGwV4} dev wlan0 metric 600`], { check: true });
        // The daemon logs once its pass is done (the state file is written during it).
        await waitUntil('the address change logged', 20_000, () => /uplink changed.*address 192\.0\.2\.130 -> 192\.0\.2\.150/.test(d.output().slice(mark)));
        expect((await lab.readFile('client', '/etc/egress/client.json'))!).toContain('"address4": "192.0.2.150"');
        await waitUntil('appuser seen with the new address', 20_000, async () => (await appuserSees(lab)) === '192.0.2.150');
        const addrLine = d.output().slice(mark).split('\n').find((l) => /uplink changed.*address 192/.test(l));
        console.log(`[daemon-uplink] address: ${addrLine}`);
        expect(addrLine).toMatch(/address 192\.0\.2\.130 -> 192\.0\.2\.150/);

        // A new gateway (a second router on the wlan network): the egress table's default route follows.
        await lab.exec('internet', ['ip', 'addr', 'add', '192.0.2.140/25', 'dev', 'to-wlan'], { check: true });
        mark = d.output().length;
        await lab.exec('client', ['ip', 'route', 'replace', 'default', 'via', '192.0.2.140', 'dev', 'wlan0', 'metric', '600'], { check: true });
        await waitUntil('the gateway change logged', 20_000, () => /uplink changed.*gateway 192\.0\.2\.129 -> 192\.0\.2\.140/.test(d.output().slice(mark)));
        expect(await table(lab)).toMatch(/default via 192\.0\.2\.140 dev wlan0/);
        const gwLine = d.output().slice(mark).split('\n').find((l) => /uplink changed.*gateway 192/.test(l));
        console.log(`[daemon-uplink] gateway: ${gwLine}`);
        expect(gwLine).toMatch(/gateway 192\.0\.2\.129 -> 192\.0\.2\.140/);
        expect(await appuserSees(lab)).toBe('192.0.2.150');
        // Root keeps eth0 all along.
        expect(await lab.probe('client')).toBe(lab.addr.clientV4);
        const doc = JSON.parse((await lab.exec('client', [...cli, 'doctor', NAME, '--json'])).stdout);
        expect(doc.egresses[0].checks.filter((c: { ok: boolean }) => !c.ok)).toEqual([]);
      } catch (err) {
        console.log(`[daemon-uplink] daemon log:\n${daemon?.output()}\nhealth: ${await lab.readFile('client', '/run/egress/health.json')}`);
        throw err;
      } finally {
        daemon?.kill('SIGTERM');
        await daemon?.exited;
        await lab.exec('client', [...cli, 'uninstall', NAME]);
      }
    });
  });
});
