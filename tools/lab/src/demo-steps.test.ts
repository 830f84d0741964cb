// The demo never reports a step it could not run as done.
import { describe, expect, it } from 'vitest';
import { classifyStep, LineSplitter } from './demo-steps.js';

describe('classifyStep', () => {
  it('calls a missing CLI not built, whatever the exit code', () => {
    expect(classifyStep({ cliBuilt: false, exitCode: 0, output: '' })).toBe('not-built');
  });
  it('calls an unknown command not built', () => {
    expect(classifyStep({ cliBuilt: true, exitCode: 1, output: "error: unknown command 'provision'\n" })).toBe('not-built');
    expect(classifyStep({ cliBuilt: true, exitCode: 1, output: 'egress-client: enroll is not implemented yet' })).toBe('not-built');
  });
  it('calls exit 0 done and any other failure failed', () => {
    expect(classifyStep({ cliBuilt: true, exitCode: 0, output: '[#] wg-quick up egress0\n' })).toBe('ok');
    expect(classifyStep({ cliBuilt: true, exitCode: 1, output: 'ssh: connection refused' })).toBe('failed');
  });
});

describe('LineSplitter', () => {
  it('emits whole lines across chunks and the tail on flush', () => {
    const lines: string[] = [];
    const s = new LineSplitter((l) => lines.push(l));
    s.push('[#] ip link add eg');
    s.push('ress0\n[#] wg set');
    expect(lines).toEqual(['[#] ip link add egress0']);
    s.flush();
    expect(lines).toEqual(['[#] ip link add egress0', '[#] wg set']);
  });
});
