// `--userspace-wireguard backports` decided from the host's facts, not from its codename alone: the kernel module when
// it is there; else the distribution's own wireguard-go when its archive already offers an offload-capable one (Debian
// 13: no apt source, no pin; installed only if missing or older); else a known backport (Debian 12: the pinned source);
// else a refusal before any change that names the release, the candidate and what to do.
import type { Command } from './host/host.js';
import { ValidationError } from './errors.js';
import { compareDebianVersions, upstreamVersion } from './debian-version.js';
import { OFFLOAD_WIREGUARD_GO } from './wireguard-impl.js';
import { KNOWN_BACKPORT, backportsPlan, type OsFacts } from './wireguard-backports.js';

/** What apt says of wireguard-go on the host (read with APT_POLICY_ARGV); "(none)" is left out. */
export interface AptPolicy {
  installed?: string;
  candidate?: string;
  /** The suites each version comes from ("trixie", "bookworm-backports"; dpkg's status file left out). */
  origins: Record<string, string[]>;
}

/** `apt-cache policy wireguard-go` in the C locale (its labels are translated otherwise); prints nothing without apt. */
export const APT_POLICY_ARGV = ['sh', '-c', 'LC_ALL=C apt-cache policy wireguard-go 2>/dev/null; true'];

/** Reads Installed/Candidate from `apt-cache policy` output. */
export function parseAptPolicy(text: string): AptPolicy {
  const field = (name: string) => {
    const v = new RegExp(`^\\s*${name}:\\s*(\\S+)\\s*$`, 'm').exec(text)?.[1];
    return v && v !== '(none)' ? v : undefined;
  };
  const installed = field('Installed');
  const candidate = field('Candidate');
  const origins: Record<string, string[]> = {};
  let version: string | undefined;
  for (const line of text.split('\n')) {
    const v = /^ (?:\*{3}| {3}) (\S+) -?\d+\s*$/.exec(line);
    if (v) {
      version = v[1]!;
      origins[version] ??= [];
      continue;
    }
    // "        500 http://deb.debian.org/debian trixie/main amd64 Packages"
    const src = /^\s+-?\d+ \S+ ([^/\s]+)\/\S+ \S+ Packages\s*$/.exec(line);
    if (src && version && !origins[version]!.includes(src[1]!)) origins[version]!.push(src[1]!);
  }
  return { ...(installed ? { installed } : {}), ...(candidate ? { candidate } : {}), origins };
}

/** Whether a wireguard-go package version ("0.0.20231211-1+b9", "1:…") is an upstream release with TUN/UDP offloads. */
export function packageHasOffloads(version: string): boolean {
  const up = upstreamVersion(version);
  if (!up) return false;
  try {
    return compareDebianVersions(up, OFFLOAD_WIREGUARD_GO) >= 0;
  } catch {
    return false;
  }
}

/** "Debian 13", "Ubuntu 24.04" (os-release ID and VERSION_ID), else its PRETTY_NAME. */
export function releaseLabel(os: OsFacts): string {
  const name = os.id === 'debian' ? 'Debian' : os.id === 'ubuntu' ? 'Ubuntu' : undefined;
  return name && os.versionId ? `${name} ${os.versionId}` : os.prettyName;
}

/** The host's facts the choice is made from. */
export interface WireguardGoFacts {
  os: OsFacts;
  /** The WireGuard kernel module is loaded or loadable. */
  kernel: boolean;
  /** dpkg's installed wireguard-go version, if any. */
  installed?: string;
  /** apt's candidate from the host's sources (apt-cache policy), if any. */
  candidate?: string;
  /** apt-cache policy's suites of each version (parseAptPolicy), to tell the distribution's own package from another. */
  origins?: Record<string, string[]>;
}

/** Whether `suite` is the release's own archive (codename, -updates, -security), not backports or a third party. */
function ownSuite(suite: string, codename: string | undefined): boolean {
  return !!codename && [codename, `${codename}-updates`, `${codename}-security`].includes(suite);
}

export type WireguardGoChoice =
  /** The kernel module carries the tunnel: nothing changes. */
  | { kind: 'kernel'; message: string }
  /** An offload-capable wireguard-go is installed already: nothing changes. */
  | { kind: 'installed'; version: string; message: string }
  /** The distribution's own package has offloads: `commands` install/upgrade it to `version` (empty: it is installed). */
  | { kind: 'own'; version: string; commands: Command[]; message: string }
  /** Only a backport has it: the pinned apt source, its files and commands. */
  | { kind: 'backport'; plan: ReturnType<typeof backportsPlan>; message: string };

/**
 * Picks how `--userspace-wireguard backports` gets an offload-capable wireguard-go on this host, or throws a
 * ValidationError (before any change) naming the field, the value, the release, the candidate and what to do.
 */
export function chooseWireguardGo(facts: WireguardGoFacts, hostLabel: string, mirror?: string): WireguardGoChoice {
  if (facts.kernel) return { kind: 'kernel', message: '--userspace-wireguard backports: this kernel has the WireGuard module, which carries the tunnel; nothing about wireguard-go is changed' };
  const release = releaseLabel(facts.os);
  const { installed, candidate } = facts;
  const unusedMirror = mirror ? ` (--backports-mirror ${mirror} is not used)` : '';
  // Where a version comes from: the release's own archive, another source already on the host, or unknown.
  const suites = (v: string) => facts.origins?.[v] ?? [];
  const isOwn = (v: string) => suites(v).some((s) => ownSuite(s, facts.os.codename));
  const whose = (v: string) => (isOwn(v) ? `${release}'s own wireguard-go ${upstreamVersion(v)}` : `wireguard-go ${upstreamVersion(v)} from ${suites(v)[0]} (a source already on the host)`);
  if (installed && packageHasOffloads(installed) && (!candidate || compareDebianVersions(installed, candidate) >= 0)) {
    if (isOwn(installed)) {
      return { kind: 'own', version: installed, commands: [], message: `--userspace-wireguard backports: ${whose(installed)} has offloads; no backports source needed (${installed} is installed: nothing to install)${unusedMirror}` };
    }
    return { kind: 'installed', version: installed, message: `--userspace-wireguard backports: wireguard-go ${installed} is installed and has TUN offloads; nothing to install` };
  }
  // A candidate from a source the host already has (its own archive, or one the user added) needs no new source.
  if (candidate && packageHasOffloads(candidate) && suites(candidate).length) {
    const env = { DEBIAN_FRONTEND: 'noninteractive' };
    const what = installed ? `upgrading ${installed} to ${candidate}` : `installing ${candidate}`;
    return {
      kind: 'own',
      version: candidate,
      // The exact candidate read (no apt-get update: no source changed), so what was shown is what is installed.
      commands: [{ argv: ['apt-get', 'install', '-y', '-q', '--no-install-recommends', `wireguard-go=${candidate}`], options: { change: true, env } }],
      message: `--userspace-wireguard backports: ${whose(candidate)} has offloads; no backports source needed (${what} from the host's own sources)${unusedMirror}`,
    };
  }
  const known = facts.os.codename ? KNOWN_BACKPORT[facts.os.codename] : undefined;
  if (known) {
    const plan = backportsPlan(facts.os, hostLabel, mirror);
    return { kind: 'backport', plan, message: `--userspace-wireguard backports: ${release}'s own wireguard-go (${candidate ?? installed ?? 'none'}) predates offloads (${OFFLOAD_WIREGUARD_GO}); ${known.suite} has ${known.version}` };
  }
  const offer = candidate ? `its archive offers wireguard-go ${candidate}, which predates TUN offloads (${OFFLOAD_WIREGUARD_GO}+)` : 'apt has no wireguard-go candidate there (no package in its sources, or no apt)';
  const backports = Object.entries(KNOWN_BACKPORT).map(([, b]) => `${b.suite} wireguard-go ${b.version}`).join(', ');
  throw new ValidationError(`--userspace-wireguard backports: ${hostLabel} runs ${facts.os.prettyName}; ${offer}, and egress knows a backport only for Debian 12 (${backports}); nothing was changed`, [{ path: '--userspace-wireguard', message: `no offload-capable wireguard-go for ${release}` }], {
    hint: `use --userspace-wireguard system (the distribution's own wireguard-go${candidate ? ` ${candidate}` : ''}), install a wireguard-go ${OFFLOAD_WIREGUARD_GO} or newer yourself (egress then uses it)${candidate ? '' : ', run apt-get update if its package lists are empty'}, or use a kernel with the WireGuard module`,
  });
}
