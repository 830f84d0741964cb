// The cgroup BPF loader's argument handling: the TS side builds exact argv and refuses what is not an egress cgroup;
// the C loader refuses bad input with exit 2 and a message naming the argument, before any bpf() call.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { bpfAttachArgv, bpfAttachMarkArgv, bpfDetachArgv, bpfForbidden, cgroupBpfLoaderPath, locateCgroupBpfLoader } from './cgroup-bpf.js';

const LOADER = '/opt/egress/egress-cgroup-bpf';

describe('bpfForbidden', () => {
  it('tells a host that forbids BPF (a container without CAP_BPF, seen in systemd-nspawn services) from other failures', () => {
    expect(bpfForbidden('egress-cgroup-bpf: BPF_PROG_QUERY sock_create: Operation not permitted\n')).toBe(true);
    expect(bpfForbidden('egress-cgroup-bpf: BPF_PROG_LOAD egmark: Permission denied\n')).toBe(true);
    expect(bpfForbidden('egress-cgroup-bpf: open /sys/fs/cgroup/egress/x: No such file or directory\n')).toBe(false);
    expect(bpfForbidden('egress-cgroup-bpf: BPF_PROG_LOAD egmark: Invalid argument\n')).toBe(false);
  });
});

describe('bpfAttachArgv / bpfDetachArgv', () => {
  it('builds the exact argv for an egress cgroup (mark and mask as 8-digit hex)', () => {
    expect(bpfAttachArgv(LOADER, '/sys/fs/cgroup/egress/work', 0x01000000, 0x01000000)).toEqual([LOADER, 'attach', '/sys/fs/cgroup/egress/work', '0x01000000', '0x01000000']);
    expect(bpfAttachArgv(LOADER, '/sys/fs/cgroup/egress-lab/lab1/wifi', 0x80000000, 0xff000000)).toEqual([LOADER, 'attach', '/sys/fs/cgroup/egress-lab/lab1/wifi', '0x80000000', '0xff000000']);
    // A selected unit's cgroup gets the mark only (its DNS is the host's, redirected by nft); the same checks apply.
    expect(bpfAttachMarkArgv(LOADER, '/sys/fs/cgroup/system.slice/web.service', 0x01000000, 0x01000000)).toEqual([LOADER, 'attach-mark', '/sys/fs/cgroup/system.slice/web.service', '0x01000000', '0x01000000']);
    expect(() => bpfAttachMarkArgv(LOADER, '/sys/fs/cgroup/system.slice', 1, 1)).toThrow(/^cgroup: expected an egress cgroup/);
    expect(bpfDetachArgv(LOADER, '/sys/fs/cgroup/egress/work')).toEqual([LOADER, 'detach', '/sys/fs/cgroup/egress/work']);
  });

  it('never targets the root, a first-level (shared) cgroup, a relative step or a path outside /sys/fs/cgroup', () => {
    for (const dir of ['/sys/fs/cgroup', '/sys/fs/cgroup/', '/sys/fs/cgroup/egress', '/sys/fs/cgroup/egress/../system.slice', '/sys/fs/cgroup/egress/./x', '/sys/fs/cgroup//egress/x', '/tmp/egress/x', 'sys/fs/cgroup/egress/x']) {
      expect(() => bpfAttachArgv(LOADER, dir, 1, 1), dir).toThrow(/^cgroup: expected an egress cgroup \/sys\/fs\/cgroup\/<parent>\/<name>, got/);
      expect(() => bpfDetachArgv(LOADER, dir), dir).toThrow(/^cgroup: expected an egress cgroup/);
    }
  });

  it('refuses a zero, fractional or too large mark or mask, and a mark outside its mask', () => {
    const dir = '/sys/fs/cgroup/egress/work';
    expect(() => bpfAttachArgv(LOADER, dir, 0, 1)).toThrow("mark: expected a non-zero 32-bit number, got 0");
    expect(() => bpfAttachArgv(LOADER, dir, 1.5, 1)).toThrow('mark: expected a non-zero 32-bit number, got 1.5');
    expect(() => bpfAttachArgv(LOADER, dir, 1, 2 ** 32)).toThrow('markMask: expected a non-zero 32-bit number, got 4294967296');
    expect(() => bpfAttachArgv(LOADER, dir, 0x03000000, 0x01000000)).toThrow('mark: 0x3000000 has bits outside the mask 0x1000000');
  });

  it('locates the loader next to the package and names the build command when it is missing', () => {
    expect(cgroupBpfLoaderPath()).toMatch(/\/packages\/client\/build\/egress-cgroup-bpf$/);
    expect(() => locateCgroupBpfLoader('/nonexistent/egress-cgroup-bpf')).toThrow('the cgroup BPF loader is not built: /nonexistent/egress-cgroup-bpf is missing or not executable');
  });
});

describe('the C loader refuses bad arguments before any bpf() call (exit 2)', () => {
  const loader = locateCgroupBpfLoader(); // built by `npm run build`; a missing loader fails here, loudly
  const run = (...args: string[]) => {
    const r = spawnSync(loader, args, { encoding: 'utf8' });
    return { code: r.status, err: r.stderr.split('\n')[0] };
  };
  const cgroup2Root = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' - ')).find(([, post]) => post?.split(' ')[0] === 'cgroup2')?.[0]?.split(' ')[4];

  it.each([
    [[], 'egress-cgroup-bpf: expected a command and CGROUP_DIR'],
    [['frobnicate', '/sys/fs/cgroup/egress/x'], 'egress-cgroup-bpf: expected attach, attach-mark, detach or query'],
    [['attach', '/sys/fs/cgroup/egress/x'], 'egress-cgroup-bpf: attach: expected CGROUP_DIR MARK MASK'],
    [['attach', '/sys/fs/cgroup/egress/x', '0', '0x1'], 'egress-cgroup-bpf: MARK: expected a non-zero 32-bit number (decimal or 0x hex)'],
    [['attach', '/sys/fs/cgroup/egress/x', '-1', '0x1'], 'egress-cgroup-bpf: MARK: expected a non-zero 32-bit number (decimal or 0x hex)'],
    [['attach', '/sys/fs/cgroup/egress/x', '0x100000000', '0x1'], 'egress-cgroup-bpf: MARK: expected a non-zero 32-bit number (decimal or 0x hex)'],
    [['attach', '/sys/fs/cgroup/egress/x', '0x1zz', '0x1'], 'egress-cgroup-bpf: MARK: expected a non-zero 32-bit number (decimal or 0x hex)'],
    [['attach', '/sys/fs/cgroup/egress/x', '0x1', ''], 'egress-cgroup-bpf: MASK: expected a non-zero 32-bit number (decimal or 0x hex)'],
    [['attach', '/sys/fs/cgroup/egress/x', '0x3', '0x1'], 'egress-cgroup-bpf: MARK: expected only bits inside MASK'],
    [['attach-mark', '/sys/fs/cgroup/system.slice/x.service'], 'egress-cgroup-bpf: attach: expected CGROUP_DIR MARK MASK'],
    [['attach-mark', '/sys/fs/cgroup/system.slice/x.service', '0x3', '0x1'], 'egress-cgroup-bpf: MARK: expected only bits inside MASK'],
    [['attach', 'egress/x', '0x1', '0x1'], 'egress-cgroup-bpf: CGROUP_DIR: expected an absolute path'],
    [['detach', '/sys/fs/cgroup/egress/../x'], "egress-cgroup-bpf: CGROUP_DIR: expected a path without '.' or '..' components"],
    [['query', '/tmp'], "egress-cgroup-bpf: CGROUP_DIR: '/tmp' is not a cgroup v2 directory (no cgroup.procs)"],
    [['query', '/sys/fs/cgroup/egress/x', 'extra'], 'egress-cgroup-bpf: expected exactly CGROUP_DIR'],
  ])('%j → exit 2, %s', (args, message) => {
    expect(run(...(args as string[]))).toEqual({ code: 2, err: message });
  });

  it('refuses the root of the cgroup2 hierarchy (egress attaches only to its own cgroups)', () => {
    expect(cgroup2Root, 'this machine has no cgroup2 mount').toBeDefined();
    expect(run('attach', cgroup2Root!, '0x1', '0x1')).toEqual({ code: 2, err: `egress-cgroup-bpf: CGROUP_DIR: '${cgroup2Root}' is a root cgroup; egress attaches only to its own cgroups` });
  });
});
