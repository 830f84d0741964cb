// Tunnel MTU from the path: a client uplink of MTU 1400 gives a 1328 tunnel (1340 as a multiple of 16), so bulk TCP and a 1,400-byte UDP datagram
// cross it with no outer (WireGuard) packet fragmented and no fragmentation failure in any host; status names the implementation.
import { startLab, type Lab } from '@egress/lab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, enroll, provision, waitUntil } from './client-helpers.js';

let lab: Lab;
const RUN_AS = (): string[] => [...lab.egressClientArgv, 'run-as', 'appuser', '--'];
const BULK_PORT = 5311;
const UDP_PORT = 7011;
// Any IPv4 fragment (MF set or a fragment offset) on the client's uplink: outer WireGuard packets must never be one.
const FRAGMENTS = '(ip[6:2] & 0x3fff) != 0';

/** Ip: counters of a host's network namespace from /proc/net/snmp (FragFails, ReasmFails, FragCreates …). */
async function ipCounters(host: 'internet' | 'vps' | 'client'): Promise<Record<string, number>> {
  const lines = (await lab.exec(host, ['cat', '/proc/net/snmp'], { check: true })).stdout.split('\n').filter((l) => l.startsWith('Ip:'));
  const [names, values] = [lines[0]!.split(/\s+/).slice(1), lines[1]!.split(/\s+/).slice(1).map(Number)];
  return Object.fromEntries(names.map((n, i) => [n, values[i]!]));
}

async function failures(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const h of ['internet', 'vps', 'client'] as const) {
    const c = await ipCounters(h);
    out[`${h} FragFails`] = c.FragFails!;
    out[`${h} ReasmFails`] = c.ReasmFails!;
  }
  return out;
}

const BULK = 20 * 2 ** 20;
// On the internet host: port +0 sends BULK bytes and closes; port +1 counts what it receives and prints it on close.
const BULK_SERVER = `const net = require('net'); const [host, port, n] = process.argv.slice(1);
net.createServer((s) => { s.on('error', () => {}); s.end(Buffer.alloc(+n, 1)); }).listen(+port, host);
net.createServer((s) => { let got = 0; s.on('data', (d) => { got += d.length; }); s.on('end', () => { console.log('received ' + got); s.end(); }); }).listen(+port + 1, host, () => console.log('listening'));`;
// In the client (through the egress): 'down' counts what port +0 sends; 'up' sends BULK bytes to port +1.
const BULK_CLIENT = `const [host, port, n, dir] = process.argv.slice(1); const s = require('net').connect(dir === 'down' ? +port : +port + 1, host);
let got = 0; s.on('data', (d) => { got += d.length; }); s.on('end', () => console.log(got)); s.on('error', (e) => { console.error(e.message); process.exit(1); });
if (dir === 'up') s.end(Buffer.alloc(+n, 2));`;

/** Moves BULK bytes through the egress; returns what the receiving side counted. */
async function bulk(dir: 'up' | 'down', server: { output(): string }): Promise<number> {
  const r = await lab.exec('client', [...RUN_AS(), process.execPath, '-e', BULK_CLIENT, lab.addr.whoamiV4, String(BULK_PORT), String(BULK), dir], { timeoutMs: 120_000 });
  expect(r.exitCode, r.stderr).toBe(0);
  if (dir === 'down') return Number(r.stdout.trim());
  await waitUntil('the upload to be counted', 10_000, () => /received \d+/.test(server.output()));
  return Number(/received (\d+)/.exec(server.output())![1]);
}

beforeAll(async () => {
  lab = await startLab({ name: 'path-mtu', uplinkMtu: 1400 });
  await provision(lab, []);
  await enroll(lab);
}, 240_000);

afterAll(async () => {
  await lab?.down();
});

describe('tunnel MTU from the path (lab uplink MTU 1400)', () => {
  it('enroll sets the tunnel to the uplink MTU minus 60 (a multiple of 16); status and doctor name the offload-capable wireguard-go', async () => {
    const state = JSON.parse((await lab.readFile('client', '/etc/egress/client.json'))!) as { egresses: Array<{ interface: string; wireguard: { mtu: number } }> };
    const eg = state.egresses[0]!;
    expect(eg.wireguard.mtu).toBe(1328); // 1400 − 60 = 1340, rounded down to a multiple of 16 (path-mtu.ts says why)
    const link = JSON.parse((await lab.exec('client', ['ip', '-j', 'link', 'show', 'dev', eg.interface], { check: true })).stdout) as Array<{ mtu: number }>;
    expect(link[0]!.mtu).toBe(1328);
    const status = JSON.parse((await client(lab, ['status', '--json'])).stdout) as { egresses: Array<{ implementation: Record<string, unknown> }> };
    expect(status.egresses[0]!.implementation).toMatchObject({ kind: 'wireguard-go', version: '0.0.20230223', offloads: 'on', binary: lab.wireguardGo });
    const doctor = JSON.parse((await client(lab, ['doctor', '--json'])).stdout) as { egresses: Array<{ checks: Array<{ name: string; ok: boolean; detail: string }> }> };
    const impl = doctor.egresses[0]!.checks.find((c) => c.name === 'implementation');
    expect(impl?.detail).toMatch(/^wireguard-go 0\.0\.20230223 \(.*\), offloads on \(wireguard-go pid \d+ holds \/var\/run\/wireguard\/egress\d+\.sock; ethtool -k egress\d+: tx-tcp-segmentation on\)$/);
  });

  it('bulk TCP both ways and a 1,400-byte UDP datagram get through; no outer packet is fragmented, no host counts a fragmentation failure', async () => {
    const bulkServer = lab.spawn('internet', [process.execPath, '-e', BULK_SERVER, lab.addr.whoamiV4, String(BULK_PORT), String(BULK)]);
    const sink = lab.spawn('internet', [process.execPath, '-e', `const s = require('dgram').createSocket('udp4'); s.on('message', (m) => console.log('got ' + m.length)); s.bind(${UDP_PORT}, '${lab.addr.whoamiV4}', () => console.log('bound'))`]);
    try {
      await waitUntil('the UDP sink', 10_000, () => sink.output().includes('bound'));
      await waitUntil('the bulk server', 10_000, () => bulkServer.output().includes('listening'));
      const before = await failures();
      const cap = await lab.capture('client', 'eth0', FRAGMENTS);
      expect(await bulk('down', bulkServer)).toBe(BULK);
      expect(await bulk('up', bulkServer)).toBe(BULK);
      const send = `const s = require('dgram').createSocket('udp4'); s.send(Buffer.alloc(1400, 7), ${UDP_PORT}, '${lab.addr.whoamiV4}', (e) => { if (e) { console.error(e.message); process.exit(1); } s.close(); })`;
      const r = await lab.exec('client', [...RUN_AS(), process.execPath, '-e', send], { timeoutMs: 30_000 });
      expect(r.exitCode, r.stderr).toBe(0);
      await waitUntil('the 1,400-byte datagram at the sink', 10_000, () => sink.output().includes('got 1400'));
      expect(await cap.stop()).toEqual([]);
      expect(await failures()).toEqual(before);

      // The same datagram with the old fixed MTU (1420 > 1400 − 60): the outer packet no longer fits the uplink and is
      // fragmented there — what the check above would have caught.
      const iface = JSON.parse((await lab.readFile('client', '/etc/egress/client.json'))!).egresses[0].interface as string;
      await lab.exec('client', ['ip', 'link', 'set', 'dev', iface, 'mtu', '1420'], { check: true });
      const cap2 = await lab.capture('client', 'eth0', FRAGMENTS);
      expect((await lab.exec('client', [...RUN_AS(), process.execPath, '-e', send], { timeoutMs: 30_000 })).exitCode).toBe(0);
      await waitUntil('the second datagram at the sink', 10_000, () => sink.output().split('got 1400').length > 2);
      expect((await cap2.stop()).length).toBeGreaterThan(0);
    } finally {
      bulkServer.kill();
      sink.kill();
      await Promise.all([bulkServer.exited, sink.exited]);
    }
  });
});
