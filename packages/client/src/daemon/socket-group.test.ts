// The group `egress` of the supervisor's socket on a fake host: enroll creates it and records it as egress's own;
// the last uninstall removes it only then (a pre-existing group named egress, or one made again since, is kept).
import { beforeEach, describe, expect, it } from 'vitest';
import { FakeHost } from '@egress/core/testing';
import { runOn, testBundle } from '../testing/fake-cli.js';
import type { ClientState } from '@egress/core/model/client';
import { CREATED_GROUP_PATH } from './socket-group.js';
import { socketAcl } from './socket-start.js';

const PASSWD: Record<string, string> = { appuser: 'appuser:x:1001:1001::/home/appuser:/bin/bash', deskuser: 'deskuser:x:1002:1002::/home/deskuser:/bin/bash' };
let host: FakeHost;
const cli = (argv: string[]) => runOn(host, argv);
const groupLine = async () => (await host.run(['getent', 'group', 'egress'])).stdout.trim();

beforeEach(async () => {
  host = new FakeHost();
  host.on('sh', () => ({ exitCode: 0, stdout: '', stderr: '' })); // preflight: every tool and WireGuard present
  host.on('getent', (argv) => (argv[1] === 'group' ? undefined : PASSWD[argv.at(-1)!] ? { exitCode: 0, stdout: `${PASSWD[argv.at(-1)!]}\n`, stderr: '' } : { exitCode: 2, stdout: '', stderr: '' }));
  await host.writeFile('/root/b.json', JSON.stringify(testBundle()), { mode: 0o600 });
  const second = testBundle();
  Object.assign(second, { name: 'desk' });
  Object.assign(second.server, { endpoint: '198.51.100.9:51820', address4: '10.78.0.1' });
  Object.assign(second.client, { address4: '10.78.0.2' });
  Object.assign(second.tunnel, { subnet4: '10.78.0.0/24' });
  await host.writeFile('/root/desk.json', JSON.stringify(second), { mode: 0o600 });
});

describe('group egress (the supervisor socket group)', () => {
  it('enroll creates it and records it; uninstall of one egress keeps it, of the last removes it and the record', async () => {
    const r = await cli(['enroll', '/root/b.json', '--user', 'appuser']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("created group 'egress' (the supervisor's socket; the last uninstall removes it)");
    expect(await groupLine()).toBe('egress:x:999:');
    expect(host.machine.files.get(CREATED_GROUP_PATH)).toMatchObject({ mode: 0o600 });
    expect(JSON.parse((await host.readFile(CREATED_GROUP_PATH))!)).toEqual({ version: 1, group: 'egress', gid: 999 });
    const d = await cli(['enroll', '/root/desk.json', '--user', 'deskuser']);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stderr).not.toContain('created group');
    expect((await cli(['uninstall', 'desk'])).code).toBe(0);
    expect(await groupLine()).toBe('egress:x:999:');
    const u = await cli(['uninstall', 'laptop']);
    expect(u.code, u.stderr).toBe(0);
    expect(await groupLine()).toBe('');
    expect(host.changes()).toContain('groupdel egress');
    expect(await host.readFile(CREATED_GROUP_PATH)).toBeUndefined();
  });

  it('a group named egress that was there before enroll is used, not recorded, and left by uninstall (members kept)', async () => {
    await host.writeFile('/etc/group', 'root:x:0:\negress:x:120:alice\n', { mode: 0o644 });
    const r = await cli(['enroll', '/root/b.json', '--user', 'appuser']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('created group');
    expect(await host.readFile(CREATED_GROUP_PATH)).toBeUndefined();
    const u = await cli(['uninstall', 'laptop']);
    expect(u.code, u.stderr).toBe(0);
    expect(u.stderr).toContain("group 'egress' left in place: it existed before egress-client (egress did not create it)");
    expect(await groupLine()).toBe('egress:x:120:alice');
    expect(host.changes().some((c) => c.startsWith('groupdel'))).toBe(false);
  });

  it('a group egress removed by hand and made again (another gid) after enroll is not egress’s any more: kept', async () => {
    expect((await cli(['enroll', '/root/b.json', '--user', 'appuser'])).code).toBe(0);
    await host.run(['groupdel', 'egress']);
    await host.run(['groupadd', 'egress']);
    expect(await groupLine()).toBe('egress:x:1000:');
    const u = await cli(['uninstall', 'laptop']);
    expect(u.code, u.stderr).toBe(0);
    expect(await groupLine()).toBe('egress:x:1000:');
    expect(await host.readFile(CREATED_GROUP_PATH)).toBeUndefined();
  });

  it('the socket ACL names every allowed user (bound, allowed, members of allowed groups) and allowed group, never root', async () => {
    expect((await cli(['enroll', '/root/b.json', '--user', 'appuser'])).code).toBe(0);
    const state = JSON.parse((await host.readFile('/etc/egress/client.json'))!) as ClientState;
    expect(socketAcl(state)).toBe('u::rw-,g::rw-,o::---,u:1001:rw-,m::rw-');
    const e = state.egresses[0]!;
    const allowed = { ...state, egresses: [{ ...e, access: { users: [{ name: 'alice', uid: 1010 }], groups: [{ name: 'video', gid: 44, members: [1011, 1001] }] } }] };
    expect(socketAcl(allowed)).toBe('u::rw-,g::rw-,o::---,u:1001:rw-,u:1010:rw-,u:1011:rw-,g:44:rw-,m::rw-');
  });

  it('a run killed right after groupadd (the record says egress was creating it) is finished: enroll again completes it, uninstall removes it', async () => {
    host.failOn('write /etc/egress/client-created-group.json', { nth: 2 });
    const r = await cli(['enroll', '/root/b.json', '--user', 'appuser']);
    // The enrollment itself stands; the group's setup is reported.
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("warning: setting up group 'egress' for the supervisor's socket failed");
    expect(await groupLine()).toBe('egress:x:999:');
    expect(JSON.parse((await host.readFile(CREATED_GROUP_PATH))!)).toEqual({ version: 1, group: 'egress' });
    host.clearFailures();
    expect((await cli(['enroll', '/root/b.json', '--user', 'appuser'])).code).toBe(0);
    expect(JSON.parse((await host.readFile(CREATED_GROUP_PATH))!)).toEqual({ version: 1, group: 'egress', gid: 999 });
    expect((await cli(['uninstall', 'laptop'])).code).toBe(0);
    expect(await groupLine()).toBe('');
  });
});
