// chooseWireguardGo on fake facts: kernel module / offload-capable wireguard-go installed / the distribution's own
// package new enough (Debian 13) / only a backport (Debian 12) / neither (refused, naming release and candidate).
import { describe, expect, it } from 'vitest';
import { ValidationError } from './errors.js';
import { chooseWireguardGo, packageHasOffloads, parseAptPolicy, releaseLabel } from './wireguard-go-source.js';

const BOOKWORM = { id: 'debian', codename: 'bookworm', versionId: '12', prettyName: 'Debian GNU/Linux 12 (bookworm)' };
const TRIXIE = { id: 'debian', codename: 'trixie', versionId: '13', prettyName: 'Debian GNU/Linux 13 (trixie)' };
const OWN13 = { '0.0.20231211-1+b9': ['trixie'], '1:0.0.20231211-1': ['trixie-updates'] };
const JAMMY = { id: 'ubuntu', codename: 'jammy', versionId: '22.04', prettyName: 'Ubuntu 22.04.5 LTS' };

describe('packageHasOffloads', () => {
  it('compares the upstream release with 0.0.20230223 (epoch and Debian revision aside)', () => {
    expect(packageHasOffloads('0.0.20231211-1+b9')).toBe(true);
    expect(packageHasOffloads('0.0.20231211-1~bpo12+1')).toBe(true);
    expect(packageHasOffloads('0.0.20230223-1')).toBe(true);
    expect(packageHasOffloads('0.0.20230223')).toBe(true);
    expect(packageHasOffloads('0.0.20230223~rc1-1')).toBe(false);
    expect(packageHasOffloads('0.0.20220316-1+b4')).toBe(false);
    // An epoch bump is packaging, not a newer upstream: 1:0.0.20220316 still has no offloads.
    expect(packageHasOffloads('1:0.0.20220316-1')).toBe(false);
    expect(packageHasOffloads('2:0.0.20250522-1')).toBe(true);
    expect(packageHasOffloads('(none)')).toBe(false);
  });
});

describe('parseAptPolicy', () => {
  it('reads Installed and Candidate, "(none)" as absent', () => {
    const trixie = [
      'wireguard-go:',
      '  Installed: 0.0.20231211-1+b9',
      '  Candidate: 0.0.20231211-1+b9',
      '  Version table:',
      ' *** 0.0.20231211-1+b9 500',
      '        500 http://deb.debian.org/debian trixie/main amd64 Packages',
      '        100 /var/lib/dpkg/status',
      '     0.0.20220316-1+b4 -1',
      '         -1 http://203.0.113.1:8080/debian bookworm-backports/main amd64 Packages',
      '',
    ].join('\n');
    expect(parseAptPolicy(trixie)).toEqual({ installed: '0.0.20231211-1+b9', candidate: '0.0.20231211-1+b9', origins: { '0.0.20231211-1+b9': ['trixie'], '0.0.20220316-1+b4': ['bookworm-backports'] } });
    expect(parseAptPolicy('wireguard-go:\n  Installed: (none)\n  Candidate: 0.0.20220316-1+b4\n')).toEqual({ candidate: '0.0.20220316-1+b4', origins: {} });
    expect(parseAptPolicy('')).toEqual({ origins: {} });
  });
});

describe('chooseWireguardGo', () => {
  it('leaves everything alone with the kernel module', () => {
    const c = chooseWireguardGo({ os: TRIXIE, kernel: true, candidate: '0.0.20231211-1+b9' }, 'vps');
    expect(c.kind).toBe('kernel');
    expect(c.message).toContain('the WireGuard module, which carries the tunnel; nothing about wireguard-go is changed');
  });

  it("Debian 13: the distribution's own package, already installed: no source, no command", () => {
    const c = chooseWireguardGo({ os: TRIXIE, kernel: false, installed: '0.0.20231211-1+b9', candidate: '0.0.20231211-1+b9', origins: OWN13 }, 'vps', 'http://203.0.113.1:8080/debian');
    expect(c).toMatchObject({ kind: 'own', version: '0.0.20231211-1+b9', commands: [] });
    expect(c.message).toBe("--userspace-wireguard backports: Debian 13's own wireguard-go 0.0.20231211 has offloads; no backports source needed (0.0.20231211-1+b9 is installed: nothing to install) (--backports-mirror http://203.0.113.1:8080/debian is not used)");
  });

  it("Debian 13: the distribution's own package installed (exact candidate) when missing, or upgraded from an older one", () => {
    const fresh = chooseWireguardGo({ os: TRIXIE, kernel: false, candidate: '0.0.20231211-1+b9', origins: OWN13 }, 'vps');
    expect(fresh.kind).toBe('own');
    if (fresh.kind !== 'own') return;
    expect(fresh.commands.map((c) => c.argv.join(' '))).toEqual(['apt-get install -y -q --no-install-recommends wireguard-go=0.0.20231211-1+b9']);
    expect(fresh.message).toContain("Debian 13's own wireguard-go 0.0.20231211 has offloads; no backports source needed (installing 0.0.20231211-1+b9 from the host's own sources)");
    const up = chooseWireguardGo({ os: TRIXIE, kernel: false, installed: '0.0.20220316-1+b4', candidate: '1:0.0.20231211-1', origins: OWN13 }, 'vps');
    expect(up.kind === 'own' && up.commands[0]!.argv.at(-1)).toBe('wireguard-go=1:0.0.20231211-1');
    expect(up.message).toContain('upgrading 0.0.20220316-1+b4 to 1:0.0.20231211-1');
    // Installed offload-capable but older than the candidate: brought up to the candidate.
    const older = chooseWireguardGo({ os: TRIXIE, kernel: false, installed: '0.0.20230223-1', candidate: '0.0.20231211-1+b9', origins: OWN13 }, 'vps');
    expect(older.kind === 'own' && older.commands.length).toBe(1);
  });

  it('decides from apt, not the codename: an Ubuntu whose candidate has offloads uses it; a bookworm host with a newer own candidate too', () => {
    const noble = chooseWireguardGo({ os: { id: 'ubuntu', codename: 'noble', versionId: '24.04', prettyName: 'Ubuntu 24.04 LTS' }, kernel: false, candidate: '0.0.20231211-1', origins: { '0.0.20231211-1': ['noble'] } }, 'vps');
    expect(noble.message).toContain("Ubuntu 24.04's own wireguard-go 0.0.20231211 has offloads");
    expect(chooseWireguardGo({ os: BOOKWORM, kernel: false, candidate: '0.0.20250522-1', origins: { '0.0.20250522-1': ['bookworm-updates'] } }, 'vps').kind).toBe('own');
    // A newer candidate from a source the user added (their own pinned backports): no new source either, and said so.
    const user = chooseWireguardGo({ os: BOOKWORM, kernel: false, candidate: '0.0.20231211-1~bpo12+1', origins: { '0.0.20231211-1~bpo12+1': ['bookworm-backports'] } }, 'vps');
    expect(user.message).toContain('wireguard-go 0.0.20231211 from bookworm-backports (a source already on the host) has offloads; no backports source needed');
    // A candidate apt knows only from dpkg's status (no suite) is not taken for the archive's.
    expect(chooseWireguardGo({ os: BOOKWORM, kernel: false, candidate: '0.0.20250522-1' }, 'vps').kind).toBe('backport');
  });

  it('keeps an offload-capable wireguard-go installed from elsewhere (a backport of the user) as it is', () => {
    const c = chooseWireguardGo({ os: BOOKWORM, kernel: false, installed: '0.0.20231211-1~bpo12+1', candidate: '0.0.20231211-1~bpo12+1' }, 'vps');
    expect(c.kind).toBe('installed');
    expect(c.message).toBe('--userspace-wireguard backports: wireguard-go 0.0.20231211-1~bpo12+1 is installed and has TUN offloads; nothing to install');
  });

  it("Debian 12: the own candidate predates offloads, so bookworm-backports' pinned source", () => {
    for (const installed of [undefined, '0.0.20220316-1+b4']) {
      const c = chooseWireguardGo({ os: BOOKWORM, kernel: false, candidate: '0.0.20220316-1+b4', ...(installed ? { installed } : {}) }, 'vps');
      expect(c.kind).toBe('backport');
      if (c.kind !== 'backport') return;
      expect(c.plan.commands.at(-1)!.argv.at(-1)).toBe('wireguard-go/bookworm-backports');
      expect(c.message).toBe("--userspace-wireguard backports: Debian 12's own wireguard-go (0.0.20220316-1+b4) predates offloads (0.0.20230223); bookworm-backports has 0.0.20231211");
    }
  });

  it('refuses, before any change, where neither the archive nor a known backport has it: field, value, release, candidate, what to do', () => {
    const refuse = (facts: Parameters<typeof chooseWireguardGo>[0]) => {
      try {
        chooseWireguardGo(facts, 'vps');
      } catch (e) {
        expect(e).toBeInstanceOf(ValidationError);
        return e as ValidationError;
      }
      throw new Error('not refused');
    };
    const old = refuse({ os: JAMMY, kernel: false, candidate: '0.0.20211016-1', installed: '0.0.20211016-1' });
    expect(old.message).toBe('--userspace-wireguard backports: vps runs Ubuntu 22.04.5 LTS; its archive offers wireguard-go 0.0.20211016-1, which predates TUN offloads (0.0.20230223+), and egress knows a backport only for Debian 12 (bookworm-backports wireguard-go 0.0.20231211); nothing was changed');
    expect(old.hint).toContain('use --userspace-wireguard system (the distribution\'s own wireguard-go 0.0.20211016-1), install a wireguard-go 0.0.20230223 or newer yourself');
    const none = refuse({ os: { id: 'fedora', versionId: '41', prettyName: 'Fedora Linux 41' }, kernel: false });
    expect(none.message).toContain('vps runs Fedora Linux 41; apt has no wireguard-go candidate there');
    expect(none.hint).toContain('run apt-get update if its package lists are empty');
  });

  it('labels releases as Debian N / Ubuntu N, else by PRETTY_NAME', () => {
    expect(releaseLabel(TRIXIE)).toBe('Debian 13');
    expect(releaseLabel(JAMMY)).toBe('Ubuntu 22.04');
    expect(releaseLabel({ id: 'arch', prettyName: 'Arch Linux' })).toBe('Arch Linux');
  });
});
