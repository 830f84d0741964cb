// run-as's display grant against a fake host (the real X server is in test/launch-cover.test.ts): what is run, as
// whom, what is taken back, and the refusals with the exact commands.
import { describe, expect, it } from 'vitest';
import { grantDisplay, invokerFromEnv, revokeDisplay, xhostHasUser, type CommandResult, type DisplayHost, type Invoker } from './display-access.js';

const ALICE: Invoker = { uid: 1000, gid: 1000, name: 'alice', home: '/home/alice' };

function fakeHost(opts: { tools?: string[]; xhostList?: string; sockets?: string[]; acl?: Record<string, string>; fail?: RegExp } = {}) {
  const calls: { argv: string[]; as?: string; env?: NodeJS.ProcessEnv }[] = [];
  const host: DisplayHost = {
    run: (argv, o) => {
      calls.push({ argv: [...argv], ...(o.as ? { as: o.as.name } : {}), ...(o.env ? { env: o.env } : {}) });
      const ok = (stdout = ''): CommandResult => ({ status: 0, stdout, stderr: '' });
      if (opts.fail && opts.fail.test(argv.join(' '))) return { status: 1, stdout: '', stderr: 'boom' };
      if (argv[0] === 'xhost' && argv.length === 1) return ok(opts.xhostList ?? 'access control enabled, only authorized clients can connect\n');
      if (argv[0] === 'getfacl') return ok(opts.acl?.[argv[argv.length - 1]!] ?? 'user::rwx\ngroup::---\nother::---\n');
      return ok();
    },
    has: (tool) => (opts.tools ?? ['xhost', 'setfacl', 'getfacl']).includes(tool),
    exists: () => true,
    isSocket: (p) => (opts.sockets ?? []).includes(p),
  };
  return { host, calls };
}

describe('invokerFromEnv', () => {
  const lookup = (uid: number) => (uid === 1000 ? { name: 'alice', gid: 1000, home: '/home/alice' } : undefined);
  it('takes sudo, then pkexec, and none for root or garbage', () => {
    expect(invokerFromEnv({ SUDO_UID: '1000', SUDO_GID: '1000', SUDO_USER: 'alice' }, lookup)).toEqual(ALICE);
    expect(invokerFromEnv({ PKEXEC_UID: '1000' }, lookup)).toEqual(ALICE);
    expect(invokerFromEnv({ SUDO_UID: '0' }, lookup)).toBeUndefined();
    expect(invokerFromEnv({ SUDO_UID: '1000;rm' }, lookup)).toBeUndefined();
    expect(invokerFromEnv({}, lookup)).toBeUndefined();
  });
});

describe('grantDisplay / revokeDisplay', () => {
  it('does nothing outside a graphical session', () => {
    const { host, calls } = fakeHost();
    expect(grantDisplay(host, {}, ALICE, 'appuser')).toEqual({ env: {}, grants: [], notes: [] });
    expect(calls).toEqual([]);
  });

  it('X11: xhost +SI:localuser:NAME as the invoking user with its DISPLAY/XAUTHORITY, and -SI:localuser:NAME after; never xhost +', () => {
    const { host, calls } = fakeHost();
    const env = { DISPLAY: ':0', XAUTHORITY: '/home/alice/.Xauthority' };
    const access = grantDisplay(host, env, ALICE, 'appuser');
    expect(access.env).toEqual({ DISPLAY: ':0' });
    expect(access.notes).toEqual(['display :0: granted to appuser alone (xhost +SI:localuser:appuser) until the app exits']);
    expect(revokeDisplay(host, access)).toEqual([]);
    const xenv = { DISPLAY: ':0', XAUTHORITY: '/home/alice/.Xauthority', HOME: '/home/alice' };
    expect(calls).toEqual([
      { argv: ['xhost'], as: 'alice', env: xenv },
      { argv: ['xhost', '+SI:localuser:appuser'], as: 'alice', env: xenv },
      { argv: ['xhost', '-SI:localuser:appuser'], as: 'alice', env: xenv },
    ]);
    expect(calls.some((c) => c.argv[0] === 'xhost' && c.argv[1] === '+')).toBe(false);
  });

  it('leaves an existing X11 grant alone (adds nothing, takes nothing back)', () => {
    expect(xhostHasUser('access control enabled\nSI:localuser:appuser\n', 'appuser')).toBe(true);
    expect(xhostHasUser('SI:localuser:appuser2\n', 'appuser')).toBe(false);
    const { host, calls } = fakeHost({ xhostList: 'access control enabled, only authorized clients can connect\nSI:localuser:appuser\n' });
    const access = grantDisplay(host, { DISPLAY: ':0' }, ALICE, 'appuser');
    expect(access.grants).toEqual([]);
    expect(access.notes[0]).toContain('appuser already had access');
    revokeDisplay(host, access);
    expect(calls.map((c) => c.argv.join(' '))).toEqual(['xhost']);
  });

  it('Wayland and audio: ACL x on the runtime dirs and rw on the sockets, absolute paths for the app; only new entries are removed', () => {
    const rt = '/run/user/1000';
    const { host, calls } = fakeHost({ sockets: [`${rt}/wayland-0`, `${rt}/pulse/native`, `${rt}/pipewire-0`], acl: { [`${rt}/pipewire-0`]: 'user::rw-\nuser:appuser:rw-\n' } });
    const access = grantDisplay(host, { WAYLAND_DISPLAY: 'wayland-0' }, ALICE, 'appuser');
    expect(access.env).toEqual({ WAYLAND_DISPLAY: `${rt}/wayland-0`, PULSE_SERVER: `unix:${rt}/pulse/native`, PIPEWIRE_REMOTE: `${rt}/pipewire-0` });
    const sets = calls.filter((c) => c.argv[0] === 'setfacl').map((c) => c.argv.join(' '));
    expect(sets).toEqual([`setfacl -m u:appuser:x -- ${rt}`, `setfacl -m u:appuser:rw -- ${rt}/wayland-0`, `setfacl -m u:appuser:x -- ${rt}/pulse`, `setfacl -m u:appuser:rw -- ${rt}/pulse/native`]);
    calls.length = 0;
    expect(revokeDisplay(host, access)).toEqual([]);
    // The mask our entry created goes too (setfacl refuses that while another named entry needs it).
    expect(calls.map((c) => c.argv.join(' '))).toEqual([
      `setfacl -x u:appuser -- ${rt}/pulse/native`,
      `setfacl -x m:: -- ${rt}/pulse/native`,
      `setfacl -x u:appuser -- ${rt}/pulse`,
      `setfacl -x m:: -- ${rt}/pulse`,
      `setfacl -x u:appuser -- ${rt}/wayland-0`,
      `setfacl -x m:: -- ${rt}/wayland-0`,
      `setfacl -x u:appuser -- ${rt}`,
      `setfacl -x m:: -- ${rt}`,
    ]);
  });

  it('refuses, before changing anything, when xhost or setfacl is missing, with the exact commands', () => {
    const noX = fakeHost({ tools: ['setfacl', 'getfacl'] });
    expect(() => grantDisplay(noX.host, { DISPLAY: ':0' }, ALICE, 'appuser')).toThrow(
      expect.objectContaining({
        message: 'run-as: cannot give appuser access to your display: xhost is not installed',
        hint: 'install it (Debian/Ubuntu: sudo apt-get install x11-xserver-utils), or grant the access yourself for this run: xhost +SI:localuser:appuser  ;  (after the app) xhost -SI:localuser:appuser',
      }),
    );
    expect(noX.calls).toEqual([]);
    const noAcl = fakeHost({ tools: ['xhost'], sockets: ['/run/user/1000/wayland-0'] });
    expect(() => grantDisplay(noAcl.host, { DISPLAY: ':0', WAYLAND_DISPLAY: 'wayland-0' }, ALICE, 'appuser')).toThrow(
      expect.objectContaining({ hint: expect.stringContaining('setfacl -m u:appuser:x /run/user/1000  ;  setfacl -m u:appuser:rw /run/user/1000/wayland-0') }),
    );
    expect(noAcl.calls).toEqual([]);
  });

  it('undoes what it did when a later step fails', () => {
    const { host, calls } = fakeHost({ sockets: ['/run/user/1000/wayland-0'], fail: /rw -- \/run\/user\/1000\/wayland-0/ });
    expect(() => grantDisplay(host, { DISPLAY: ':0', WAYLAND_DISPLAY: 'wayland-0' }, ALICE, 'appuser')).toThrow(/setfacl -m u:appuser:rw \/run\/user\/1000\/wayland-0 failed: boom/);
    expect(calls.slice(-3).map((c) => c.argv.join(' '))).toEqual(['setfacl -x u:appuser -- /run/user/1000', 'setfacl -x m:: -- /run/user/1000', 'xhost -SI:localuser:appuser']);
  });

  it('warns and changes nothing when the display cannot be reached as the invoking user (the app may not need it)', () => {
    const { host, calls } = fakeHost({ fail: /^xhost$/ });
    const access = grantDisplay(host, { DISPLAY: ':9' }, ALICE, 'appuser');
    expect(access).toEqual({
      env: {},
      grants: [],
      notes: ['warning: cannot reach display :9 as alice (boom): appuser gets no access to it; if the app needs it, check DISPLAY and XAUTHORITY or run: xhost +SI:localuser:appuser (and xhost -SI:localuser:appuser after)'],
    });
    expect(calls.map((c) => c.argv.join(' '))).toEqual(['xhost']);
  });
});
