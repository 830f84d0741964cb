// Who may use an egress: root, the users bound by `enroll --user`, and the users and groups of `egress-client allow`.
import type { Egress } from '../model/client.js';

/** The uids allowed to send through an egress (sorted, unique): root, bound users, allowed users, allowed groups' members. */
export function allowedUids(e: Egress): number[] {
  const uids = new Set<number>([0]);
  for (const u of e.selectors.users) uids.add(u.uid);
  for (const u of e.access?.users ?? []) uids.add(u.uid);
  for (const g of e.access?.groups ?? []) for (const m of g.members ?? []) uids.add(m);
  return [...uids].sort((a, b) => a - b);
}

/** One line per allowed entry, as `allow list` prints it. */
export function describeAccess(e: Egress): string[] {
  const out = ['root (always)'];
  for (const u of e.selectors.users) out.push(`user ${u.name} (uid ${u.uid}, bound by enroll --user)`);
  for (const u of e.access?.users ?? []) out.push(`user ${u.name} (uid ${u.uid})`);
  for (const g of e.access?.groups ?? []) out.push(`group ${g.name} (gid ${g.gid}; members now: ${(g.members ?? []).join(', ') || 'none'})`);
  return out;
}

/** Parsed /etc/group line. */
export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/** Parses /etc/group text (`name:x:gid:a,b`); malformed lines are skipped. */
export function parseGroupFile(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(':');
    if (f.length < 4 || !/^\d+$/.test(f[2]!)) continue;
    out.push({ name: f[0]!, gid: Number(f[2]), members: f[3]!.split(',').filter(Boolean) });
  }
  return out;
}

/** Parsed /etc/passwd line: name, uid and primary gid. */
export interface PasswdIds {
  name: string;
  uid: number;
  gid: number;
}

/** Parses /etc/passwd text (`name:x:uid:gid:…`); malformed lines are skipped. */
export function parsePasswdFile(text: string): PasswdIds[] {
  const out: PasswdIds[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(':');
    if (f.length < 7 || !/^\d+$/.test(f[2]!) || !/^\d+$/.test(f[3]!)) continue;
    out.push({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]) });
  }
  return out;
}

/**
 * The uids of a group: users listed as its members in /etc/group and users whose primary gid it is (nft's
 * `meta skgid` sees only the primary gid, so groups are expanded to uids). Sorted, unique.
 */
export function groupMemberUids(gid: number, groups: readonly GroupEntry[], passwd: readonly PasswdIds[]): number[] {
  const byName = new Map(passwd.map((p) => [p.name, p.uid]));
  const uids = new Set<number>();
  for (const g of groups) if (g.gid === gid) for (const m of g.members) if (byName.has(m)) uids.add(byName.get(m)!);
  for (const p of passwd) if (p.gid === gid) uids.add(p.uid);
  return [...uids].sort((a, b) => a - b);
}

/** Fills every allowed group's `members` from /etc/group and /etc/passwd text (pure). */
export function withGroupMembers<T extends { egresses: Egress[] }>(state: T, groupText: string, passwdText: string): T {
  if (!state.egresses.some((e) => e.access?.groups.length)) return state;
  const groups = parseGroupFile(groupText);
  const passwd = parsePasswdFile(passwdText);
  const egresses = state.egresses.map((e) =>
    e.access?.groups.length ? { ...e, access: { ...e.access, groups: e.access.groups.map((g) => ({ ...g, members: groupMemberUids(g.gid, groups, passwd) })) } } : e,
  );
  return { ...state, egresses };
}
