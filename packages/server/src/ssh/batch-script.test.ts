// The batch script runs through a real `sh -s` (as over SSH) and splits back into one result per command.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { buildBatchScript, parseBatchOutput } from './batch-script.js';

function runLocally(commands: Parameters<typeof buildBatchScript>[0], stopOnError = false) {
  const { script, marker } = buildBatchScript(commands, stopOnError);
  const stdout = execFileSync('sh', ['-s'], { input: script, encoding: 'utf8' });
  return parseBatchOutput(stdout, marker);
}

describe('batch script', () => {
  it('returns stdout, stderr and exit code of each command exactly', () => {
    const r = runLocally([
      { argv: ['printf', 'a\nb\n'] },
      { argv: ['sh', '-c', 'echo oops >&2; exit 3'] },
      { argv: ['printf', 'no newline'] },
      { argv: ['true'] },
    ]);
    expect(r).toEqual([
      { exitCode: 0, stdout: 'a\nb\n', stderr: '' },
      { exitCode: 3, stdout: '', stderr: 'oops\n' },
      { exitCode: 0, stdout: 'no newline', stderr: '' },
      { exitCode: 0, stdout: '', stderr: '' },
    ]);
  });

  it('feeds stdin as a literal here-document and keeps the script away from commands without stdin', () => {
    const r = runLocally([{ argv: ['cat'], stdin: '$HOME `id` \\ \'"\nline2\n' }, { argv: ['cat'] }, { argv: ['echo', 'after'] }]);
    expect(r[0]).toEqual({ exitCode: 0, stdout: '$HOME `id` \\ \'"\nline2\n', stderr: '' });
    expect(r[1]).toEqual({ exitCode: 0, stdout: '', stderr: '' });
    expect(r[2]!.stdout).toBe('after\n');
  });

  it('stops after the first failure with stopOnError', () => {
    const r = runLocally([{ argv: ['echo', 'one'] }, { argv: ['false'] }, { argv: ['echo', 'never'] }], true);
    expect(r.map((x) => x.exitCode)).toEqual([0, 1]);
  });

  it('passes words with shell characters literally', () => {
    const r = runLocally([{ argv: ['printf', '%s|', 'a b', '$(id)', "it's"] }]);
    expect(r[0]!.stdout).toBe("a b|$(id)|it's|");
  });

  it('costs one process per command that writes no stderr (no temp-file copies of stdout)', () => {
    const { script } = buildBatchScript([{ argv: ['true'] }, { argv: ['echo', 'x'] }], false, 'M');
    expect(script).not.toContain('$t/o');
    expect(script.match(/cat "\$t\/e"/g)).toHaveLength(2);
    expect(script).toContain('if [ -s "$t/e" ]; then cat "$t/e"; fi');
  });

  it('leaves out a command cut off before its exit line, and keeps the ones before it', () => {
    const r = parseBatchOutput('\nM 0\none\nM E 0\n\nM 1\npartial', 'M');
    expect(r).toEqual([{ exitCode: 0, stdout: 'one', stderr: '' }]);
  });

  it('refuses stdin that contains its own delimiter', () => {
    expect(() => buildBatchScript([{ argv: ['cat'], stdin: 'x\nM_IN0\n' }], false, 'M')).toThrow(/delimiter/);
  });
});
