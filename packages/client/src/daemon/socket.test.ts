import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ClientState } from '@egress/core/model/client';
import { interfaceEgress } from '@egress/core/testing';
import { parseStat, parseStatusIds, refusal } from './proc-facts.js';
import { runRequest, type OpsContext } from './socket-ops.js';
import { MAX_REQUEST_BYTES, parseRequest } from './socket-protocol.js';

describe('supervisor socket requests (schema)', () => {
  it('accepts the four operations, strictly', () => {
    expect(parseRequest('{"op":"ping"}')).toEqual({ ok: true, request: { op: 'ping' } });
    expect(parseRequest('{"op":"place","pid":42,"egress":"main"}')).toEqual({ ok: true, request: { op: 'place', pid: 42, egress: 'main' } });
    expect(parseRequest('{"op":"attach","pid":42,"tree":true}')).toEqual({ ok: true, request: { op: 'attach', pid: 42, tree: true } });
    expect(parseRequest('{"op":"detach","pid":7}')).toEqual({ ok: true, request: { op: 'detach', pid: 7 } });
  });

  const hostile: Array<[string, RegExp]> = [
    ['not json', /not JSON/],
    ['', /not JSON/],
    ['[]', /request: expected op/],
    ['null', /expected op/],
    ['"place"', /expected op/],
    ['{"op":"run","cmd":"rm -rf /"}', /op: expected op 'ping', 'place', 'attach' or 'detach', got "run"/],
    ['{"op":"place","pid":"42"}', /pid: expected a process id/],
    ['{"op":"place","pid":-1}', /pid: expected a process id 1-4194304, got -1/],
    ['{"op":"place","pid":0}', /pid: /],
    ['{"op":"place","pid":1.5}', /pid: expected a whole-number process id/],
    ['{"op":"place","pid":99999999}', /pid: /],
    ['{"op":"place","pid":42,"egress":"../x"}', /egress: /],
    ['{"op":"place","pid":42,"cmd":"sh"}', /unrecognized|Unrecognized/],
    ['{"op":"attach","pid":42,"tree":"yes"}', /tree: /],
    ['{"op":"ping","uid":0}', /unrecognized|Unrecognized/],
    [`{"op":"place","pid":42,"egress":"${'a'.repeat(MAX_REQUEST_BYTES)}"}`, /request too large/],
  ];
  it.each(hostile)('refuses %j with a reason naming the field', (line, why) => {
    const r = parseRequest(line);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error).toMatch(why);
  });
});

describe('/proc parsing', () => {
  it('counts stat fields after the last parenthesis (comm may hold spaces and parens)', () => {
    const stat = '1234 (evil) (x) 1 2) S 1000 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 100 18446744073709551615';
    expect(parseStat(stat)).toEqual({ state: 'S', ppid: 1000, flags: 4194560, startTime: 987654 });
    expect(parseStat('garbage')).toBeUndefined();
  });

  it('reads all four uids and gids', () => {
    expect(parseStatusIds('Name:\tsh\nUid:\t1002\t1002\t1002\t1002\nGid:\t1002\t1002\t1002\t1002\n')).toEqual({ uids: [1002, 1002, 1002, 1002], gids: [1002, 1002, 1002, 1002] });
    expect(parseStatusIds('Name:\tsh\n')).toBeUndefined();
  });

  const p = (o: Partial<Parameters<typeof refusal>[0] & object> = {}) => ({ pid: 50, state: 'S', ppid: 40, flags: 0, startTime: 1, uids: [1002, 1002, 1002, 1002], gids: [1002, 1002, 1002, 1002], ...o });
  it('refuses PID 1, the supervisor, gone, kernel threads, zombies, setuid and other users; lets the owner and root', () => {
    expect(refusal(p(), 1, 0, 9)).toMatch(/pid 1/);
    expect(refusal(p(), 9, 0, 9)).toMatch(/supervisor itself/);
    expect(refusal(undefined, 50, 1002, 9)).toMatch(/no process 50/);
    expect(refusal(p({ flags: 0x00200000 }), 50, 0, 9)).toMatch(/kernel thread/);
    expect(refusal(p({ ppid: 2 }), 50, 0, 9)).toMatch(/kernel thread/);
    expect(refusal(p({ state: 'Z' }), 50, 1002, 9)).toMatch(/has exited/);
    expect(refusal(p({ uids: [1002, 0, 0, 0] }), 50, 1002, 9)).toMatch(/setuid/);
    expect(refusal(p({ gids: [1002, 5, 5, 5] }), 50, 1002, 9)).toMatch(/setgid/);
    expect(refusal(p(), 50, 1003, 9)).toMatch(/belongs to uid 1002, not to you \(uid 1003\)/);
    expect(refusal(p(), 50, 1002, 9)).toBeUndefined();
    expect(refusal(p(), 50, 0, 9)).toBeUndefined();
  });
});

describe('socket operations on a fake /proc and cgroup tree', () => {
  let dir: string;
  let ctx: OpsContext;
  const state = ClientState.parse({
    version: 1,
    egresses: [
      interfaceEgress({ selectors: { users: [{ name: 'appuser', uid: 1001 }], cgroups: ['egress/main'] }, access: { users: [{ name: 'alice', uid: 1010 }], groups: [] } }),
    ],
  });
  const proc = (pid: number, uid: number, ppid: number, cgroup: string, start = 100) => {
    mkdirSync(join(dir, 'proc', String(pid), 'task', String(pid)), { recursive: true });
    writeFileSync(join(dir, 'proc', String(pid), 'stat'), `${pid} (app) S ${ppid} 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 ${start} 0 0`);
    writeFileSync(join(dir, 'proc', String(pid), 'status'), `Uid:\t${uid}\t${uid}\t${uid}\t${uid}\nGid:\t${uid}\t${uid}\t${uid}\t${uid}\n`);
    writeFileSync(join(dir, 'proc', String(pid), 'cgroup'), `0::${cgroup}\n`);
    writeFileSync(join(dir, 'proc', String(pid), 'task', String(pid), 'children'), '');
  };
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'egress-socket-test-'));
    mkdirSync(join(dir, 'cg', 'egress', 'main'), { recursive: true });
    mkdirSync(join(dir, 'cg', 'user'), { recursive: true });
    ctx = { state: () => state, cgroupRoot: join(dir, 'cg'), selfPid: 9, origins: new Map(), proc: join(dir, 'proc') };
    proc(500, 1010, 400, '/user');
    proc(600, 1002, 400, '/user');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('places an allowed caller’s own child in egress/main/uid-UID and detach puts it back where it was', () => {
    const r = runRequest(ctx, { op: 'place', pid: 500, egress: 'main' }, { pid: 400, uid: 1010, gid: 1010 });
    expect(r).toEqual({ ok: true, egress: 'main', cgroup: '/egress/main/uid-1010', pids: [500] });
    expect(readFileSync(join(dir, 'cg', 'egress', 'main', 'uid-1010', 'cgroup.procs'), 'utf8')).toBe('500\n');
    writeFileSync(join(dir, 'proc', '500', 'cgroup'), '0::/egress/main/uid-1010\n');
    expect(runRequest(ctx, { op: 'detach', pid: 500 }, { pid: 400, uid: 1010, gid: 1010 })).toEqual({ ok: true, pids: [500] });
    expect(readFileSync(join(dir, 'cg', 'user', 'cgroup.procs'), 'utf8')).toBe('500\n');
  });

  it('refuses a caller the policy does not allow, saying how to get allowed, and moves nothing', () => {
    const r = runRequest(ctx, { op: 'attach', pid: 600 }, { pid: 400, uid: 1002, gid: 1002 });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error).toMatch(/uid 1002 may not use egress 'main'.*sudo egress-client allow --egress main --user/);
    expect(() => readFileSync(join(dir, 'cg', 'egress', 'main', 'uid-1002', 'cgroup.procs'))).toThrow();
  });

  it("refuses another user's process, a place of a process that is not the caller's child, and an unknown egress", () => {
    expect(runRequest(ctx, { op: 'attach', pid: 600 }, { pid: 400, uid: 1010, gid: 1010 })).toMatchObject({ ok: false, error: expect.stringMatching(/belongs to uid 1002/) });
    expect(runRequest(ctx, { op: 'place', pid: 500 }, { pid: 401, uid: 1010, gid: 1010 })).toMatchObject({ ok: false, error: expect.stringMatching(/not a child of the asking process 401/) });
    expect(runRequest(ctx, { op: 'attach', pid: 500, egress: 'nope' }, { pid: 400, uid: 1010, gid: 1010 })).toMatchObject({ ok: false, error: expect.stringMatching(/no egress named 'nope'/) });
    expect(runRequest({ ...ctx, state: () => undefined }, { op: 'attach', pid: 500 }, { pid: 400, uid: 1010, gid: 1010 })).toMatchObject({ ok: false, error: expect.stringMatching(/no valid state/) });
  });

  it('attach --tree moves the process and its descendants, and refuses all of them when one is not the caller’s', () => {
    proc(501, 1010, 500, '/user');
    writeFileSync(join(dir, 'proc', '500', 'task', '500', 'children'), '501 ');
    expect(runRequest(ctx, { op: 'attach', pid: 500, tree: true }, { pid: 400, uid: 1010, gid: 1010 })).toEqual({ ok: true, egress: 'main', cgroup: '/egress/main/uid-1010', pids: [500, 501] });
    proc(502, 1002, 500, '/user');
    writeFileSync(join(dir, 'proc', '500', 'task', '500', 'children'), '501 502');
    rmSync(join(dir, 'cg', 'egress', 'main', 'uid-1010', 'cgroup.procs'));
    expect(runRequest(ctx, { op: 'attach', pid: 500, tree: true }, { pid: 400, uid: 1010, gid: 1010 })).toMatchObject({ ok: false, error: 'pid 502 belongs to uid 1002, not to you (uid 1010)' });
    expect(() => readFileSync(join(dir, 'cg', 'egress', 'main', 'uid-1010', 'cgroup.procs'))).toThrow();
  });

  it('refuses detach of a process that is not in an egress cgroup', () => {
    expect(runRequest(ctx, { op: 'detach', pid: 500 }, { pid: 400, uid: 1010, gid: 1010 })).toMatchObject({ ok: false, error: expect.stringMatching(/not in an egress's cgroup/) });
  });
});
