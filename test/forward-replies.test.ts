// Port forwards answer through the tunnel whatever the service bound (0.0.0.0, ::, the tunnel address), TCP and UDP,
// IPv4 and IPv6, owned by root or another allowed user, including a forward added after enrollment; tcpdump on the client's
// uplinks sees none of it, and every service sees the real remote address.
import { startLab, type Lab } from '@egress/lab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, enroll, provision } from './client-helpers.js';
import { askFromInternet, serveOnClient } from './forward-helpers.js';

let lab: Lab;
const TUNNEL4 = '10.77.0.2';

interface Service { proto: 'udp' | 'tcp'; host: string; port: number; user?: string }

const services: Service[] = [
  { proto: 'udp', host: '0.0.0.0', port: 9101 },
  { proto: 'udp', host: '::', port: 9102, user: 'otheruser' },
  { proto: 'udp', host: TUNNEL4, port: 9103, user: 'otheruser' },
  { proto: 'tcp', host: '0.0.0.0', port: 9101, user: 'otheruser' },
  { proto: 'tcp', host: '::', port: 9102 },
  { proto: 'tcp', host: TUNNEL4, port: 9103 },
];
const LATER: Service = { proto: 'udp', host: '0.0.0.0', port: 9104, user: 'otheruser' };

const tag = (s: Service) => `${s.proto}-${s.host}-${s.user ?? 'root'}`;

const serve = (s: Service) => serveOnClient(lab, { ...s, tag: tag(s) });
const ask = (proto: string, addr: string, port: number) => askFromInternet(lab, proto, addr, port);

beforeAll(async () => {
  lab = await startLab({ name: 'forward-replies' });
  await provision(lab, ['--forward', '9101-9103/udp', '--forward', '9101-9103/tcp']);
  await enroll(lab);
  // Serving a forwarded port is using the egress: otheruser needs the owner's allow (issue 18's policy).
  const allow = await client(lab, ['allow', '--user', 'otheruser']);
  expect(allow.exitCode, allow.stderr).toBe(0);
}, 240_000);

afterAll(async () => {
  await lab?.down();
});

describe('replies of forwarded services (lab)', () => {
  it('answers TCP and UDP services bound to 0.0.0.0, :: and the tunnel address, v4 and v6, root or not; none of it on the uplinks', async () => {
    const filter = 'port 9101 or port 9102 or port 9103 or port 9104';
    const caps = [await lab.capture('client', 'eth0', filter), await lab.capture('client', 'wlan0', filter)];
    const procs = [];
    try {
      for (const s of services) procs.push(await serve(s));
      for (const s of services) {
        expect(await ask(s.proto, lab.addr.vpsV4, s.port), `${tag(s)} over IPv4`).toBe(`${tag(s)} ${lab.addr.vpsGwV4}`);
        if (s.host === '::') expect(await ask(s.proto, lab.addr.vpsV6, s.port), `${tag(s)} over IPv6`).toBe(`${tag(s)} ${lab.addr.vpsGwV6}`);
      }
    } finally {
      for (const p of procs) p.kill('SIGTERM');
      const seen = (await Promise.all(caps.map((c) => c.stop()))).flat();
      expect(seen).toEqual([]);
    }
  });

  it('answers a forward added after enrollment, with nothing to run on the client', async () => {
    const add = await lab.exec('client', [...lab.egressServerArgv, 'forward', 'add', lab.ssh.target, '-i', lab.ssh.identity, `${LATER.port}/udp`], { timeoutMs: 120_000 });
    expect(add.exitCode, add.stderr).toBe(0);
    const caps = [await lab.capture('client', 'eth0', `port ${LATER.port}`), await lab.capture('client', 'wlan0', `port ${LATER.port}`)];
    const p = await serve(LATER);
    try {
      expect(await ask('udp', lab.addr.vpsV4, LATER.port)).toBe(`${tag(LATER)} ${lab.addr.vpsGwV4}`);
    } finally {
      p.kill('SIGTERM');
      expect((await Promise.all(caps.map((c) => c.stop()))).flat()).toEqual([]);
    }
    const doctor = await client(lab, ['doctor', '--json']);
    expect(JSON.parse(doctor.stdout).egresses[0].checks.find((c: { name: string }) => c.name === 'nft table')).toMatchObject({ ok: true });
  });

  it('kill switch: a reply sent after the tunnel went down never leaves by another interface', async () => {
    const caps = [await lab.capture('client', 'eth0', 'port 9103'), await lab.capture('client', 'wlan0', 'port 9103')];
    const p = await serveOnClient(lab, { proto: 'udp', host: '0.0.0.0', port: 9103, tag: 'late', replyDelayMs: 3000 });
    try {
      const asked = askFromInternet(lab, 'udp', lab.addr.vpsV4, 9103, 1);
      for (let i = 0; i < 400 && !p.output().includes('got'); i++) await new Promise((r) => setTimeout(r, 25));
      expect(p.output()).toContain('got');
      const down = await client(lab, ['down']);
      expect(down.exitCode, down.stderr).toBe(0);
      for (let i = 0; i < 400 && !p.output().includes('sent'); i++) await new Promise((r) => setTimeout(r, 25));
      expect(p.output()).toMatch(/sent (EACCES|ENETUNREACH|EPERM)/); // refused by the prohibit route or the nft drop
      expect(await asked).toBe('');
    } finally {
      p.kill('SIGTERM');
      expect((await Promise.all(caps.map((c) => c.stop()))).flat()).toEqual([]);
      expect((await client(lab, ['up'])).exitCode).toBe(0);
    }
  });
});
