// Forwards to a host on the client's LAN: the VPS sends them through the tunnel, the client passes them on, the LAN
// host sees the real remote address and its replies leave by the tunnel (0 packets on the client's uplinks). A LAN
// forward added later is taken by the client with `egress-client forward add` (the command egress-server prints);
// targets that would loop are refused on both sides.
import { startLab, type Lab } from '@egress/lab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, enroll, provision } from './client-helpers.js';
import { askFromInternet, serveOnClient } from './forward-helpers.js';

let lab: Lab;
// A LAN behind the client, from a documentation range no other lab link uses (203.0.113.192/26).
const LAN_GW = '203.0.113.193';
const LAN_HOST = '203.0.113.200';

const ask = (proto: string, port: number) => askFromInternet(lab, proto, lab.addr.vpsV4, port);
const serveOnLan = (proto: string, port: number) => serveOnClient(lab, { proto, host: '0.0.0.0', port, tag: `lan-${proto}`, prefix: ['nsenter', '--net=/run/netns/lan'] });

const server = (args: string[]) => lab.exec('client', [...lab.egressServerArgv, ...args.slice(0, 2), lab.ssh.target, '-i', lab.ssh.identity, ...args.slice(2)], { timeoutMs: 120_000 });

beforeAll(async () => {
  lab = await startLab({ name: 'forward-lan' });
  // The LAN: a namespace made inside the client's own mount namespace (gone with the lab), the client its gateway.
  const script = [
    'set -e',
    'ip netns add lan',
    'ip link add lan0 type veth peer name eth0 netns lan',
    `ip addr add ${LAN_GW}/26 dev lan0`,
    'ip link set lan0 up',
    `ip -n lan addr add ${LAN_HOST}/26 dev eth0`,
    'ip -n lan link set eth0 up',
    'ip -n lan link set lo up',
    `ip -n lan route add default via ${LAN_GW}`,
  ].join('\n');
  const r = await lab.exec('client', ['sh', '-c', script]);
  expect(r.exitCode, r.stderr).toBe(0);
  await provision(lab, ['--forward', `9443/tcp:${LAN_HOST}:9443`, '--forward', '8080/tcp']);
  await enroll(lab);
}, 240_000);

afterAll(async () => {
  await lab?.down();
});

describe('forwards to a host on the client\'s LAN (lab)', () => {
  it('learns the LAN forward from the bundle; the LAN host answers, seeing the real remote address; nothing on the uplinks', async () => {
    const list = await client(lab, ['forward', 'list']);
    expect(list.stdout).toContain(`9443/tcp:${LAN_HOST}:9443 (via lan0)`);
    const caps = [await lab.capture('client', 'eth0', 'port 9443 or port 9444'), await lab.capture('client', 'wlan0', 'port 9443 or port 9444')];
    const svc = await serveOnLan('tcp', 9443);
    try {
      expect(await ask('tcp', 9443)).toBe(`lan-tcp ${lab.addr.vpsGwV4}`);
    } finally {
      svc.kill('SIGTERM');
      expect((await Promise.all(caps.map((c) => c.stop()))).flat()).toEqual([]);
    }
  });

  it('takes a LAN forward added later with the client command egress-server prints', async () => {
    const add = await server(['forward', 'add', `9444/udp:${LAN_HOST}:9444`]);
    expect(add.exitCode, add.stderr).toBe(0);
    expect(add.stdout).toContain(`sudo egress-client forward add 9444/udp:${LAN_HOST}:9444`);
    const svc = await serveOnLan('udp', 9444);
    const caps = [await lab.capture('client', 'eth0', 'port 9444'), await lab.capture('client', 'wlan0', 'port 9444')];
    try {
      const fwd = await client(lab, ['forward', 'add', `9444/udp:${LAN_HOST}:9444`]);
      expect(fwd.exitCode, fwd.stderr).toBe(0);
      expect(await ask('udp', 9444)).toBe(`lan-udp ${lab.addr.vpsGwV4}`);
      expect((await client(lab, ['forward', 'add', `9444/udp:${LAN_HOST}:9444`])).stdout).toContain('nothing changed');
      const listed = JSON.parse((await client(lab, ['forward', 'list', '--json'])).stdout);
      expect(listed.forwards.map((f: { targetHost?: string; targetPort: number; via?: string }) => `${f.targetHost ?? ''}:${f.targetPort}:${f.via ?? ''}`).sort()).toEqual([`${LAN_HOST}:9443:lan0`, `${LAN_HOST}:9444:lan0`, ':8080:']);
      const removed = await client(lab, ['forward', 'remove', `9444/udp:${LAN_HOST}:9444`]);
      expect(removed.exitCode, removed.stderr).toBe(0);
      expect(await askFromInternet(lab, 'udp', lab.addr.vpsV4, 9444, 3)).toBe('');
      expect((await client(lab, ['forward', 'add', `9444/udp:${LAN_HOST}:9444`])).exitCode).toBe(0);
      expect(await ask('udp', 9444)).toBe(`lan-udp ${lab.addr.vpsGwV4}`);
    } finally {
      svc.kill('SIGTERM');
      expect((await Promise.all(caps.map((c) => c.stop()))).flat()).toEqual([]);
    }
    const doctor = await client(lab, ['doctor', '--json']);
    const checks = JSON.parse(doctor.stdout).egresses[0].checks as Array<{ name: string; ok: boolean; detail: string }>;
    expect(checks.filter((c) => !c.ok)).toEqual([]);
    expect(checks.find((c) => c.name === 'LAN forwards')).toMatchObject({ ok: true, detail: `9443/tcp:${LAN_HOST}:9443 via lan0, 9444/udp:${LAN_HOST}:9444 via lan0` });
  });

  it('refuses targets that would loop, on the VPS side and on the client, changing nothing', async () => {
    const refusals: Array<[string, RegExp]> = [
      ['9445/tcp:10.77.0.2:80', /10\.77\.0\.2 is inside the tunnel subnet 10\.77\.0\.0\/24, so the forward would loop/],
      [`9445/tcp:${lab.addr.vpsV4}:80`, /198\.51\.100\.2 is an address of the VPS itself/],
      ['9445/tcp:127.0.0.1:80', /'127\.0\.0\.1' is a loopback address/],
    ];
    for (const [spec, message] of refusals) {
      const r = await server(['forward', 'add', spec]);
      expect(r.exitCode, spec).not.toBe(0);
      expect(r.stderr, spec).toMatch(message);
    }
    const state = await lab.readFile('client', '/etc/egress/client.json');
    const clientRefusals: Array<[string, RegExp]> = [
      [`9445/tcp:${lab.addr.clientV4}:80`, /192\.0\.2\.2 is an address of this client itself/],
      [`9445/tcp:${lab.addr.whoamiV4}:80`, /203\.0\.113\.10 is not on a LAN of this client \(routed via 192\.0\.2\.1 on eth0\)/],
      ['9445/tcp:10.77.0.9:80', /inside the tunnel subnet 10\.77\.0\.0\/24/],
    ];
    for (const [spec, message] of clientRefusals) {
      const r = await client(lab, ['forward', 'add', spec]);
      expect(r.exitCode, spec).not.toBe(0);
      expect(r.stderr, spec).toMatch(message);
      expect(r.stderr).not.toMatch(/^\[#\]/m);
    }
    expect(await lab.readFile('client', '/etc/egress/client.json')).toBe(state);
  });
});
