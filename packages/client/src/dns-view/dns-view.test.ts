import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bypassFindings, bypassFixes, detectResolverDaemons } from './daemons.js';
import { hostsSources, renderNsswitch } from './nsswitch.js';
import { daemonWarning } from './report.js';
import { planDnsView, viewArgv, viewScript } from './view.js';

const UBUNTU = 'passwd: files systemd\nhosts:          files mdns4_minimal [NOTFOUND=return] resolve [!UNAVAIL=return] dns myhostname\nnetworks: files\n';

/** A root directory with an nsswitch.conf and, optionally, listening Unix sockets where nscd and resolved keep theirs. */
async function fakeRoot(nsswitch: string, sockets: string[]): Promise<{ root: string; close: () => void }> {
  const root = mkdtempSync(join(tmpdir(), 'egress-dnsview-'));
  mkdirSync(join(root, 'etc'));
  writeFileSync(join(root, 'etc/nsswitch.conf'), nsswitch);
  const servers = [];
  for (const s of sockets) {
    mkdirSync(join(root, s, '..'), { recursive: true });
    const srv = createServer();
    await new Promise<void>((res) => srv.listen(join(root, s), res));
    servers.push(srv);
  }
  return { root, close: () => servers.forEach((s) => s.close()) };
}

describe('dns view', () => {
  it('reads the hosts sources and renders hosts: files dns only when something else is there', () => {
    expect(hostsSources(UBUNTU)).toEqual(['files', 'mdns4_minimal', '[NOTFOUND=return]', 'resolve', '[!UNAVAIL=return]', 'dns', 'myhostname']);
    expect(renderNsswitch(UBUNTU)).toBe('passwd: files systemd\nhosts: files dns\nnetworks: files\n');
    expect(renderNsswitch('hosts: files dns\n')).toBeUndefined();
  });

  it('finds nscd and systemd-resolved by their sockets and the hosts line, and says what to do', async () => {
    const f = await fakeRoot(UBUNTU, ['run/nscd/socket', 'run/systemd/resolve/io.systemd.Resolve']);
    try {
      const d = detectResolverDaemons(f.root);
      expect(d.nscdSockets).toEqual([join(f.root, 'run/nscd/socket')]);
      expect(d.resolvedSocket).toBe(join(f.root, 'run/systemd/resolve/io.systemd.Resolve'));
      expect(bypassFindings(d)).toHaveLength(3);
      expect(bypassFixes(d).join('\n')).toMatch(/enable-cache hosts no/);
      expect(daemonWarning(d, 'appuser')).toMatch(/^name lookups of appuser's own processes would leave directly: nscd answers host lookups/);
      const plan = planDnsView('main', ['203.0.113.53'], d, UBUNTU)!;
      expect(plan).toEqual({
        binds: [{ from: '/run/egress/dns-view/main/nsswitch.conf', to: '/etc/nsswitch.conf' }, { from: '/run/egress/dns-view/main/resolv.conf', to: '/etc/resolv.conf' }],
        hide: [d.nscdSockets[0], d.resolvedSocket],
      });
      expect(viewScript(plan)).toBe(`set -e; mount --bind '/run/egress/dns-view/main/nsswitch.conf' '/etc/nsswitch.conf'; mount --bind '/run/egress/dns-view/main/resolv.conf' '/etc/resolv.conf'; mount --bind /dev/null '${d.nscdSockets[0]}'; mount --bind /dev/null '${d.resolvedSocket}'; exec "$@"`);
      expect(viewArgv(plan).slice(0, 5)).toEqual(['unshare', '--mount', '--propagation', 'private', '--']);
      expect(planDnsView('main', ['203.0.113.53'], d, UBUNTU, true)).toEqual({ binds: [], hide: plan.hide });
    } finally {
      f.close();
    }
  });

  it('needs no view (no extra start-up step) when nothing local answers lookups', async () => {
    const f = await fakeRoot('hosts: files dns\n', []);
    try {
      const d = detectResolverDaemons(f.root);
      expect(d).toEqual({ nscdSockets: [], hosts: ['files', 'dns'], loopbackResolvers: [] });
      expect(planDnsView('main', ['203.0.113.53'], d, 'hosts: files dns\n')).toBeUndefined();
      expect(daemonWarning(d, 'appuser')).toBeUndefined();
    } finally {
      f.close();
    }
  });

  it('gives apps a view with the egress resolv.conf when resolv.conf names only a loopback stub (no socket, no resolve)', async () => {
    const f = await fakeRoot('hosts: files dns\n', []);
    try {
      writeFileSync(join(f.root, 'etc/resolv.conf'), '# systemd-resolved stub\nnameserver 127.0.0.53\noptions edns0 trust-ad\n');
      const d = detectResolverDaemons(f.root);
      expect(d.loopbackResolvers).toEqual(['127.0.0.53']);
      // Not a bypass for the user's own processes (nft redirects 127.0.0.53), so enroll/doctor stay quiet.
      expect(bypassFindings(d)).toEqual([]);
      expect(planDnsView('main', ['203.0.113.53'], d, 'hosts: files dns\n')).toEqual({ binds: [{ from: '/run/egress/dns-view/main/resolv.conf', to: '/etc/resolv.conf' }], hide: [] });
      // An egress without resolvers has nothing to name: no view.
      expect(planDnsView('main', [], d, 'hosts: files dns\n')).toBeUndefined();
    } finally {
      f.close();
    }
  });

  it("ignores 'resolve' in the hosts line when resolved's socket is absent, and a plain file where a socket should be", async () => {
    const f = await fakeRoot('hosts: files resolve dns\n', []);
    try {
      mkdirSync(join(f.root, 'run/nscd'), { recursive: true });
      writeFileSync(join(f.root, 'run/nscd/socket'), '');
      expect(bypassFindings(detectResolverDaemons(f.root))).toEqual([]);
    } finally {
      f.close();
    }
  });

  it("leaves nscd alone when its hosts cache is off ('enable-cache hosts no')", async () => {
    const f = await fakeRoot('hosts: files dns\n', ['run/nscd/socket']);
    try {
      expect(detectResolverDaemons(f.root).nscdSockets).toHaveLength(1);
      writeFileSync(join(f.root, 'etc/nscd.conf'), '\tenable-cache\t\tpasswd\t\tyes\n\tenable-cache\t\thosts\t\tno\n');
      expect(detectResolverDaemons(f.root).nscdSockets).toEqual([]);
    } finally {
      f.close();
    }
  });
});
