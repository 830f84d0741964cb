// Kill switch end to end: with the tunnel taken down, its interface deleted or wireguard-go killed, appuser's TCP,
// UDP and DNS fail and captures on both uplinks see none of appuser's packets; `up` brings it back.
import { startLab, type Lab } from '@egress/lab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, enroll, killClientWireguardGo, provision } from './client-helpers.js';

let lab: Lab;

beforeAll(async () => {
  lab = await startLab({ name: 'client-killsw' });
  await provision(lab);
  await enroll(lab);
}, 240_000);

afterAll(async () => {
  await lab?.down();
});

/** appuser's traffic of every kind while the tunnel is broken: each attempt must fail, none may leave by an uplink. */
async function expectNothingLeaves(): Promise<void> {
  const filter = `host ${lab.addr.whoamiV4} or host ${lab.addr.whoamiV6} or port 53`;
  const caps = [await lab.capture('client', 'eth0', filter), await lab.capture('client', 'wlan0', filter)];
  const attempts: Array<{ what: string; argv: string[] }> = [
    { what: 'tcp', argv: lab.probeArgv() },
    { what: 'udp', argv: lab.probeArgv({ udp: true }) },
    { what: 'tcp v6', argv: lab.probeArgv({ v6: true }) },
    { what: 'udp v6', argv: lab.probeArgv({ v6: true, udp: true }) },
    { what: 'dns resolv.conf', argv: ['dig', '+time=2', '+tries=1', 'TXT', 'asker.egress.test'] },
    { what: 'dns 127.0.0.53', argv: ['dig', '+time=2', '+tries=1', '@127.0.0.53', 'TXT', 'asker.egress.test'] },
    { what: 'dns tcp', argv: ['dig', '+tcp', '+time=2', '+tries=1', '@203.0.113.53', 'TXT', 'asker.egress.test'] },
  ];
  for (const a of attempts) {
    const r = await lab.exec('client', a.argv, { user: 'appuser', timeoutMs: 15_000 });
    const failed = r.exitCode !== 0 || /timed out|refused|unreachable|not permitted|EACCES|ENETUNREACH/i.test(r.stdout + r.stderr);
    expect(failed, `${a.what} succeeded while the tunnel is broken: ${r.stdout}`).toBe(true);
  }
  const seen = (await Promise.all(caps.map((c) => c.stop()))).flat();
  expect(seen).toEqual([]);
}

async function expectBackThroughVps(): Promise<void> {
  const prefix = [...lab.egressClientArgv, 'run-as', 'appuser', '--'];
  expect(await lab.probe('client', { prefix })).toBe(lab.addr.vpsV4);
  expect(await lab.probe('client', { udp: true, prefix })).toBe(lab.addr.vpsV4);
}

describe('kill switch (lab)', () => {
  it('the capture sees traffic that does leave by an uplink (control: root probes directly)', async () => {
    const cap = await lab.capture('client', 'eth0', `host ${lab.addr.whoamiV4} or port 53`);
    expect(await lab.probe('client', { udp: true })).toBe(lab.addr.clientV4);
    expect((await lab.exec('client', ['dig', '+short', 'TXT', 'asker.egress.test'])).stdout).toContain(lab.addr.clientV4);
    expect((await cap.stop()).length).toBeGreaterThanOrEqual(3);
  });

  it('down: appuser is refused immediately, nothing leaves, run-as says how to fix it; up restores', async () => {
    const down = await client(lab, ['down']);
    expect(down.exitCode, down.stderr).toBe(0);
    expect(down.stdout).toContain('kill switch armed');
    const tcp = await lab.exec('client', lab.probeArgv(), { user: 'appuser', timeoutMs: 15_000 });
    expect(tcp.stderr).toMatch(/EACCES/);
    await expectNothingLeaves();
    const refused = await client(lab, ['run-as', 'appuser', '--', 'true']);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toMatch(/egress 'client' is down/);
    expect(refused.stderr).toMatch(/hint: egress-client up client/);
    const st = JSON.parse((await client(lab, ['status', '--json'])).stdout).egresses[0];
    expect(st.up).toBe(false);
    expect(st.killSwitch.armed).toBe(true);
    expect((await client(lab, ['up'])).exitCode).toBe(0);
    await expectBackThroughVps();
  });

  it('tunnel interface deleted: nothing leaves; up restores', async () => {
    expect((await lab.exec('client', ['ip', 'link', 'del', 'dev', 'egress0'])).exitCode).toBe(0);
    await expectNothingLeaves();
    const up = await client(lab, ['up']);
    expect(up.exitCode, up.stderr).toBe(0);
    await expectBackThroughVps();
  });

  it('wireguard-go killed: nothing leaves; up restores', async () => {
    await killClientWireguardGo(lab);
    await expectNothingLeaves();
    const up = await client(lab, ['up']);
    expect(up.exitCode, up.stderr).toBe(0);
    await expectBackThroughVps();
    const doc = JSON.parse((await client(lab, ['doctor', '--json'])).stdout);
    expect(doc.ok).toBe(true);
  });

  it('doctor names what is broken and how to fix it; up repairs it', async () => {
    await lab.exec('client', ['sh', '-c', 'nft delete table inet egress && ip rule del priority 7108'], { check: true });
    const bad = await client(lab, ['doctor']);
    expect(bad.exitCode).toBe(1);
    expect(bad.stdout).toContain('FAIL nft table: table inet egress is missing: nothing marks, redirects DNS or blocks leaks\n       fix: egress-client up client');
    expect(bad.stdout).toMatch(/FAIL ip rules: 1 of 12 rules missing \(priorities 7108\)/);
    expect(bad.stdout).toMatch(/FAIL kill switch: NOT armed/);
    expect((await client(lab, ['up'])).exitCode).toBe(0);
    const good = await client(lab, ['doctor']);
    expect(good.stdout).toContain('egress client: all checks passed');
    expect(good.exitCode).toBe(0);
  });
});
