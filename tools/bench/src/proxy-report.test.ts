// The proxy group's schema and report section, from the committed fixture plus a proxy block.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { proxySection, Notes, renderReport } from './report.js';
import { BenchResults, measured, unavailable } from './results.js';

const base = JSON.parse(readFileSync(new URL('./test-fixtures/results.json', import.meta.url), 'utf8')) as Record<string, unknown>;

describe('proxy bench section', () => {
  it('parses results with and without the proxy block and renders ratios over run-as', () => {
    expect(BenchResults.parse(base).proxy).toBeUndefined();
    const res = BenchResults.parse({
      ...base,
      proxy: {
        seconds: 2, runs: 2, latencyRuns: 1, connections: 100,
        tcpUp: { 'run-as': measured('Mbit/s', [1000, 1000]), proxy: measured('Mbit/s', [900, 950]), 'ssh-d': measured('Mbit/s', [400]) },
        tcpDown: { 'run-as': measured('Mbit/s', [1000]), proxy: unavailable('proxychains4 missing'), 'ssh-d': measured('Mbit/s', [500]) },
        p50: { 'run-as': measured('ms', [0.5]), proxy: measured('ms', [0.6]), floor: measured('ms', [0.57]), 'floor-c': measured('ms', [0.53]), 'ssh-d': measured('ms', [40]) },
      },
    });
    const text = proxySection(res, new Notes());
    expect(text).toContain('## 5. The local proxy');
    expect(text).toMatch(/\| egress-client proxy \+ proxychains4 \| 925 \(900–950\) \| n\/a \[1\] \| 0\.60 \| 0\.93 .*\| 1\.20 \|/);
    expect(text).toContain('p50 proxy − run-as: 0.100 ms (difference of the medians; goal ≤ +0.2 ms), of which native floor − run-as 0.030 ms (any user-space SOCKS hop');
    expect(text).toContain('Node floor − native floor 0.040 ms (a Node relay\'s own cost), proxy − Node floor 0.030 ms (egress-client proxy\'s own).');
    expect(text).toMatch(/\| floor: minimal Node SOCKS5 relay \+ proxychains4 \| n\/a \[2\] \| n\/a \[2\] \| 0\.57 \|/);
    expect(text).toMatch(/\| native floor: minimal C SOCKS5 relay \+ proxychains4 \| n\/a \[2\] \| n\/a \[2\] \| 0\.53 \|/);
    expect(renderReport(res, { json: 'x.json', charts: {} })).toContain('## 5. The local proxy');
    expect(renderReport(BenchResults.parse(base), { json: 'x.json', charts: {} })).not.toContain('local proxy');
  });

  it('falls back to the Node floor alone when the native floor did not run', () => {
    const res = BenchResults.parse({
      ...base,
      proxy: {
        seconds: 2, runs: 1, latencyRuns: 1, connections: 100, tcpUp: {}, tcpDown: {},
        p50: { 'run-as': measured('ms', [0.5]), proxy: measured('ms', [0.6]), floor: measured('ms', [0.57]), 'floor-c': unavailable('gcc missing') },
      },
    });
    const text = proxySection(res, new Notes());
    expect(text).toContain('of which floor − run-as 0.070 ms (any user-space SOCKS hop), proxy − Node floor 0.030 ms');
    expect(text).not.toContain('native floor −');
  });

  it('uses the paired per-round differences when the run has them, and shows them in a column', () => {
    const res = BenchResults.parse({
      ...base,
      proxy: {
        seconds: 2, runs: 1, latencyRuns: 3, connections: 100, tcpUp: {}, tcpDown: {},
        p50: { 'run-as': measured('ms', [0.5, 0.9, 0.6]), proxy: measured('ms', [0.8, 1.2, 0.9]), floor: measured('ms', [0.7, 1.1, 0.8]), 'floor-c': measured('ms', [0.6, 1.05, 0.7]) },
        p50OverRunAs: { proxy: measured('ms', [0.3, 0.3, 0.3]), floor: measured('ms', [0.2, 0.2, 0.2]), 'floor-c': measured('ms', [0.1, 0.15, 0.1]) },
      },
    });
    const text = proxySection(res, new Notes());
    expect(text).toContain('p50 proxy − run-as: 0.300 ms (median of 3 paired rounds, each path\'s p50 minus run-as\'s in the same round; goal ≤ +0.2 ms)');
    expect(text).toContain('native floor − run-as 0.100 ms');
    expect(text).toContain('Node floor − native floor 0.100 ms');
    expect(text).toContain('proxy − Node floor 0.100 ms');
    expect(text).toMatch(/\| native floor: minimal C SOCKS5 relay \+ proxychains4 \|.*\| 0\.10 \(0\.10–0\.15\) \|$/m);
  });
});
