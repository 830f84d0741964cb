// EGRESS_TIMING: off by default (no line, spans are no-ops); on, one parseable `egress-timing` line with the spans.
import { afterEach, describe, expect, it } from 'vitest';
import { parseTimingLine, printTiming, span, timingEnabled, timingReport } from './timing.js';

describe('EGRESS_TIMING', () => {
  const saved = process.env.EGRESS_TIMING;
  afterEach(() => {
    if (saved === undefined) delete process.env.EGRESS_TIMING;
    else process.env.EGRESS_TIMING = saved;
  });

  it('is off unless set to something other than empty or 0', () => {
    expect(timingEnabled({})).toBe(false);
    expect(timingEnabled({ EGRESS_TIMING: '' })).toBe(false);
    expect(timingEnabled({ EGRESS_TIMING: '0' })).toBe(false);
    expect(timingEnabled({ EGRESS_TIMING: '1' })).toBe(true);
  });

  it('prints nothing and records nothing when off', () => {
    delete process.env.EGRESS_TIMING;
    span('x')({ commands: 3 });
    let text = '';
    printTiming({ write: (t: string) => (text += t) });
    expect(text).toBe('');
    expect(timingReport()).toBeUndefined();
  });

  it('prints one line whose spans the bench can parse back', async () => {
    process.env.EGRESS_TIMING = '1';
    const end = span('exec 1');
    await new Promise((r) => setTimeout(r, 5));
    end({ commands: 40, sent: 10 });
    let text = 'progress line\n';
    printTiming({ write: (t: string) => (text += t) });
    const report = parseTimingLine(text)!;
    const s = report.spans.find((x) => x.name === 'exec 1')!;
    expect(s.ms).toBeGreaterThan(0);
    expect(s.info).toEqual({ commands: 40, sent: 10 });
    // Each figure is rounded to 0.1 ms on its own, so start + ms may pass end by up to 0.1 ms (seen: 151.1 vs 151.2).
    expect(report.end + 0.1 + 1e-9).toBeGreaterThanOrEqual(s.start + s.ms);
    expect(parseTimingLine('no timing here\n')).toBeUndefined();
  });
});
