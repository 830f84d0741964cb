// The `hosts:` view launched apps get: only `files dns`, so no local daemon (systemd-resolved, mDNS) answers them.

/** Sources of the `hosts:` line of an nsswitch.conf ([] when it has none). */
export function hostsSources(nsswitch: string | undefined): string[] {
  const line = (nsswitch ?? '').split('\n').find((l) => /^\s*hosts\s*:/.test(l));
  if (!line) return [];
  return line.replace(/^\s*hosts\s*:/, '').replace(/#.*/, '').trim().split(/\s+/).filter(Boolean);
}

/**
 * The nsswitch.conf for apps of an egress when the host's sends host lookups to a local service (systemd-resolved,
 * mDNS) whose queries would leave by the normal route: `hosts: files dns`. Undefined when the host's already does only that.
 */
export function renderNsswitch(hostNsswitch: string | undefined): string | undefined {
  if (hostNsswitch === undefined) return undefined;
  const lines = hostNsswitch.split('\n');
  const i = lines.findIndex((l) => /^\s*hosts\s*:/.test(l));
  if (i < 0) return undefined;
  const sources = hostsSources(hostNsswitch);
  const kept = sources.filter((s) => s === 'files' || s === 'dns');
  if (kept.length === sources.length) return undefined;
  lines[i] = 'hosts: files dns';
  return `${lines.join('\n').replace(/\n*$/, '')}\n`;
}
