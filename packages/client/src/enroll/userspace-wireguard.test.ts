// enroll --userspace-wireguard backports on a FakeHost: source + pin + install, shown in a dry run, refused on Ubuntu,
// rolled back when apt fails, removed by uninstall's removeAptFiles.
import { describe, expect, it } from 'vitest';
import { FakeHost } from '@egress/core/testing';
import { Output } from '@egress/core/output';
import { APT_RECORD_PATH, ensureUserspaceWireguard, removeAptFiles } from './userspace-wireguard.js';

const SOURCE = '/etc/apt/sources.list.d/egress-wireguard-go-backports.sources';
const PIN = '/etc/apt/preferences.d/egress-wireguard-go-backports.pref';
const BOOKWORM = 'ID=debian\nVERSION_CODENAME=bookworm\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n';

const TRIXIE = 'ID=debian\nVERSION_ID="13"\nVERSION_CODENAME=trixie\nPRETTY_NAME="Debian GNU/Linux 13 (trixie)"\n';
const policy = (installed: string | undefined, candidate: string, suite: string) =>
  `wireguard-go:\n  Installed: ${installed ?? '(none)'}\n  Candidate: ${candidate}\n  Version table:\n ${installed === candidate ? '***' : '   '} ${candidate} 500\n        500 http://deb.debian.org/debian ${suite}/main amd64 Packages\n`;

/** A fake host: dpkg's wireguard-go (`version`, none by default), apt's candidate (`policy`), apt-get that can fail. */
function fake(os: string, opts: { kernel?: boolean; version?: string; policy?: string; aptFails?: boolean } = {}): { host: FakeHost; out: () => string; output: Output } {
  const host = new FakeHost({ name: 'local' });
  host.machine.files.set('/etc/os-release', { content: os, mode: 0o644 });
  let dpkg = opts.version;
  host.on('sh', (argv) => {
    const script = argv[2] ?? '';
    if (script.includes('apt-cache policy')) return { exitCode: 0, stdout: opts.policy ?? '', stderr: '' };
    if (script.includes('s/^install ok installed //p')) return { exitCode: 0, stdout: dpkg ? `${dpkg}\n` : '', stderr: '' };
    if (argv[3] === 'egress-restore-wireguard-go') return ((dpkg = argv[5] || undefined), { exitCode: 0, stdout: '', stderr: '' });
    return { exitCode: opts.kernel ? 0 : 1, stdout: '', stderr: '' };
  });
  host.on('apt-get', (argv) => {
    if (opts.aptFails && argv[1] === 'install') return { exitCode: 100, stdout: '', stderr: 'E: Unable to locate package\n' };
    const pkg = argv.at(-1)!;
    if (argv[1] === 'install' && pkg.startsWith('wireguard-go=')) dpkg = pkg.slice('wireguard-go='.length);
    return { exitCode: 0, stdout: '', stderr: '' };
  });
  let text = '';
  const output = new Output({ stderr: { write: (c: string) => ((text += c), true) } as never, stdout: { write: (c: string) => ((text += c), true) } as never, env: {} });
  return { host, out: () => text, output };
}

const apt = (h: FakeHost) => h.calls.filter((c) => c.argv[0] === 'apt-get').map((c) => c.argv.join(' '));

describe('enroll --userspace-wireguard backports', () => {
  it('writes the pinned source, installs wireguard-go from bookworm-backports and records the files; uninstall removes them', async () => {
    const { host, output } = fake(BOOKWORM);
    await ensureUserspaceWireguard(host, 'backports', output, false);
    expect(apt(host)).toEqual(['apt-get update -q -o Dir::Etc::SourceList=/etc/apt/sources.list.d/egress-wireguard-go-backports.sources -o Dir::Etc::SourceParts=- -o APT::Get::List-Cleanup=0', 'apt-get install -y -q --no-install-recommends wireguard-go/bookworm-backports']);
    expect(host.machine.files.get(SOURCE)?.content).toContain('Suites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg');
    expect(host.machine.files.get(PIN)?.content).toContain('Package: *\nPin: release n=bookworm-backports\nPin-Priority: -1');
    expect(JSON.parse(host.machine.files.get(APT_RECORD_PATH)!.content)).toEqual({ files: [SOURCE, PIN], wireguardGoBefore: null });
    expect((await removeAptFiles(host)).files).toEqual([SOURCE, PIN]);
    expect([SOURCE, PIN, APT_RECORD_PATH].filter((f) => host.machine.files.has(f))).toEqual([]);
  });

  it('rewrites only the source when enroll runs again with another --backports-mirror (shown first with --dry-run)', async () => {
    const { host, out, output } = fake(BOOKWORM);
    await ensureUserspaceWireguard(host, 'backports', output, false);
    const calls = apt(host).length;
    await ensureUserspaceWireguard(host, 'backports', output, true, 'http://203.0.113.1:8080/debian');
    expect(out()).toContain(`would rewrite ${SOURCE} to take bookworm-backports from http://203.0.113.1:8080/debian`);
    expect(host.machine.files.get(SOURCE)?.content).toContain('URIs: http://deb.debian.org/debian\n');
    await ensureUserspaceWireguard(host, 'backports', output, false, 'http://203.0.113.1:8080/debian');
    expect(host.machine.files.get(SOURCE)?.content).toContain('URIs: http://203.0.113.1:8080/debian\n');
    expect(apt(host).length).toBe(calls);
  });

  it('only shows the files and commands with --dry-run', async () => {
    const { host, out, output } = fake(BOOKWORM);
    await ensureUserspaceWireguard(host, 'backports', output, true);
    expect(out()).toContain(`would write ${SOURCE}:`);
    expect(out()).toContain('would run: apt-get install -y -q --no-install-recommends wireguard-go/bookworm-backports');
    expect(host.calls.filter((c) => c.change)).toEqual([]);
    expect(host.machine.files.has(SOURCE)).toBe(false);
  });

  it('does nothing with the kernel module or an offload-capable wireguard-go; refuses on Ubuntu; removes the source when apt fails', async () => {
    for (const opts of [{ kernel: true }, { version: '0.0.20230223-1' }]) {
      const { host, output } = fake(BOOKWORM, opts);
      await ensureUserspaceWireguard(host, 'backports', output, false);
      expect(apt(host)).toEqual([]);
    }
    const u = fake('ID=ubuntu\nVERSION_ID="22.04"\nVERSION_CODENAME=jammy\nPRETTY_NAME="Ubuntu 22.04.5 LTS"\n', { policy: policy(undefined, '0.0.20211016-1', 'jammy') });
    await expect(ensureUserspaceWireguard(u.host, 'backports', u.output, false)).rejects.toThrow('--userspace-wireguard backports: this host runs Ubuntu 22.04.5 LTS; its archive offers wireguard-go 0.0.20211016-1, which predates TUN offloads (0.0.20230223+), and egress knows a backport only for Debian 12');
    expect(u.host.calls.filter((c) => c.change)).toEqual([]);
    const f = fake(BOOKWORM, { aptFails: true });
    await expect(ensureUserspaceWireguard(f.host, 'backports', f.output, false)).rejects.toThrow('the backports source was removed again');
    expect([SOURCE, PIN, APT_RECORD_PATH].filter((p) => f.host.machine.files.has(p))).toEqual([]);
  });
});

describe("enroll --userspace-wireguard backports on Debian 13 (the distribution's own wireguard-go has offloads)", () => {
  it('installed already: says so, adds no source and runs no apt-get; uninstall leaves it', async () => {
    const { host, out, output } = fake(TRIXIE, { version: '0.0.20231211-1+b9', policy: policy('0.0.20231211-1+b9', '0.0.20231211-1+b9', 'trixie') });
    await ensureUserspaceWireguard(host, 'backports', output, false, 'http://203.0.113.1:8080/debian');
    expect(out()).toContain("--userspace-wireguard backports: Debian 13's own wireguard-go 0.0.20231211 has offloads; no backports source needed (0.0.20231211-1+b9 is installed: nothing to install) (--backports-mirror http://203.0.113.1:8080/debian is not used)");
    expect(apt(host)).toEqual([]);
    expect(host.calls.filter((c) => c.change)).toEqual([]);
    expect(host.machine.files.has(APT_RECORD_PATH)).toBe(false);
    expect(await removeAptFiles(host)).toEqual({ files: [] });
    expect(host.calls.some((c) => c.argv[3] === 'egress-restore-wireguard-go')).toBe(false);
  });

  it('not installed: installs exactly the candidate (dry run first), records it, and uninstall purges only while that version is there', async () => {
    const { host, out, output } = fake(TRIXIE, { policy: policy(undefined, '0.0.20231211-1+b9', 'trixie') });
    await ensureUserspaceWireguard(host, 'backports', output, true);
    expect(out()).toContain('would run: apt-get install -y -q --no-install-recommends wireguard-go=0.0.20231211-1+b9');
    expect(out()).not.toContain('would write');
    expect(host.calls.filter((c) => c.change)).toEqual([]);
    await ensureUserspaceWireguard(host, 'backports', output, false);
    expect(apt(host)).toEqual(['apt-get install -y -q --no-install-recommends wireguard-go=0.0.20231211-1+b9']);
    expect([...host.machine.files.keys()].filter((f) => f.startsWith('/etc/apt/'))).toEqual([]);
    expect(JSON.parse(host.machine.files.get(APT_RECORD_PATH)!.content)).toEqual({ files: [], wireguardGoBefore: null, wireguardGoInstalled: '0.0.20231211-1+b9' });
    expect((await removeAptFiles(host)).files).toEqual([]);
    const restore = host.calls.find((c) => c.argv[3] === 'egress-restore-wireguard-go')!;
    expect(restore.argv.slice(4)).toEqual(['0.0.20231211-1+b9', '']);
    expect(host.machine.files.has(APT_RECORD_PATH)).toBe(false);
  });

  it('a failed install leaves nothing: no record, no directory made for it', async () => {
    const { host, output } = fake(TRIXIE, { policy: policy(undefined, '0.0.20231211-1+b9', 'trixie'), aptFails: true });
    await expect(ensureUserspaceWireguard(host, 'backports', output, false)).rejects.toThrow('apt-get install -y -q --no-install-recommends wireguard-go=0.0.20231211-1+b9 failed: E: Unable to locate package; nothing was changed');
    expect(host.machine.files.has(APT_RECORD_PATH)).toBe(false);
  });
});
