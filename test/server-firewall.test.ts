// A VPS whose FORWARD policy drops (as Docker sets it): provision adds the narrowest accepts, traffic flows, deprovision removes them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLab, type Lab } from '@egress/lab';
import { clientDown, clientUp, probeWithRetry, provisionJson, reachWithRetry, server, sh, vpsSnapshot, waitHandshake } from './server-helpers.js';

let lab: Lab;
let pristine: Record<string, string>;

beforeAll(async () => {
  lab = await startLab({ name: 'srv-fw' });
  await sh(lab, 'vps', 'iptables -P FORWARD DROP && ip6tables -P FORWARD DROP');
  pristine = await vpsSnapshot(lab);
}, 120_000);

afterAll(async () => {
  await lab?.down();
});

describe('egress-server with iptables -P FORWARD DROP on the VPS', () => {
  it('lets tunnel traffic through with egress-marked accepts and removes them on deprovision', async () => {
    expect(pristine.iptables).toContain('-P FORWARD DROP');
    const doc = await provisionJson(lab, ['--forward', '8080']);
    expect(doc.changes).toEqual(
      expect.arrayContaining([
        'iptables -I FORWARD -i egress0 -m comment --comment egress -j ACCEPT',
        'iptables -I FORWARD -o egress0 -m comment --comment egress -j ACCEPT',
        'ip6tables -I FORWARD -i egress0 -m comment --comment egress -j ACCEPT',
        'ip6tables -I FORWARD -o egress0 -m comment --comment egress -j ACCEPT',
      ]),
    );
    const rules = await sh(lab, 'vps', 'iptables -S FORWARD');
    expect(rules).toContain('-P FORWARD DROP');
    expect(rules).toContain('-A FORWARD -i egress0 -m comment --comment egress -j ACCEPT');
    expect(rules).toContain('-A FORWARD -o egress0 -m comment --comment egress -j ACCEPT');
    const dropIn = await sh(lab, 'vps', 'cat /etc/systemd/system/wg-quick@egress0.service.d/egress.conf');
    expect(dropIn).toContain("ExecStartPost=-/bin/sh -c 'iptables -C FORWARD -i egress0 -m comment --comment egress -j ACCEPT 2>/dev/null || iptables -I FORWARD -i egress0 -m comment --comment egress -j ACCEPT'");

    await clientUp(lab, '/root/egress-client.bundle.json');
    expect(await probeWithRetry(lab)).toBe(lab.addr.vpsV4);
    expect(await probeWithRetry(lab, true)).toBe(lab.addr.vpsV6);
    lab.spawn('client', ['socat', 'TCP6-LISTEN:8080,fork,reuseaddr,ipv6only=0', 'SYSTEM:echo tcp-hello']);
    await sh(lab, 'client', 'for i in $(seq 50); do ss -lnt | grep -q ":8080 " && exit 0; sleep 0.1; done; exit 1');
    expect(await reachWithRetry(lab, 'tcp', 8080)).toBe('tcp-hello');

    const again = await provisionJson(lab, ['--forward', '8080']);
    expect(again.changed).toBe(0);

    // Without the accepts the DROP policy wins (proof they are what lets traffic through); provision puts them back.
    await sh(lab, 'vps', 'iptables -D FORWARD -i egress0 -m comment --comment egress -j ACCEPT && iptables -D FORWARD -o egress0 -m comment --comment egress -j ACCEPT');
    expect(await lab.probe('client').catch(() => 'blocked')).toBe('blocked');
    const repaired = await provisionJson(lab, ['--forward', '8080']);
    expect(repaired.changes).toEqual(['iptables -I FORWARD -i egress0 -m comment --comment egress -j ACCEPT', 'iptables -I FORWARD -o egress0 -m comment --comment egress -j ACCEPT']);
    expect(await probeWithRetry(lab)).toBe(lab.addr.vpsV4);

    const r = await server(lab, ['deprovision', lab.ssh.target]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await vpsSnapshot(lab)).toEqual(pristine);
  });

  it('also opens a native nft forward chain with policy drop, and the boot unit re-adds both kinds of accepts after a reboot', async () => {
    await sh(lab, 'vps', "nft add table inet filter && nft add chain inet filter forward '{ type filter hook forward priority 0; policy drop; }'");
    const before = await vpsSnapshot(lab);
    const doc = await provisionJson(lab, ['--forward', '8080']);
    expect(doc.changes).toEqual(expect.arrayContaining(['nft insert rule inet filter forward iifname egress0 accept comment egress', 'nft insert rule inet filter forward oifname egress0 accept comment egress']));
    await clientDown(lab);
    await clientUp(lab, '/root/egress-client.bundle.json');
    expect(await probeWithRetry(lab)).toBe(lab.addr.vpsV4);

    // Reboot: the tunnel, egress's table, its accepts in both firewalls and the sysctls are gone; the other firewalls come back as they were.
    const handles = (await sh(lab, 'vps', 'nft -a list chain inet filter forward')).split('\n').filter((l) => l.includes('comment "egress"')).map((l) => /# handle (\d+)/.exec(l)![1]);
    await sh(lab, 'vps', [
      'ip link del egress0',
      'nft delete table inet egress',
      ...handles.map((h) => `nft delete rule inet filter forward handle ${h}`),
      'iptables -D FORWARD -i egress0 -m comment --comment egress -j ACCEPT',
      'iptables -D FORWARD -o egress0 -m comment --comment egress -j ACCEPT',
      'sysctl -q -w net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0',
    ].join(' && '));
    expect(await lab.probe('client').catch(() => 'blocked')).toBe('blocked');
    const dropIn = (await sh(lab, 'vps', 'cat /etc/systemd/system/wg-quick@egress0.service.d/egress.conf')).split('\n');
    const value = (prefix: string) => dropIn.filter((l) => l.startsWith(prefix)).map((l) => l.slice(prefix.length).replace(/^-/, ''));
    const boot = [...value('ExecStartPre='), 'wg-quick up egress0', ...value('ExecStartPost=')];
    expect(boot.filter((c) => c.includes('nft insert rule inet filter forward'))).toHaveLength(1);
    for (const cmd of boot) await sh(lab, 'vps', cmd);
    for (const cmd of value('ExecStartPost=')) await sh(lab, 'vps', cmd);
    expect((await sh(lab, 'vps', 'nft list chain inet filter forward')).match(/comment "egress"/g)).toHaveLength(2);
    expect((await sh(lab, 'vps', 'iptables -S FORWARD')).match(/--comment egress/g)).toHaveLength(2);
    await waitHandshake(lab);
    expect(await probeWithRetry(lab)).toBe(lab.addr.vpsV4);
    expect(await reachWithRetry(lab, 'tcp', 8080)).toBe('tcp-hello');

    const r = await server(lab, ['deprovision', lab.ssh.target]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await vpsSnapshot(lab)).toEqual(before);
  });
});
