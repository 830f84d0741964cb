// enroll --userspace-wireguard backports on a FakeHost: source + pin + install, shown in a dry run, refused on Ubuntu,
// rolled back when apt fails, removed by uninstall's removeAptFiles.
import { describe, expect, it } from 'vitest';
import { FakeHost } from '@egress/core/testing';
import { Output } from '@egress/core/output';
import { APT_RECORD_PATH, ensureUserspaceWireguard, removeAptFiles } from './userspace-wireguard.js';

const SOURCE = '/etc/apt/sources.list.d/egress-wireguard-go-backports.sources';
const PIN = '/etc/apt/preferences.d/egress-wireguard-go-backports.pref';
const BOOKWORM = 'ID=debian\nVERSION_CODENAME=bookworm\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n';

function fake(os: string, opts: { kernel?: boolean; version?: string; aptFails?: boolean } = {}): { host: FakeHost; out: () => string; output: Output } {
  const host = new FakeHost({ name: 'local' });
  host.machine.files.set('/etc/os-release', { content: os, mode: 0o644 });
  host.on('sh', () => ({ exitCode: opts.kernel ? 0 : 1, stdout: '', stderr: '' }));
  host.on('wireguard-go', () => ({ exitCode: 0, stdout: `wireguard-go v${opts.version ?? '0.0.20220316'}\n`, stderr: '' }));
  host.on('apt-get', (argv) => (opts.aptFails && argv[1] === 'install' ? { exitCode: 100, stdout: '', stderr: 'E: Unable to locate package\n' } : { exitCode: 0, stdout: '', stderr: '' }));
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
    for (const opts of [{ kernel: true }, { version: '0.0.20230223' }]) {
      const { host, output } = fake(BOOKWORM, opts);
      await ensureUserspaceWireguard(host, 'backports', output, false);
      expect(apt(host)).toEqual([]);
    }
    const u = fake('ID=ubuntu\nVERSION_CODENAME=noble\nPRETTY_NAME="Ubuntu 24.04 LTS"\n');
    await expect(ensureUserspaceWireguard(u.host, 'backports', u.output, false)).rejects.toThrow('--userspace-wireguard backports: this host runs Ubuntu 24.04 LTS; Ubuntu has no backport of an offload-capable wireguard-go; nothing was changed');
    const f = fake(BOOKWORM, { aptFails: true });
    await expect(ensureUserspaceWireguard(f.host, 'backports', f.output, false)).rejects.toThrow('the backports source was removed again');
    expect([SOURCE, PIN, APT_RECORD_PATH].filter((p) => f.host.machine.files.has(p))).toEqual([]);
  });
});
