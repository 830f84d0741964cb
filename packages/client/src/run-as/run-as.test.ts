// run-as pieces: environment scrubbing, setpriv argv, binding lookup, up check, exit status and signal passing.
import { existsSync, mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { boundEgressOf, interfaceIsUp, requireUp } from './bound-egress.js';
import { parsePasswdLine } from './passwd.js';
import { appEnvironment, setprivArgv, spawnForwarding } from './run-as.js';

const user = { name: 'appuser', uid: 1001, gid: 1002, home: '/home/appuser', shell: '/bin/bash' };

describe('run-as', () => {
  it('parses passwd lines', () => {
    expect(parsePasswdLine('appuser:x:1001:1002:App:/home/appuser:/bin/bash')).toEqual({ ...user, gecos: 'App' });
    expect(parsePasswdLine('broken:x:uid:1')).toBeUndefined();
  });

  it("sets the user's identity, keeps the rest of the environment and drops what would leak privilege", () => {
    const env = appEnvironment(
      { PATH: '/usr/bin', LANG: 'C.UTF-8', TERM: 'xterm', HOME: '/root', USER: 'root', SUDO_USER: 'admin', SUDO_UID: '1000', SSH_AUTH_SOCK: '/tmp/agent', XDG_RUNTIME_DIR: '/run/user/0', KRB5CCNAME: 'FILE:/tmp/k' },
      user,
    );
    expect(env).toEqual({ PATH: '/usr/bin', LANG: 'C.UTF-8', TERM: 'xterm', HOME: '/home/appuser', USER: 'appuser', LOGNAME: 'appuser', SHELL: '/bin/bash' });
  });

  it('becomes the user with setpriv: uid, gid, supplementary groups, no inheritable capabilities', () => {
    expect(setprivArgv(user, ['-weird-name', '--flag'])).toEqual(['setpriv', '--reuid=1001', '--regid=1002', '--init-groups', '--inh-caps=-all', '--', '-weird-name', '--flag']);
  });

  it('finds the egress a user is bound to, by name or uid, and refuses others with the enroll command', () => {
    const dir = mkdtempSync(join(tmpdir(), 'egress-runas-'));
    const state = join(dir, 'client.json');
    writeFileSync(state, JSON.stringify({ version: 1, egresses: [{ name: 'main', interface: 'egress0', kind: 'wireguard', dns: ['203.0.113.53'], priority: 7100, table: 7100, address4: '10.77.0.2', selectors: { users: [{ name: 'appuser', uid: 1001 }] } }] }));
    expect(boundEgressOf(user, state)).toEqual({ name: 'main', interface: 'egress0', kind: 'wireguard', dns: ['203.0.113.53'], priority: 7100, table: 7100, address4: '10.77.0.2' });
    expect(boundEgressOf({ name: 'renamed', uid: 1001 }, state).name).toBe('main');
    expect(() => boundEgressOf({ name: 'otheruser', uid: 1003 }, state)).toThrow("user 'otheruser' is not bound to an egress (enrolled: main)");
    // Hints: the user's own enroll command, never a system account egress did not create (enroll would refuse it).
    const hints: Array<[{ name: string; uid: number; gecos?: string }, string]> = [
      [{ name: 'otheruser', uid: 1003 }, 'egress-client enroll BUNDLE --user otheruser'],
      [{ name: 'daemon', uid: 1, gecos: 'daemon' }, 'enroll a dedicated user: egress-client enroll BUNDLE --user NEWNAME --create-user'],
      [{ name: 'appuser2', uid: 998, gecos: 'egress app user' }, 'egress-client enroll BUNDLE --user appuser2'],
    ];
    for (const [u, hint] of hints) expect(() => boundEgressOf(u, state), u.name).toThrow(expect.objectContaining({ hint }));
    expect(() => boundEgressOf(user, join(dir, 'missing.json'))).toThrow(/no egress is enrolled on this machine/);
  });

  it('checks that the egress interface is up from /sys, and refuses with `egress-client up` when it is not', () => {
    const sys = mkdtempSync(join(tmpdir(), 'egress-sysnet-'));
    mkdirSync(join(sys, 'egress0'));
    writeFileSync(join(sys, 'egress0', 'flags'), '0x1091\n');
    mkdirSync(join(sys, 'egress1'));
    writeFileSync(join(sys, 'egress1', 'flags'), '0x1090\n');
    expect(interfaceIsUp('egress0', sys)).toBe(true);
    expect(interfaceIsUp('egress1', sys)).toBe(false);
    expect(interfaceIsUp('egress9', sys)).toBe(false);
    expect(() => requireUp({ name: 'main', interface: 'egress0', kind: 'wireguard' }, 'appuser', sys)).not.toThrow();
    try {
      requireUp({ name: 'work', interface: 'egress1', kind: 'wireguard' }, 'appuser', sys);
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).toBe("egress 'work' is down (interface egress1 is missing or down): its kill switch would refuse every connection appuser makes");
      expect((err as { hint: string }).hint).toBe('egress-client up work');
    }
  });

  it("returns the app's exit code, or the signal that killed it", async () => {
    expect(await spawnForwarding(['sh', '-c', 'exit 7'], process.env, false)).toEqual({ code: 7 });
    expect(await spawnForwarding(['sh', '-c', 'kill -TERM $$'], process.env, false)).toEqual({ signal: 'SIGTERM' });
    await expect(spawnForwarding(['/nonexistent/app'], process.env, false)).rejects.toThrow(/cannot start \/nonexistent\/app/);
  });

  it('forwards SIGTERM to the app and removes its handlers afterwards', async () => {
    const before = process.listenerCount('SIGTERM');
    const ready = join(mkdtempSync(join(tmpdir(), 'egress-sig-')), 'ready');
    const p = spawnForwarding(['sh', '-c', `trap "exit 42" TERM; : > ${ready}; while :; do sleep 0.05; done`], process.env, false);
    for (let i = 0; i < 200 && !existsSync(ready); i++) await new Promise((r) => setTimeout(r, 25));
    expect(process.listenerCount('SIGTERM')).toBe(before + 1);
    process.emit('SIGTERM', 'SIGTERM');
    expect(await p).toEqual({ code: 42 });
    expect(process.listenerCount('SIGTERM')).toBe(before);
  });
});
