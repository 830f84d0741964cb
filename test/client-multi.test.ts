// Two egresses on one client (two peers of the same VPS): each its own interface, mark, table, priorities and
// user; removing one leaves the other exactly as it was; removing both leaves the client as before.
import { startLab, type Lab } from '@egress/lab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, clientSnapshot, enroll, provision } from './client-helpers.js';

const BUNDLE2 = '/root/egress-second.bundle.json';
let lab: Lab;
let before: Record<string, string>;

beforeAll(async () => {
  lab = await startLab({ name: 'client-multi' });
  before = await clientSnapshot(lab);
  await provision(lab, []);
  const r = await lab.exec('client', [...lab.egressServerArgv, 'peer', 'add', lab.ssh.target, 'second', '-i', lab.ssh.identity, '--out', BUNDLE2], { timeoutMs: 120_000 });
  expect(r.exitCode, r.stderr).toBe(0);
}, 240_000);

afterAll(async () => {
  await lab?.down();
});

const runAs = (user: string) => [...lab.egressClientArgv, 'run-as', user, '--'];
const kernel = (s: Record<string, string>) => ({ nft: s.nft, rules: s.rules, routes: s.routes, links: s.links });

describe('several egresses on one client (lab)', () => {
  it('gives the second egress its own interface, mark, table and priorities; both users leave through the VPS', async () => {
    await enroll(lab);
    const afterFirst = await clientSnapshot(lab);
    const second = await client(lab, ['enroll', BUNDLE2, '--user', 'otheruser', '--json']);
    expect(second.exitCode, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout).egress).toMatchObject({ name: 'second', interface: 'egress1', mark: '0x02000000', markMask: '0x02000000', table: 7101, priorities: [7110, 7119] });

    expect(await lab.probe('client', { prefix: runAs('appuser') })).toBe(lab.addr.vpsV4);
    expect(await lab.probe('client', { prefix: runAs('otheruser') })).toBe(lab.addr.vpsV4);
    expect(await lab.probe('client', { udp: true, v6: true, prefix: runAs('otheruser') })).toBe(lab.addr.vpsV6);
    expect(await lab.probe('client')).toBe(lab.addr.clientV4);
    const src = await lab.exec('client', [...runAs('otheruser'), process.execPath, '-e', `const s=require('net').connect(${lab.addr.whoamiPort},'${lab.addr.whoamiV4}',()=>{console.log(s.address().address);s.destroy()})`]);
    expect(src.stdout.trim()).toBe('10.77.0.3');

    const st = JSON.parse((await client(lab, ['status', '--json'])).stdout);
    expect(st.egresses.map((e: { name: string; interface: string; up: boolean }) => [e.name, e.interface, e.up])).toEqual([['client', 'egress0', true], ['second', 'egress1', true]]);
    const doc = JSON.parse((await client(lab, ['doctor', '--json'])).stdout);
    expect(doc.egresses.flatMap((e: { checks: Array<{ ok: boolean }> }) => e.checks.filter((c) => !c.ok))).toEqual([]);

    const taken = await client(lab, ['enroll', BUNDLE2, '--user', 'appuser']);
    expect(taken.exitCode).toBe(1);
    expect(taken.stderr).toContain("--user: 'appuser' is already bound to egress 'client'");

    const un = await client(lab, ['uninstall', 'second']);
    expect(un.exitCode, un.stderr).toBe(0);
    expect(kernel(await clientSnapshot(lab))).toEqual(kernel(afterFirst));
    expect(await lab.probe('client', { prefix: runAs('appuser') })).toBe(lab.addr.vpsV4);
    expect(await lab.probe('client', { user: 'otheruser' })).toBe(lab.addr.clientV4);

    expect((await client(lab, ['uninstall'])).exitCode).toBe(0);
    expect(await clientSnapshot(lab)).toEqual(before);
  });
});
