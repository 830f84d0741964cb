// Unit tests for the TS helper: LD_PRELOAD prepending and the shim's variables.
import { describe, expect, it } from 'vitest';
import { shimEnv } from './shim-env.js';
import { shimBuildPath, SHIM_FILE } from './locate-shim.js';

const SO = '/opt/egress/libegress-shim.so';
const facts = { interface: 'egress0', address4: '10.66.0.2', address6: 'fd00:66::2', dns: ['203.0.113.53', '2001:db8::53'] };

describe('shimEnv', () => {
  it('sets LD_PRELOAD and the bind variables when there was no preload', () => {
    const env = shimEnv(SO, facts, { HOME: '/home/me' });
    expect(env).toEqual({ HOME: '/home/me', LD_PRELOAD: SO, EGRESS_BIND_V4: '10.66.0.2', EGRESS_BIND_V6: 'fd00:66::2', EGRESS_BIND_IFACE: 'egress0', EGRESS_DNS: '203.0.113.53,2001:db8::53' });
  });

  it('prepends to an existing LD_PRELOAD (space or colon separated) without duplicating itself', () => {
    expect(shimEnv(SO, facts, { LD_PRELOAD: '/usr/lib/libfoo.so /usr/lib/libbar.so' }).LD_PRELOAD).toBe(`${SO}:/usr/lib/libfoo.so:/usr/lib/libbar.so`);
    expect(shimEnv(SO, facts, { LD_PRELOAD: `/usr/lib/libfoo.so:${SO}` }).LD_PRELOAD).toBe(`${SO}:/usr/lib/libfoo.so`);
  });

  it('removes stale bind variables for families the egress does not have', () => {
    const env = shimEnv(SO, { interface: 'wlan0', address4: '192.0.2.130' }, { EGRESS_BIND_V6: '2001:db8::9', EGRESS_DNS: '192.0.2.53' });
    expect(env.EGRESS_BIND_V6).toBeUndefined();
    expect(env.EGRESS_DNS).toBeUndefined();
    expect(env.EGRESS_BIND_V4).toBe('192.0.2.130');
    expect(env.EGRESS_BIND_IFACE).toBe('wlan0');
  });

  it('does not modify the environment it was given', () => {
    const input = { LD_PRELOAD: '/a.so' };
    shimEnv(SO, facts, input);
    expect(input).toEqual({ LD_PRELOAD: '/a.so' });
  });

  it('sets EGRESS_ALLOW_UNCOVERED=1 only when asked, and drops a stale one', () => {
    expect(shimEnv(SO, { ...facts, allowUncovered: true }, {}).EGRESS_ALLOW_UNCOVERED).toBe('1');
    expect(shimEnv(SO, facts, { EGRESS_ALLOW_UNCOVERED: '1' }).EGRESS_ALLOW_UNCOVERED).toBeUndefined();
  });

  it('refuses a relative path or one containing LD_PRELOAD separators', () => {
    expect(() => shimEnv('libegress-shim.so', facts, {})).toThrow(/shim path must be absolute/);
    expect(() => shimEnv('/opt/my dir/x.so', facts, {})).toThrow(/free of spaces and ':'/);
  });
});

describe('shimBuildPath', () => {
  it('points into the package build directory, not the current directory', () => {
    const p = shimBuildPath();
    expect(p.startsWith('/')).toBe(true);
    expect(p.endsWith(`/packages/shim/build/${SHIM_FILE}`)).toBe(true);
  });
});
