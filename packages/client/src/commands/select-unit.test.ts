// `select add --unit`: a drop-in has the unit's new cgroup selected before its first process runs (ExecStartPre=+
// `select sync`), loaded with one daemon-reload; `select sync` changes kernel state only; remove and uninstall take
// the drop-in (and the directory egress made) away again.
import { beforeEach, describe, expect, it } from 'vitest';
import { FakeHost } from '@egress/core/testing';
import { cgroupBpfLoaderPath } from '../cgroup-bpf.js';
import { runOn, testBundle } from '../testing/fake-cli.js';

let host: FakeHost;
const cli = (argv: string[]) => runOn(host, argv);
const DROPIN = '/etc/systemd/system/web.service.d/50-egress-select.conf';
const ran = (mark: number) => host.calls.slice(mark).map((c) => c.argv.join(' '));

beforeEach(async () => {
  host = new FakeHost();
  host.on('sh', () => ({ exitCode: 0, stdout: '', stderr: '' }));
  // The loader, modelled: what is attached where (query lists it, detach clears it).
  const attached = new Map<string, string[]>();
  host.on(cgroupBpfLoaderPath(), (argv) => {
    const [, cmd, dir] = argv as [string, string, string];
    if (cmd === 'query') return { exitCode: 0, stdout: (attached.get(dir) ?? []).map((p) => `${p}\n`).join(''), stderr: '' };
    if (cmd === 'detach') attached.delete(dir);
    if (cmd === 'attach-mark') attached.set(dir, [`sock_create egmark_${argv[3]!.slice(2)}`]);
    if (cmd === 'attach') attached.set(dir, ['sock_create', 'connect4 egdns_c4', 'connect6 egdns_c6', 'sendmsg4 egdns_s4', 'sendmsg6 egdns_s6'].map((p, i) => (i ? p : `${p} egmark_${argv[3]!.slice(2)}`)));
    return { exitCode: 0, stdout: '', stderr: '' };
  });
  const appuser = 'appuser:x:1001:1001::/home/appuser:/bin/bash';
  host.on('getent', (argv) => (argv[1] === 'passwd' && argv.at(-1) === 'appuser' ? { exitCode: 0, stdout: `${appuser}\n`, stderr: '' } : { exitCode: 2, stdout: '', stderr: '' }));
  await host.writeFile('/root/b.json', JSON.stringify(testBundle()), { mode: 0o600 });
  await host.writeFile('/etc/passwd', `${appuser}\n`, { mode: 0o644 });
  // cgroup v2 mounted, the unit running (its cgroup exists).
  await host.writeFile('/sys/fs/cgroup/cgroup.controllers', 'cpu memory\n', { mode: 0o444 });
  await host.writeFile('/sys/fs/cgroup/system.slice/web.service/cgroup.procs', '4242\n', { mode: 0o644 });
  const en = await cli(['enroll', '/root/b.json', '--user', 'appuser']);
  expect(en.code, en.stderr).toBe(0);
});

describe('select --unit and its drop-in', () => {
  it('add writes the drop-in (ExecStartPre=+ select sync, run only when egress exists) and reloads systemd once; add again changes nothing', async () => {
    const mark = host.calls.length;
    const r = await cli(['select', 'add', '--unit', 'web.service']);
    expect(r.code, r.stderr).toBe(0);
    const text = await host.readFile(DROPIN);
    expect(host.machine.dirs.has('/etc/systemd/system/web.service.d')).toBe(true);
    expect(text).toMatch(/^\[Service\]$/m);
    expect(text).toMatch(/^ExecStartPre=\+\/bin\/sh -c 'if \[ -x \S+ \]; then exec \S+( \S+)? select sync --unit web\.service; fi'$/m);
    expect(ran(mark).filter((a) => a === 'systemctl daemon-reload')).toHaveLength(1);
    // The running unit's cgroup: its sockets are marked at creation too (holds through a flushed ruleset), mark only.
    expect(ran(mark).filter((a) => a.includes(' attach-mark ')).map((a) => a.split(' ').slice(1).join(' '))).toEqual(['attach-mark /sys/fs/cgroup/system.slice/web.service 0x01000000 0x01000000']);
    const again = host.calls.length;
    expect((await cli(['select', 'add', '--unit', 'web.service'])).code).toBe(0);
    expect(ran(again).filter((a) => a.startsWith('systemctl') || a.includes(' attach'))).toEqual([]);
  });

  it('sync (what the drop-in runs) loads the rules with kernel state only, and says so for a unit no egress selects', async () => {
    expect((await cli(['select', 'add', '--unit', 'web.service'])).code).toBe(0);
    host.machine.nft.clear();
    const mark = host.calls.length;
    const r = await cli(['select', 'sync', '--unit', 'web.service']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/unit web\.service: its cgroup system\.slice\/web\.service is selected by egress/);
    expect(host.machine.nft.size).toBeGreaterThan(0);
    expect(ran(mark).filter((a) => a.startsWith('systemctl'))).toEqual([]);
    const other = await cli(['select', 'sync', '--unit', 'other.service']);
    expect(other.code).toBe(0);
    expect(other.stdout).toMatch(/not selected by any egress: nothing to do/);
    const bad = await cli(['select', 'sync', '--user', 'appuser']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/select sync: expected --unit NAME.service, got --user/);
  });

  it('the early boot fence and select sync neither write nor remove a drop-in; up puts a missing one back and reloads', async () => {
    expect((await cli(['select', 'add', '--unit', 'web.service'])).code).toBe(0);
    // Present (and listed in the journal): kept as it is, byte for byte — the journal once made the sync remove it.
    await host.writeFile(DROPIN, '# edited\n', { mode: 0o644 });
    let mark = host.calls.length;
    expect((await cli(['up', '--fence-only'])).code).toBe(0);
    expect((await cli(['select', 'sync', '--unit', 'web.service'])).code).toBe(0);
    expect(await host.readFile(DROPIN)).toBe('# edited\n');
    expect(host.calls.slice(mark).filter((c) => c.change).map((c) => c.argv.join(' ')).filter((a) => a.startsWith('systemctl') || a.includes(DROPIN))).toEqual([]);
    // Gone: not written back from inside a boot or a unit's start (only up, select and the supervisor do, with a reload).
    await host.removeFile(DROPIN);
    mark = host.calls.length;
    expect((await cli(['up', '--fence-only'])).code).toBe(0);
    expect(await host.readFile(DROPIN)).toBeUndefined();
    expect(ran(mark).filter((a) => a.startsWith('systemctl'))).toEqual([]);
    mark = host.calls.length;
    expect((await cli(['up', '--async'])).code).toBe(0);
    expect(await host.readFile(DROPIN)).toMatch(/ExecStartPre=/);
    expect(ran(mark).filter((a) => a === 'systemctl daemon-reload')).toHaveLength(1);
  });

  it('remove and uninstall take the drop-in and its directory away, with a reload', async () => {
    expect((await cli(['select', 'add', '--unit', 'web.service'])).code).toBe(0);
    let mark = host.calls.length;
    expect((await cli(['select', 'remove', '--unit', 'web.service'])).code).toBe(0);
    expect(await host.readFile(DROPIN)).toBeUndefined();
    expect(host.machine.dirs.has('/etc/systemd/system/web.service.d')).toBe(false);
    expect(ran(mark).filter((a) => a === 'systemctl daemon-reload')).toHaveLength(1);
    expect(ran(mark).filter((a) => / (detach|attach-mark) /.test(a)).map((a) => a.split(' ').slice(1).join(' '))).toEqual(['detach /sys/fs/cgroup/system.slice/web.service']);
    expect((await cli(['select', 'add', '--unit', 'web.service'])).code).toBe(0);
    mark = host.calls.length;
    expect((await cli(['uninstall'])).code).toBe(0);
    expect(await host.readFile(DROPIN)).toBeUndefined();
    expect(host.machine.dirs.has('/etc/systemd/system/web.service.d')).toBe(false);
  });

  it("a directory the unit's own drop-ins live in stays when egress's goes", async () => {
    await host.writeFile('/etc/systemd/system/web.service.d/override.conf', '[Service]\nNice=5\n', { mode: 0o644 });
    expect((await cli(['select', 'add', '--unit', 'web.service'])).code).toBe(0);
    expect((await cli(['select', 'remove', '--unit', 'web.service'])).code).toBe(0);
    expect(await host.readFile('/etc/systemd/system/web.service.d/override.conf')).toBe('[Service]\nNice=5\n');
  });
});
