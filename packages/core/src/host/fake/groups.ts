// The fake host's group database: `getent group`, `groupadd`, `groupdel` and `gpasswd` on /etc/group in its files.
// A machine with no group left has no /etc/group (so a snapshot before the first groupadd compares equal after).
import type { RunResult } from '../host.js';
import type { FakeMachine } from './state.js';

const GROUP_FILE = '/etc/group';
const ok = (stdout = ''): RunResult => ({ exitCode: 0, stdout, stderr: '' });
const fail = (stderr: string, exitCode: number): RunResult => ({ exitCode, stdout: '', stderr: `${stderr}\n` });

function lines(m: FakeMachine): string[] {
  return (m.files.get(GROUP_FILE)?.content ?? '').split('\n').filter(Boolean);
}

function save(m: FakeMachine, all: string[]): void {
  if (all.length === 0) m.files.delete(GROUP_FILE);
  else m.files.set(GROUP_FILE, { content: `${all.join('\n')}\n`, mode: m.files.get(GROUP_FILE)?.mode ?? 0o644 });
}

/** Runs a group command against the machine; undefined for other commands (and `getent passwd`). */
export function fakeGroups(m: FakeMachine, cmd: string, args: string[]): RunResult | undefined {
  const all = lines(m);
  const find = (name: string) => all.findIndex((l) => l.split(':')[0] === name);
  const name = args.filter((a) => !a.startsWith('-')).at(-1) ?? '';
  if (cmd === 'getent' && args[0] === 'group') {
    const i = find(name);
    return i >= 0 ? ok(`${all[i]}\n`) : fail('', 2);
  }
  if (cmd === 'groupadd') {
    if (find(name) >= 0) return fail(`groupadd: group '${name}' already exists`, 9);
    const used = all.map((l) => Number(l.split(':')[2]));
    let gid = args.includes('--system') ? 999 : 1000;
    while (used.includes(gid)) gid += args.includes('--system') ? -1 : 1;
    save(m, [...all, `${name}:x:${gid}:`]);
    return ok();
  }
  if (cmd === 'groupdel') {
    const i = find(name);
    if (i < 0) return fail(`groupdel: group '${name}' does not exist`, 6);
    save(m, all.filter((_, j) => j !== i));
    return ok();
  }
  if (cmd === 'gpasswd') {
    const [flag, user, group] = args;
    const i = find(group ?? '');
    if (i < 0) return fail(`gpasswd: group '${group}' does not exist in /etc/group`, 3);
    const f = all[i]!.split(':');
    const members = (f[3] ?? '').split(',').filter(Boolean);
    f[3] = (flag === '--add' ? [...new Set([...members, user!])] : members.filter((x) => x !== user)).join(',');
    all[i] = f.join(':');
    save(m, all);
    return ok();
  }
  return undefined;
}
