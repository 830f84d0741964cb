// Eight egresses on one client at once, each to its own WireGuard server: eight plain wg-quick servers in the lab's
// vps host, each masquerading to its own public address (198.51.100.11-18), stand in for eight VPSes. Each egress's
// user is seen by whoami with its own server's address, all at the same time; otheruser keeps the normal route.
import { enrollArgs, startLab, startWgServers, type Lab, type WgServer } from '@egress/lab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client } from './client-helpers.js';

const N = 8;
let lab: Lab;
let servers: WgServer[] = [];

beforeAll(async () => {
  lab = await startLab({ name: 'client-eight' });
  servers = await startWgServers(lab, N);
  for (const s of servers) {
    const r = await client(lab, enrollArgs(s), { timeoutMs: 120_000 });
    expect(r.exitCode, r.stderr).toBe(0);
  }
}, 600_000);

afterAll(async () => {
  // The egress cgroups live in the machine's cgroup2 hierarchy (under this lab's parent): uninstall removes them.
  if (lab) await client(lab, ['uninstall']).catch(() => undefined);
  await lab?.down();
});

describe('eight egresses on one client', () => {
  it('each user is seen with its own server address, all probed at once, UDP too; otheruser keeps the uplink', async () => {
    const seen = await Promise.all(servers.map((s) => lab.probe('client', { user: s.user })));
    expect(seen).toEqual(servers.map((s) => s.public));
    const udp = await Promise.all(servers.map((s) => lab.probe('client', { user: s.user, udp: true })));
    expect(udp).toEqual(servers.map((s) => s.public));
    expect(await lab.probe('client', { user: 'otheruser' })).toBe(lab.addr.clientV4);
  });

  it('status lists all eight up, each with a handshake on its own interface', async () => {
    const status = JSON.parse((await client(lab, ['status', '--json'])).stdout) as { egresses: Array<{ name: string; up: boolean; interface: string; latestHandshake: number }> };
    expect(status.egresses.map((e) => e.name).sort()).toEqual(servers.map((s) => s.name).sort());
    expect(status.egresses.every((e) => e.up && e.latestHandshake > 0)).toBe(true);
    expect(new Set(status.egresses.map((e) => e.interface)).size).toBe(N);
  });
});
