// Debian packages for a lab host, without installing them on the machine: `apt-get download` into a cache outside
// the repository (once), then `dpkg -i` inside the host, whose /usr, /etc and /var are private overlays.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { LabHostName } from './addresses.js';
import type { Lab } from './lab.js';

/** Where downloaded .deb files are kept between runs (the machine's /var is every lab host's lower layer). */
export const DEB_CACHE = '/var/cache/egress-lab/debs';

/** The version of a package installed on this machine (to pin companions such as systemd-resolved to it). */
export function installedVersion(pkg: string): string | undefined {
  try {
    return execFileSync('dpkg-query', ['-W', '-f=${Version}', pkg], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Paths of the .deb files of `specs` (`name` or `name=version`), downloading the missing ones into DEB_CACHE. */
export function cachedDebs(specs: readonly string[]): string[] {
  mkdirSync(DEB_CACHE, { recursive: true });
  const find = (spec: string): string | undefined => {
    const [name, version] = spec.split('=');
    const prefix = `${name}_${version ? version.replace(/^\d+:/, '').replace(/:/g, '%3a') : ''}`;
    return readdirSync(DEB_CACHE).find((f) => f.startsWith(prefix) && f.endsWith('.deb'));
  };
  const missing = specs.filter((s) => !find(s));
  if (missing.length) execFileSync('apt-get', ['download', ...missing], { cwd: DEB_CACHE, stdio: ['ignore', 'ignore', 'pipe'] });
  return specs.map((s) => {
    const f = find(s);
    if (!f) throw new Error(`lab: apt-get download ${s} left no .deb in ${DEB_CACHE}`);
    return join(DEB_CACHE, f);
  });
}

/** Installs `specs` inside a lab host with dpkg (maintainer scripts may not start services: policy-rc.d says no). */
export async function installDebs(lab: Lab, host: LabHostName, specs: readonly string[]): Promise<void> {
  const debs = cachedDebs(specs);
  for (const d of debs) if (!existsSync(d)) throw new Error(`lab: ${d} vanished`);
  const script = 'printf "#!/bin/sh\\nexit 101\\n" > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && DEBIAN_FRONTEND=noninteractive dpkg -i "$@"';
  const r = await lab.exec(host, ['sh', '-c', script, 'install-debs', ...debs], { timeoutMs: 180_000 });
  if (r.exitCode !== 0) throw new Error(`lab ${lab.name}: dpkg -i ${specs.join(' ')} in ${host} failed: ${r.stderr.trim() || r.stdout.trim()}`);
}
