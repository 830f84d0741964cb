// A tunnel without IPv6: appuser's IPv4 goes through the VPS, its IPv6 fails at once and never leaves directly.
import { startLab, type Lab } from '@egress/lab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, enroll, provision } from './client-helpers.js';

let lab: Lab;

beforeAll(async () => {
  lab = await startLab({ name: 'client-v4only' });
  await provision(lab, ['--subnet', '10.66.0.0/24']);
  await enroll(lab);
}, 240_000);

afterAll(async () => {
  await lab?.down();
});

describe('egress without tunnel IPv6 (lab)', () => {
  it("routes appuser's IPv4 through the VPS and refuses its IPv6 immediately, with nothing on the uplinks", async () => {
    const prefix = [...lab.egressClientArgv, 'run-as', 'appuser', '--'];
    expect(await lab.probe('client', { prefix })).toBe(lab.addr.vpsV4);
    const cap = [await lab.capture('client', 'eth0', 'ip6 and not icmp6'), await lab.capture('client', 'wlan0', 'ip6 and not icmp6')];
    for (const udp of [false, true]) {
      const t0 = Date.now();
      const r = await lab.exec('client', [...prefix, ...lab.probeArgv({ v6: true, udp })], { timeoutMs: 15_000 });
      expect(r.exitCode).not.toBe(0);
      expect(r.stderr).toMatch(/ENETUNREACH|EACCES|EHOSTUNREACH/);
      expect(Date.now() - t0).toBeLessThan(3000);
    }
    const dig = await lab.exec('client', [...prefix, 'dig', '+time=2', '+tries=1', '@2001:db8:113::53', 'TXT', 'asker.egress.test']);
    expect(dig.stdout + dig.stderr).toMatch(/unreachable|refused|timed out|failed/i);
    expect((await Promise.all(cap.map((c) => c.stop()))).flat()).toEqual([]);
    expect(await lab.probe('client', { v6: true, user: 'otheruser' })).toBe(lab.addr.clientV6);
  });

  it('doctor reports IPv6 as refused, as promised', async () => {
    const d = JSON.parse((await client(lab, ['doctor', '--json'])).stdout);
    const v6 = d.egresses[0].checks.find((c: { name: string }) => c.name === 'IPv6 (appuser)');
    expect(v6, JSON.stringify(v6)).toMatchObject({ ok: true });
    expect(v6.detail).toMatch(/^refused immediately \((ENETUNREACH|EACCES)\): the egress has no IPv6$/);
    expect(d.egresses[0].checks.filter((c: { ok: boolean }) => !c.ok)).toEqual([]);
    expect(d.ok).toBe(true);
  });
});
