// Shared display grants of several run-as apps of one user: the last one to exit takes them back, also those left by
// a run-as that was killed. In-memory records and a fake host.
import { describe, expect, it } from 'vitest';
import { grantDisplay, type DisplayHost, type Grant } from './display-access.js';
import { holdDisplay, releaseDisplay, type HolderStore } from './display-holders.js';

function world() {
  const granted = new Set<string>();
  const calls: string[] = [];
  const host: DisplayHost = {
    run: (argv) => {
      calls.push(argv.join(' '));
      if (argv[0] === 'xhost' && argv.length === 1) return { status: 0, stdout: [...granted].map((u) => `SI:localuser:${u}\n`).join(''), stderr: '' };
      if (argv[0] === 'xhost' && argv[1]!.startsWith('+SI:localuser:')) granted.add(argv[1]!.slice(14));
      if (argv[0] === 'xhost' && argv[1]!.startsWith('-SI:localuser:')) granted.delete(argv[1]!.slice(14));
      return { status: 0, stdout: '', stderr: '' };
    },
    has: () => true,
    exists: () => true,
    isSocket: () => false,
  };
  const records = new Map<number, Grant[]>();
  const live = new Set<number>();
  const store: HolderStore = {
    list: () => [...records].map(([pid, grants]) => ({ pid, grants })),
    write: (_u, pid, grants) => void records.set(pid, [...grants]),
    remove: (_u, pid) => void records.delete(pid),
    alive: (pid) => live.has(pid),
  };
  const start = (pid: number) => {
    live.add(pid);
    const access = grantDisplay(host, { DISPLAY: ':0' }, undefined, 'appuser');
    holdDisplay(store, 'appuser', pid, access);
    return { access, exit: () => (live.delete(pid), releaseDisplay(host, store, 'appuser', pid, access)) };
  };
  return { granted, calls, records, live, start };
}

describe('shared display grants', () => {
  it('two apps: the first adds the grant, the second finds it; it stays until the last one exits', () => {
    const w = world();
    const a = w.start(101);
    const b = w.start(102);
    expect(a.access.grants).toHaveLength(1);
    expect(b.access.grants).toEqual([]);
    expect(a.exit()).toEqual([]);
    expect(w.granted.has('appuser')).toBe(true); // b still runs
    expect(b.exit()).toEqual([]);
    expect(w.granted.has('appuser')).toBe(false);
    expect(w.records.size).toBe(0);
  });

  it('the other order: the holder that added it exits last and takes it back', () => {
    const w = world();
    const a = w.start(101);
    const b = w.start(102);
    b.exit();
    expect(w.granted.has('appuser')).toBe(true);
    a.exit();
    expect(w.granted.has('appuser')).toBe(false);
    expect(w.records.size).toBe(0);
  });

  it('a killed run-as leaves its record; the next run-as takes its grant back at its own exit', () => {
    const w = world();
    w.start(101);
    w.live.delete(101); // SIGKILLed: no release
    expect(w.granted.has('appuser')).toBe(true);
    const c = w.start(103);
    expect(c.access.grants).toEqual([]);
    c.exit();
    expect(w.granted.has('appuser')).toBe(false);
    expect(w.records.size).toBe(0);
  });

  it('a grant the user made by hand is in no record and is never taken back', () => {
    const w = world();
    w.granted.add('appuser');
    w.start(101).exit();
    expect(w.granted.has('appuser')).toBe(true);
    expect(w.calls.filter((c) => c.startsWith('xhost -'))).toEqual([]);
  });
});
