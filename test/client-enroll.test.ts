// egress-client end to end in the lab: real egress-server provision over SSH, then enroll, routing, DNS, forwards,
// status/doctor, idempotence, bad input, uninstall back to the exact state before enroll.
import { startLab, type Lab } from '@egress/lab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLE, client, clientSnapshot, enroll, provision } from './client-helpers.js';

let lab: Lab;
let before: Record<string, string>;

beforeAll(async () => {
  lab = await startLab({ name: 'client-enroll' });
  before = await clientSnapshot(lab);
  await provision(lab);
}, 240_000);

afterAll(async () => {
  await lab?.down();
});

const runAs = (user: string) => [...lab.egressClientArgv, 'run-as', user, '--'];

describe('egress-client enroll (lab)', () => {
  it('refuses bad input with a clear message and changes nothing', async () => {
    const good = JSON.parse((await lab.readFile('client', BUNDLE))!);
    await lab.writeFile('client', '/root/malformed.json', '{"version": 1, "kind": ', '0600');
    await lab.writeFile('client', '/root/v2.json', JSON.stringify({ ...good, version: 2 }), '0600');
    const otherKey = 'zrWgoz+XWrmY13w7SqNsDGYYWM83XZOaM9I/WgRY8xo=';
    await lab.writeFile('client', '/root/tampered.json', JSON.stringify({ ...good, client: { ...good.client, publicKey: otherKey } }), '0600');

    const cases: Array<{ args: string[]; user?: string; code: number; message: RegExp }> = [
      { args: ['enroll', '/root/missing.json', '--user', 'appuser'], code: 1, message: /bundle: no such file '\/root\/missing\.json'/ },
      { args: ['enroll', '/root/malformed.json', '--user', 'appuser'], code: 2, message: /bundle: expected a JSON document/ },
      { args: ['enroll', '/root/v2.json', '--user', 'appuser'], code: 2, message: /bundle\.version: expected version 1 .*got 2/ },
      { args: ['enroll', '/root/tampered.json', '--user', 'appuser'], code: 2, message: /bundle\.client\.privateKey: does not belong to bundle\.client\.publicKey/ },
      { args: ['enroll', BUNDLE, '--user', 'nosuchuser'], code: 1, message: /--user: user 'nosuchuser' does not exist/ },
      { args: ['enroll', BUNDLE, '--user', 'bad name!'], code: 2, message: /--user: expected a user name/ },
      { args: ['enroll', BUNDLE, '--user', 'appuser', '--dns', '1.2.3'], code: 2, message: /--dns: expected an IPv4 or IPv6 address, got '1\.2\.3'/ },
      { args: ['enroll', BUNDLE, '--user', 'appuser'], user: 'otheruser', code: 1, message: /enroll must run as root/ },
    ];
    for (const c of cases) {
      const r = await client(lab, c.args, c.user ? { user: c.user } : {});
      expect(r.stderr, c.args.join(' ')).toMatch(c.message);
      expect(r.exitCode, c.args.join(' ')).toBe(c.code);
      expect(r.stderr).not.toContain(good.client.privateKey);
      expect(r.stderr).not.toMatch(/^\[#\]/m);
    }
    expect(await clientSnapshot(lab)).toEqual(before);
  });

  it('routes appuser through the VPS (TCP, UDP, IPv6) while root and otheruser keep the client address', async () => {
    const r = await enroll(lab);
    expect(r.stdout).toContain('enrolled egress client');
    expect(r.stderr).toContain('[#] wg-quick up /etc/wireguard/egress0.conf');
    expect(r.stderr).not.toContain(JSON.parse((await lab.readFile('client', BUNDLE))!).client.privateKey);

    for (const udp of [false, true]) {
      expect(await lab.probe('client', { udp, prefix: runAs('appuser') })).toBe(lab.addr.vpsV4);
      expect(await lab.probe('client', { udp, v6: true, prefix: runAs('appuser') })).toBe(lab.addr.vpsV6);
      expect(await lab.probe('client', { udp })).toBe(lab.addr.clientV4);
      expect(await lab.probe('client', { udp, user: 'otheruser' })).toBe(lab.addr.clientV4);
      expect(await lab.probe('client', { udp, v6: true, user: 'otheruser' })).toBe(lab.addr.clientV6);
    }
  });

  it('lets the app see the tunnel address from getsockname()', async () => {
    const script = `const s=require('net').connect(${lab.addr.whoamiPort},'${lab.addr.whoamiV4}',()=>{console.log(s.address().address);s.destroy()})`;
    const r = await lab.exec('client', [...runAs('appuser'), process.execPath, '-e', script]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('10.77.0.2');
  });

  it("answers appuser's DNS through the tunnel (configured resolver and 127.0.0.53, UDP and TCP); root's DNS keeps its path", async () => {
    const ask = async (prefix: string[], extra: string[]) => {
      const r = await lab.exec('client', [...prefix, 'dig', '+short', '+time=3', '+tries=2', ...extra, 'TXT', 'asker.egress.test']);
      expect(r.exitCode, r.stderr).toBe(0);
      return r.stdout.trim().replace(/"/g, '');
    };
    expect(await ask(runAs('appuser'), [])).toBe(lab.addr.vpsV4);
    expect(await ask(runAs('appuser'), ['@127.0.0.53'])).toBe(lab.addr.vpsV4);
    expect(await ask(runAs('appuser'), ['+tcp', '@127.0.0.53'])).toBe(lab.addr.vpsV4);
    expect(await ask(runAs('appuser'), ['@203.0.113.53'])).toBe(lab.addr.vpsV4);
    expect(await ask([], [])).toBe(lab.addr.clientV4);
    const seen = await lab.dnsQueries();
    const from = seen.filter((q) => q.name.startsWith('asker.egress.test')).map((q) => q.from);
    expect(from.length).toBeGreaterThanOrEqual(5);
    expect(new Set(from.slice(0, -1))).toEqual(new Set([lab.addr.vpsV4]));
    expect(from.at(-1)).toBe(lab.addr.clientV4);
    expect(seen.filter((q) => q.name.startsWith('asker.egress.test') && q.proto === 'tcp').map((q) => q.from)).toContain(lab.addr.vpsV4);
  });

  it('answers a port-forwarded connection from the internet through the VPS, for root and a user the egress allows', async () => {
    // Serving a forwarded port is using the egress: otheruser needs the owner's allow (issue 18's policy).
    const allow = await client(lab, ['allow', '--user', 'otheruser']);
    expect(allow.exitCode, allow.stderr).toBe(0);
    for (const user of [undefined, 'otheruser']) {
      const server = lab.spawn('client', ['socat', 'TCP-LISTEN:8080,reuseaddr,fork', `SYSTEM:echo served-by-${user ?? 'root'}`], user ? { user } : {});
      try {
        let reply = '';
        for (let i = 0; i < 50 && !reply; i++) {
          const r = await lab.exec('internet', ['socat', '-T3', '-', `TCP:${lab.addr.vpsV4}:8080`], { timeoutMs: 10_000 });
          reply = r.stdout.trim();
          if (!reply) await new Promise((res) => setTimeout(res, 100));
        }
        expect(reply).toBe(`served-by-${user ?? 'root'}`);
      } finally {
        server.kill('SIGTERM');
        await server.exited;
      }
    }
  });

  it('shows status and passes doctor, both as one JSON document', async () => {
    const st = await client(lab, ['status', '--json']);
    expect(st.exitCode, st.stderr).toBe(0);
    const s = JSON.parse(st.stdout).egresses[0];
    expect(s).toMatchObject({ name: 'client', interface: 'egress0', up: true, mark: '0x01000000', markMask: '0x01000000', table: 7100, priorities: [7100, 7109], dns: ['203.0.113.53', '2001:db8:113::53'] });
    expect(s.users).toEqual([{ name: 'appuser', uid: expect.any(Number) }]);
    expect(s.killSwitch).toEqual({ armed: true, nft: true, fallbackRules: true });
    expect(s.latestHandshake).toBeGreaterThan(0);

    const doc = await client(lab, ['doctor', '--json']);
    const d = JSON.parse(doc.stdout);
    expect(d.egresses[0].checks.filter((c: { ok: boolean }) => !c.ok)).toEqual([]);
    expect(d.ok).toBe(true);
    expect(doc.exitCode).toBe(0);
    const names = d.egresses[0].checks.map((c: { name: string }) => c.name);
    expect(names).toEqual(expect.arrayContaining(['nft table', 'ip rules', 'kill switch', 'source address (appuser)', 'IPv6 (appuser)', 'DNS 127.0.0.53 (appuser)']));
  });

  it('says so and changes nothing when enroll runs again with the same bundle; refuses a user bound elsewhere', async () => {
    const snap = await clientSnapshot(lab);
    const again = await enroll(lab);
    expect(again.stdout).toContain('already enrolled for appuser with this bundle: nothing changed');
    expect(again.stderr).not.toMatch(/^\[#\]/m);
    expect(await clientSnapshot(lab)).toEqual(snap);

    const other = await client(lab, ['enroll', BUNDLE, '--user', 'appuser', '--name', 'second']);
    expect(other.exitCode).toBe(1);
    expect(other.stderr).toMatch(/--user: 'appuser' is already bound to egress 'client'/);
    const notBound = await client(lab, ['run-as', 'otheruser', '--', 'true']);
    expect(notBound.exitCode).toBe(1);
    expect(notBound.stderr).toMatch(/user 'otheruser' is not bound to an egress/);
    expect(notBound.stderr).toMatch(/hint: egress-client enroll BUNDLE --user otheruser/);
    expect(await clientSnapshot(lab)).toEqual(snap);
  });

  it('uninstall leaves the client exactly as before enroll; enroll again works and its repeat is a no-op', async () => {
    const un = await client(lab, ['uninstall']);
    expect(un.exitCode, un.stderr).toBe(0);
    expect(await clientSnapshot(lab)).toEqual(before);

    await enroll(lab);
    expect(await lab.probe('client', { prefix: runAs('appuser') })).toBe(lab.addr.vpsV4);
    expect((await enroll(lab)).stdout).toContain('nothing changed');
    expect((await client(lab, ['uninstall', 'client'])).exitCode).toBe(0);
    expect(await clientSnapshot(lab)).toEqual(before);
  });
});
