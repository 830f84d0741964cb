// provision / deprovision on the in-memory FakeHost: exact install commands, convergence, idempotence, dry run, rollback.
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { ApplyError, Bundle, Output, generateKeyPair, publicKeyOf, type RunResult } from '@egress/core';
import { FakeHost } from '@egress/core/testing';
import type { Session, SessionOpener } from '../session.js';
import { PendingKey, pendingPath } from '../bundle-out.js';

/** Set to make the next bundle write die as a SIGKILL would: after the VPS was changed, before the bundle exists. */
const killBeforeBundle = { next: false };
vi.mock('../bundle-out.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../bundle-out.js')>();
  return {
    ...real,
    writeOutBundle: async (...args: Parameters<typeof real.writeOutBundle>) => {
      if (killBeforeBundle.next) {
        killBeforeBundle.next = false;
        throw new Error('killed');
      }
      return real.writeOutBundle(...args);
    },
  };
});
import { deprovisionCommand } from './deprovision.js';
import { forwardCommand } from './forward.js';
import { peerCommand } from './peer.js';
import { provision } from './provision.js';
import { statusCommand } from './status.js';

const dir = mkdtempSync(join(tmpdir(), 'egress-prov-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const OS: Record<string, string> = {
  debian: 'ID=debian\nVERSION_CODENAME=bookworm\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n',
  ubuntu: 'ID=ubuntu\nID_LIKE=debian\nVERSION_CODENAME=noble\nPRETTY_NAME="Ubuntu 24.04 LTS"\n',
  fedora: 'ID=fedora\nPRETTY_NAME="Fedora Linux 40"\n',
  trixie: 'ID=debian\nVERSION_ID="13"\nVERSION_CODENAME=trixie\nPRETTY_NAME="Debian GNU/Linux 13 (trixie)"\n',
  alpine: 'ID=alpine\nPRETTY_NAME="Alpine Linux v3.20"\n',
  arch: 'ID=arch\nPRETTY_NAME="Arch Linux"\n',
};

const ok = (stdout = ''): RunResult => ({ exitCode: 0, stdout, stderr: '' });

/** A fake VPS: eth0 192.0.2.10/24 (public in the lab's sense), tools present or not, iptables policies as given. */
function fakeVps(options: { distro?: string; tools?: boolean; forwardDrop?: boolean; targetHost?: string; firewalld?: boolean; aptPolicy?: string; wireguardGo?: string } = {}) {
  const host = new FakeHost({ name: 'root@vps' });
  const m = host.machine;
  m.files.set('/etc/os-release', { content: OS[options.distro ?? 'debian']!, mode: 0o644 });
  m.files.set('/etc/resolv.conf', { content: 'nameserver 192.0.2.53\n', mode: 0o644 });
  const serverKey = generateKeyPair();
  let tools = options.tools ?? true;
  const ipt: Record<string, string[]> = { iptables: [], ip6tables: [] };
  host.on('id', () => ok('0\n'));
  for (const tool of ['iptables', 'ip6tables'] as const) {
    host.on(tool, (argv) => {
      const [, verb, chain, ...rule] = argv;
      if (verb === '-S') return ok(`-P INPUT ACCEPT\n-P FORWARD ${options.forwardDrop ? 'DROP' : 'ACCEPT'}\n-P OUTPUT ACCEPT\n${ipt[tool]!.map((r) => `${r}\n`).join('')}`);
      const line = `-A ${chain} ${rule.join(' ')}`;
      if (verb === '-I') ipt[tool]!.unshift(line);
      if (verb === '-D') ipt[tool] = ipt[tool]!.filter((r) => r !== line);
      return ok();
    });
  }
  for (const pm of ['apt-get', 'dnf', 'apk', 'pacman']) host.on(pm, () => ((tools = true), ok()));
  host.on('sh', (argv, _stdin, machine) => {
    const script = argv[2] ?? '';
    if (script.includes('firewall-cmd')) return ok(options.firewalld ? 'running\n' : '');
    if (script.includes('apt-cache policy wireguard-go')) return ok(options.aptPolicy ?? '');
    if (script.includes("s/^install ok installed //p")) return ok(options.wireguardGo ? `${options.wireguardGo}\n` : '');
    if (script.includes('command -v')) return ok(tools ? 'wg /usr/bin/wg\nwg-quick /usr/bin/wg-quick\nnft /usr/sbin/nft\nwireguard-go /usr/bin/wireguard-go\n' : '');
    if (script.includes('/sys/module/wireguard')) return ok('none\n');
    if (script.includes('resolvectl')) return ok('');
    if (script.includes('wg genkey')) {
      machine.files.set(argv[4]!, { content: `${serverKey.privateKey}\n`, mode: 0o600 });
      machine.dirs.add('/etc/egress');
      return ok(`${serverKey.publicKey}\n`);
    }
    if (script.includes('wg pubkey < /etc/egress/server.key')) {
      const f = machine.files.get('/etc/egress/server.key');
      return ok(f ? `${publicKeyOf(f.content.trim())}\n` : '');
    }
    if (script.includes('accept_ra')) return ok('/proc/sys/net/ipv6/conf/eth0/accept_ra 1\n');
    if (script.includes('net.ipv4.ip_forward')) return ok(`net.ipv4.ip_forward ${machine.sysctls.get('net.ipv4.ip_forward')}\nnet.ipv6.conf.all.forwarding ${machine.sysctls.get('net.ipv6.conf.all.forwarding')}\n`);
    if (script.includes('is-enabled')) return ok(`${machine.units.get(argv[4]!)?.enabled ? 'enabled' : 'disabled'}\ninactive\n`);
    if (script.includes('for d in')) return ok([...machine.dirs].filter((d) => ['/etc/wireguard', '/etc/egress'].includes(d)).map((d) => `${d}\n`).join(''));
    if (script.includes('rmdir')) return (machine.dirs.delete(argv[4]!), ok());
    if (argv[3] === 'egress-apt-file') return (machine.files.set(argv[4]!, { content: _stdin ?? '', mode: 0o644 }), ok());
    if (script.includes('egress-tmp')) return (machine.files.set(argv[4]!, { content: _stdin ?? '', mode: 0o600 }), ok());
    return { exitCode: 127, stdout: '', stderr: `unmodelled script: ${script}\n` };
  });
  const opener: SessionOpener = async () => ({ host, target: { alias: 'vps', host: options.targetHost ?? '192.0.2.10', port: 22, user: 'root', identityFiles: [], identitiesOnly: false }, sudo: false }) as Session;
  return { host, opener, serverKey, ipt };
}

const quiet = () => new Output({ quiet: true, stderr: { write: () => true } as never, stdout: { write: () => true } as never });
const kernelDump = (h: FakeHost) => h.dump().split('\n').filter((l) => !l.startsWith('dir ')).join('\n');

describe('provision on a fake Debian VPS without wireguard-tools and nftables', () => {
  const { host, opener, serverKey } = fakeVps({ tools: false });
  const out = join(dir, 'laptop.bundle.json');

  it('installs exactly the missing packages non-interactively, then converges', async () => {
    const report = await provision('root@vps', { name: 'laptop', forward: ['8080', '6000-6001/udp:7000'], out }, quiet(), opener);
    const installs = host.calls.filter((c) => c.argv[0] === 'apt-get').map((c) => c.argv.join(' '));
    expect(installs).toEqual(['apt-get update -q', 'apt-get install -y -q --no-install-recommends wireguard-tools nftables wireguard-go']);
    expect(report).toMatchObject({ dryRun: false, installed: ['wireguard-tools', 'nftables', 'wireguard-go'], serverPublicKey: serverKey.publicKey, endpoint: '192.0.2.10:51820', peer: { name: 'laptop', address4: '10.77.0.2', new: true }, forwards: ['8080/tcp:8080', '6000-6001/udp:7000'] });
    const m = host.machine;
    expect(m.nft.has('inet egress')).toBe(true);
    expect(m.sysctls.get('net.ipv4.ip_forward')).toBe('1');
    expect(m.links.get('egress0')).toBeDefined();
    expect(m.units.get('wg-quick@egress0.service')?.enabled).toBe(true);
    expect(JSON.parse(m.files.get('/etc/egress/provision.json')!.content)).toEqual({ version: 1, installedPackages: ['wireguard-tools', 'nftables', 'wireguard-go'], createdDirs: ['/etc/wireguard', '/etc/egress', '/etc/systemd/system/wg-quick@egress0.service.d'], aptFiles: [] });
  });

  it('writes a 0600 bundle whose private key matches the enrolled public key; the VPS never saw the private key', () => {
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const bundle = Bundle.parse(JSON.parse(readFileSync(out, 'utf8')));
    expect(publicKeyOf(bundle.client.privateKey!)).toBe(bundle.client.publicKey);
    expect(bundle).toMatchObject({ name: 'laptop', server: { endpoint: '192.0.2.10:51820', publicKey: serverKey.publicKey, address4: '10.77.0.1' }, client: { address4: '10.77.0.2' }, tunnel: { subnet4: '10.77.0.0/24', mtu: 1440 /* eth0's 1500 − 60, IPv4 only */ }, dns: ['192.0.2.53'] });
    const seen = JSON.stringify(host.calls) + [...host.machine.files.values()].map((f) => f.content).join('\n');
    expect(seen).not.toContain(bundle.client.privateKey!);
  });

  it('changes nothing when run again with the same flags', async () => {
    const before = host.calls.length;
    const report = await provision('root@vps', { name: 'laptop', forward: ['8080', '6000-6001/udp:7000'], out }, quiet(), opener);
    expect(report.changed).toBe(0);
    expect(host.calls.slice(before).filter((c) => c.change)).toEqual([]);
  });

  it('applies only the difference when forwards change (one nft load, no link restart)', async () => {
    const before = host.calls.length;
    const report = await provision('root@vps', { name: 'laptop', forward: ['8080', '9000/udp'], out }, quiet(), opener);
    const changes = host.calls.slice(before).filter((c) => c.change).map((c) => c.argv.join(' '));
    // The engine's order: the journal records what the run owns first, the firewall before the files, the journal last.
    expect(changes).toEqual(['write /etc/egress/server.journal.json', 'nft -f -', 'write /etc/egress/server.json', 'write /etc/egress/server.nft', 'write /etc/egress/server.journal.json']);
    expect(report.forwards).toEqual(['8080/tcp:8080', '9000/udp:9000']);
    expect(Bundle.parse(JSON.parse(readFileSync(out, 'utf8'))).forwards.map((f) => f.publicPort)).toEqual([8080, 9000]);
  });

  it('adds and removes peers and forwards, refusing unknown peers and taken ports', async () => {
    const phone = join(dir, 'phone.json');
    const own = generateKeyPair();
    let before = host.calls.length;
    const added = await peerCommand('add', 'root@vps', 'phone', { publicKey: own.publicKey, out: phone }, quiet(), opener);
    expect(added.peers.map((p) => [p.name, p.address4])).toEqual([['laptop', '10.77.0.2'], ['phone', '10.77.0.3']]);
    // One peer changes: its `wg set`, never a syncconf or restart of the interface; the journal first and last.
    const changesSince = (n: number) => host.calls.slice(n).filter((c) => c.change).map((c) => c.argv.join(' '));
    expect(changesSince(before)).toEqual([
      'write /etc/egress/server.journal.json',
      'write /etc/egress/server.json',
      'write /etc/wireguard/egress0.conf',
      `wg set egress0 peer ${own.publicKey} allowed-ips 10.77.0.3/32`,
      'write /etc/egress/server.journal.json',
    ]);
    expect(Bundle.parse(JSON.parse(readFileSync(phone, 'utf8'))).client.privateKey).toBeUndefined();
    await expect(forwardCommand('add', 'root@vps', '8080', { peer: 'phone' }, quiet(), opener)).rejects.toThrow("SPEC: 8080/tcp:8080 is already forwarded to peer 'laptop'");
    await expect(forwardCommand('add', 'root@vps', '7000', { peer: 'ghost' }, quiet(), opener)).rejects.toThrow("peer 'ghost' does not exist on this server (peers: laptop, phone)");
    await expect(forwardCommand('add', 'root@vps', '7000', {}, quiet(), opener)).rejects.toThrow('--peer: expected the peer the forward goes to (peers: laptop, phone)');
    expect((await forwardCommand('add', 'root@vps', '7000/udp:53', { peer: 'phone' }, quiet(), opener)).forwards).toContainEqual({ spec: '7000/udp:53', peer: 'phone' });
    before = host.calls.length;
    const removed = await peerCommand('remove', 'root@vps', 'phone', {}, quiet(), opener);
    expect(removed.peers.map((p) => p.name)).toEqual(['laptop']);
    expect(changesSince(before).filter((c) => c.startsWith('wg'))).toEqual([`wg set egress0 peer ${own.publicKey} remove`]);
    expect(host.machine.links.get('egress0')!.wg!.peers.map((p) => p.publicKey)).not.toContain(own.publicKey);
    expect((await forwardCommand('list', 'root@vps', undefined, {}, quiet(), opener)).forwards.map((f) => f.spec)).toEqual(['8080/tcp:8080', '9000/udp:9000']);
  });

  it('reports status from one read', async () => {
    const s = await statusCommand('root@vps', {}, quiet(), opener);
    expect(s).toMatchObject({ interface: 'egress0', nft: { present: true, matchesRendered: true }, ipForward: true, bootUnit: { name: 'wg-quick@egress0.service', enabled: 'enabled', systemd: true } });
  });

  it('deprovision removes what egress added; --purge removes the packages it installed', async () => {
    await deprovisionCommand('root@vps', { purge: true }, quiet(), opener);
    const m = host.machine;
    expect(m.nft.has('inet egress')).toBe(false);
    expect(m.links.has('egress0')).toBe(false);
    expect(m.sysctls.get('net.ipv4.ip_forward')).toBe('0');
    expect([...m.files.keys()].filter((p) => p.includes('egress') || p.includes('wireguard'))).toEqual([]);
    expect(host.calls.filter((c) => c.argv[0] === 'apt-get').map((c) => c.argv.join(' ')).pop()).toBe('apt-get purge -y -q wireguard-tools nftables wireguard-go');
  });
});

describe('provision on other fake VPSes', () => {
  it('changes nothing with --dry-run', async () => {
    const { host, opener } = fakeVps();
    const before = kernelDump(host);
    const report = await provision('root@vps', { dryRun: true, out: join(dir, 'dry.json') }, quiet(), opener);
    expect(report.dryRun).toBe(true);
    expect(report.changes).toContain('create nft table inet egress');
    expect(report.plan).toContain('PostUp = wg set %i private-key /etc/egress/server.key');
    expect(report.plan).toContain('masquerade');
    await expect(provision('root@vps', { out: '/nonexistent-dir/b.json' }, quiet(), opener)).rejects.toThrow("--out: '/nonexistent-dir/b.json' cannot be written (/nonexistent-dir: ENOENT)");
    expect(kernelDump(host)).toBe(before);
    expect(host.calls.filter((c) => c.change)).toEqual([]);
  });

  it('restores the previous state when a step fails part-way', async () => {
    const { host, opener } = fakeVps();
    const before = kernelDump(host);
    host.failOn('nft -f', { stderr: 'Error: Could not process rule: No such file or directory' });
    await expect(provision('root@vps', { out: join(dir, 'fail.json') }, quiet(), opener)).rejects.toBeInstanceOf(ApplyError);
    expect(kernelDump(host)).toBe(before);
  });

  it('adds egress-marked accepts where FORWARD drops and removes them on deprovision', async () => {
    const { opener, ipt } = fakeVps({ forwardDrop: true });
    await provision('root@vps', { out: join(dir, 'fw.json') }, quiet(), opener);
    expect(ipt.iptables).toEqual(['-A FORWARD -o egress0 -m comment --comment egress -j ACCEPT', '-A FORWARD -i egress0 -m comment --comment egress -j ACCEPT']);
    await deprovisionCommand('root@vps', {}, quiet(), opener);
    expect(ipt.iptables).toEqual([]);
  });

  it('warns that firewalld zones are left to the operator', async () => {
    const { opener } = fakeVps({ firewalld: true });
    let err = '';
    const output = new Output({ stderr: { write: (c: string) => ((err += c), true) } as never, stdout: { write: () => true } as never, env: {} });
    await provision('root@vps', { dryRun: true, out: join(dir, 'fwd.json') }, output, opener);
    expect(err).toContain('warning: firewalld is running on root@vps; egress does not change its zones: put egress0 in a zone that forwards (e.g. firewall-cmd --permanent --zone=trusted --add-interface=egress0) and open 51820/udp');
  });

  it('takes the endpoint from the SSH target when the public interface has a private address (cloud NAT)', async () => {
    const { host, opener } = fakeVps({ targetHost: 'vps.example.com' });
    host.machine.links.get('eth0')!.addresses = ['10.0.0.5/24'];
    host.machine.routes = [{ family: 4, table: 254, dst: 'default', via: '10.0.0.1', dev: 'eth0' }, { family: 4, table: 254, dst: '10.0.0.0/24', dev: 'eth0', src: '10.0.0.5' }];
    const report = await provision('root@vps', { out: join(dir, 'nat.json') }, quiet(), opener);
    expect(report.endpoint).toBe('vps.example.com:51820');
    expect(Bundle.parse(JSON.parse(readFileSync(join(dir, 'nat.json'), 'utf8'))).server.publicAddress4).toBeUndefined();
  });

  it('refuses an explicit subnet that overlaps a VPS route before changing anything', async () => {
    const { host, opener } = fakeVps();
    await expect(provision('root@vps', { subnet: ['192.168.0.0/16'], out: join(dir, 'x.json') }, quiet(), opener)).resolves.toBeDefined();
    const other = fakeVps();
    other.host.machine.routes.push({ family: 4, table: 254, dst: '10.77.0.0/16', dev: 'eth0' });
    await expect(provision('root@vps', { subnet: ['10.77.1.0/24'], out: join(dir, 'y.json') }, quiet(), other.opener)).rejects.toThrow('--subnet: 10.77.1.0/24 overlaps 10.77.0.0/16, already routed on the VPS; nothing was changed');
    expect(other.host.calls.filter((c) => c.change)).toEqual([]);
    const auto = await provision('root@vps', { out: join(dir, 'z.json') }, quiet(), other.opener);
    expect(auto.peer.address4).toBe('10.78.0.2');
    void host;
  });
});

describe('--out is checked before the VPS is touched; an interrupted run never loses the key', () => {
  const kinds: Array<{ kind: string; make: (p: string) => void; reason: RegExp }> = [
    { kind: 'character device', make: (p) => execFileSync('mknod', [p, 'c', '1', '3']), reason: /is a character device/ },
    { kind: 'directory', make: (p) => mkdirSync(p), reason: /is a directory/ },
    { kind: 'symlink', make: (p) => { writeFileSync(`${p}.target`, 'keep me\n'); symlinkSync(`${p}.target`, p); }, reason: /is a symbolic link/ },
    { kind: 'FIFO', make: (p) => execFileSync('mkfifo', [p]), reason: /is a FIFO/ },
    { kind: 'existing file', make: (p) => writeFileSync(p, 'notes\n'), reason: /exists; expected a path where nothing exists yet \(or an existing regular file you own, with --force\)/ },
  ];
  for (const c of kinds) {
    for (const command of ['provision', 'peer add'] as const) {
      it(`${command} --out <${c.kind}>: refused before connecting, untouched (inode and type)`, async () => {
        const out = join(dir, `out-${command.replace(' ', '-')}-${c.kind.replace(' ', '-')}`);
        c.make(out);
        const before = lstatSync(out);
        let opened = 0;
        const opener: SessionOpener = async () => {
          opened++;
          throw new Error('must not connect');
        };
        const run = command === 'provision' ? provision('root@vps', { out }, quiet(), opener) : peerCommand('add', 'root@vps', 'phone', { out }, quiet(), opener);
        const err = await run.then(() => undefined, (e: Error) => e);
        expect(err?.message).toMatch(new RegExp(`^--out: '${out}'`));
        expect(err?.message).toMatch(c.reason);
        expect(opened).toBe(0);
        const after = lstatSync(out);
        expect([after.ino, after.mode, after.rdev, after.size]).toEqual([before.ino, before.mode, before.rdev, before.size]);
        expect(existsSync(pendingPath(out))).toBe(false);
      });
    }
  }

  it('--force replaces an existing regular file the user owns (0600), never a device', async () => {
    const { opener } = fakeVps();
    const out = join(dir, 'forced.json');
    writeFileSync(out, 'old\n', { mode: 0o644 });
    await provision('root@vps', { out, force: true }, quiet(), opener);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(Bundle.parse(JSON.parse(readFileSync(out, 'utf8'))).name).toBe('client');
  });

  for (const command of ['provision', 'peer add'] as const) {
    it(`${command} killed after the VPS learned the peer: the re-run writes the bundle with the kept key`, async () => {
      const { host, opener } = fakeVps();
      const out = join(dir, `killed-${command.replace(' ', '-')}.json`);
      const name = command === 'provision' ? 'client' : 'phone';
      if (command === 'peer add') await provision('root@vps', { out: join(dir, 'killed-first.json') }, quiet(), opener);
      const run = () => (command === 'provision' ? provision('root@vps', { out }, quiet(), opener) : peerCommand('add', 'root@vps', 'phone', { out }, quiet(), opener));
      killBeforeBundle.next = true;
      await expect(run()).rejects.toThrow('killed');
      expect(existsSync(out)).toBe(false);
      const pending = PendingKey.parse(JSON.parse(readFileSync(pendingPath(out), 'utf8')));
      expect(statSync(pendingPath(out)).mode & 0o777).toBe(0o600);
      const state = JSON.parse(host.machine.files.get('/etc/egress/server.json')!.content) as { peers: Array<{ name: string; publicKey: string }> };
      expect(state.peers.find((p) => p.name === name)?.publicKey).toBe(pending.publicKey);
      await run();
      const bundle = Bundle.parse(JSON.parse(readFileSync(out, 'utf8')));
      expect(bundle.client.privateKey).toBe(pending.privateKey);
      expect(publicKeyOf(bundle.client.privateKey!)).toBe(state.peers.find((p) => p.name === name)?.publicKey);
      expect(existsSync(pendingPath(out))).toBe(false);
      // And once more: nothing changes, the bundle stays.
      if (command === 'peer add') await expect(run()).rejects.toThrow("peer 'phone' already exists");
      else expect((await run()).changed).toBe(0);
      expect(Bundle.parse(JSON.parse(readFileSync(out, 'utf8'))).client.privateKey).toBe(pending.privateKey);
    });
  }
});

describe('provision flags that cannot work are refused with field, value and reason', () => {
  const cases: Array<{ flags: Record<string, unknown>; message: RegExp }> = [
    { flags: { publicInterface: 'lo' }, message: /^--public-interface: 'lo' is the loopback interface, which reaches no other host/ },
    { flags: { subnet: ['127.0.0.0/8'] }, message: /^--subnet: '127\.0\.0\.0\/8' is a loopback range, which cannot carry a tunnel; expected a private range/ },
    { flags: { subnet: ['169.254.0.0/16'] }, message: /^--subnet: '169\.254\.0\.0\/16' is a linkLocal range/ },
    { flags: { subnet: ['fe80::/64'] }, message: /^--subnet: 'fe80::\/64' is a linkLocal range/ },
    { flags: { subnet: ['::1/128'] }, message: /^--subnet: '::1\/128' is a loopback range/ },
  ];
  for (const c of cases) {
    it(`${JSON.stringify(c.flags)}`, async () => {
      let opened = 0;
      const opener: SessionOpener = async () => {
        opened++;
        throw new Error('must not connect');
      };
      await expect(provision('root@vps', { ...c.flags, out: join(dir, 'never.json') }, quiet(), opener)).rejects.toThrow(c.message);
      expect(opened).toBe(0);
    });
  }
});

describe('deprovision cleanup order', () => {
  it('removes the unit drop-in directory even without a provision record, and drops the record only after the directories', async () => {
    const { cleanupCommands } = await import('./deprovision.js');
    const facts = { iptables: { v4: undefined, v6: undefined }, nftJson: undefined, distro: 'debian' } as unknown as Parameters<typeof cleanupCommands>[0];
    const noRecord = cleanupCommands(facts, 'egress0', false).map((c) => c.argv.join(' '));
    expect(noRecord.filter((l) => l.includes('egress-rmdir')).map((l) => l.split(' ').pop())).toEqual(['/etc/systemd/system/wg-quick@egress0.service.d']);
    const withRecord = cleanupCommands({ ...facts, provisionText: JSON.stringify({ version: 1, createdDirs: ['/etc/egress', '/etc/wireguard'] }) } as typeof facts, 'egress0', false).map((c) => c.argv.join(' '));
    const at = (s: string) => withRecord.findIndex((l) => l.endsWith(s));
    expect(at('/etc/egress/provision.json')).toBeGreaterThan(at('/etc/systemd/system/wg-quick@egress0.service.d'));
    expect(at('/etc/egress/provision.json')).toBeGreaterThan(at('/etc/wireguard'));
    expect(at('/etc/egress')).toBeGreaterThan(at('/etc/egress/provision.json'));
  });
});

describe('provision --userspace-wireguard backports', () => {
  const SOURCE = '/etc/apt/sources.list.d/egress-wireguard-go-backports.sources';
  const PIN = '/etc/apt/preferences.d/egress-wireguard-go-backports.pref';

  it('shows the source, the pin and the install in --dry-run and changes nothing', async () => {
    const { host, opener } = fakeVps({ tools: false });
    let out = '';
    const output = new Output({ stderr: { write: (c: string) => ((out += c), true) } as never, stdout: { write: (c: string) => ((out += c), true) } as never, env: {} });
    const report = await provision('root@vps', { dryRun: true, userspaceWireguard: 'backports', out: join(dir, 'bpo-dry.json') }, output, opener);
    expect(report.changes).toEqual(expect.arrayContaining([
      'apt-get install -y -q --no-install-recommends wireguard-tools nftables',
      `sh -c umask 022 && mkdir -p "$(dirname "$1")" && cat > "$1" egress-apt-file ${SOURCE}`,
      'apt-get install -y -q --no-install-recommends wireguard-go/bookworm-backports',
    ]));
    expect(out).toContain(`install: write ${PIN}`);
    expect(out).toContain('Suites: bookworm-backports');
    expect(out).toMatch(/Package: \*\n\s+Pin: release n=bookworm-backports\n\s+Pin-Priority: -1/);
    expect(host.calls.filter((c) => c.change)).toEqual([]);
  });

  it('installs wireguard-go from the pinned backports source, records both files, and deprovision removes them', async () => {
    const { host, opener } = fakeVps({ tools: false });
    await provision('root@vps', { userspaceWireguard: 'backports', out: join(dir, 'bpo.json') }, quiet(), opener);
    expect(host.calls.filter((c) => c.argv[0] === 'apt-get').map((c) => c.argv.join(' '))).toEqual([
      'apt-get update -q', 'apt-get install -y -q --no-install-recommends wireguard-tools nftables',
      'apt-get update -q -o Dir::Etc::SourceList=/etc/apt/sources.list.d/egress-wireguard-go-backports.sources -o Dir::Etc::SourceParts=- -o APT::Get::List-Cleanup=0', 'apt-get install -y -q --no-install-recommends wireguard-go/bookworm-backports',
    ]);
    expect(host.machine.files.get(PIN)?.content).toContain('Package: wireguard-go\nPin: release n=bookworm-backports\nPin-Priority: 500');
    const record = JSON.parse(host.machine.files.get('/etc/egress/provision.json')!.content);
    expect(record).toMatchObject({ installedPackages: ['wireguard-tools', 'nftables', 'wireguard-go'], aptFiles: [SOURCE, PIN], wireguardGoBefore: null });
    const calls = host.calls.length;
    await provision('root@vps', { userspaceWireguard: 'backports', out: join(dir, 'bpo.json') }, quiet(), opener);
    expect(host.calls.slice(calls).filter((c) => c.argv[0] === 'apt-get')).toEqual([]); // a re-run installs nothing again
    // Another --backports-mirror: only the source is rewritten (nothing reinstalled), the record stays.
    const mirrored = await provision('root@vps', { userspaceWireguard: 'backports', backportsMirror: 'http://203.0.113.1:8080/debian', out: join(dir, 'bpo.json') }, quiet(), opener);
    expect(host.machine.files.get(SOURCE)?.content).toContain('URIs: http://203.0.113.1:8080/debian\nSuites: bookworm-backports\n');
    expect(host.calls.slice(calls).filter((c) => c.argv[0] === 'apt-get')).toEqual([]);
    expect(mirrored.changes).toEqual([`sh -c umask 022 && mkdir -p "$(dirname "$1")" && cat > "$1" egress-apt-file ${SOURCE}`]);
    expect(JSON.parse(host.machine.files.get('/etc/egress/provision.json')!.content)).toEqual(record);
    await deprovisionCommand('root@vps', {}, quiet(), opener);
    expect(host.machine.files.has(SOURCE)).toBe(false);
    expect(host.machine.files.has(PIN)).toBe(false);
  });

  it('deprovision puts the wireguard-go from before back after removing the source, unless it is already that one', async () => {
    const { cleanupCommands } = await import('./deprovision.js');
    const facts = { iptables: { v4: undefined, v6: undefined }, nftJson: undefined, distro: 'debian' } as unknown as Parameters<typeof cleanupCommands>[0];
    const rec = JSON.stringify({ version: 1, aptFiles: [SOURCE, PIN], wireguardGoBefore: '0.0.20220316-1+b4' });
    const lines = (v: string | undefined) => cleanupCommands({ ...facts, provisionText: rec, ...(v ? { wireguardGoVersion: v } : {}) } as typeof facts, 'egress0', false).map((c) => c.argv.join(' '));
    const now = lines('0.0.20231211-1~bpo12+1');
    const restore = now.findIndex((l) => l.startsWith('sh -c cur=$(dpkg-query'));
    expect(now[restore]).toMatch(/egress-restore-wireguard-go 0\.0\.20231211-1~bpo12\+1 0\.0\.20220316-1\+b4$/);
    expect(restore).toBeGreaterThan(now.indexOf(`rm -f -- ${SOURCE} ${PIN}`));
    const lists = now.findIndex((l) => l.includes('egress-apt-lists bookworm-backports'));
    expect(lists).toBe(now.indexOf(`rm -f -- ${SOURCE} ${PIN}`) + 1);
    expect(lines('0.0.20220316-1+b4').some((l) => l.includes('egress-restore-wireguard-go'))).toBe(false);
    expect(lines(undefined).some((l) => l.includes('egress-restore-wireguard-go'))).toBe(false);
  });

  it('refuses a --backports-mirror that is not a plain URL, or without backports, before connecting', async () => {
    const { host, opener } = fakeVps({});
    await expect(provision('root@vps', { userspaceWireguard: 'backports', backportsMirror: 'http://m/debian\nTypes: deb', out: join(dir, 'bpo-m.json') }, quiet(), opener)).rejects.toThrow("--backports-mirror: got 'http://m/debian?Types: deb'; expected a plain http:// or https:// URL");
    await expect(provision('root@vps', { backportsMirror: 'http://m/debian', out: join(dir, 'bpo-m.json') }, quiet(), opener)).rejects.toThrow('--backports-mirror: only used with --userspace-wireguard backports (got --userspace-wireguard system)');
    expect(host.calls).toEqual([]);
  });

  it('refuses on an Ubuntu whose candidate predates offloads (no known backport) and an unknown value, before anything changes', async () => {
    const { host, opener } = fakeVps({ distro: 'ubuntu', tools: false, aptPolicy: 'wireguard-go:\n  Installed: (none)\n  Candidate: 0.0.20220316-1\n  Version table:\n     0.0.20220316-1 500\n        500 http://archive.ubuntu.com/ubuntu noble/universe amd64 Packages\n' });
    await expect(provision('root@vps', { userspaceWireguard: 'backports', out: join(dir, 'bpo-u.json') }, quiet(), opener)).rejects.toThrow(
      '--userspace-wireguard backports: root@vps runs Ubuntu 24.04 LTS; its archive offers wireguard-go 0.0.20220316-1, which predates TUN offloads (0.0.20230223+), and egress knows a backport only for Debian 12 (bookworm-backports wireguard-go 0.0.20231211); nothing was changed',
    );
    await expect(provision('root@vps', { userspaceWireguard: 'newest', out: join(dir, 'bpo-u.json') }, quiet(), opener)).rejects.toThrow(
      "--userspace-wireguard: expected one of system, backports, got 'newest'",
    );
    expect(host.calls.filter((c) => c.change)).toEqual([]);
  });
});

describe("provision --userspace-wireguard backports on Debian 13 (the distribution's own wireguard-go has offloads)", () => {
  const TRIXIE_POLICY = (installed: string) => `wireguard-go:\n  Installed: ${installed}\n  Candidate: 0.0.20231211-1+b9\n  Version table:\n ${installed === '(none)' ? '   ' : '***'} 0.0.20231211-1+b9 500\n        500 http://deb.debian.org/debian trixie/main amd64 Packages\n`;

  it('installed already: no apt source, no pin, no apt-get; said in --dry-run and the run; nothing recorded to undo', async () => {
    const { host, opener } = fakeVps({ distro: 'trixie', aptPolicy: TRIXIE_POLICY('0.0.20231211-1+b9'), wireguardGo: '0.0.20231211-1+b9' });
    let out = '';
    const output = new Output({ stderr: { write: (c: string) => ((out += c), true) } as never, stdout: { write: (c: string) => ((out += c), true) } as never, env: {} });
    const dry = await provision('root@vps', { dryRun: true, userspaceWireguard: 'backports', out: join(dir, 'd13-dry.json') }, output, opener);
    expect(out).toContain("--userspace-wireguard backports: Debian 13's own wireguard-go 0.0.20231211 has offloads; no backports source needed (0.0.20231211-1+b9 is installed: nothing to install)");
    expect(out).not.toContain('/etc/apt/');
    expect(dry.changes.filter((c) => c.startsWith('apt-get') || c.includes('egress-apt-file'))).toEqual([]);
    await provision('root@vps', { userspaceWireguard: 'backports', out: join(dir, 'd13.json') }, quiet(), opener);
    expect(host.calls.filter((c) => c.argv[0] === 'apt-get')).toEqual([]);
    expect([...host.machine.files.keys()].filter((f) => f.startsWith('/etc/apt/'))).toEqual([]);
    const record = JSON.parse(host.machine.files.get('/etc/egress/provision.json')!.content);
    expect(record).toEqual({ version: 1, installedPackages: [], createdDirs: expect.any(Array), aptFiles: [] });
  });

  it('not installed: apt-get installs exactly the candidate from its own sources, recorded; deprovision purges only that version', async () => {
    const { host, opener } = fakeVps({ distro: 'trixie', aptPolicy: TRIXIE_POLICY('(none)') });
    let out = '';
    const output = new Output({ stderr: { write: (c: string) => ((out += c), true) } as never, stdout: { write: (c: string) => ((out += c), true) } as never, env: {} });
    await provision('root@vps', { userspaceWireguard: 'backports', out: join(dir, 'd13-new.json') }, output, opener);
    expect(out).toContain("Debian 13's own wireguard-go 0.0.20231211 has offloads; no backports source needed (installing 0.0.20231211-1+b9 from the host's own sources)");
    expect(host.calls.filter((c) => c.argv[0] === 'apt-get').map((c) => c.argv.join(' '))).toEqual([
      'apt-get install -y -q --no-install-recommends wireguard-go=0.0.20231211-1+b9',
    ]);
    expect([...host.machine.files.keys()].filter((f) => f.startsWith('/etc/apt/'))).toEqual([]);
    const record = JSON.parse(host.machine.files.get('/etc/egress/provision.json')!.content);
    expect(record).toMatchObject({ installedPackages: [], aptFiles: [], wireguardGoBefore: null, wireguardGoInstalled: '0.0.20231211-1+b9' });
    const { cleanupCommands } = await import('./deprovision.js');
    const facts = { iptables: { v4: undefined, v6: undefined }, nftJson: undefined, distro: 'debian', provisionText: JSON.stringify(record) } as unknown as Parameters<typeof cleanupCommands>[0];
    const lines = (v: string) => cleanupCommands({ ...facts, wireguardGoVersion: v } as typeof facts, 'egress0', false);
    // The check inside the command is against the version egress installed, not the one found now (a user's upgrade stays).
    const restore = lines('0.0.20250522-1').find((c) => c.argv[3] === 'egress-restore-wireguard-go')!;
    expect(restore.argv.slice(4)).toEqual(['0.0.20231211-1+b9', '']);
    expect(lines('0.0.20250522-1').some((c) => c.argv[0] === 'rm' && c.argv.some((a) => a.startsWith('/etc/apt')))).toBe(false);
  });
});
