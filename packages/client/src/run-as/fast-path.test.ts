// The run-as fast path parses exactly what the full CLI would, and leaves everything else to it.
import { describe, expect, it } from 'vitest';
import { parseCli } from '../cli.js';
import { fastRunAsInvocation } from './fast-path.js';

describe('fastRunAsInvocation', () => {
  it('matches parseCli on the plain forms', () => {
    for (const argv of [
      ['run-as', 'appuser', '--', 'curl', '-v', 'https://example.org'],
      ['run-as', 'appuser', 'ls', '-la'],
      ['run-as', 'appuser', '--', '--weird', 'x'],
      ['run-as', 'appuser', '--', 'sh', '-c', 'echo --help'],
    ]) {
      const full = parseCli(argv);
      expect(full.kind).toBe('run');
      expect(fastRunAsInvocation(argv), argv.join(' ')).toEqual(full.kind === 'run' ? full.invocation : undefined);
    }
  });

  it('leaves help, options, missing parts and other commands to the full CLI', () => {
    for (const argv of [['run-as', '--help'], ['run-as', 'appuser'], ['run-as', 'appuser', '--'], ['run-as', 'appuser', '-x', 'cmd'], ['run-as'], ['status', 'x']]) {
      expect(fastRunAsInvocation(argv), argv.join(' ')).toBeUndefined();
    }
  });
});
