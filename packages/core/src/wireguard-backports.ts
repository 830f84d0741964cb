// `--userspace-wireguard backports`: an offload-capable wireguard-go from the distribution's own backports, asked for
// by flag only — one apt source plus a pin so that nothing but wireguard-go ever comes from it; both files are recorded
// so deprovision/uninstall remove them.
import { z } from 'zod';
import type { Command } from './host/host.js';
import { ValidationError } from './errors.js';

export const USERSPACE_WIREGUARD = ['system', 'backports'] as const;
export type UserspaceWireguard = (typeof USERSPACE_WIREGUARD)[number];

/** The apt source egress adds (deb822) and the pin that limits it to wireguard-go. */
export const BACKPORTS_SOURCE_PATH = '/etc/apt/sources.list.d/egress-wireguard-go-backports.sources';
export const BACKPORTS_PIN_PATH = '/etc/apt/preferences.d/egress-wireguard-go-backports.pref';

/**
 * Distributions whose own archive lacks an offload-capable wireguard-go (0.0.20230223+) but whose backports have one,
 * by VERSION_CODENAME. Used only when the host's own candidate is older (chooseWireguardGo decides from apt's facts).
 */
export const KNOWN_BACKPORT: Record<string, { suite: string; uri: string; keyring: string; version: string }> = {
  bookworm: { suite: 'bookworm-backports', uri: 'http://deb.debian.org/debian', keyring: '/usr/share/keyrings/debian-archive-keyring.gpg', version: '0.0.20231211' },
};

/**
 * `--backports-mirror URL`: the archive to take the backports suite from instead of deb.debian.org (a user behind a
 * mirror or proxy). It goes into a deb822 file, so only a plain http(s) URL with no whitespace, credentials, query or
 * fragment is accepted; the suite is still checked against the distribution's keyring (Signed-By).
 */
export const BackportsMirror = z
  .string()
  .max(512)
  .regex(/^https?:\/\/[A-Za-z0-9.:[\]-]+(\/[A-Za-z0-9._~\-/%+]*)?$/, 'a plain http:// or https:// URL (host, optional port and path; no spaces, credentials, query or fragment)')
  .transform((u) => u.replace(/\/+$/, ''));

/** Parses `--backports-mirror`, naming the field, the value and what is allowed. */
export function parseBackportsMirror(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const r = BackportsMirror.safeParse(value);
  if (r.success) return r.data;
  const why = r.error.issues[0]?.message ?? 'invalid';
  throw new ValidationError(`--backports-mirror: got '${value.replace(/[^\x20-\x7e]/g, '?').slice(0, 120)}'; expected ${why}`, [{ path: '--backports-mirror', message: why }]);
}

/** Parses the flag's value, naming the field and what is allowed. */
export function parseUserspaceWireguard(value: string | undefined): UserspaceWireguard {
  if (value === undefined) return 'system';
  if ((USERSPACE_WIREGUARD as readonly string[]).includes(value)) return value as UserspaceWireguard;
  throw new ValidationError(`--userspace-wireguard: expected one of ${USERSPACE_WIREGUARD.join(', ')}, got '${value}'`, [{ path: '--userspace-wireguard', message: 'unknown value' }]);
}

/** /etc/os-release as the fields this needs. */
export interface OsFacts {
  id: string;
  codename?: string;
  /** VERSION_ID ("13", "24.04"), for messages. */
  versionId?: string;
  prettyName: string;
}

/** The files and commands that install wireguard-go from backports on `os`, or a ValidationError saying why it cannot. */
export function backportsPlan(os: OsFacts, hostLabel: string, mirror?: string): { files: Array<{ path: string; content: string }>; commands: Command[]; version: string } {
  const known = os.codename ? KNOWN_BACKPORT[os.codename] : undefined;
  const bp = known && mirror ? { ...known, uri: mirror } : known;
  if (!bp) {
    const why = os.id === 'ubuntu' ? 'Ubuntu has no backport of an offload-capable wireguard-go' : `egress knows a backport only for Debian 12 (bookworm-backports wireguard-go ${KNOWN_BACKPORT.bookworm!.version})`;
    throw new ValidationError(`--userspace-wireguard backports: ${hostLabel} runs ${os.prettyName}; ${why}; nothing was changed`, [{ path: '--userspace-wireguard', message: 'no backport for this distribution' }], {
      hint: 'use --userspace-wireguard system (the distribution\'s own wireguard-go), or a kernel with the WireGuard module',
    });
  }
  const source = [
    '# Added by egress (--userspace-wireguard backports): only wireguard-go comes from here (see the pin next to it).',
    'Types: deb',
    `URIs: ${bp.uri}`,
    `Suites: ${bp.suite}`,
    'Components: main',
    `Signed-By: ${bp.keyring}`,
    '',
  ].join('\n');
  const pin = [
    '# Added by egress: nothing from backports but wireguard-go.',
    'Package: *',
    `Pin: release n=${bp.suite}`,
    'Pin-Priority: -1',
    '',
    'Package: wireguard-go',
    `Pin: release n=${bp.suite}`,
    'Pin-Priority: 500',
    '',
  ].join('\n');
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  return {
    files: [{ path: BACKPORTS_SOURCE_PATH, content: source }, { path: BACKPORTS_PIN_PATH, content: pin }],
    commands: [
      // Only the backports source is read: a broken or slow unrelated source cannot fail this, and the other lists are
      // left as they were (List-Cleanup=0 keeps them).
      { argv: ['apt-get', 'update', '-q', '-o', `Dir::Etc::SourceList=${BACKPORTS_SOURCE_PATH}`, '-o', 'Dir::Etc::SourceParts=-', '-o', 'APT::Get::List-Cleanup=0'], options: { change: true, env } },
      { argv: ['apt-get', 'install', '-y', '-q', '--no-install-recommends', `wireguard-go/${bp.suite}`], options: { change: true, env } },
    ],
    version: bp.version,
  };
}

/**
 * The command that puts wireguard-go back as it was before backports (run after the source and pin are gone):
 * `previous` is the version installed before (Debian's own, reinstalled from the remaining sources: a downgrade), or
 * null when there was none (the backported one is purged). Only while the installed version is still `installed`
 * (one the user changed since is left alone).
 */
export function restoreWireguardGoCommand(previous: string | null, installed: string): Command {
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  const script = [
    'cur=$(dpkg-query -W -f=\'${Status} ${Version}\' wireguard-go 2>/dev/null)',
    'case "$cur" in "install ok installed $1") ;; *) echo "wireguard-go is $cur, not $1 (changed since egress installed it): left as it is"; exit 0;; esac',
    'if [ -z "$2" ]; then exec apt-get purge -y -q wireguard-go; fi',
    'exec apt-get install -y -q --no-install-recommends --allow-downgrades "wireguard-go=$2"',
  ].join('\n');
  return {
    argv: ['sh', '-c', script, 'egress-restore-wireguard-go', installed, previous ?? ''],
    options: { change: true, env, display: previous ? `apt-get install --allow-downgrades wireguard-go=${previous} (the version before egress changed it)` : 'apt-get purge wireguard-go (none was installed before egress)' },
  };
}

/**
 * Removes the backports indexes `apt-get update` downloaded, once no apt source names the suite any more (run after
 * the source is removed): apt ignores them, but /var/lib/apt/lists is then as before. A source of the user's own that
 * names the suite (even commented out) keeps them.
 */
export function dropBackportsListsCommand(): Command {
  const suites = [...new Set(Object.values(KNOWN_BACKPORT).map((b) => b.suite))];
  const script = 'for s in "$@"; do grep -qs -- "$s" /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources || rm -f /var/lib/apt/lists/*_dists_"$s"_*; done; true';
  return { argv: ['sh', '-c', script, 'egress-apt-lists', ...suites], options: { change: true, display: `remove apt's indexes of ${suites.join(', ')} (no source names it any more)` } };
}

/** The installed version of wireguard-go (dpkg), for the record that lets uninstall put it back. */
export const WIREGUARD_GO_VERSION_ARGV = ['sh', '-c', "dpkg-query -W -f='${Status} ${Version}' wireguard-go 2>/dev/null | sed -n 's/^install ok installed //p'; true"];

/** A command writing `content` to `path` (0644), echoed as a write. */
export function aptFileCommand(path: string, content: string): Command {
  return { argv: ['sh', '-c', 'umask 022 && mkdir -p "$(dirname "$1")" && cat > "$1"', 'egress-apt-file', path], options: { change: true, stdin: content, display: `write ${path}` } };
}
