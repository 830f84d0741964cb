// Which command lines take the client's change lock: every one that changes the client, none that only reads.
import { describe, expect, it } from 'vitest';
import { changesClient } from './change-lock.js';

describe('changesClient', () => {
  const cases: Array<[string, string[], boolean]> = [
    ['enroll', ['b.json'], true],
    ['up', [], true],
    ['down', ['vps1'], true],
    ['uninstall', [], true],
    ['forward', ['add', '8080/tcp:192.168.1.10:80'], true],
    ['forward', ['remove', '8080/tcp'], true],
    ['forward', ['list'], false],
    ['status', [], false],
    ['run-as', ['appuser'], false],
    ['exec', [], false],
  ];
  for (const [command, args, want] of cases) {
    it(`${command} ${args.join(' ')}: ${want ? 'locks' : 'does not lock'}`, () => {
      expect(changesClient(command, args)).toBe(want);
    });
  }
});
