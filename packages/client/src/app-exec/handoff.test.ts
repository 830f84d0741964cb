// The likely-handoff notice every launcher prints for an app that exits at once with status 0.
import { describe, expect, it } from 'vitest';
import { appName, handoffNotice, reportHandoff, HANDOFF_WINDOW_MS } from './handoff.js';

describe('appName', () => {
  it('looks past wrappers, their options and VAR=value words', () => {
    expect(appName(['firefox', 'https://example.org'])).toBe('firefox');
    expect(appName(['/usr/bin/env', 'MOZ_X=1', 'firefox-esr'])).toBe('firefox-esr');
    expect(appName(['timeout', '30s', 'chromium', '--incognito'])).toBe('chromium');
    expect(appName(['nice', '-n', '5', '/opt/google/chrome/google-chrome'])).toBe('google-chrome');
    expect(appName(['env'])).toBe('env');
    expect(appName(['sh', '-c', 'firefox'])).toBe('sh');
  });
});

describe('handoffNotice', () => {
  it('says nothing for a failure, a signal (128+N) or a run longer than the window', () => {
    expect(handoffNotice(['firefox'], 1, 100)).toBeUndefined();
    expect(handoffNotice(['firefox'], 143, 100)).toBeUndefined();
    expect(handoffNotice(['firefox'], 0, HANDOFF_WINDOW_MS)).toBeUndefined();
    expect(handoffNotice([], 0, 10)).toBeUndefined();
  });
  it('gives Firefox and Chromium their own way to start a separate instance', () => {
    expect(handoffNotice(['firefox', 'https://example.org'], 0, 400, 'vps1')).toBe(
      "note: firefox exited with status 0 after 0.4 s. If it is an app that hands its work to an instance of itself already running (a browser), that instance runs OUTSIDE egress 'vps1' and uses this host's own address; start a separate instance with its own profile: firefox --no-remote -P PROFILE (or --new-instance with a profile not in use).",
    );
    expect(handoffNotice(['env', 'A=1', 'chromium'], 0, 1200)).toContain("runs OUTSIDE the egress and uses this host's own address; start a separate instance with its own profile directory: chromium --user-data-dir=DIR");
    expect(handoffNotice(['myapp'], 0, 10, undefined, { DISPLAY: ':0' })).toContain('(Firefox: --no-remote -P PROFILE or --new-instance; Chromium: --user-data-dir=DIR)');
  });
  it('stays quiet for other quick apps outside a graphical session (curl over SSH, scripts), not for known ones', () => {
    expect(handoffNotice(['curl', '-s', 'https://example.org'], 0, 300, 'vps1', {})).toBeUndefined();
    expect(handoffNotice(['curl'], 0, 300, 'vps1', { WAYLAND_DISPLAY: 'wayland-0' })).toContain('note: curl exited with status 0');
    expect(handoffNotice(['firefox'], 0, 300, 'vps1', {})).toContain('note: firefox exited with status 0');
    expect(handoffNotice(['code', '.'], 0, 300, 'vps1', {})).toContain('note: code exited with status 0');
  });
  it('is printed through info by reportHandoff', () => {
    const lines: string[] = [];
    expect(reportHandoff({ info: (l) => lines.push(l) }, { argv: ['brave'], exitCode: 0, elapsedMs: 5, env: {} })).toBe(true);
    expect(reportHandoff({ info: (l) => lines.push(l) }, { argv: ['brave'], exitCode: 0, elapsedMs: 5000 })).toBe(false);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('brave --user-data-dir=DIR');
  });
});
