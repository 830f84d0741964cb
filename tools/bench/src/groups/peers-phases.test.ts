// peer add's EGRESS_TIMING line split into phases that add up to the wall time the bench measured.
import { describe, expect, it } from 'vitest';
import { phasesOf, type TimingDoc } from './peers-phases.js';

describe('peer add phases', () => {
  it('splits one run into start-up, SSH connect, lock, facts, change execs and Node logic', () => {
    const doc: TimingDoc = {
      cliStart: 250,
      end: 1200,
      spans: [
        { name: 'ssh-prepare', start: 300, ms: 40 },
        { name: 'ssh-tcp', start: 340, ms: 5 },
        { name: 'ssh-kex', start: 345, ms: 60, info: { kex: 'curve25519-sha256' } },
        { name: 'ssh-auth', start: 405, ms: 45 },
        { name: 'lock', start: 455, ms: 50 },
        { name: 'facts', start: 505, ms: 300 },
        { name: 'exec 2', start: 505, ms: 280, info: { commands: 60 } },
        { name: 'command', start: 810, ms: 330 },
        { name: 'exec 3', start: 860, ms: 250, info: { commands: 45 } },
        { name: 'close', start: 1140, ms: 50 },
      ],
    };
    const p = phasesOf(doc, 1300);
    expect(p).toMatchObject({ startup: 250, local: 50, sshPrepare: 40, sshKex: 60, lock: 50, facts: 300, changeExecs: 250, changeNode: 80, close: 50, outside: 100, changeCommands: 45 });
    const { changeCommands, ...parts } = p;
    expect(changeCommands).toBe(45);
    expect(Object.values(parts).reduce((a, b) => a + b, 0)).toBeCloseTo(1300, 6);
  });

  it('counts a lock taken inside the facts span (the facts ride in the lock exec) once, as the lock', () => {
    const doc: TimingDoc = {
      cliStart: 100,
      end: 700,
      spans: [
        { name: 'ssh-prepare', start: 150, ms: 10 },
        { name: 'facts', start: 200, ms: 120 },
        { name: 'lock', start: 201, ms: 20 },
        { name: 'command', start: 330, ms: 300 },
        { name: 'exec 2', start: 400, ms: 100, info: { commands: 20 } },
        { name: 'close', start: 640, ms: 2 },
      ],
    };
    const { changeCommands, ...parts } = phasesOf(doc, 720);
    expect(parts).toMatchObject({ lock: 20, facts: 100, changeExecs: 100, changeNode: 200, close: 2 });
    expect(changeCommands).toBe(20);
    expect(Object.values(parts).reduce((a, b) => a + b, 0)).toBeCloseTo(720, 6);
  });
});
