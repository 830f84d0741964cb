// allow / disallow / allow list against core's FakeHost: the real renderer and engine, an in-memory machine.
import { beforeEach, describe, expect, it } from 'vitest';
import { FakeHost, dumpMachine } from '@egress/core/testing';
import { runOn, testBundle } from '../testing/fake-cli.js';
import { connectionsOf } from './attach.js';

const bundle = testBundle();
const PASSWD: Record<string, string> = { appuser: 'appuser:x:1001:1001::/home/appuser:/bin/bash', alice: 'alice:x:1010:1010::/home/alice:/bin/sh', bob: 'bob:x:1011:44::/home/bob:/bin/sh' };

let host: FakeHost;
let groups: Record<string, { gid: number; members: string[] }>;
const cli = (argv: string[]) => runOn(host, argv);
const state = async () => JSON.parse((await host.readFile('/etc/egress/client.json'))!);
const table = () => [...host.machine.nft.values()].map((t) => t.body).join('\n');
const groupFile = () => Object.entries(groups).map(([n, g]) => `${n}:x:${g.gid}:${g.members.join(',')}`).join('\n') + '\n';

beforeEach(async () => {
  host = new FakeHost();
  host.on('sh', () => ({ exitCode: 0, stdout: '', stderr: '' }));
  groups = { video: { gid: 44, members: [] } };
  host.on('getent', (argv) => {
    const name = argv.at(-1)!;
    if (argv[1] === 'passwd') return PASSWD[name] ? { exitCode: 0, stdout: `${PASSWD[name]}\n`, stderr: '' } : { exitCode: 2, stdout: '', stderr: '' };
    const g = groups[name];
    return g ? { exitCode: 0, stdout: `${name}:x:${g.gid}:${g.members.join(',')}\n`, stderr: '' } : { exitCode: 2, stdout: '', stderr: '' };
  });
  host.on('groupadd', (argv) => {
    groups[argv.at(-1)!] = { gid: 990, members: [] };
    return { exitCode: 0, stdout: '', stderr: '' };
  });
  host.on('gpasswd', (argv) => {
    const [flag, user, group] = argv.slice(1);
    const g = groups[group!]!;
    g.members = flag === '--add' ? [...g.members, user!] : g.members.filter((m) => m !== user);
    return { exitCode: 0, stdout: '', stderr: '' };
  });
  await host.writeFile('/root/b.json', JSON.stringify(bundle), { mode: 0o600 });
  await host.writeFile('/etc/passwd', `${Object.values(PASSWD).join('\n')}\n`, { mode: 0o644 });
  await host.writeFile('/etc/group', groupFile(), { mode: 0o644 });
  expect((await cli(['enroll', '/root/b.json', '--user', 'appuser'])).code).toBe(0);
});

describe('allow / disallow on a fake host', () => {
  it('enrolling again with the same bundle keeps the policy and changes nothing', async () => {
    expect((await cli(['allow', '--user', 'alice'])).code).toBe(0);
    const before = dumpMachine(host.machine);
    const again = await cli(['enroll', '/root/b.json', '--user', 'appuser']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('nothing changed');
    expect((await state()).egresses[0].access).toEqual({ users: [{ name: 'alice', uid: 1010 }], groups: [] });
    expect(dumpMachine(host.machine)).toBe(before);
  });

  it('a new egress allows root and its bound user only: the kernel rule names uids 0 and 1001 (no cgroup selector here: rejected directly)', async () => {
    expect((await state()).egresses[0].access).toBeUndefined();
    expect(table()).toContain('ip saddr 10.77.0.2 ct direction original meta skuid != { 0, 1001 } meta l4proto tcp reject with tcp reset');
    const list = await cli(['allow', 'list', '--json']);
    expect(JSON.parse(list.stdout).egresses[0].allowedUids).toEqual([0, 1001]);
  });

  it('allow --user adds the uid to the kernel rule and the user to group egress; again changes nothing; disallow takes it back', async () => {
    const r = await cli(['allow', '--user', 'alice']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("allowed user alice on egress 'laptop' (uids allowed now: 0, 1001, 1010)");
    expect((await state()).egresses[0].access).toEqual({ users: [{ name: 'alice', uid: 1010 }], groups: [] });
    expect(table()).toContain('meta skuid != { 0, 1001, 1010 } meta l4proto tcp reject with tcp reset');
    expect(groups.egress).toEqual({ gid: 990, members: ['alice'] });
    expect(JSON.parse((await host.readFile('/etc/egress/public/laptop.json'))!).allowedUids).toEqual([0, 1001, 1010]);
    const before = dumpMachine(host.machine);
    const again = await cli(['allow', '--user', 'alice']);
    expect(again.stdout).toContain("user alice is already allowed on egress 'laptop': nothing changed");
    expect(dumpMachine(host.machine)).toBe(before);
    const dis = await cli(['disallow', '--user', 'alice']);
    expect(dis.code, dis.stderr).toBe(0);
    expect(table()).toContain('meta skuid != { 0, 1001 } meta l4proto tcp reject with tcp reset');
    expect(groups.egress!.members).toEqual([]);
  });

  it('allow --group expands the members (listed and by primary gid) at load time', async () => {
    groups.video!.members = ['alice'];
    await host.writeFile('/etc/group', groupFile(), { mode: 0o644 });
    const r = await cli(['allow', '--group', 'video']);
    expect(r.code, r.stderr).toBe(0);
    // alice is listed in /etc/group, bob has video as his primary group.
    expect(r.stdout).toContain('(uids allowed now: 0, 1001, 1010, 1011)');
    expect(table()).toContain('meta skuid != { 0, 1001, 1010, 1011 } meta l4proto tcp reject with tcp reset');
    expect(r.stderr).toContain("launch without sudo (run, run-as, attach) while the supervisor runs: its socket's ACL follows the policy");
  });

  it('--dry-run changes nothing; bad input is refused naming the field before anything changes', async () => {
    const before = dumpMachine(host.machine);
    const dry = await cli(['allow', '--user', 'alice', '--dry-run']);
    expect(dry.stdout).toContain("dry run: would have allowed user alice on egress 'laptop'");
    for (const [argv, why] of [
      [['allow'], /expected exactly one of --user USER and --group GROUP, got neither/],
      [['allow', '--user', 'alice', '--group', 'video'], /got both/],
      [['allow', '--user', 'nosuch'], /--user: no user 'nosuch' on this host/],
      [['allow', '--group', 'nosuch'], /--group: no group 'nosuch' on this host/],
      [['allow', '--user', 'Bad Name'], /--user: expected a user name/],
      [['allow', '--user', 'alice', '--egress', 'other'], /--egress: no egress named 'other' \(enrolled: laptop\)/],
      [['disallow', '--user', 'appuser'], /'appuser' is bound to egress 'laptop' by enroll --user and stays allowed while bound; nothing was changed/],
      [['allow', 'lists'], /allow: expected 'list' or nothing/],
    ] as Array<[string[], RegExp]>) {
      const r = await cli(argv);
      expect(r.code, argv.join(' ')).not.toBe(0);
      expect(r.stderr).toMatch(why);
    }
    expect(dumpMachine(host.machine)).toBe(before);
  });

  it('attach lists the connections a process already has open (they stay on their path)', () => {
    const ss = ['tcp ESTAB 0 0 192.0.2.2:40000 203.0.113.10:443 users:(("curl",pid=4242,fd=5))', 'tcp ESTAB 0 0 192.0.2.2:40001 203.0.113.10:443 users:(("curl",pid=42420,fd=5))', 'udp UNCONN 0 0 0.0.0.0:5353 0.0.0.0:* users:(("avahi",pid=42,fd=12))'].join('\n');
    expect(connectionsOf([4242], ss)).toEqual([ss.split('\n')[0]]);
    expect(connectionsOf([1], ss)).toEqual([]);
  });
});
