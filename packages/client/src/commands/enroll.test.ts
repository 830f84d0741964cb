// enroll / down / up / uninstall against core's FakeHost: the real renderer and engine, an in-memory machine.
import { beforeEach, describe, expect, it } from 'vitest';
import { generateKeyPair } from '@egress/core/keys';
import { FakeHost, dumpMachine } from '@egress/core/testing';
import { runCli } from '../cli.js';
import { runOn, sink, testBundle } from '../testing/fake-cli.js';

const server = generateKeyPair();
const me = generateKeyPair();
const bundle = testBundle(server, me);

let host: FakeHost;
const cli = (argv: string[]) => runOn(host, argv);

beforeEach(async () => {
  host = new FakeHost();
  host.machine.dirs.add('/etc/systemd').add('/etc/systemd/system'); // as on any systemd host
  host.on('sh', () => ({ exitCode: 0, stdout: '', stderr: '' })); // preflight: every tool and WireGuard present
  // `getent group` falls through to the fake's group database (enroll creates group egress, uninstall removes it).
  host.on('getent', (argv) => (argv[1] === 'group' ? undefined : argv.at(-1) === 'appuser' ? { exitCode: 0, stdout: 'appuser:x:1001:1001::/home/appuser:/bin/bash\n', stderr: '' } : { exitCode: 2, stdout: '', stderr: '' }));
  await host.writeFile('/root/b.json', JSON.stringify(bundle), { mode: 0o600 });
});

describe('enroll on a fake host', () => {
  it('applies the rendered client state, saves it 0600 and enables the boot unit; the key never shows', async () => {
    const r = await cli(['enroll', '/root/b.json', '--user', 'appuser']);
    expect(r.stderr).not.toContain(me.privateKey);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('enrolled egress laptop');
    const m = host.machine;
    expect(m.files.get('/etc/egress/laptop.key')).toMatchObject({ content: `${me.privateKey}\n`, mode: 0o600 });
    expect(m.files.get('/etc/egress/client.json')?.mode).toBe(0o600);
    expect(m.files.get('/etc/egress/public/laptop.json')?.mode).toBe(0o644);
    const conf = m.files.get('/etc/wireguard/egress0.conf')!;
    expect(conf.content).toContain('Table = off\n');
    expect(conf.content).toContain('PostUp = wg set %i private-key /etc/egress/laptop.key\n');
    expect(conf.content).not.toContain(me.privateKey);
    expect(m.links.has('egress0')).toBe(true);
    expect([...m.nft.keys()]).toEqual(['inet egress']);
    expect(m.rules.filter((x) => x.priority >= 7100 && x.priority <= 7109)).toHaveLength(8);
    expect(m.sysctls.get('net.ipv4.conf.all.src_valid_mark')).toBe('1');
    expect(m.units.get('egress-client.service')).toMatchObject({ enabled: true });
    // the early unit that arms the kill switch before any network (see core/render/client.ts renderClientFenceUnit)
    expect(m.units.get('egress-client-fence.service')).toMatchObject({ enabled: true });
    expect(m.files.get('/etc/systemd/system/egress-client-fence.service')!.content).toMatch(/^Before=network-pre.target egress-client.service$/m);
    expect(m.files.get('/etc/systemd/system/egress-client.service')!.content).toMatch(/^ExecStart=\/\S+\/node \/\S+\/bin\.js daemon$/m);
  });

  it('changes nothing and says so when run again with the same bundle', async () => {
    await cli(['enroll', '/root/b.json', '--user', 'appuser']);
    const snap = dumpMachine(host.machine);
    const r = await cli(['enroll', '/root/b.json', '--user', 'appuser', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ changed: false, steps: [], egress: { name: 'laptop', table: 7100, mark: '0x01000000' } });
    expect(dumpMachine(host.machine)).toBe(snap);
  });

  it('down keeps the kill switch (rules and table) but takes the tunnel and routes away; up brings them back', async () => {
    await cli(['enroll', '/root/b.json', '--user', 'appuser']);
    const up = dumpMachine(host.machine);
    expect((await cli(['down'])).code).toBe(0);
    expect(host.machine.links.has('egress0')).toBe(false);
    expect(host.machine.routes.filter((r) => r.table === 7100)).toEqual([]);
    expect(host.machine.rules.filter((x) => x.priority === 7108 && x.action === 'prohibit')).toHaveLength(1);
    expect([...host.machine.nft.keys()]).toEqual(['inet egress']);
    expect((await cli(['up', 'laptop'])).code).toBe(0);
    expect(dumpMachine(host.machine).replace(/\n.*client-journal[\s\S]*?(?=\nfile |\nnft )/, '')).toBe(up.replace(/\n.*client-journal[\s\S]*?(?=\nfile |\nnft )/, ''));
  });

  it('uninstall leaves the machine exactly as before enroll', async () => {
    const before = dumpMachine(host.machine);
    await cli(['enroll', '/root/b.json', '--user', 'appuser']);
    const r = await cli(['uninstall']);
    expect(r.code, r.stderr).toBe(0);
    expect(dumpMachine(host.machine)).toBe(before);
  });

  it('refuses a tampered bundle, an unknown user and a second binding, changing nothing', async () => {
    const before = dumpMachine(host.machine);
    await host.writeFile('/root/t.json', JSON.stringify({ ...bundle, client: { ...bundle.client, publicKey: server.publicKey } }), { mode: 0o600 });
    const snap = dumpMachine(host.machine);
    const t = await cli(['enroll', '/root/t.json', '--user', 'appuser']);
    expect(t.code).toBe(2);
    expect(t.stderr).toContain('bundle.client.privateKey: does not belong to bundle.client.publicKey');
    expect(t.stderr).not.toContain(me.privateKey);
    const u = await cli(['enroll', '/root/b.json', '--user', 'ghost']);
    expect(u.code).toBe(1);
    expect(u.stderr).toContain("--user: user 'ghost' does not exist");
    expect(u.stderr).toContain('hint: add --create-user');
    expect(dumpMachine(host.machine)).toBe(snap);
    expect(before).not.toBe(snap);

    await cli(['enroll', '/root/b.json', '--user', 'appuser']);
    const enrolled = dumpMachine(host.machine);
    const twice = await cli(['enroll', '/root/b.json', '--user', 'appuser', '--name', 'other']);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toContain("--user: 'appuser' is already bound to egress 'laptop'");
    expect(dumpMachine(host.machine)).toBe(enrolled);
  });

  it('runs several egresses side by side, each with its own interface, mark, table and priorities; uninstall of one keeps the other', async () => {
    const server2 = generateKeyPair();
    const me2 = generateKeyPair();
    const second = { ...bundle, name: 'desk', server: { ...bundle.server, endpoint: '203.0.113.7:51820', publicKey: server2.publicKey, address4: '10.88.0.1' }, client: { address4: '10.88.0.2', publicKey: me2.publicKey, privateKey: me2.privateKey }, tunnel: { ...bundle.tunnel, subnet4: '10.88.0.0/24' } };
    await host.writeFile('/root/b2.json', JSON.stringify(second), { mode: 0o600 });
    host.on('getent', (argv) => {
      const users: Record<string, string> = { appuser: 'appuser:x:1001:1001::/home/appuser:/bin/bash', worker: 'worker:x:1002:1002::/home/worker:/bin/bash' };
      const line = users[argv.at(-1)!];
      return line ? { exitCode: 0, stdout: `${line}\n`, stderr: '' } : { exitCode: 2, stdout: '', stderr: '' };
    });
    expect((await cli(['enroll', '/root/b.json', '--user', 'appuser'])).code).toBe(0);
    const onlyFirst = dumpMachine(host.machine);
    const r = await cli(['enroll', '/root/b2.json', '--user', 'worker', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).egress).toMatchObject({ name: 'desk', interface: 'egress1', mark: '0x02000000', markMask: '0x02000000', table: 7101, priorities: [7110, 7119], users: [{ name: 'worker', uid: 1002 }] });
    expect([...host.machine.links.keys()].filter((l) => l.startsWith('egress'))).toEqual(['egress0', 'egress1']);
    const nft = [...host.machine.nft.values()][0]!.body;
    expect(nft).toContain('meta skuid 1001 meta mark set meta mark | 0x01000000 comment "laptop: user appuser"');
    expect(nft).toContain('meta skuid 1002 meta mark set meta mark | 0x02000000 comment "desk: user worker"');
    const st = JSON.parse((await cli(['status', '--json'])).stdout);
    expect(st.egresses.map((e: { name: string; table: number }) => [e.name, e.table])).toEqual([['laptop', 7100], ['desk', 7101]]);

    expect((await cli(['uninstall', 'desk'])).code).toBe(0);
    expect(dumpMachine(host.machine).replace(/file \/etc\/egress\/client-journal\.json[\s\S]*?(?=\nfile )/, '')).toBe(onlyFirst.replace(/file \/etc\/egress\/client-journal\.json[\s\S]*?(?=\nfile )/, ''));
  });

  it('--create-user creates a system user without a login shell, then binds it', async () => {
    const made: string[] = [];
    host.on('useradd', (argv) => {
      made.push(argv.join(' '));
      return { exitCode: 0, stdout: '', stderr: '' };
    });
    host.on('getent', (argv) => (made.length && argv.at(-1) === 'svc' ? { exitCode: 0, stdout: 'svc:x:998:998::/home/svc:/usr/sbin/nologin\n', stderr: '' } : { exitCode: 2, stdout: '', stderr: '' }));
    const r = await cli(['enroll', '/root/b.json', '--user', 'svc', '--create-user', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(made).toEqual(['useradd --system --user-group --create-home --shell /usr/sbin/nologin --comment egress app user -- svc']);
    expect(JSON.parse(r.stdout).egress.users).toEqual([{ name: 'svc', uid: 998 }]);
  });

  it('--dry-run prints the plan and changes nothing', async () => {
    const snap = dumpMachine(host.machine);
    const r = await cli(['enroll', '/root/b.json', '--user', 'appuser', '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('dry run: nothing was changed');
    expect(r.stdout).toContain('mark 0x01000000/0x01000000, table 7100, rule priorities 7100-7109');
    expect(r.stdout).toMatch(/would: bring up egress0/);
    expect(dumpMachine(host.machine)).toBe(snap);
  });

  it('names the package to install when a tool or WireGuard support is missing, before any change', async () => {
    const snap = dumpMachine(host.machine);
    host.on('sh', (argv) => ({ exitCode: argv.at(-1) === 'nft' ? 1 : 0, stdout: '', stderr: '' }));
    const r = await cli(['enroll', '/root/b.json', '--user', 'appuser']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error: enroll needs nft, which is not installed\nhint: apt-get install -y --no-install-recommends nftables');
    host.on('sh', (argv) => ({ exitCode: argv.at(-1) === 'wireguard-go' || String(argv[2]).includes('modprobe') ? 1 : 0, stdout: '', stderr: '' }));
    const w = await cli(['enroll', '/root/b.json', '--user', 'appuser']);
    expect(w.stderr).toContain('error: this kernel has no WireGuard module and wireguard-go is not installed\nhint: apt-get install -y --no-install-recommends wireguard-go');
    expect(dumpMachine(host.machine)).toBe(snap);
  });

  it('refuses when not root before reading anything', async () => {
    const stdout = sink();
    const stderr = sink();
    const status = await runCli(['enroll', '/root/b.json', '--user', 'appuser'], { host, isRoot: false, stdout, stderr });
    expect(status.code).toBe(1);
    expect(stderr.text).toContain('error: enroll must run as root');
    expect(host.calls).toHaveLength(1); // the bundle written in beforeEach
  });
});
