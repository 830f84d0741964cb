import { describe, expect, it } from 'vitest';
import { ClientState, Egress, type EgressInput } from '../model/client.js';
import { policyRules } from '../render/client-nft-policy.js';
import { interfaceEgress } from '../testing/interface-egress.js';
import { allowedUids, groupMemberUids, parseGroupFile, parsePasswdFile, withGroupMembers } from './access.js';

const base: EgressInput = interfaceEgress();

const GROUP = ['root:x:0:', 'video:x:44:alice,bob,ghost', 'staff:x:50:carol', 'broken line', 'dev:x:1500:', ''].join('\n');
const PASSWD = ['root:x:0:0:root:/root:/bin/bash', 'alice:x:1010:1010::/home/alice:/bin/sh', 'bob:x:1011:1011::/home/bob:/bin/sh', 'carol:x:1012:50::/home/carol:/bin/sh', 'dave:x:1013:1500::/home/dave:/bin/sh', 'bad:x:notanumber:1:::'].join('\n');

describe('allow policy: who may use an egress', () => {
  it('an old state without access parses and means root plus the bound users only', () => {
    const e = Egress.parse(base);
    expect(e.access).toBeUndefined();
    expect(allowedUids(e)).toEqual([0, 1001]);
  });

  it('adds allowed users and the resolved members of allowed groups (sorted, unique)', () => {
    const e = Egress.parse({ ...base, access: { users: [{ name: 'otheruser', uid: 1002 }, { name: 'appuser', uid: 1001 }], groups: [{ name: 'video', gid: 44, members: [1011, 1010] }] } });
    expect(allowedUids(e)).toEqual([0, 1001, 1002, 1010, 1011]);
  });

  it('expands a group to the uids listed in /etc/group and those whose primary gid it is; unknown names are skipped', () => {
    const groups = parseGroupFile(GROUP);
    const passwd = parsePasswdFile(PASSWD);
    expect(groups.map((g) => g.name)).toEqual(['root', 'video', 'staff', 'dev']);
    expect(passwd.map((p) => p.name)).toEqual(['root', 'alice', 'bob', 'carol', 'dave']);
    expect(groupMemberUids(44, groups, passwd)).toEqual([1010, 1011]);
    expect(groupMemberUids(50, groups, passwd)).toEqual([1012]);
    expect(groupMemberUids(1500, groups, passwd)).toEqual([1013]);
    expect(groupMemberUids(9999, groups, passwd)).toEqual([]);
  });

  it('re-resolves members at load time, replacing what the saved state had', () => {
    const st = ClientState.parse({ version: 1, egresses: [{ ...base, access: { groups: [{ name: 'video', gid: 44, members: [4242] }] } }] });
    const fresh = withGroupMembers(st, GROUP, PASSWD);
    expect(fresh.egresses[0]!.access!.groups[0]!.members).toEqual([1010, 1011]);
    expect(st.egresses[0]!.access!.groups[0]!.members).toEqual([4242]);
    const none = ClientState.parse({ version: 1, egresses: [base] });
    expect(withGroupMembers(none, GROUP, PASSWD)).toBe(none);
  });

  it('refuses a malformed access entry naming the field', () => {
    const r = Egress.safeParse({ ...base, access: { users: [{ name: 'x', uid: -1 }] } });
    expect(r.success).toBe(false);
    expect(r.error!.issues[0]!.path).toEqual(['access', 'users', 0, 'uid']);
  });

  it('renders the kernel rule: other uids starting a connection from the egress address get the kill switch reject', () => {
    const e = Egress.parse({ ...base, address6: '2001:db8::130', access: { users: [{ name: 'otheruser', uid: 1002 }] } });
    expect(policyRules(e)).toEqual({
      rules: [
        'ip saddr 192.0.2.130 ct direction original meta skuid != { 0, 1001, 1002 } meta l4proto tcp reject with tcp reset comment "main: only allowed users send from 192.0.2.130"',
        'ip saddr 192.0.2.130 ct direction original meta skuid != { 0, 1001, 1002 } reject with icmpx admin-prohibited comment "main: only allowed users send from 192.0.2.130"',
        'ip6 saddr 2001:db8::130 ct direction original meta skuid != { 0, 1001, 1002 } meta l4proto tcp reject with tcp reset comment "main: only allowed users send from 2001:db8::130"',
        'ip6 saddr 2001:db8::130 ct direction original meta skuid != { 0, 1001, 1002 } reject with icmpx admin-prohibited comment "main: only allowed users send from 2001:db8::130"',
      ],
    });
    // With a cgroup selector, other uids go through a chain where sockets of the egress's cgroup return first.
    const cg = policyRules(Egress.parse({ ...base, selectors: { users: [], cgroups: ['egress/main'] } }));
    expect(cg.rules).toEqual(['ip saddr 192.0.2.130 ct direction original meta skuid != 0 jump allow_main comment "main: only allowed users send from 192.0.2.130"']);
    expect(cg.chain).toBe(
      [
        '\tchain allow_main {',
        '\t\tsocket cgroupv2 level 2 "egress/main" return comment "main: apps placed in cgroup egress/main (by root or the supervisor)"',
        '\t\tmeta l4proto tcp reject with tcp reset comment "main: not allowed to use this egress"',
        '\t\treject with icmpx admin-prohibited comment "main: not allowed to use this egress"',
        '\t}',
      ].join('\n'),
    );
    // Root alone is listed the way nft prints a one-element set: bare.
    const rootOnly = Egress.parse({ ...base, selectors: { users: [] } });
    expect(policyRules(rootOnly).rules[0]).toContain('meta skuid != 0 meta l4proto tcp');
  });
});
