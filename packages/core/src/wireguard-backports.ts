// `--userspace-wireguard backports`: an offload-capable wireguard-go from the distribution's own backports, asked for
// by flag only — one apt source plus a pin so that nothing but wireguard-go ever comes from it; both files are recorded
// so deprovision/uninstall remove them.
import type { Command } from './host/host.js';
import { ValidationError } from './errors.js';

export const USERSPACE_WIREGUARD = ['system', 'backports'] as const;
export type UserspaceWireguard = (typeof USERSPACE_WIREGUARD)[number];

/** The apt source egress adds (deb822) and the pin that limits it to wireguard-go. */
export const BACKPORTS_SOURCE_PATH = '/etc/apt/sources.list.d/egress-wireguard-go-backports.sources';
export const BACKPORTS_PIN_PATH = '/etc/apt/preferences.d/egress-wireguard-go-backports.pref';

/** Distributions with an offload-capable wireguard-go (0.0.20230223+) in their backports, by VERSION_CODENAME. */
const BACKPORTS: Record<string, { suite: string; uri: string; keyring: string; version: string }> = {
  bookworm: { suite: 'bookworm-backports', uri: 'http://deb.debian.org/debian', keyring: '/usr/share/keyrings/debian-archive-keyring.gpg', version: '0.0.20231211' },
};

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
  prettyName: string;
}

/** The files and commands that install wireguard-go from backports on `os`, or a ValidationError saying why it cannot. */
export function backportsPlan(os: OsFacts, hostLabel: string): { files: Array<{ path: string; content: string }>; commands: Command[]; version: string } {
  const bp = os.codename ? BACKPORTS[os.codename] : undefined;
  if (!bp) {
    const why = os.id === 'ubuntu' ? 'Ubuntu has no backport of an offload-capable wireguard-go' : `egress knows a backport only for Debian 12 (bookworm-backports wireguard-go ${BACKPORTS.bookworm!.version})`;
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
      { argv: ['apt-get', 'update', '-q'], options: { change: true, env } },
      { argv: ['apt-get', 'install', '-y', '-q', '--no-install-recommends', `wireguard-go/${bp.suite}`], options: { change: true, env } },
    ],
    version: bp.version,
  };
}

/** A command writing `content` to `path` (0644), echoed as a write. */
export function aptFileCommand(path: string, content: string): Command {
  return { argv: ['sh', '-c', 'umask 022 && mkdir -p "$(dirname "$1")" && cat > "$1"', 'egress-apt-file', path], options: { change: true, stdin: content, display: `write ${path}` } };
}
