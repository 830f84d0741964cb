// The VPS repairs itself without Node: with the egress table flushed and forwarding off, `egress-server status` reports
// the drift; what the guard timer's service runs (plain sh) restores it; deprovision removes the guard and leaves the
// VPS exactly as before. (The lab VPS has no systemd: the unit texts are checked exactly in the renderer's unit tests.)
import { startLab, type Lab } from '@egress/lab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionJson, server, sh, vpsSnapshot } from './server-helpers.js';

let lab: Lab;
let before: Record<string, string>;

beforeAll(async () => {
  lab = await startLab({ name: 'server-guard' });
  before = await vpsSnapshot(lab);
  await provisionJson(lab, ['--forward', '8080/tcp']);
}, 240_000);

afterAll(async () => {
  await lab?.down();
});

async function status(): Promise<{ drift: string[]; healthy: boolean; nft: { present: boolean } }> {
  const r = await server(lab, ['status', lab.ssh.target, '--json']);
  return JSON.parse(r.stdout);
}

describe('VPS guard (lab)', () => {
  it('installs the guard script and units with the right modes; status reports no drift', async () => {
    expect(await sh(lab, 'vps', 'stat -c "%a %n" /etc/egress/server-guard.sh /etc/systemd/system/egress-server-guard.service /etc/systemd/system/egress-server-guard.timer')).toBe(
      '755 /etc/egress/server-guard.sh\n644 /etc/systemd/system/egress-server-guard.service\n644 /etc/systemd/system/egress-server-guard.timer\n',
    );
    expect((await status()).drift).toEqual([]);
    // Nothing to do: the guard prints nothing and exits 0.
    expect(await sh(lab, 'vps', '/bin/sh /etc/egress/server-guard.sh')).toBe('');
  });

  it('a flushed ruleset and forwarding turned off are reported as drift, and the guard restores both', async () => {
    await sh(lab, 'vps', 'nft flush ruleset && sysctl -q -w net.ipv4.ip_forward=0 && sysctl -q -w net.ipv6.conf.all.forwarding=0');
    const s = await status();
    console.log(`[server-guard] drift reported: ${JSON.stringify(s.drift)}`);
    expect(s.healthy).toBe(false);
    expect(s.drift).toEqual([
      'table inet egress is missing (MASQUERADE and every forward are gone)',
      'net.ipv4.ip_forward is 0, expected 1',
      'net.ipv6.conf.all.forwarding is 0, expected 1',
      'forwards missing: 8080/tcp:8080',
    ]);
    const text = (await server(lab, ['status', lab.ssh.target])).stdout;
    expect(text).toContain('  drift:\n    table inet egress is missing');
    const out = await sh(lab, 'vps', '/bin/sh /etc/egress/server-guard.sh');
    console.log(`[server-guard] guard output:\n${out}`);
    expect(out).toBe(
      'egress-guard: table inet egress was missing: reloaded /etc/egress/server.nft\negress-guard: net.ipv4.ip_forward was not 1: set\negress-guard: net.ipv6.conf.all.forwarding was not 1: set\n',
    );
    const after = await status();
    expect(after.drift).toEqual([]);
    expect(after.nft.present).toBe(true);
  });

  it('deprovision removes the guard with everything else: the VPS is exactly as before', async () => {
    const r = await server(lab, ['deprovision', lab.ssh.target]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await vpsSnapshot(lab)).toEqual(before);
  });
});
