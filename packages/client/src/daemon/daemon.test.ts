// Pure parts of the supervisor: its flags, health bookkeeping and the supervisor view status/doctor print.
import { describe, expect, it } from 'vitest';
import { ValidationError } from '@egress/core/errors';
import { parseDaemonOptions } from './options.js';
import { withSince } from './health.js';
import { formatHealth, supervisorCheck } from './supervisor-view.js';

describe('daemon options', () => {
  it('defaults, and takes numbers given as flag strings', () => {
    expect(parseDaemonOptions({})).toEqual({ debounceMs: 20, healthIntervalMs: 10_000, backstopMs: 60_000, staleAfter: 180 });
    expect(parseDaemonOptions({ debounceMs: '5', backstopMs: '2000' })).toMatchObject({ debounceMs: 5, backstopMs: 2000 });
  });
  it('refuses a bad value naming the flag and the value', () => {
    expect(() => parseDaemonOptions({ debounceMs: 'soon' })).toThrow(ValidationError);
    expect(() => parseDaemonOptions({ debounceMs: 'soon' })).toThrow(/--debounce-ms: expected a number of milliseconds, got 'soon'/);
    expect(() => parseDaemonOptions({ backstopMs: '10' })).toThrow(/--backstop-ms: .*1000.*got '10'/);
    expect(() => parseDaemonOptions({ staleAfter: '5' })).toThrow(/--stale-after: expected at least 10 s, got '5'/);
  });
});

describe('health bookkeeping', () => {
  it('keeps since while the level stays, resets it when the level changes', () => {
    const a = withSince(undefined, { name: 'x', health: 'healthy', reason: 'handshake 3 s ago' }, 'T1');
    expect(a.since).toBe('T1');
    expect(withSince(a, { name: 'x', health: 'healthy', reason: 'handshake 90 s ago' }, 'T2').since).toBe('T1');
    expect(withSince(a, { name: 'x', health: 'degraded', reason: 'handshake stale (200 s old)' }, 'T3')).toMatchObject({ since: 'T3', health: 'degraded' });
  });
  it('says when no supervisor runs, and what it last saw when one does', () => {
    expect(formatHealth({ running: false, health: {} }, 'x')).toBe('  health unknown: no supervisor runs (egress-client daemon)');
    expect(supervisorCheck({ running: false, health: {} })).toMatchObject({ ok: false, fix: 'systemctl start egress-client (or run egress-client daemon)' });
    const view = { running: true, pid: 42, health: { x: { health: 'down' as const, reason: 'tunnel egress0 is missing (kill switch armed)', since: 'T' } } };
    expect(formatHealth(view, 'x')).toBe('  health down since T: tunnel egress0 is missing (kill switch armed)');
    expect(supervisorCheck(view)).toMatchObject({ ok: true, detail: 'daemon 42 is running (health in /run/egress/health.json)' });
    expect(supervisorCheck({ ...view, error: 'egresses.0.mark: expected a number' })).toMatchObject({ ok: false });
  });
});

describe('repair line triggers', () => {
  it('names deletions and nftables events before link noise, at most 3, without repeats', async () => {
    const { pickTriggers } = await import('./supervisor.js');
    const noise = 'ip: 3: wlan0@if4: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500';
    expect(pickTriggers([noise, noise, 'ip: Deleted 7100: from all fwmark 0x1000000/0x1000000 lookup 7100', 'nft: add table inet x', 'start'])).toEqual([
      'ip: Deleted 7100: from all fwmark 0x1000000/0x1000000 lookup 7100',
      'nft: add table inet x',
      noise,
    ]);
  });
});
