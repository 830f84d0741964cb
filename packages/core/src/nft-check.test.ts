// checkNftRuleset validates with the real nft parser inside `unshare -n`, never loading anything into this machine.
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { checkNftRuleset } from './nft-check.js';

describe('checkNftRuleset', () => {
  it('accepts a valid table and rejects a broken one with nft\'s own error', async () => {
    if (process.getuid?.() !== 0) throw new Error('checkNftRuleset needs root (unshare -n): run the tests as root');
    const before = (await execa('nft', ['list', 'ruleset'])).stdout;
    const good = 'table inet egress-check {\n  chain out {\n    type filter hook output priority 0; policy accept;\n    meta mark 0x100 counter accept\n  }\n}\n';
    expect(await checkNftRuleset(good)).toEqual({ ok: true });
    const bad = await checkNftRuleset('table inet egress-check {\n  chain out {\n    type filter hook output priority 0; policy accept;\n    meta mark 0x100 bogus-statement\n  }\n}\n');
    expect(bad.ok).toBe(false);
    expect(bad.error).toMatch(/^\/dev\/stdin:4:\d+-\d+: Error: syntax error/);
    // Nothing was loaded into the machine's own ruleset.
    expect((await execa('nft', ['list', 'ruleset'])).stdout).toBe(before);
  });
});
