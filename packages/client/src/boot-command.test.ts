import { describe, expect, it } from 'vitest';
import { bootCommand } from './apply-client.js';

describe('bootCommand', () => {
  it('points at the installed /usr/bin/egress-client when the package wrapper says so', () => {
    expect(bootCommand({ EGRESS_INSTALLED_BIN: '/usr/bin/egress-client' })).toEqual(['/usr/bin/egress-client']);
  });
  it('falls back to node + bin.js by absolute path from a clone, and ignores a relative or odd value', () => {
    for (const env of [{}, { EGRESS_INSTALLED_BIN: 'egress-client' }, { EGRESS_INSTALLED_BIN: '/usr/bin/egress client' }]) {
      const cmd = bootCommand(env);
      expect(cmd[0]).toBe(process.execPath);
      expect(cmd[1]).toMatch(/^\/.*\/bin\.js$/);
    }
  });
});
