// Name lookups of launched apps go through the egress even when nscd would answer them: with nscd installed and
// running in the lab client, getaddrinfo (getent, node's dns.lookup) of apps under run-as, run and run --isolate
// reaches the lab DNS only from the VPS's address; appuser's own processes (no launcher) go through nscd and leave
// directly, which enroll and doctor report; with nscd's hosts cache off, doctor passes and they go through the egress.
// The same with systemd-resolved + libnss-resolve (Debian's packages of this machine's systemd version), run by hand
// in the lab client (no systemd there; it serves 127.0.0.53 and its varlink socket without it).
import { installDebs, installedVersion, startLab, type Lab } from '@egress/lab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, enroll, provision } from './client-helpers.js';

let lab: Lab;
let seq = 0;

/** A fresh name (NXDOMAIN, still logged by the lab DNS) so no cache answers it. */
const fresh = (tag: string) => `${tag}-${++seq}.egress.test`;

/** Who asked the lab DNS for `name` (every address that did). */
async function askers(name: string): Promise<string[]> {
  return [...new Set((await lab.dnsQueries()).filter((q) => q.name === name).map((q) => q.from))];
}

async function startNscd(): Promise<void> {
  const r = await lab.exec('client', ['sh', '-c', 'if [ -f /run/nscd/nscd.pid ]; then kill "$(cat /run/nscd/nscd.pid)"; while [ -S /run/nscd/socket ] && kill -0 "$(cat /run/nscd/nscd.pid)" 2>/dev/null; do sleep 0.05; done; rm -f /run/nscd/socket; fi; /usr/sbin/nscd && i=0; while [ ! -S /run/nscd/socket ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; test -S /run/nscd/socket']);
  expect(r.exitCode, r.stderr).toBe(0);
}

const doctor = async () => {
  const r = await client(lab, ['doctor', '--json']);
  const checks = JSON.parse(r.stdout).egresses[0].checks as Array<{ name: string; ok: boolean; detail: string; fix?: string }>;
  return { exitCode: r.exitCode, checks, failed: checks.filter((c) => !c.ok) };
};

beforeAll(async () => {
  lab = await startLab({ name: 'dns-daemons' });
  await provision(lab);
  await installDebs(lab, 'client', ['nscd']);
  await startNscd();
}, 300_000);

afterAll(async () => {
  await lab?.down();
});

describe('name lookups with nscd running (lab)', () => {
  it("enroll names nscd and what to do; appuser's own lookups go through nscd and leave directly; doctor fails", async () => {
    const r = await enroll(lab);
    expect(r.stderr).toMatch(/name lookups of appuser's own processes would leave directly: nscd answers host lookups \(\/run\/nscd\/socket\)/);
    expect(r.stderr).toMatch(/enable-cache hosts no/);
    const name = fresh('own');
    await lab.exec('client', ['getent', 'ahosts', name], { user: 'appuser' });
    expect(await askers(name)).toEqual([lab.addr.clientV4]);
    const d = await doctor();
    expect(d.exitCode).toBe(1);
    expect(d.failed.map((c) => c.name)).toEqual(['name lookups (appuser)']);
    expect(d.failed[0]!.fix).toMatch(/enable-cache hosts no/);
    expect(d.checks.find((c) => c.name === "launched apps' lookups (appuser)")).toMatchObject({ ok: true, detail: expect.stringContaining('/run/nscd/socket hidden') });
  });

  it('run-as, run and run --isolate resolve through the egress (getent, node dns.lookup): only the VPS asks', async () => {
    const cli = lab.egressClientArgv;
    const launchers: Array<[string, string[]]> = [
      ['runas', [...cli, 'run-as', 'appuser', '--']],
      ['run', [...cli, 'run', '--user', 'appuser', '--']],
      ['isolate', [...cli, 'run', '--isolate', '--user', 'appuser', '--']],
    ];
    for (const [tag, prefix] of launchers) {
      const viaGetent = fresh(`${tag}-getent`);
      const g = await lab.exec('client', [...prefix, 'getent', 'ahosts', viaGetent]);
      expect(g.exitCode, `${tag}: ${g.stderr}`).toBe(2); // NXDOMAIN: the lookup ran and got its answer
      expect(await askers(viaGetent), tag).toEqual([lab.addr.vpsV4]);
      const viaNode = fresh(`${tag}-node`);
      const n = await lab.exec('client', [...prefix, process.execPath, '-e', `require('dns').lookup('${viaNode}', (e) => console.log(e ? e.code : 'found'))`]);
      expect(n.stdout.trim(), `${tag}: ${n.stderr}`).toBe('ENOTFOUND');
      expect(await askers(viaNode), tag).toEqual([lab.addr.vpsV4]);
      const known = await lab.exec('client', [...prefix, 'getent', 'ahostsv4', 'whoami.egress.test']);
      expect(known.stdout, tag).toContain(lab.addr.whoamiV4);
    }
  });

  it("with nscd's hosts cache off, doctor passes and appuser's own lookups go through the egress", async () => {
    const off = await lab.exec('client', ['sed', '-i', 's/^\\(\\s*enable-cache\\s\\+hosts\\s\\+\\)yes/\\1no/', '/etc/nscd.conf']);
    expect(off.exitCode, off.stderr).toBe(0);
    await startNscd();
    const d = await doctor();
    expect(d.failed).toEqual([]);
    expect(d.exitCode).toBe(0);
    const name = fresh('own-after');
    await lab.exec('client', ['getent', 'ahosts', name], { user: 'appuser' });
    expect(await askers(name)).toEqual([lab.addr.vpsV4]);
    const viaRunAs = fresh('runas-after');
    await lab.exec('client', [...lab.egressClientArgv, 'run-as', 'appuser', '--', 'getent', 'ahosts', viaRunAs]);
    expect(await askers(viaRunAs)).toEqual([lab.addr.vpsV4]);
  });
});

describe('name lookups with systemd-resolved and libnss-resolve (lab)', () => {
  it('serves 127.0.0.53 and varlink in the lab client once nscd is stopped', async () => {
    const stop = await lab.exec('client', ['sh', '-c', 'kill "$(cat /run/nscd/nscd.pid)" && while kill -0 "$(cat /run/nscd/nscd.pid)" 2>/dev/null; do sleep 0.05; done; rm -f /run/nscd/socket']);
    expect(stop.exitCode, stop.stderr).toBe(0);
    const version = installedVersion('systemd');
    if (!version) throw new Error('systemd is not installed on this machine: cannot pick the matching systemd-resolved package');
    await installDebs(lab, 'client', [`systemd-resolved=${version}`, `libnss-resolve=${version}`]);
    const conf = '[Resolve]\nDNS=203.0.113.53\nLLMNR=no\nMulticastDNS=no\n';
    // Readable by resolved's own user (lab.writeFile would make the directory 0700).
    const write = await lab.exec('client', ['sh', '-c', 'mkdir -m 0755 -p /etc/systemd/resolved.conf.d && cat > /etc/systemd/resolved.conf.d/lab.conf'], { stdin: conf });
    expect(write.exitCode, write.stderr).toBe(0);
    // resolved creates /run/systemd/resolve itself (owned by its user); the lab's /run is a fresh tmpfs.
    expect((await lab.exec('client', ['mkdir', '-p', '/run/systemd'])).exitCode).toBe(0);
    const start = lab.spawn('client', ['/lib/systemd/systemd-resolved']);
    let ready = false;
    for (let i = 0; i < 200 && !ready; i++) {
      ready = (await lab.exec('client', ['sh', '-c', 'test -S /run/systemd/resolve/io.systemd.Resolve && ss -lun | grep -q 127.0.0.53'])).exitCode === 0;
      if (!ready) await new Promise((r) => setTimeout(r, 50));
    }
    expect(ready, start.output()).toBe(true);
    expect((await lab.exec('client', ['grep', '^hosts:', '/etc/nsswitch.conf'])).stdout).toMatch(/\bresolve\b/);
    // resolved probes the upstream's features (EDNS0, DNSSEC) on its first queries: wait until the stub answers.
    let answer = '';
    for (let i = 0; i < 40 && answer !== lab.addr.whoamiV4; i++) {
      answer = (await lab.exec('client', ['dig', '+short', '+time=1', '+tries=1', '@127.0.0.53', 'whoami.egress.test'])).stdout.trim();
      if (answer !== lab.addr.whoamiV4) await new Promise((r) => setTimeout(r, 250));
    }
    expect(answer, start.output()).toBe(lab.addr.whoamiV4);
  });

  it("appuser's own lookups go through resolved and leave directly; doctor fails naming it; launched apps' go through the egress", async () => {
    const own = fresh('resolved-own');
    await lab.exec('client', ['getent', 'ahosts', own], { user: 'appuser' });
    expect(await askers(own)).toEqual([lab.addr.clientV4]);
    const d = await doctor();
    expect(d.exitCode).toBe(1);
    expect(d.failed.map((c) => c.name)).toEqual(['name lookups (appuser)']);
    expect(d.failed[0]!.detail).toMatch(/systemd-resolved answers host lookups through NSS/);
    const cli = lab.egressClientArgv;
    for (const [tag, prefix] of [['runas', [...cli, 'run-as', 'appuser', '--']], ['run', [...cli, 'run', '--user', 'appuser', '--']], ['isolate', [...cli, 'run', '--isolate', '--user', 'appuser', '--']]] as const) {
      const name = fresh(`resolved-${tag}`);
      const g = await lab.exec('client', [...prefix, 'getent', 'ahosts', name]);
      expect(g.exitCode, `${tag}: ${g.stderr}`).toBe(2);
      expect(await askers(name), tag).toEqual([lab.addr.vpsV4]);
    }
  });

  it("without 'resolve' in the hosts line, doctor passes and appuser's own lookups (to the 127.0.0.53 stub) go through the egress", async () => {
    const r = await lab.exec('client', ['sed', '-i', 's/^hosts:.*/hosts: files dns/', '/etc/nsswitch.conf']);
    expect(r.exitCode, r.stderr).toBe(0);
    const d = await doctor();
    expect(d.failed.map((c) => `${c.name}: ${c.detail}`)).toEqual([]);
    const own = fresh('resolved-own-after');
    await lab.exec('client', ['getent', 'ahosts', own], { user: 'appuser' });
    expect(await askers(own)).toEqual([lab.addr.vpsV4]);
  });
});
